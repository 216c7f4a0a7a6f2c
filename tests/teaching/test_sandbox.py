"""`nst grade` on whole notebooks, each in a sandbox of its own: a hostile class graded in one run (every
attack with wrong functions gets 0, leaves nothing behind, and the correct notebook graded after it still gets
5/5), the feedback on cells cut at the time limit, the CSV, and grading without bubblewrap.

The hostile submissions try what worked against a grader that computed its verdict inside the student's
kernel: patching the checker and NumPy, forging results (under the grader's MIME type, by printing, into the
grader's pipes, with 100 points), shadowing `globals` and `__import__`, calling `nst.costs`, running the
instructor notebook's solutions, reading a file outside the sandbox, planting a `numpy/` package and an IPython
startup file for later kernels, writing into the project and the virtual environment, leaving a process
behind, allocating memory and disk without bound, printing without end, and sleeping through the time limit.
"""

import _thread
import contextlib
import csv
import io
import json
import os
import platform
import re
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from nst.commands.cli import main
from nst.files import current_umask
from nst.teaching import sandbox
from nst.teaching.function_checks import GRADED, NST_HIDDEN, RIGHT
from nst.teaching.grader import format_grade
from nst.teaching.submissions import (
    CORRECT,
    MARKER,
    NOTEBOOKS,
    PRELUDE,
    WRITTEN,
    code,
    hostile_notebooks,
    mixed_notebook,
    solution_cell,
    write_notebook,
)

TIMEOUT = 30  # each sandbox on a core of its own: the hog's first cells need their time on a busy one
BWRAP = sandbox.probe_bwrap()  # (path, flags, nested) or (None, (), why not)


def processes_with(marker, ours=False):
    """The processes whose command line holds `marker` (with ours=True: among this test process's descendants
    only; others on the machine may be grading too)."""
    found, parents = [], {}
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit():
                continue
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            pass

    def descends(pid):
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return [pid for pid in found if descends(pid)] if ours else found


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """One `nst grade --jobs 2 --json --csv` run: the hostile submissions, the mixed one, then the instructor
    notebook copied into the same folder as the hostile ones. HOME is a folder of the test's own, so what an
    attack could write there stays in the test."""
    if BWRAP[0] is None:
        pytest.skip(f"no sandbox here: {BWRAP[2]}")
    folder = tmp_path_factory.mktemp("class")
    home = tmp_path_factory.mktemp("home")
    canary = tmp_path_factory.mktemp("outside") / "answers.py"
    canary.write_text(textwrap.dedent(CORRECT["total_cost"]))
    hostile = hostile_notebooks(folder, canary)
    mixed = mixed_notebook(folder)
    correct = folder / "zz-correct.ipynb"
    correct.write_bytes((NOTEBOOKS / "homework.ipynb").read_bytes())
    order = [hostile["hog"], mixed, hostile["saboteur"], hostile["forger"], correct]  # the two long ones side by side
    csv_path = folder / "grades.csv"
    temp = Path(tempfile.mkdtemp(prefix="nst-grade-test-", dir="/tmp"))  # where the sandboxes' own folders are made,
    temp.chmod(0o711)  # to see them removed (reachable by the sandboxes' own uids, as /tmp is)
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        patch.setenv("HOME", str(home))
        patch.setenv("IPYTHONDIR", str(home / ".ipython"))
        patch.setattr(tempfile, "tempdir", str(temp))
        exit_code = main(
            [
                "grade",
                *map(str, order),
                "--jobs",
                "2",
                "--timeout",
                str(TIMEOUT),
                "--memory",
                "3G",
                "--disk",
                "256M",
                "--json",
                "--csv",
                str(csv_path),
            ]
        )
    grades = {Path(g["submission"]).stem: g for g in map(json.loads, out.getvalue().splitlines())}
    left = list(temp.iterdir())
    temp.rmdir() if not left else None
    return {
        "temp_left": left,
        "exit": exit_code,
        "grades": grades,
        "order": order,
        "csv": csv_path,
        "folder": folder,
        "home": home,
        "stderr": err.getvalue(),
        "seconds": time.monotonic() - started,
        "temp": temp,
        "stdout": out.getvalue(),
    }


def points(grade):
    return {name: g["points"] for name, g in grade["functions"].items()}


def test_every_hostile_submission_gets_0_and_the_correct_one_after_them_5(graded_class):
    grades = graded_class["grades"]
    assert graded_class["exit"] == 0, graded_class["stderr"]
    assert list(grades) == [p.stem for p in graded_class["order"]]  # in the submissions' order
    assert grades["zz-correct"]["score"] == 5, grades["zz-correct"]
    assert all(g["feedback"] == RIGHT for g in grades["zz-correct"]["functions"].values())
    for name in ("forger", "saboteur", "hog"):
        assert points(grades[name]) == dict.fromkeys(GRADED, 0), (name, grades[name])
        assert grades[name]["score"] == 0 and grades[name]["max_score"] == 5, name


def test_forged_results_and_the_answer_key_give_nothing(graded_class):
    feedback = {n: g["feedback"] for n, g in graded_class["grades"]["forger"]["functions"].items()}
    # nst.costs is not there to call
    assert feedback["compute_content_cost"] == feedback["gram_matrix"] == NST_HIDDEN
    assert feedback["compute_layer_style_cost"] == (
        f"{NST_HIDDEN} (it uses reference, which code cell 6 imports from nst)"
    )
    # neither the instructor notebook's solutions nor the answers in a file outside the sandbox were read, and
    # what was forged (displayed, printed, written into pipes) was not taken for results
    assert feedback["compute_style_cost"].startswith("wrong, and not a mistake we know")
    assert feedback["total_cost"].startswith("wrong, and not a mistake we know")


def test_a_saboteur_leaves_nothing_behind_and_spoils_only_its_own_kernels(graded_class):
    grade = graded_class["grades"]["saboteur"]
    assert processes_with(MARKER) == []
    assert not any(path.exists() for path in WRITTEN)
    assert not list(graded_class["home"].rglob("*"))  # no startup file in anybody's HOME
    assert sorted(p.name for p in graded_class["folder"].iterdir()) == sorted(
        [*(p.name for p in graded_class["order"] if p.parent == graded_class["folder"]), "grades.csv"]
    )
    assert graded_class["temp_left"] == []  # every sandbox's folder removed
    # its own later kernels were spoiled by its numpy/ and its startup file, and that is all it achieved
    assert grade["notes"][0].startswith("code cell 8 stopped its kernel"), grade["notes"]
    assert all(
        g["feedback"] == "not checked: the notebook stopped its kernel 3 times" for g in grade["functions"].values()
    )


def test_memory_disk_output_and_time_are_limited(graded_class):
    hog = graded_class["grades"]["hog"]
    feedback = {n: g["feedback"] for n, g in hog["functions"].items()}
    assert feedback["total_cost"] == "not defined: its cell (code cell 5) raised MemoryError"
    assert feedback["compute_content_cost"].startswith("wrong")  # its disk full, its functions still checked
    assert "code cell 7 printed more than 1 MB: the rest of its output was not kept" in hog["notes"]
    # twelve cells sleeping 20 s each: one time budget, not twelve extensions of it, and the cut cells named
    assert hog["seconds"] < TIMEOUT + 60
    cut = [note for note in hog["notes"] if " was stopped after " in note]
    assert cut and re.match(
        r"code cell \d+ was stopped after [\d.]+ s: the time for the cells \(15 s of --timeout "
        r"30\) ran out$",
        cut[0],
    ), hog["notes"]
    assert any(
        note.startswith("code cells ")
        and note.endswith("did not run: the time for the cells (15 s of --timeout 30) ran out")
        for note in hog["notes"]
    )
    first = cut[0].split(" was stopped")[0]
    assert feedback["compute_style_cost"].startswith(
        f"not defined: its cell (code cell 21) did not run, the time for the cells ran out: {first} was stopped after"
    )


def test_a_mixed_notebook(graded_class):
    mixed = graded_class["grades"]["mixed"]
    assert (
        points(mixed)
        == {
            "compute_content_cost": 0,
            "gram_matrix": 1,
            "compute_layer_style_cost": 1,
            "compute_style_cost": 0,
            "total_cost": 0,
        }
        and mixed["score"] == 2
    )
    feedback = {n: g["feedback"] for n, g in mixed["functions"].items()}
    assert "tf.reduce_mean followed by the division" in feedback["compute_content_cost"]
    assert feedback["compute_style_cost"] == (
        "not defined: its cell (code cell 8) raised SyntaxError: invalid syntax (line 3)"
    )
    assert feedback["total_cost"].startswith("did not finish within its share of the time (")
    assert feedback["total_cost"].endswith(" s): an endless loop?")
    assert mixed["notes"][0].startswith("code cell 7 was stopped after ")
    text = format_grade(mixed).splitlines()
    assert text[0] == f"{graded_class['folder'] / 'mixed.ipynb'}: 2/5"
    assert text[4] == f"  compute_style_cost        0/1  FAILED: {feedback['compute_style_cost']}"


def test_the_csv_in_order_and_readable(graded_class):
    rows = list(csv.reader(graded_class["csv"].open()))
    assert rows[0] == ["submission", *GRADED, "total"]
    assert [Path(r[0]).stem for r in rows[1:]] == [p.stem for p in graded_class["order"]]
    assert rows[-1] == [str(graded_class["folder"] / "zz-correct.ipynb"), "1", "1", "1", "1", "1", "5"]
    assert stat.S_IMODE(graded_class["csv"].stat().st_mode) == 0o666 & ~current_umask()


# --- without bubblewrap ------------------------------------------------------------------------------------


def test_without_bubblewrap_the_limits_still_apply_and_it_says_so_once(tmp_path, capsys, monkeypatch):
    """PATH without bwrap: one warning, the memory limit still there, nothing left running; --isolation required
    refuses; --gradescope writes Gradescope's results.json."""
    monkeypatch.setenv("PATH", str(tmp_path / "no-bwrap-here"))
    monkeypatch.setattr(sandbox, "free_uids", lambda count, locks=None: [])  # as an ordinary user: no uids of its own
    notebook = write_notebook(
        tmp_path / "limited.ipynb",
        [
            code(PRELUDE),
            *(solution_cell(n, CORRECT[n]) for n in GRADED[:-1]),
            code("""
        try:
            hog = bytearray(6 << 30)  # beyond --memory: total_cost is defined only when the limit holds
        except MemoryError:
            def total_cost(J_content, J_style, alpha=10, beta=40):
                return alpha * J_content + beta * J_style
        """),
            code(f"""
        import subprocess, sys
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", {MARKER + "-2"!r}],
                         start_new_session=True)  # a process that leaves the submission's process group
        """),
        ],
    )
    results = tmp_path / "results.json"
    assert main(["grade", str(notebook), "--timeout", "10", "--memory", "3G", "--gradescope", str(results)]) == 0
    captured = capsys.readouterr()
    assert (
        captured.err.count("submissions are NOT isolated") == 1
        and "bubblewrap (bwrap) is not installed" in captured.err
    )
    assert f"{notebook}: 5/5" in captured.out
    assert processes_with(MARKER + "-2") == []
    report = json.loads(results.read_text())
    assert report["score"] == 5 and [t["name"] for t in report["tests"]] == list(GRADED)
    assert all(
        t["score"] == t["max_score"] == 1 and t["status"] == "passed" and t["output"] == RIGHT for t in report["tests"]
    )
    assert report["output"] == ""
    assert main(["grade", str(notebook), "--isolation", "required"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "nst: error: --isolation required, but bubblewrap (bwrap) is not installed"
    )


def test_ctrl_c_stops_every_sandbox(tmp_path, capsys):
    """Ctrl-C while two sandboxes run (`--jobs 2`): exit 130 at once, no sandbox left running."""
    if BWRAP[0] is None:
        pytest.skip(f"no sandbox here: {BWRAP[2]}")
    sleepy = [
        write_notebook(tmp_path / f"sleepy{k}.ipynb", [code(f"import time\ntime.sleep(600)  # {MARKER}-{k}")])
        for k in range(3)
    ]
    interrupted = []

    def interrupt_once_two_run():
        deadline = time.monotonic() + 120
        while len(processes_with("/runner/runner.py", ours=True)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        interrupted.append(time.monotonic())
        _thread.interrupt_main()  # as Ctrl-C does: KeyboardInterrupt in the main thread

    threading.Thread(target=interrupt_once_two_run, daemon=True).start()
    assert main(["grade", *map(str, sleepy), "--jobs", "2", "--timeout", "600"]) == 130
    assert time.monotonic() - interrupted[0] < 15
    err = capsys.readouterr().err
    assert err == "nst: grading interrupted (every submission's sandbox was stopped)\n"
    assert processes_with("/runner/runner.py", ours=True) == [] and processes_with(MARKER) == []


def test_the_mounts_show_python_only_and_hide_nst_inside_it(tmp_path, monkeypatch):
    """A checkout with its virtual environment inside, nst installed into site-packages too: only the environment
    is shown (not the checkout, not the private folders), with nst hidden inside it."""
    repo, venv = tmp_path / "repo", tmp_path / "repo" / ".venv"
    packages = venv / "lib" / "site-packages"
    for folder in (repo / "nst", repo / "notebooks", packages / "nst", packages / "numpy"):
        folder.mkdir(parents=True)
    monkeypatch.setattr(sandbox, "installation", lambda: {venv})
    monkeypatch.setattr(sys, "path", ["", str(repo), str(packages)])
    mounts = sandbox.mount_plan({repo / "nst", repo, packages / "nst"})
    assert mounts == [("--ro-bind", venv), ("--hide", packages / "nst")]


def test_a_zombie_is_no_process_left_but_a_leader_whose_thread_runs_is():
    """Ending a sandbox's uid waits until none of its processes is left: a zombie (every thread ended, waiting for
    its parent, as a killed namespace's first process is for a moment) is none, but a process whose first thread
    has ended while another runs (its state in /proc is a zombie's too) still is, and is killed."""
    if platform.machine() != "x86_64":
        pytest.skip("the first thread's own exit is system call 60 on x86-64")
    zombie = subprocess.Popen(["true"])  # ended, not collected
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import ctypes, threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n"
            "time.sleep(0.2)\nctypes.CDLL(None).syscall(60, 0)  # exit(2): the first thread only",
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
            Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z" for p in (zombie, leader)
        ):
            time.sleep(0.05)
        running = sandbox.processes_of(os.getuid())
        assert zombie.pid not in running and leader.pid in running
    finally:
        leader.kill()
        leader.wait()
        zombie.wait()
