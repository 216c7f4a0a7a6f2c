"""`nst teach autograder`: the zip Gradescope gets, set up and run in Gradescope's layout (tests/teaching/
nst.teaching.gradescope_layout: root, /autograder/{source,submission,results}, bubblewrap unable to run inside), and
results.json checked against Gradescope's format for a wrong (its other functions right), a forging, a missing and a
non-notebook submission. (That a correct notebook gets 5/5 is nst grade's own, tests/teaching/test_sandbox.py and
test_attacks.py; results.json of a grade, passed and failed, is tests/teaching/test_grade.py's.)"""

import json
import textwrap
import zipfile

import nbformat
import pytest

from nst.commands.cli import main
from nst.teaching import gradescope_layout as layout
from nst.teaching import mistakes
from nst.teaching.autograder import AutograderSettings, pick_notebook
from nst.teaching.function_checks import RIGHT
from nst.teaching.homework_values import GRADED
from nst.teaching.submissions import CORRECT, MISTAKES, PRELUDE, code, solution_cell

VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}


def check_format(results):
    """results.json as Gradescope's specification has it: the keys nst writes, each of its type."""
    assert isinstance(results, dict)
    assert set(results) <= {"score", "execution_time", "output", "visibility", "stdout_visibility", "tests"}
    assert isinstance(results["score"], (int, float)) and not isinstance(results["score"], bool)
    assert isinstance(results["execution_time"], int) and results["execution_time"] >= 0
    assert isinstance(results["output"], str)
    assert results["visibility"] in VISIBILITIES and results["stdout_visibility"] in VISIBILITIES
    assert isinstance(results["tests"], list)
    for test in results["tests"]:
        assert set(test) <= {"name", "score", "max_score", "status", "output", "visibility"}
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert test["status"] in ("passed", "failed") and test["visibility"] in VISIBILITIES


def notebook_bytes(cells):
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells)).encode()


FORGER = '''
    # grading runs as root in Gradescope's container: a process in a new session, with an empty environment,
    # waits for results.json and overwrites it, for a minute
    import subprocess, sys
    LOOP = """
    import json, os, time
    path = "/autograder/results/results.json"
    end = time.time() + 60
    while time.time() < end:
        try:
            if json.load(open(path)).get("score") != 99:
                open(path, "w").write(json.dumps({"score": 99, "tests": []}))
        except Exception:
            pass
        time.sleep(0.1)
    """
    subprocess.Popen([sys.executable, "-c", LOOP], env={}, start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    '''


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    """The zip made by `nst teach autograder`, laid out as Gradescope does and set up by its setup.sh."""
    reason = layout.usable()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("gradescope")
    zip_path = folder / "autograder.zip"
    assert (
        main(
            [
                "teach",
                "autograder",
                "-o",
                str(zip_path),
                "--visibility",
                "after_published",
                "--test-visibility",
                "visible",
            ]
        )
        == 0
    )
    root = layout.lay_out(folder, zip_path)
    setup = layout.image(root)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    assert "nst autograder ready: Python 3." in setup.stdout
    return root


def test_the_zip_has_what_gradescope_needs_at_its_root(tmp_path):
    zip_path = tmp_path / "autograder.zip"
    assert main(["teach", "autograder", "-o", str(zip_path), "--stdout-visibility", "visible"]) == 0
    with zipfile.ZipFile(zip_path) as z:
        names = z.namelist()
        assert {"setup.sh", "run_autograder", "nst-autograder.json", "README.md"} <= set(names)
        assert [n for n in names if n.startswith("nst-") and n.endswith("-py3-none-any.whl")]
        for script in ("setup.sh", "run_autograder"):
            assert z.read(script).startswith(b"#!/usr/bin/env bash\n")
            assert (z.getinfo(script).external_attr >> 16) & 0o111 == 0o111  # executable
        settings = json.loads(z.read("nst-autograder.json"))
        assert AutograderSettings(**settings).stdout_visibility == "visible"
        readme = z.read("README.md").decode()
        assert "Ubuntu 22.04" in readme and "768 MB" in readme and "2 GB" in readme
    with pytest.raises(SystemExit) as refused:
        main(["teach", "autograder", "-o", str(tmp_path / "other.zip"), "--visibility", "sometimes"])
    assert refused.value.code == 2 and not (tmp_path / "other.zip").exists()


def test_which_notebook_is_graded(tmp_path):
    (tmp_path / "a").mkdir()
    assert pick_notebook(tmp_path / "a")[0] is None
    (tmp_path / "a" / "notes.txt").write_text("hi")
    assert "notes.txt" in pick_notebook(tmp_path / "a")[1]
    (tmp_path / "a" / "zebra.ipynb").write_text("{}")
    assert pick_notebook(tmp_path / "a")[0].name == "zebra.ipynb"
    (tmp_path / "a" / "apple.ipynb").write_text("{}")
    chosen, said = pick_notebook(tmp_path / "a")
    assert chosen.name == "apple.ipynb" and "first by name" in said and "zebra.ipynb" in said
    (tmp_path / "a" / "work").mkdir()
    (tmp_path / "a" / "work" / "homework-student.ipynb").write_text("{}")
    chosen, said = pick_notebook(tmp_path / "a")
    assert chosen.name == "homework-student.ipynb" and "the one named homework-student.ipynb" in said


def graded_in_gradescope(autograder, files, after=0):
    """results.json and the grader's stdout of one submission. `after`: seconds the container stays up once
    run_autograder is done (Gradescope's harness collecting results.json); only a submission that leaves a
    process behind to overwrite results.json needs them, every other one ends with its grading."""
    done = layout.submit(autograder, files, after=after)
    assert done.returncode == 0, done.stderr
    results = json.loads((autograder / "results" / "results.json").read_text())
    assert results.get("score") != 99, "results.json was overwritten by the submission's process"
    check_format(results)
    assert results["visibility"] == "after_published" and results["stdout_visibility"] == "hidden"
    return results, (autograder / "results" / "stdout").read_text()


@pytest.fixture(scope="module")
def wrong_and_forging(autograder):
    """One submission graded for two tests: a notebook with one known mistake ("reshape without transpose") whose
    last cell starts the forger, a process in a new session, with an empty environment, that overwrites
    results.json for a minute; the container stays up 5 s after run_autograder (the forger's loop would overwrite
    results.json within 0.1 s)."""
    where, source, words = MISTAKES["reshape without transpose"]
    cells = [code(PRELUDE)] + [solution_cell(name, source if name == where else CORRECT[name]) for name in GRADED]
    cells.append(nbformat.v4.new_code_cell(textwrap.dedent(FORGER)))
    results, stdout = graded_in_gradescope(autograder, {"homework-student.ipynb": notebook_bytes(cells)}, after=5)
    return results, where, words, stdout


def test_a_wrong_function_costs_its_point_with_the_mistake_named(wrong_and_forging):
    results, where, words, stdout = wrong_and_forging
    assert results["score"] == 4
    (test,) = [t for t in results["tests"] if t["name"] == where]
    assert test["score"] == 0 and test["status"] == "failed" and words in test["output"]
    right = [t for t in results["tests"] if t["name"] != where]  # each right function: its test and its point
    assert len(right) == 4 and all(t["score"] == t["max_score"] == 1 and t["status"] == "passed" for t in right)
    assert {t["name"]: t["output"] for t in right} == {  # the style cost right in itself, its helper named
        name: mistakes.helped(where) if name == "compute_style_cost" else RIGHT for name in GRADED if name != where
    }
    assert "bubblewrap cannot create its namespaces here" in stdout  # it could not run: the grader said so


def test_a_forger_cannot_overwrite_its_results(wrong_and_forging):
    """The forger's results.json is the grader's: 4/5, the mistake's point lost, and not {"score": 99}
    (graded_in_gradescope checks that it was not overwritten). (Run as root beside the grader, this very cell's
    process replaced results.json with {"score": 99}; the grader now runs it as a user of its own, which cannot
    write there, and ends all its processes.)"""
    results, _, _, _ = wrong_and_forging
    assert results["score"] == 4 and len(results["tests"]) == 5
    assert [t["name"] for t in results["tests"]] == list(GRADED)


def test_no_notebook_and_a_notebook_that_is_not_one_get_0_with_the_reason(autograder):
    results, _ = graded_in_gradescope(autograder, {"homework.py": b"print('hi')\n"})
    assert results["score"] == 0 and results["tests"] == []
    assert "No notebook (.ipynb) was submitted (submitted: homework.py)" in results["output"]
    page = b"<!DOCTYPE html><html><body>homework</body></html>\n"  # a notebook saved as a web page
    results, _ = graded_in_gradescope(autograder, {"homework-student.ipynb": page})
    assert results["score"] == 0 and results["tests"] == []
    assert "It is not a Jupyter notebook, so it was not graded" in results["output"]
