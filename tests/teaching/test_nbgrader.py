"""notebooks/homework.ipynb as an nbgrader course's source notebook, with real nbgrader: generate_assignment makes
exactly `nst teach student`'s cells, `validate` fails an unfinished notebook, and `autograde` gives one point per
right function (the solutions get 5 of 5, a known mistake costs one point, an untouched notebook gets 0 of 5)."""

import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from nst.teaching.homework_values import GRADED
from nst.teaching.submissions import NOTEBOOKS

nbgrader = pytest.importorskip("nbgrader", reason="requirements-dev.txt installs nbgrader")


def run(course, *args):
    env = dict(
        os.environ,
        NST_NOTEBOOK_WEIGHTS=str(course / "absent.mat"),
        NST_NOTEBOOK_OUTPUT=str(course / "out"),
        TF_CPP_MIN_LOG_LEVEL="2",
    )  # the notebook's run writes into the course, not the checkout's output/
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "nst"\n')
    (course / "source" / "homework").mkdir(parents=True)
    shutil.copy(NOTEBOOKS / "homework.ipynb", course / "source" / "homework" / "homework.ipynb")
    done = run(course, "generate_assignment", "homework", "--force")
    assert done.returncode == 0, done.stdout + done.stderr
    return course


def test_generate_assignment_makes_nst_teach_students_cells(course):
    release = nbformat.read(course / "release" / "homework" / "homework.ipynb", as_version=4)
    student = nbformat.read(NOTEBOOKS / "homework-student.ipynb", as_version=4)
    assert [(c.id, c.cell_type, c.source) for c in release.cells] == [
        (c.id, c.cell_type, c.source) for c in student.cells
    ]
    tests = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert [(c.metadata.nbgrader.grade_id, c.metadata.nbgrader.points) for c in tests] == [
        (f"test_{name}", 1) for name in GRADED
    ]


def test_validate_fails_an_unfinished_notebook_with_the_reason(course):
    """What a student sees from `nbgrader validate` before writing anything. (That the solutions pass every test
    cell is test_autograde_gives_a_point_per_right_function's: ada, the instructor notebook, gets every point.)"""
    unfinished = run(course, "validate", "release/homework/homework.ipynb")
    text = unfinished.stdout + unfinished.stderr
    assert "Success" not in text and "VALIDATION FAILED" in text, text[-3000:]
    assert "compute_content_cost is not implemented yet" in text


def test_autograde_gives_a_point_per_right_function(course):
    solutions = nbformat.read(NOTEBOOKS / "homework.ipynb", as_version=4)
    mistaken = nbformat.read(NOTEBOOKS / "homework.ipynb", as_version=4)
    (gram,) = [c for c in mistaken.cells if c.get("id") == "gram_matrix"]
    gram.source = gram.source.replace("tf.matmul(A, tf.transpose(A))", "tf.matmul(tf.transpose(A), A)")
    untouched = nbformat.read(course / "release" / "homework" / "homework.ipynb", as_version=4)
    for student, nb in (("ada", solutions), ("bob", mistaken), ("cyd", untouched)):
        folder = course / "submitted" / student / "homework"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "homework.ipynb")
    done = run(course, "autograde", "homework", "--create")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:

        def points(student):
            return {
                name: gradebook.find_grade(f"test_{name}", "homework", "homework", student).score for name in GRADED
            }

        assert points("ada") == dict.fromkeys(GRADED, 1)
        assert points("bob") == {**dict.fromkeys(GRADED, 1), "gram_matrix": 0}  # the layer cost keeps its point
        assert points("cyd") == dict.fromkeys(GRADED, 0)
        assert gradebook.find_submission("homework", "cyd").max_score == 5
