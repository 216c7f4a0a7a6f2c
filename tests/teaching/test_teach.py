"""Teaching kit: the homework notebook (runs on a small net, its checks match the homework's published outputs),
its student version (`nst teach student`: regions replaced, the rest kept, deterministic, the committed file), a
run built from the caller's cost functions, and bad input to `nst teach`."""

import json
import re

import nbformat
import numpy as np
import pytest
import tensorflow as tf

from nst import costs
from nst.commands.cli import main
from nst.commands.run import style_transfer
from nst.errors import NstError
from nst.optimize import model_lbfgs, model_nn
from nst.settings import DEMO_CONTENT, DEMO_STYLE, PACKAGE_ROOT, Config
from nst.teaching.student import clear_solutions
from nst.vgg import load_vgg_model, read_vgg_weights
from nst.weights.testnet import SMALL_WIDTHS
from tests.notebooks import execute_small, stdout
from tests.numpy_vgg import homework_cost

HOMEWORK = PACKAGE_ROOT / "notebooks" / "homework.ipynb"
STUDENT = PACKAGE_ROOT / "notebooks" / "homework-student.ipynb"
GRADED = ["compute_content_cost", "gram_matrix", "compute_layer_style_cost", "compute_style_cost", "total_cost"]
SIGNATURES = [
    "def compute_content_cost(a_C, a_G):",
    "def gram_matrix(A):",
    "def compute_layer_style_cost(a_S, a_G):",
    "def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):",
    "def total_cost(J_content, J_style, alpha=10, beta=40):",
]
SECTIONS = [
    "1 - The problem",
    "2 - Transfer learning",
    "3 - The content cost",
    "4 - The Gram matrix",
    "5 - The style cost of one layer",
    "6 - Style weights",
    "7 - The total cost",
    "8 - Optimisation",
    "9 - The result",
]
NOT_GRADED = {
    "course-helpers",
    "show-images",
    "load-model",
    "run",
    "show-result",
    "check-final-cost",
    "check-content-cost",
    "check-gram-matrix",
    "check-layer-style-cost",
    "check-style-cost",
    "check-total-cost",
    "test-content-cost",
    "test-gram-matrix",
    "test-layer-style-cost",
    "test-style-cost",
    "test-total-cost",
}


def solution_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def nbgrader_test_cells(nb):
    """nbgrader's autograder test cells: one per graded function, 1 point, right after its check cell."""
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


# --- the instructor notebook ---------------------------------------------------------------------------------


def test_homework_notebook_layout():
    nb = nbformat.read(HOMEWORK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    positions = [text.find("## " + s) for s in SECTIONS]
    assert -1 not in positions and positions == sorted(positions)
    cells = solution_cells(nb)
    assert [c.metadata["nbgrader"] for c in cells] == [
        {"grade": False, "grade_id": name, "locked": False, "schema_version": 3, "solution": True, "task": False}
        for name in GRADED
    ]
    for cell, signature in zip(cells, SIGNATURES):
        lines = cell.source.split("\n")
        begin, end = lines.index("    ### BEGIN SOLUTION"), lines.index("    ### END SOLUTION")
        assert lines[0] == signature and lines[1].startswith('    """') and end == len(lines) - 1
        assert '"""' in "\n".join(lines[1:begin])  # the docstring, closed before the solution region
        # the check cell right after it
        after = nb.cells[nb.cells.index(cell) + 1]
        assert after.cell_type == "code" and "check(" in after.source
        test = nb.cells[nb.cells.index(cell) + 2]
        assert test.source.endswith(f'check_function("{lines[0][4:].split("(")[0]}", globals())')
    assert [c.metadata["nbgrader"] for c in nbgrader_test_cells(nb)] == [
        {
            "grade": True,
            "grade_id": f"test_{name}",
            "locked": True,
            "points": 1,
            "schema_version": 3,
            "solution": False,
            "task": False,
        }
        for name in GRADED
    ]
    # nbgrader takes any line containing "BEGIN SOLUTION" for a marker: none outside the five cells
    assert not [
        c.id for c in nb.cells if c not in cells and ("BEGIN SOLUTION" in c.source or "END SOLUTION" in c.source)
    ]
    tagged = {c.id for c in code if "not-graded" in c.metadata.get("tags", [])}
    assert tagged == NOT_GRADED
    # what grading runs defines no model and no run, and needs nothing of nst (hidden while grading)
    graded_source = "\n".join(c.source for c in code if c.id not in NOT_GRADED)
    assert "notebook_model" not in graded_source and "model_nn" not in graded_source
    assert not re.search(r"^\s*(from|import) nst\b", graded_source, re.M)
    # no cell asks nst for the expected values: they are printed as numbers, as the course does
    assert "nst import costs" not in "\n".join(c.source for c in code if c.id != "check-final-cost")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("homework") / "out"
    return execute_small(HOMEWORK, out), out


def test_homework_notebook_runs_and_checks_match(executed):
    nb, out = executed
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    text = stdout(nb)
    scalars = {
        name: (float(yours), float(theirs), verdict)
        for name, yours, theirs, verdict in re.findall(
            r"^(\S+): yours = (\S+)  (?:homework|expected|nst) = (\S+)  (match|DIFFERENT)$", text, re.M
        )
    }
    assert scalars.keys() == {"J_content", "J_style_layer", "J_style", "J", "J(generated)"}
    # the homework's published values, written here independently of nst.teaching.homework_values
    assert scalars["J_content"][1] == 6.76559 and abs(scalars["J_content"][0] - 6.76559) < 1e-5
    assert scalars["J_style_layer"][1] == 9.19028 and abs(scalars["J_style_layer"][0] - 9.19028) < 1e-5
    assert scalars["J"][0] == 35.34667875478276
    (ga,) = re.findall(r"^GA: max \|yours - homework\| = (\S+)  (match|DIFFERENT)$", text, re.M)
    assert float(ga[0]) < 1e-5 and ga[1] == "match"
    assert all(v[2] == "match" for v in scalars.values()) and "DIFFERENT" not in text
    assert scalars["J(generated)"][1] > 0


def test_homework_notebook_runs_with_its_own_functions(executed):
    nb, out = executed
    text = stdout(nb)
    assert "small generated network with random weights: the pictures are not meaningful" in text
    totals = [float(t) for t in re.findall(r"^total cost = (\S+)$", text, re.M)]
    assert len(totals) == 2 and totals[1] < totals[0]  # steps 0 and 3 of 6
    pngs = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert pngs == 3  # C beside S; the costs; C | S | G
    assert sorted(p.name for p in out.glob("*.png")) == ["0.png", "3.png"] and (out / "generated_image.jpg").is_file()


# --- the student version ---------------------------------------------------------------------------------------


def expected_student_source(source):
    lines = source.split("\n")
    begin, end = lines.index("    ### BEGIN SOLUTION"), lines.index("    ### END SOLUTION")
    return "\n".join(lines[:begin] + ["    # YOUR CODE HERE", "    raise NotImplementedError()"] + lines[end + 1 :])


def test_student_version_is_the_committed_file_and_deterministic(tmp_path):
    for name in ("a.ipynb", "b.ipynb"):
        assert main(["teach", "student", str(HOMEWORK), "-o", str(tmp_path / name)]) == 0
    made = (tmp_path / "a.ipynb").read_bytes()
    assert made == (tmp_path / "b.ipynb").read_bytes() == STUDENT.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ipynb", "b.ipynb"]  # no temp file left


def test_student_version_replaces_regions_and_keeps_the_rest():
    teacher, student = nbformat.read(HOMEWORK, as_version=4), nbformat.read(STUDENT, as_version=4)
    assert student.metadata == teacher.metadata and len(student.cells) == len(teacher.cells)
    replaced = 0
    for t, s in zip(teacher.cells, student.cells):
        assert s.metadata == t.metadata and s.id == t.id and s.cell_type == t.cell_type
        if t.metadata.get("nbgrader", {}).get("solution"):
            assert s.source == expected_student_source(t.source)
            assert "BEGIN SOLUTION" not in s.source and "reduce_sum" not in s.source
            replaced += 1
        else:
            assert s.source == t.source
        if s.cell_type == "code":
            assert s.outputs == [] and s.execution_count is None
    assert replaced == 5
    raw = json.loads(STUDENT.read_text())
    assert all("BEGIN SOLUTION" not in "".join(c["source"]) for c in raw["cells"] if c["cell_type"] == "code")


def test_student_version_of_an_executed_notebook_has_no_outputs(tmp_path, executed):
    nb, _ = executed
    ran = tmp_path / "ran.ipynb"
    nbformat.write(nb, ran)
    assert main(["teach", "student", str(ran), "-o", str(tmp_path / "s.ipynb")]) == 0
    made, committed = nbformat.read(tmp_path / "s.ipynb", as_version=4), nbformat.read(STUDENT, as_version=4)
    assert sum(len(c.get("outputs", [])) for c in nb.cells) > 10
    assert [(c.source, c.get("outputs"), c.get("execution_count")) for c in made.cells] == [
        (c.source, c.get("outputs"), c.get("execution_count")) for c in committed.cells
    ]
    # the rest kept: the kernel's language_info and the cells' execution times stay as they were in the file
    assert made.metadata == nb.metadata and [c.metadata for c in made.cells] == [c.metadata for c in nb.cells]


def test_clear_solutions_indents_each_region_as_its_begin_line():
    source = (
        "def f(x):\n    ### BEGIN SOLUTION\n    y = 1\n    ### END SOLUTION\n    if x:\n"
        "        ### BEGIN SOLUTION\n        return y\n        ### END SOLUTION\n// BEGIN SOLUTION\nz = 2\n// END SOLUTION"
    )
    assert clear_solutions(source) == (
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n    if x:\n"
        "        # YOUR CODE HERE\n        raise NotImplementedError()\n# YOUR CODE HERE\nraise NotImplementedError()",
        3,
    )


def test_cells_without_ids_get_the_same_ids_every_time(tmp_path, capsys):
    cell = {
        "cell_type": "code",
        "metadata": {},
        "outputs": [],
        "execution_count": 3,
        "source": ["def f():\n", "    ### BEGIN SOLUTION\n", "    return 1\n", "    ### END SOLUTION"],
    }
    (tmp_path / "in.ipynb").write_text(
        json.dumps(
            {
                "cells": [{"cell_type": "markdown", "metadata": {}, "source": "f"}, cell],
                "metadata": {},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    for name in ("a.ipynb", "b.ipynb"):
        assert main(["teach", "student", str(tmp_path / "in.ipynb"), "-o", str(tmp_path / name)]) == 0
    assert (tmp_path / "a.ipynb").read_bytes() == (tmp_path / "b.ipynb").read_bytes()
    made = json.loads((tmp_path / "a.ipynb").read_text())
    assert [c["id"] for c in made["cells"]] == ["cell-1", "cell-2"]
    assert made["cells"][1]["source"] == ["def f():\n", "    # YOUR CODE HERE\n", "    raise NotImplementedError()"]
    assert made["cells"][1]["execution_count"] is None and capsys.readouterr().err == ""


def notebook_file(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s, id=f"c{i}") for i, s in enumerate(sources)])
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no such file"),
        ("text", "is not a Jupyter notebook"),
        ("json", "is not a Jupyter notebook"),
        ("schema", "is not a Jupyter notebook ('outputs' is a required property)"),
        ("no-region", "has no solution region"),
        ("begin-only", "cell 2 (c1), line 2: BEGIN SOLUTION without an END SOLUTION"),
        ("end-only", "cell 1 (c0), line 2: END SOLUTION without a BEGIN SOLUTION"),
        ("nested", "cell 1 (c0), line 3: BEGIN SOLUTION inside the solution region begun on line 1"),
        ("markdown", "cell 2 (m) is a markdown cell with a solution marker"),
        ("same-file", "is the instructor notebook itself"),
        ("no-folder", "does not exist"),
    ],
)
def test_teach_student_bad_input_is_one_line_exit_2(tmp_path, capsys, case, message):
    path = tmp_path / "in.ipynb"
    out = tmp_path / "out.ipynb"
    good = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    if case == "text":
        path.write_text("just some text\n")
    elif case == "json":
        path.write_text('{"cells": 3}')
    elif case == "schema":
        path.write_text(
            json.dumps(
                {
                    "cells": [{"cell_type": "code", "metadata": {}, "source": "x", "execution_count": None}],
                    "metadata": {},
                    "nbformat": 4,
                    "nbformat_minor": 4,
                }
            )
        )
    elif case == "no-region":
        notebook_file(path, "x = 1")
    elif case == "begin-only":
        notebook_file(path, good, "def f():\n    ### BEGIN SOLUTION\n    return 1")
    elif case == "end-only":
        notebook_file(path, "x = 1\n### END SOLUTION")
    elif case == "nested":
        notebook_file(path, "### BEGIN SOLUTION\nx = 1\n### BEGIN SOLUTION\n### END SOLUTION")
    elif case == "markdown":
        nbformat.write(
            nbformat.v4.new_notebook(
                cells=[
                    nbformat.v4.new_code_cell(good, id="c"),
                    nbformat.v4.new_markdown_cell("### BEGIN SOLUTION", id="m"),
                ]
            ),
            path,
        )
    elif case in ("same-file", "no-folder"):
        notebook_file(path, good)
        out = path if case == "same-file" else tmp_path / "nowhere" / "out.ipynb"
    before = path.read_bytes() if path.exists() else None
    assert main(["teach", "student", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nst: error: ") and message in err, err
    assert (path.read_bytes() if path.exists() else None) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == ([path.name] if before is not None else [])


# --- a run built from the caller's cost functions ----------------------------------------------------------------

HOMEWORK_FUNCTIONS = {
    "compute_content_cost": costs.compute_content_cost,
    "compute_style_cost": costs.compute_style_cost,
    "total_cost": costs.total_cost,
}


def small_problem(small_vgg, h=16, w=12):
    rng = np.random.default_rng(5)
    content, style, image = (rng.normal(0, 50, (1, h, w, 3)).astype(np.float32) for _ in range(3))
    return load_vgg_model(small_vgg), content, style, image


def run_model_nn(small_vgg, out, functions=None, iterations=5):
    model, content, style, image = small_problem(small_vgg)
    out.mkdir()
    cfg = Config(output_dir=out, iterations=iterations, save_every=iterations, progress=False)
    generated, history = model_nn(model, content, style, image, cfg, log=lambda line: None, functions=functions)
    return generated, np.array(history)


def test_nst_costs_functions_give_the_default_run(small_vgg, tmp_path):
    _, default = run_model_nn(small_vgg, tmp_path / "default", iterations=8)
    _, given = run_model_nn(small_vgg, tmp_path / "given", HOMEWORK_FUNCTIONS, iterations=8)
    assert default.shape == (8, 4) and default[-1, 1] < 0.9 * default[0, 1]
    np.testing.assert_allclose(given, default, rtol=1e-5)


def test_lbfgs_with_nst_costs_functions_is_the_default_run(small_vgg, tmp_path):
    model, content, style, image = small_problem(small_vgg)
    runs = []
    for name, functions in (("default", None), ("given", HOMEWORK_FUNCTIONS)):
        (tmp_path / name).mkdir()
        cfg = Config(output_dir=tmp_path / name, iterations=12, save_every=4, progress=False, optimizer="lbfgs")
        runs.append(
            np.array(model_lbfgs(model, content, style, image, cfg, log=lambda line: None, functions=functions)[1])
        )
    assert len(runs[0]) >= 2 and runs[0][-1, 1] < runs[0][0, 1]
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-5)


def test_style_transfer_passes_the_functions_to_the_run(small_vgg, tmp_path):
    def doubled_total_cost(J_content, J_style, alpha=10, beta=40):
        return 2 * (alpha * J_content + beta * J_style)

    cfg = Config(
        weights=small_vgg,
        output_dir=tmp_path,
        iterations=2,
        width=20,
        height=16,
        save_every=1,
        seed=3,
        progress=False,
        download=False,
    )
    _, history = style_transfer(cfg, log=lambda line: None, functions={"total_cost": doubled_total_cost})
    for _, J, Jc, Js in history:
        assert J == pytest.approx(2 * (10 * Jc + 40 * Js), rel=1e-6)


def test_wrong_content_cost_gives_the_numpy_predicted_costs(small_vgg, tmp_path):
    model, content, style, image = small_problem(small_vgg)  # the inputs run_model_nn takes

    def content_cost_without_the_4(a_C, a_G):
        _, n_H, n_W, n_C = a_G.shape
        return tf.reduce_sum(tf.square(a_C - a_G)) / (n_H * n_W * n_C)

    seen = []

    def recording_style_cost(style_activations, generated_activations, style_layers):
        seen.append((sorted(style_activations), tuple(style_activations["conv1_1"].shape), style_layers))
        return costs.compute_style_cost(style_activations, generated_activations, style_layers)

    _, default = run_model_nn(small_vgg, tmp_path / "default")
    generated, wrong = run_model_nn(
        small_vgg,
        tmp_path / "wrong",
        {"compute_content_cost": content_cost_without_the_4, "compute_style_cost": recording_style_cost},
    )
    cfg = Config()
    # the caller's style cost gets the style image's activations and the run's style layers
    assert seen[0] == (sorted(n for n, _ in cfg.style_layers), (1, 16, 12, SMALL_WIDTHS[0]), cfg.style_layers)
    weights, _ = read_vgg_weights(small_vgg)
    J_np, Jc_np, Js_np = homework_cost(weights, content, style, generated)
    _, J, Jc, Js = wrong[-1]
    assert Jc == pytest.approx(4 * Jc_np, rel=1e-4) and Js == pytest.approx(Js_np, rel=1e-4)
    assert J == pytest.approx(10 * 4 * Jc_np + 40 * Js_np, rel=1e-4)
    assert np.all(wrong[:, 2] > 3 * default[:, 2])  # the content cost 4 times too large, the run a different one


@pytest.mark.parametrize(
    "functions, message",
    [
        ({"gram_matrix": costs.gram_matrix}, "unknown name(s) 'gram_matrix'"),
        ({"total_cost": 3}, "'total_cost' is not callable"),
        ([costs.total_cost], "must map homework function names"),
    ],
)
def test_bad_functions_are_one_line_errors(functions, message, tmp_path):
    cfg = Config(output_dir=tmp_path, iterations=1, progress=False, download=False)
    with pytest.raises(NstError, match=re.escape(message)):
        style_transfer(cfg, functions=functions)


def test_caller_functions_take_one_style_image(small_vgg, tmp_path):
    cfg = Config(
        weights=small_vgg,
        style=[DEMO_STYLE, DEMO_CONTENT],
        output_dir=tmp_path,
        iterations=1,
        width=8,
        height=8,
        progress=False,
        download=False,
    )
    with pytest.raises(NstError, match="takes one style image, got 2"):
        style_transfer(cfg, functions=HOMEWORK_FUNCTIONS)
