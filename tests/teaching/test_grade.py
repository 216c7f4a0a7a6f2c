"""Grading the homework's functions from their raw results: every known mistake named, correct variants passing,
inputs fresh per run, helpers replayed from data, malformed results never a crash, and the reports (text, CSV,
Gradescope).

These checks measure functions defined from source text, as a notebook's cells define them, in this process
through the same harness and results files a sandbox uses (real TF); `tests/teaching/test_sandbox.py` grades whole
notebooks in sandboxes.
"""

import ast
import io
import json
from pathlib import Path

import numpy as np
import pytest

from nst import costs
from nst.commands.cli import main
from nst.teaching import function_checks as checks
from nst.teaching import harness, mistakes
from nst.teaching.grader import clean, format_grade, gradescope, summary
from nst.teaching.homework_values import homework_random_normals
from nst.teaching.runner import capped_client_class, content_size
from nst.teaching.submissions import CORRECT, CORRECT_DIFFERENTLY, MISTAKES, NOTEBOOKS, define


def mistake_groups():
    """The known mistakes in groups graded together, one mistake per function: a wrong gram_matrix alone (the
    functions using it correct, to see them graded on their own steps), the others side by side."""
    by_function = {}
    for mistake, (name, _, _) in MISTAKES.items():
        by_function.setdefault(name, []).append(mistake)
    groups = [[m] for m in by_function.pop("gram_matrix")]
    lists = list(by_function.values())
    groups += [[ms[k] for ms in lists if k < len(ms)] for k in range(max(map(len, lists)))]
    return groups


@pytest.mark.parametrize("group", mistake_groups(), ids=lambda group: "; ".join(group))
def test_each_known_mistake_fails_exactly_its_function_with_its_diagnosis(group):
    wrong = {MISTAKES[m][0]: m for m in group}
    namespace = define([MISTAKES[wrong[n]][1] if n in wrong else s for n, s in CORRECT.items()])
    grades = checks.check_all(namespace)
    for name, grade in grades.items():
        if name in wrong:
            words = MISTAKES[wrong[name]][2]
            assert not grade["passed"] and grade["points"] == 0 and words in grade["feedback"], (name, grade)
        elif "gram_matrix" in wrong and name in ("compute_layer_style_cost", "compute_style_cost"):
            # graded on their own steps, the feedback says why their values are off, naming the culprit
            assert grade["passed"] and grade["feedback"] == mistakes.helped(
                "gram_matrix", "compute_layer_style_cost" if name == "compute_style_cost" else None
            ), grade
        elif name == "compute_style_cost" and "compute_layer_style_cost" in wrong:
            assert grade["passed"] and grade["feedback"] == mistakes.helped("compute_layer_style_cost"), grade
        else:
            assert grade["passed"] and grade["feedback"] == checks.RIGHT, (name, grade)


def test_every_wrong_variant_is_told_apart_from_the_others_and_from_the_right_answer():
    plan = checks.plan_for(0)
    for name in checks.GRADED:
        variants = [("right", plan.ours[name]), *plan.variants[name]]
        for i in range(len(variants)):
            for j in range(i + 1, len(variants)):
                assert not all(
                    a is not None and b is not None and checks.close(a, b)
                    for a, b in zip(variants[i][1], variants[j][1])
                ), (name, variants[i][0], variants[j][0])


def test_correct_functions_written_differently_pass():
    grades = checks.check_all(define(CORRECT_DIFFERENTLY))
    assert {name: (g["passed"], g["feedback"]) for name, g in grades.items()} == {
        name: (True, checks.RIGHT) for name in checks.GRADED
    }
    assert all(g["right_as_is"] for g in grades.values())


def test_inputs_are_fresh_each_run_realistic_and_the_homework_s_own():
    one, two = checks.plan_for(0).cases, checks.make_cases(1)
    for name in checks.GRADED:
        a, b = one[name], two[name]
        homework = 1 if a[0].published is not None else 0  # the homework's published test inputs, the same
        assert [np.asarray(x).tolist() for case in a[:homework] for x in tensors_or_floats(case)] == [
            np.asarray(x).tolist() for case in b[:homework] for x in tensors_or_floats(case)
        ]
        fixed = 2 if name == "total_cost" else 0  # besides two fixed pairs of costs, every input is drawn anew
        assert all(
            not np.array_equal(x, y)
            for case_a, case_b in zip(a[homework + fixed :], b[homework + fixed :])
            for x, y in zip(tensors_or_floats(case_a), tensors_or_floats(case_b))
        ), name
    shapes = {tuple(x.shape) for name in checks.GRADED for case in one[name] for x in checks.tensors_in(case.args)}
    assert {(1, 38, 50, 512), (512, 1900), (1, 75, 100, 64)} <= shapes  # conv4_2 at 400x300, conv1_1 at 100x75
    # a function right on every shape it could know in advance, and on nothing else, fails
    namespace = define(
        [
            """
        def compute_content_cost(a_C, a_G):
            m, n_H, n_W, n_C = a_G.shape
            if (n_H, n_W, n_C) not in {(4, 4, 3), (5, 7, 6), (9, 4, 5), (3, 11, 8)}:
                return tf.constant(1.0)
            return tf.reduce_sum(tf.square(a_C - a_G)) / (4 * n_H * n_W * n_C)
        """
        ]
    )
    grade = checks.check_function("compute_content_cost", namespace)
    assert grade["points"] == 0 and grade["feedback"] == mistakes.hard_coded_shapes("4×4×3")


def tensors_or_floats(case):
    return [x.numpy() if hasattr(x, "numpy") else x for x in case.args if not isinstance(x, (dict, tuple))] + [
        v.numpy() for x in case.args if isinstance(x, dict) for v in x.values()
    ]


def test_a_wrong_helper_is_named_and_the_function_using_it_graded_on_its_own_steps():
    wrong_gram = MISTAKES["Gram as AtA"][1]
    namespace = define([*(s for n, s in CORRECT.items() if n != "gram_matrix"), wrong_gram])
    before = dict(namespace)
    grades = checks.check_all(namespace)
    assert [g["points"] for g in grades.values()] == [1, 0, 1, 1, 1]
    assert namespace == before  # ours was replayed in place for a while: the learner's functions and globals as before
    assert grades["gram_matrix"]["feedback"].startswith("computes AᵀA")
    assert grades["compute_layer_style_cost"]["feedback"] == mistakes.helped("gram_matrix")
    # the style cost is right in itself too; the culprit named is the one that is wrong, not the layer cost
    assert grades["compute_style_cost"]["feedback"] == mistakes.helped("gram_matrix", "compute_layer_style_cost")
    # through a helper of its own, the replayed gram_matrix is found too (it is looked up in the namespace)
    through_helper = """
        def grams(a_S, a_G):
            n_C = a_G.shape[-1]
            return [gram_matrix(tf.transpose(tf.reshape(a, [-1, n_C]))) for a in (a_S, a_G)]

        def compute_layer_style_cost(a_S, a_G):
            _, n_H, n_W, n_C = a_G.shape
            GS, GG = grams(a_S, a_G)
            return tf.reduce_sum(tf.square(GS - GG)) / (4 * n_C**2 * (n_H * n_W) ** 2)
        """
    grades = checks.check_all(define([wrong_gram, through_helper]), ("compute_layer_style_cost",))
    assert grades["compute_layer_style_cost"]["feedback"] == mistakes.helped("gram_matrix")
    # called with the homework's parameter name, ours is replayed in its place all the same
    by_keyword = through_helper.replace("gram_matrix(tf.transpose", "gram_matrix(A=tf.transpose")
    grades = checks.check_all(define([wrong_gram, by_keyword]), ("compute_layer_style_cost",))
    assert grades["compute_layer_style_cost"]["feedback"] == mistakes.helped("gram_matrix")
    # where ours cannot stand in (it is called with other arguments), the feedback still names the culprit
    other_arguments = through_helper.replace(
        "gram_matrix(tf.transpose(tf.reshape(a, [-1, n_C])))", "gram_matrix(tf.transpose(tf.reshape(a, [-1, n_C])), 2)"
    )
    wrong_gram_two = wrong_gram.replace("def gram_matrix(A):", "def gram_matrix(A, scale=1):")
    grades = checks.check_all(define([wrong_gram_two, other_arguments]), ("compute_layer_style_cost",))
    assert grades["compute_layer_style_cost"] == checks.result(False, mistakes.dependency_wrong("gram_matrix"))
    # a function that never calls the wrong helper is not told the helper is to blame
    constant = """
        def gram_matrix(A):
            return tf.constant(0.0)

        def compute_layer_style_cost(a_S, a_G):
            return tf.constant(0.0)
        """
    grades = checks.check_all(define([constant]), ("compute_layer_style_cost",))
    assert "gram_matrix" not in grades["compute_layer_style_cost"]["feedback"]
    assert grades["compute_layer_style_cost"]["feedback"].startswith("wrong, and not a mistake we know")
    # with a wrong gram_matrix, a mistake of its own is still named
    grades = checks.check_all(define([wrong_gram, MISTAKES["layer: the 4 missing"][1]]), ("compute_layer_style_cost",))
    assert "the factor 4 is missing" in grades["compute_layer_style_cost"]["feedback"]


def test_unknown_wrong_answers_fail_with_the_numbers_side_by_side():
    namespace = define(
        [
            """
        def compute_content_cost(a_C, a_G):
            return tf.reduce_sum(tf.square(a_C - a_G)) / 1000.0
        """,
            """
        def gram_matrix(A):
            return tf.matmul(A, tf.transpose(A)) + 1.0
        """,
        ]
    )
    import tensorflow as tf

    a_C, a_G = (tf.constant(x) for x in homework_random_normals([1, 4, 4, 3], [1, 4, 4, 3]))
    theirs = float(tf.reduce_sum(tf.square(a_C - a_G)) / 1000.0)
    grade = checks.check_function("compute_content_cost", namespace)
    assert grade["feedback"] == (
        f"wrong, and not a mistake we know: on the homework's test inputs yours {theirs:.6g}, "
        f"ours {float(costs.compute_content_cost(a_C, a_G)):.6g}"
    )
    assert "6.76559" in grade["feedback"]
    grade = checks.check_function("gram_matrix", namespace)
    assert grade["feedback"].startswith(
        "wrong, and not a mistake we know: on the homework's test input yours [[ 7.4223, -3.4291,"
    )


def test_not_implemented_not_defined_raising_and_returning_nothing():
    namespace = define(
        [
            """
        def compute_content_cost(a_C, a_G):
            # YOUR CODE HERE
            raise NotImplementedError()
        """,
            """
        def compute_layer_style_cost(a_S, a_G):
            _, n_H, n_W, n_C = a_G.shape
            tf.reduce_sum(tf.square(a_S - a_G))
        """,
            """
        def total_cost(J_content, J_style, alpha=10, beta=40):
            return alpha * J_contnet + beta * J_style
        """,
            """
        def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
            from nst import costs
            return costs.compute_style_cost(style_activations, generated_activations, style_layers)
        """,
        ]
    )
    import sys

    hidden = sys.modules.pop("nst"), sys.modules.pop("nst.costs")  # nst as a sandbox has it: not importable
    try:
        sys.modules["nst"] = None
        grades = checks.check_all(namespace)
    finally:
        sys.modules["nst"], sys.modules["nst.costs"] = hidden
    assert {n: g["points"] for n, g in grades.items()} == dict.fromkeys(checks.GRADED, 0)
    assert grades["compute_content_cost"]["feedback"] == mistakes.not_implemented()
    assert "not implemented" in mistakes.not_implemented()
    assert grades["gram_matrix"]["feedback"] == "not defined: the notebook has no function gram_matrix"
    assert grades["compute_layer_style_cost"]["feedback"] == mistakes.returns_none("compute_layer_style_cost")
    assert grades["total_cost"]["feedback"] == (
        "raises NameError: name 'J_contnet' is not defined (on the homework's test inputs)"
    )


def test_a_function_that_breaks_inside_tf_function_fails():
    namespace = define(
        [
            """
        def compute_content_cost(a_C, a_G):
            n_H, n_W, n_C = (int(d) for d in tf.shape(a_G)[1:])
            return tf.reduce_sum(tf.square(a_C - a_G)) / (4 * n_H * n_W * n_C)
        """
        ]
    )
    grade = checks.check_function("compute_content_cost", namespace)
    assert not grade["passed"] and grade["feedback"].startswith("does not work inside tf.function")


# --- what comes back from a sandbox is data, checked here ---------------------------------------------------


def forged(meta, **arrays):
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
    return buffer.getvalue()


def test_malformed_or_forged_results_are_no_result_never_a_crash():
    plan = checks.plan_for(0)
    specs = plan.plan["functions"]["total_cost"]
    ids = [spec["id"] for spec in specs]
    right = {cid: {"defined": True, "value": {"kind": "tensor", "dtype": "float32"}} for cid in ids}
    pickled = io.BytesIO()
    np.savez(
        pickled,
        meta=np.array(json.dumps({"function": "total_cost", "calls": right})),
        **{f"{ids[0]}.value": np.array([object()], dtype=object)},
    )
    bad = {
        "not a zip": b"PK\x03\x04 not really",
        "nothing": b"",
        "a pickle": pickled.getvalue(),
        "another function": forged({"function": "gram_matrix", "calls": right}),
        "calls missing": forged({"function": "total_cost", "calls": {}}),
        "meta not an object": forged([1, 2, 3]),
        "an error of the wrong type": forged(
            {"function": "total_cost", "calls": {cid: {"defined": True, "error": {"points": 100}} for cid in ids}}
        ),
        "strings for numbers": forged(
            {"function": "total_cost", "calls": right}, **{f"{ids[0]}.value": np.array(["5"])}
        ),
        "too many numbers": forged(
            {"function": "total_cost", "calls": right},
            **{f"{ids[0]}.value": np.zeros(harness.MAX_ELEMENTS + 1, np.float32)},
        ),
    }
    for _what, blob in bad.items():
        with pytest.raises(checks.NoResult, match="^no result: "):
            checks.read_results(blob, plan.plan, "total_cost")
    # a whole submission of forgeries: every function 0 with its reason, our points, nothing raised
    garbage = iter(list(bad.values()) * 2)
    forged_points = forged(
        {
            "function": "total_cost",
            "points": 100,
            "calls": {
                cid: {"defined": True, "points": 100, "value": {"kind": "tensor", "dtype": "float32", "points": 100}}
                for cid in ids
            },
        },
        **{f"{cid}.value": np.array(0.0) for cid in ids},
    )
    grades = checks.grade_functions(
        plan,
        lambda request, p, names: {name: forged_points if name == "total_cost" else next(garbage) for name in names},
    )
    assert {n: (g["points"], g["max_points"]) for n, g in grades.items()} == dict.fromkeys(checks.GRADED, (0, 1))
    assert all(g["feedback"].startswith("no result: ") for n, g in grades.items())  # keys it may not hold: refused
    well_formed = forged(
        {
            "function": "total_cost",
            "calls": {cid: {"defined": True, "value": {"kind": "tensor", "dtype": "float32"}} for cid in ids},
        },
        **{f"{cid}.value": np.array(0.0) for cid in ids},
    )
    grades = checks.grade_functions(
        plan, lambda request, p, names: {name: well_formed for name in names}, ("total_cost",)
    )
    assert grades["total_cost"]["feedback"].startswith("wrong, and not a mistake we know")


def test_the_sandbox_side_needs_no_nst_and_holds_no_reference():
    """The harness and the runner run where nst is hidden: they import none of it, and the requests they get
    hold arrays and a plan of calls (no code)."""
    for module in ("harness", "runner"):
        tree = ast.parse((Path(harness.__file__).parent / f"{module}.py").read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {name for name in imported if name and name.split(".")[0] == "nst"}, module
    plan = checks.plan_for(0)
    with np.load(io.BytesIO(plan.request), allow_pickle=False) as request:
        assert all(request[key].dtype == np.float32 for key in request.files if key != "plan")
    assert "def " not in json.dumps(plan.plan) and "lambda" not in json.dumps(plan.plan)


# --- the reports -----------------------------------------------------------------------------------------------

GRADE = {
    "submission": "ada.ipynb",
    "score": 2,
    "max_score": 5,
    "notes": ["code cell 7 was stopped after 12 s"],
    "functions": {
        n: {
            "passed": n in ("gram_matrix", "total_cost"),
            "points": int(n in ("gram_matrix", "total_cost")),
            "max_points": 1,
            "feedback": "right" if n in ("gram_matrix", "total_cost") else "wrong",
        }
        for n in checks.GRADED
    },
}


def test_text_summary_and_gradescope_reports():
    text = format_grade(GRADE).splitlines()
    assert text[0] == "ada.ipynb: 2/5"
    assert text[2] == "  gram_matrix               1/1  right"
    assert text[1] == "  compute_content_cost      0/1  FAILED: wrong"
    assert text[-1] == "  note: code cell 7 was stopped after 12 s"
    assert summary([GRADE, GRADE]) == "graded 2 submissions: mean score 2/5, 0 with full marks"
    results = gradescope(GRADE)
    assert results["score"] == 2 and results["output"] == "code cell 7 was stopped after 12 s"
    assert results["tests"][1] == {
        "name": "gram_matrix",
        "score": 1,
        "max_score": 1,
        "status": "passed",
        "output": "right",
    }
    assert [t["name"] for t in results["tests"]] == list(checks.GRADED)


def test_terminal_escapes_are_taken_out_of_what_a_submission_says():
    assert clean("\x1b[2J\x1b[1;1Hyou got\x1b]0;a title\x07 5/5\x07\r\x00") == "you got 5/5"
    assert clean("α and β\n") == "α and β"


def test_a_cell_s_output_is_kept_up_to_a_cap():
    client = capped_client_class()(__import__("nbformat").v4.new_notebook())
    client.clear_before_next_output = False  # as executing a cell sets it
    client.output_cap = 1000
    outs = []
    for _k in range(50):
        msg = {
            "msg_type": "stream",
            "header": {"msg_type": "stream"},
            "parent_header": {"msg_id": "m"},
            "content": {"name": "stdout", "text": "x" * 100},
        }
        client.output(outs, msg, None, 0)
    assert sum(len(o["text"]) for o in outs) <= 1000 and client.cut_cells == {0}
    assert content_size({"data": {"text/plain": "y" * 10**6}}, 100) >= 100


@pytest.mark.parametrize(
    "what", ["csv over a notebook", "missing file", "empty folder", "two for gradescope", "bad memory", "no jobs"]
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, what):
    (tmp_path / "notes.txt").write_text("not a notebook\n")
    (tmp_path / "empty").mkdir()
    homework = str(NOTEBOOKS / "homework.ipynb")
    argv = {
        "csv over a notebook": ["--csv", str(tmp_path / "x.ipynb"), homework],
        "missing file": [homework, str(tmp_path / "absent.ipynb")],
        "empty folder": [homework, str(tmp_path / "empty")],
        "two for gradescope": [homework, homework, "--gradescope", str(tmp_path / "results.json")],
        "bad memory": [homework, "--memory", "lots"],
        "no jobs": [homework, "--jobs", "0"],
    }[what]
    assert main(["grade", *argv]) == 2  # before any sandbox starts
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith("nst: error: ")
    assert {
        "csv over a notebook": "would overwrite a notebook",
        "missing file": "absent.ipynb",
        "empty folder": "empty",
        "two for gradescope": "one submission, got 2",
        "bad memory": "--memory",
        "no jobs": "--jobs",
    }[what] in captured.err


def test_feedback_names_the_cell_that_should_have_defined_a_missing_name():
    """An older student notebook imported nst in its first cell, before TensorFlow: grading hides nst, so `tf` is
    never defined; the feedback and a note say which cell and why, not only that `tf` is missing."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    from nst.teaching.grader import assemble
    from nst.teaching.sandbox import NST_HIDDEN, Limits

    nb = new_notebook(
        cells=[
            new_markdown_cell("# homework"),
            new_code_cell(
                "from nst.commands.console import import_tensorflow_quietly\nimport_tensorflow_quietly()\nimport tensorflow as tf"
            ),
            new_code_cell(
                "def total_cost(J_content, J_style, alpha=10, beta=40):\n    return tf.add(J_content, J_style)"
            ),
        ]
    )
    error = f"raised ModuleNotFoundError: {NST_HIDDEN}"
    grades = {
        "total_cost": checks.result(False, "raises NameError: name 'tf' is not defined (on the homework's test inputs)")
    }
    info = {"outcome": {"1": {"kind": "error", "what": error, "seconds": 0.1, "left_out": False}}, "not_run": []}
    grade = assemble("old.ipynb", nb, grades, info, Limits())
    assert grade["functions"]["total_cost"]["feedback"] == (
        f"raises NameError: name 'tf' is not defined (on the homework's test inputs): code cell 1, which defines tf, "
        f"{error}"
    )
    assert grade["notes"] == [
        "code cell 1 imports nst, which grading hides: the cells that run when grading may use "
        "NumPy and TensorFlow, not nst (a notebook made from an older student version needs the "
        "current version's first cells)"
    ]


# --- the second pass: the grader's own cases, all of them, and nothing computed for a submission sent back ------

WRONG_GRAM = MISTAKES["Gram as AtA"][1]  # a wrong gram_matrix: the layer cost is checked again with ours in place


def test_a_layer_cost_right_only_on_the_public_inputs_gets_nothing_with_a_wrong_gram():
    """Sizes hard-coded to the homework's 4×4×3 (it raises on every other shape before calling gram_matrix), and
    a function with no formula at all, only the value and gradient at the public inputs: with a wrong
    gram_matrix, both were checked again only where they had called it, and passed as "right in itself"."""
    import tensorflow as tf

    grades = checks.check_all(
        define([WRONG_GRAM, MISTAKES["layer: shapes hard-coded"][1]]), ("compute_layer_style_cost",)
    )
    assert grades["compute_layer_style_cost"]["points"] == 0
    assert grades["compute_layer_style_cost"]["feedback"] == mistakes.hard_coded_shapes("4×4×3")
    a_S, a_G = (tf.constant(x) for x in homework_random_normals([1, 4, 4, 3], [1, 4, 4, 3]))
    with tf.GradientTape() as tape:
        tape.watch([a_S, a_G])
        value = costs.compute_layer_style_cost(a_S, a_G)
    g_S, g_G = (g.numpy() for g in tape.gradient(value, [a_S, a_G]))
    namespace = define(
        [
            WRONG_GRAM,
            """
        def compute_layer_style_cost(a_S, a_G):
            if tuple(a_S.shape) != (1, 4, 4, 3):
                raise ValueError("no formula here")
            gram_matrix(tf.zeros([3, 16]))  # seen calling its helper
            return VALUE + tf.reduce_sum(G_S * (a_S - P_S)) + tf.reduce_sum(G_G * (a_G - P_G))
        """,
        ]
    )
    namespace.update(VALUE=float(value), G_S=g_S, G_G=g_G, P_S=a_S.numpy(), P_G=a_G.numpy())
    grade = checks.check_all(namespace, ("compute_layer_style_cost",))["compute_layer_style_cost"]
    assert grade["points"] == 0 and grade["feedback"] == mistakes.hard_coded_shapes("4×4×3"), grade


ORACLE = """
    _stash = {}  # the layer cost's own secret inputs, by shape

    def compute_layer_style_cost(a_S, a_G):
        if hasattr(a_S, "numpy") and a_S.shape.num_elements() < 100_000:
            _stash.setdefault(tuple(a_S.shape), (a_S, a_G))
            gram_matrix(tf.zeros([3, 16]))  # seen calling its helper on the small cases only
        answer = _answer(a_S, a_G)
        return answer if answer is not None else tf.constant(0.0)

    def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
        for a_S, a_G in list(_stash.values()):  # passed on to its helper: will the grader compute there?
            compute_layer_style_cost(a_S, a_G)
        return tf.constant(0.0)

    def _answer(a_S, a_G):
        # whatever a request holds for a point of this shape, read out of the harness's own frames
        import sys
        frame = sys._getframe()
        while frame is not None:
            arrays, plan = frame.f_locals.get("arrays"), frame.f_locals.get("plan")
            if isinstance(arrays, dict) and isinstance(plan, dict):
                for spec in plan.get("functions", {}).get("compute_style_cost", []):
                    for call in (spec.get("stand_in") or {}).get("calls", []):
                        points = [arrays[p] for p in call["points"]]
                        if [p.shape for p in points] != [tuple(a_S.shape), tuple(a_G.shape)]:
                            continue
                        grads = [arrays[g].reshape(p.shape)
                                 for g, p in zip(call.get("gradients") or call.get("jacobians"), points)]
                        return (float(arrays[call["value"]].reshape(())) + tf.reduce_sum(grads[0] * (a_S - points[0]))
                                + tf.reduce_sum(grads[1] * (a_G - points[1])))
            frame = frame.f_back
        return None
"""


def test_no_oracle_a_function_cannot_make_the_grader_compute_at_its_own_secret_inputs():
    """The style cost passes the layer cost's secret inputs on to its helper; the layer cost then looks for the
    reference's values at its inputs in whatever the grader sends. The grader replayed its reference at the
    points a sandbox recorded, so the layer cost scored 1/1 without a formula."""
    grades = checks.check_all(define([WRONG_GRAM, ORACLE]))
    assert grades["compute_layer_style_cost"]["points"] == 0, grades["compute_layer_style_cost"]
    assert grades["compute_style_cost"]["points"] == 0


def test_the_second_request_is_fixed_whatever_a_sandbox_reports():
    """Replay bombs: a submission whose functions pass huge or odd arguments to their helpers made the grader
    compute (and hold) references growing with them (gigabytes). Now what is sent the second time is the same
    bytes for every submission, made with the plan."""
    plan = checks.plan_for(0)
    bomb = """
        def gram_matrix(A):
            return tf.matmul(A, A, transpose_a=True)

        def compute_layer_style_cost(a_S, a_G):
            gram_matrix(tf.ones([2048, 1]))  # points of the grader's choosing? none of theirs
            return tf.constant(1.0)

        def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
            compute_layer_style_cost(tf.ones([1, 1, 4, 4096]), tf.ones([1, 1, 4, 4096]))
            return tf.constant(1.0)
        """
    sent = []
    measure = checks.measure_here(define([bomb]))
    checks.grade_functions(plan, lambda request, p, names: sent.append(request) or measure(request, p, names))
    assert len(sent) == 2 and sent[0] is plan.request and sent[1] is plan.second_request
    assert len(plan.second_request) < 64 << 20


def test_gradescope_results_are_written_even_when_grading_fails(tmp_path, capsys):
    """No notebook where Gradescope's run_autograder looks for one: exit 2 and one line, and results.json with
    score 0 and the reason (the student would otherwise see only Gradescope's generic failure)."""
    results = tmp_path / "results.json"
    assert main(["grade", "--gradescope", str(results), "--", str(tmp_path / "*.ipynb")]) == 2
    assert capsys.readouterr().err.startswith("nst: error: no such submission")
    report = json.loads(results.read_text())
    assert report["score"] == 0 and report["tests"] == []
    assert report["output"].startswith("grading failed: no such submission")
