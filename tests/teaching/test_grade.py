"""Grading the homework's functions: every known mistake named, correct variants passing, and `nst grade` on
notebooks run in their own kernels (time limit, CSV, JSON, bad input).

Most checks run in-process on functions defined from source text, as a notebook's cells define them (real TF);
a few run whole notebooks through kernels, which cost seconds each.
"""

import contextlib
import csv
import io
import json
import textwrap

import nbformat
import numpy as np
import pytest
import tensorflow as tf

from nst import costs
from nst.teaching import function_checks as checks, mistakes
from nst.cli import main
from nst.config import PACKAGE_ROOT
from nst.teaching.grader import format_grade, summary

NOTEBOOKS = PACKAGE_ROOT / "notebooks"
CORRECT = {  # the homework's solutions, written as a learner writes them in the notebook
    "compute_content_cost": """
        def compute_content_cost(a_C, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            a_C_unrolled = tf.reshape(a_C, [m, -1, n_C])
            a_G_unrolled = tf.reshape(a_G, [m, -1, n_C])
            J_content = tf.reduce_sum(tf.square(a_C_unrolled - a_G_unrolled)) / (4 * n_H * n_W * n_C)
            return J_content
        """,
    "gram_matrix": """
        def gram_matrix(A):
            GA = tf.matmul(A, tf.transpose(A))
            return GA
        """,
    "compute_layer_style_cost": """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            a_S = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
            a_G = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
            GS = gram_matrix(a_S)
            GG = gram_matrix(a_G)
            J_style_layer = tf.reduce_sum(tf.square(GS - GG)) / (4 * n_C**2 * (n_H * n_W) ** 2)
            return J_style_layer
        """,
    "compute_style_cost": """
        def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
            J_style = 0
            for layer_name, coeff in style_layers:
                J_style_layer = compute_layer_style_cost(style_activations[layer_name],
                                                         generated_activations[layer_name])
                J_style += coeff * J_style_layer
            return J_style
        """,
    "total_cost": """
        def total_cost(J_content, J_style, alpha=10, beta=40):
            J = alpha * J_content + beta * J_style
            return J
        """,
}
PRELUDE = """
import numpy as np
import tensorflow as tf
STYLE_LAYERS = [("conv1_1", 0.2), ("conv2_1", 0.2), ("conv3_1", 0.2), ("conv4_1", 0.2), ("conv5_1", 0.2)]
"""

# name of the mistake -> (the function it is in, its source, words the feedback must contain)
MISTAKES = {
    "reshape without transpose": ("compute_layer_style_cost", """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            a_S = tf.reshape(a_S, [n_C, n_H * n_W])
            a_G = tf.reshape(a_G, [n_C, n_H * n_W])
            return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G))) / (4 * n_C**2 * (n_H * n_W) ** 2)
        """, "plain reshape to (n_C, n_H·n_W): reshape to (n_H·n_W, n_C), then transpose"),
    "Gram as AtA": ("gram_matrix", """
        def gram_matrix(A):
            return tf.matmul(tf.transpose(A), A)
        """, "computes AᵀA"),
    "Gram element-wise": ("gram_matrix", """
        def gram_matrix(A):
            return A * A
        """, "element by element"),
    "content: the 4 missing": ("compute_content_cost", """
        def compute_content_cost(a_C, a_G):
            m, n_H, n_W, n_C = a_G.shape
            return tf.reduce_sum((a_C - a_G) ** 2) / (n_H * n_W * n_C)
        """, "the 4 is missing"),
    "content: mean instead of sum": ("compute_content_cost", """
        def compute_content_cost(a_C, a_G):
            m, n_H, n_W, n_C = a_G.shape
            return tf.reduce_mean(tf.square(a_C - a_G)) / (4 * n_H * n_W * n_C)
        """, "tf.reduce_mean followed by the division"),
    "content: difference not squared": ("compute_content_cost", """
        def compute_content_cost(a_C, a_G):
            m, n_H, n_W, n_C = a_G.shape
            return tf.reduce_sum(a_C - a_G) / (4 * n_H * n_W * n_C)
        """, "the difference is not squared"),
    "content: shapes hard-coded": ("compute_content_cost", """
        def compute_content_cost(a_C, a_G):
            return tf.reduce_sum(tf.square(a_C - a_G)) / (4 * 4 * 4 * 3)
        """, "hard-coded"),
    "content: NumPy value": ("compute_content_cost", """
        def compute_content_cost(a_C, a_G):
            m, n_H, n_W, n_C = a_G.shape
            return np.sum(np.square(a_C - a_G)) / (4 * n_H * n_W * n_C)
        """, "not a TensorFlow tensor"),
    "content: gradient cut by tf.constant": ("compute_content_cost", """
        def compute_content_cost(a_C, a_G):
            m, n_H, n_W, n_C = a_G.shape
            return tf.constant(np.sum((a_C.numpy() - a_G.numpy()) ** 2) / (4 * n_H * n_W * n_C), tf.float32)
        """, "gradient is missing"),
    "layer: the 4 missing": ("compute_layer_style_cost", """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            S = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
            G = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
            return tf.reduce_sum(tf.square(gram_matrix(S) - gram_matrix(G))) / (n_C**2 * (n_H * n_W) ** 2)
        """, "the factor 4 is missing"),
    "layer: n_C² missing": ("compute_layer_style_cost", """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            S = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
            G = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
            return tf.reduce_sum(tf.square(gram_matrix(S) - gram_matrix(G))) / (4 * (n_H * n_W) ** 2)
        """, "the factor n_C² is missing"),
    "layer: (n_H·n_W)² missing": ("compute_layer_style_cost", """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            S = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
            G = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
            return tf.reduce_sum(tf.square(gram_matrix(S) - gram_matrix(G))) / (4 * n_C**2)
        """, "the factor (n_H·n_W)² is missing"),
    "layer: n_H·n_W not squared": ("compute_layer_style_cost", """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            S = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
            G = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
            return tf.reduce_sum(tf.square(gram_matrix(S) - gram_matrix(G))) / (4 * n_C**2 * n_H * n_W)
        """, "n_H·n_W is not squared"),
    "layer: mean instead of sum": ("compute_layer_style_cost", """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            S = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
            G = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
            return tf.reduce_mean(tf.square(gram_matrix(S) - gram_matrix(G))) / (4 * n_C**2 * (n_H * n_W) ** 2)
        """, "takes the mean (tf.reduce_mean)"),
    "layer: difference not squared": ("compute_layer_style_cost", """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            S = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
            G = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
            return tf.reduce_sum(gram_matrix(S) - gram_matrix(G)) / (4 * n_C**2 * (n_H * n_W) ** 2)
        """, "the difference of the Gram matrices is not squared"),
    "layer: shapes hard-coded": ("compute_layer_style_cost", """
        def compute_layer_style_cost(a_S, a_G):
            S = tf.transpose(tf.reshape(a_S, [16, 3]))
            G = tf.transpose(tf.reshape(a_G, [16, 3]))
            return tf.reduce_sum(tf.square(gram_matrix(S) - gram_matrix(G))) / (4 * 3**2 * 16**2)
        """, "hard-coded"),
    "gram: NumPy": ("gram_matrix", """
        def gram_matrix(A):
            return np.dot(A, np.transpose(A))
        """, "not a TensorFlow tensor"),
    "style: λ ignored": ("compute_style_cost", """
        def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
            J_style = 0
            for layer_name, coeff in style_layers:
                J_style += compute_layer_style_cost(style_activations[layer_name], generated_activations[layer_name])
            return J_style
        """, "λ of the style layers is ignored"),
    "style: only the last layer": ("compute_style_cost", """
        def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
            for layer_name, coeff in style_layers:
                J_style = coeff * compute_layer_style_cost(style_activations[layer_name],
                                                           generated_activations[layer_name])
            return J_style
        """, "keeps only the last layer's cost"),
    "total: α and β swapped": ("total_cost", """
        def total_cost(J_content, J_style, alpha=10, beta=40):
            return alpha * J_style + beta * J_content
        """, "α and β are swapped"),
    "total: α and β ignored": ("total_cost", """
        def total_cost(J_content, J_style, alpha=10, beta=40):
            return 10 * J_content + 40 * J_style
        """, "ignores its alpha and beta"),
}

DEPENDENTS = {"gram_matrix": ("gram_matrix", "compute_layer_style_cost", "compute_style_cost"),
              "compute_layer_style_cost": ("compute_layer_style_cost", "compute_style_cost")}


def define(sources):
    """The namespace a notebook with these cells (source texts) gives, run in order."""
    namespace = {}
    for source in [PRELUDE, *sources]:
        exec(textwrap.dedent(source), namespace)
    return namespace


def grades_of(namespace, names):
    """check_function on `names` in the homework's order, passing on which earlier ones were wrong (as
    check_all does)."""
    grades, wrong = {}, set()
    for name in names:
        grades[name] = checks.check_function(name, namespace, wrong)
        if not grades[name]["right_as_is"]:
            wrong.add(name)
    return grades


def test_the_homework_solutions_pass_everything():
    grades = checks.check_all(define(CORRECT.values()))
    assert {name: g["points"] for name, g in grades.items()} == dict.fromkeys(checks.GRADED, 1)
    assert all(g["passed"] and g["max_points"] == 1 and g["feedback"].startswith("right") for g in grades.values())


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_known_mistake_fails_exactly_its_function_with_its_diagnosis(mistake):
    name, source, words = MISTAKES[mistake]
    namespace = define([*(s for n, s in CORRECT.items() if n != name), source])
    # the functions that do not use `name` are graded on their own: correct ones pass (see the test above)
    grades = grades_of(namespace, DEPENDENTS.get(name, (name,)))
    assert not grades[name]["passed"] and grades[name]["points"] == 0
    assert words in grades[name]["feedback"], grades[name]["feedback"]
    for other in DEPENDENTS.get(name, (name,))[1:]:  # graded on their own steps, the feedback says why values are off
        assert grades[other]["passed"] and "which it uses, is not right yet" in grades[other]["feedback"], grades[other]


def test_every_wrong_variant_is_told_apart_from_the_others_and_from_the_right_answer():
    for name in checks.GRADED:
        cases = checks.CASES[name]()
        variants = [("right", checks.REFERENCES[name]), *mistakes.MISTAKES[name]()]
        outputs = [[np.asarray(f(*args)) for _, args, _ in cases] for _, f in variants]
        for i in range(len(variants)):
            for j in range(i + 1, len(variants)):
                assert not all(checks.close(a, b) for a, b in zip(outputs[i], outputs[j])), \
                    (name, variants[i][0], variants[j][0])


CORRECT_DIFFERENTLY = [  # other ways to the right answers, numpy-free helper functions in cells of their own
    """
    def unroll(a):
        # (1, n_H, n_W, n_C) -> (n_C, n_H*n_W) by moving the channels first, then flattening
        return tf.reshape(tf.transpose(a, [0, 3, 1, 2]), [a.shape[-1], -1])
    """,
    """
    def compute_content_cost(a_C, a_G):
        return tf.reduce_mean(tf.square(a_G - a_C)) / 4
    """,
    """
    @tf.function
    def gram_matrix(A):
        return tf.einsum("ik,jk->ij", A, A)
    """,
    """
    def compute_layer_style_cost(a_S, a_G):
        _, h, w, c = a_G.shape
        d = gram_matrix(unroll(a_S)) - gram_matrix(unroll(a_G))
        return tf.reduce_sum(d * d) / (2 * c * h * w) ** 2
    """,
    """
    def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
        return sum(coeff * compute_layer_style_cost(style_activations[name], generated_activations[name])
                   for name, coeff in style_layers)
    """,
    """
    total_cost = lambda J_content, J_style, alpha=10, beta=40: tf.add(alpha * J_content, beta * J_style)
    """,
]


def test_correct_functions_written_differently_pass():
    grades = checks.check_all(define(CORRECT_DIFFERENTLY))
    assert {name: (g["passed"], g["feedback"]) for name, g in grades.items()} == \
        {name: (True, grades[name]["feedback"]) for name in checks.GRADED}
    assert all(g["right_as_is"] for g in grades.values())


def test_a_wrong_helper_is_named_and_the_function_using_it_graded_on_its_own_steps():
    wrong_gram = MISTAKES["Gram as AtA"][1]
    namespace = define([*(s for n, s in CORRECT.items() if n != "gram_matrix"), wrong_gram])
    before = dict(namespace)
    grades = checks.check_all(namespace)
    assert [g["points"] for g in grades.values()] == [1, 0, 1, 1, 1]
    assert namespace == before  # ours was put in place in a copy: the learner's functions and globals untouched
    assert grades["compute_layer_style_cost"]["feedback"] == mistakes.helped("gram_matrix")
    assert grades["compute_style_cost"]["feedback"] == mistakes.helped("compute_layer_style_cost")
    # through a helper of its own, our gram_matrix cannot be put in its place: the feedback names the culprit
    through_helper = """
        def grams(a_S, a_G):
            n_C = a_G.shape[-1]
            return [gram_matrix(tf.transpose(tf.reshape(a, [-1, n_C]))) for a in (a_S, a_G)]

        def compute_layer_style_cost(a_S, a_G):
            _, n_H, n_W, n_C = a_G.shape
            GS, GG = grams(a_S, a_G)
            return tf.reduce_sum(tf.square(GS - GG)) / (4 * n_C**2 * (n_H * n_W) ** 2)
        """
    namespace = define([CORRECT["compute_content_cost"], wrong_gram, through_helper])
    grades = grades_of(namespace, ("gram_matrix", "compute_layer_style_cost"))
    assert grades["compute_layer_style_cost"] == checks.result(False, mistakes.dependency_wrong("gram_matrix"))
    # with a wrong gram_matrix, a mistake of its own is still named
    namespace = define([wrong_gram, MISTAKES["layer: the 4 missing"][1]])
    grades = grades_of(namespace, ("gram_matrix", "compute_layer_style_cost"))
    assert "the factor 4 is missing" in grades["compute_layer_style_cost"]["feedback"]


def test_unknown_wrong_answers_fail_with_the_numbers_side_by_side():
    namespace = define(["""
        def compute_content_cost(a_C, a_G):
            return tf.reduce_sum(tf.square(a_C - a_G)) / 1000.0
        """, """
        def gram_matrix(A):
            return tf.matmul(A, tf.transpose(A)) + 1.0
        """])
    a_C, a_G = (tf.constant(x) for x in checks.homework_random_normals([1, 4, 4, 3], [1, 4, 4, 3]))
    theirs = float(tf.reduce_sum(tf.square(a_C - a_G)) / 1000.0)
    grade = checks.check_function("compute_content_cost", namespace)
    assert grade["feedback"] == (f"wrong, and not a mistake we know: on the homework's test inputs yours {theirs:.6g}, "
                                 f"ours {float(costs.compute_content_cost(a_C, a_G)):.6g}")
    assert "6.76559" in grade["feedback"]
    grade = checks.check_function("gram_matrix", namespace)
    assert grade["feedback"].startswith(
        "wrong, and not a mistake we know: on the homework's test input yours [[ 7.4223, -3.4291,")


def test_not_implemented_not_defined_raising_and_returning_nothing():
    namespace = define(["""
        def compute_content_cost(a_C, a_G):
            # YOUR CODE HERE
            raise NotImplementedError()
        """, """
        def compute_layer_style_cost(a_S, a_G):
            _, n_H, n_W, n_C = a_G.shape
            tf.reduce_sum(tf.square(a_S - a_G))
        """, """
        def total_cost(J_content, J_style, alpha=10, beta=40):
            return alpha * J_contnet + beta * J_style
        """])
    grades = checks.check_all(namespace)
    assert {n: g["points"] for n, g in grades.items()} == dict.fromkeys(checks.GRADED, 0)
    assert grades["compute_content_cost"]["feedback"] == mistakes.not_implemented()
    assert "not implemented" in mistakes.not_implemented()
    assert grades["gram_matrix"]["feedback"] == "not defined: the notebook has no function gram_matrix"
    assert grades["compute_layer_style_cost"]["feedback"] == mistakes.returns_none("compute_layer_style_cost")
    assert grades["total_cost"]["feedback"] == ("raises NameError: name 'J_contnet' is not defined "
                                                "(on the homework's test inputs)")


def test_a_function_that_breaks_inside_tf_function_fails():
    namespace = define(["""
        def compute_content_cost(a_C, a_G):
            n_H, n_W, n_C = (int(d) for d in tf.shape(a_G)[1:])
            return tf.reduce_sum(tf.square(a_C - a_G)) / (4 * n_H * n_W * n_C)
        """])
    grade = checks.check_function("compute_content_cost", namespace)
    assert not grade["passed"] and grade["feedback"].startswith("does not work inside tf.function")


# --- whole notebooks through `nst grade`, each in its own kernel ----------------------------------------------

def solution_cell(name, body):
    """A graded function's cell as the homework notebook has it: nbgrader solution metadata, the body between
    the solution markers."""
    head, _, rest = textwrap.dedent(body).strip().partition("\n")
    source = f"{head}\n    ### BEGIN SOLUTION\n{rest}\n    ### END SOLUTION"
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
        "grade": False, "grade_id": name, "locked": False, "schema_version": 3, "solution": True, "task": False}})


def write_notebook(path, cells):
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def not_graded(source):
    return nbformat.v4.new_code_cell(textwrap.dedent(source), metadata={"tags": ["not-graded"]})


def code(source):
    return nbformat.v4.new_code_cell(textwrap.dedent(source))


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """Three submissions graded by one `nst grade --json --csv` run: the instructor notebook, the student version
    untouched, and a mixed one (a known mistake, correct functions written differently, a syntax error, a cell
    that runs forever, a function that loops forever, a not-graded cell that would spoil a function)."""
    folder = tmp_path_factory.mktemp("class")
    solved, student = NOTEBOOKS / "homework.ipynb", NOTEBOOKS / "homework-student.ipynb"
    mixed = write_notebook(folder / "mixed.ipynb", [
        code(PRELUDE),
        solution_cell("compute_content_cost", MISTAKES["content: mean instead of sum"][1]),
        code(CORRECT_DIFFERENTLY[0]), solution_cell("gram_matrix", CORRECT_DIFFERENTLY[2]),
        not_graded("def gram_matrix(A):\n    raise RuntimeError('a not-graded cell ran')"),
        solution_cell("compute_layer_style_cost", CORRECT_DIFFERENTLY[3]),
        code("import time\nwhile True:  # a cell that never ends (sleeping: no CPU taken from the other tests)\n"
             "    time.sleep(0.1)"),
        solution_cell("compute_style_cost", CORRECT["compute_style_cost"].replace("J_style = 0", "J_style = = 0")),
        solution_cell("total_cost", """
            def total_cost(J_content, J_style, alpha=10, beta=40):
                while True:
                    pass
            """)])
    csv_path = folder / "grades.csv"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exit_code = main(["grade", str(solved), str(student), str(mixed), "--timeout", "6", "--json",
                          "--csv", str(csv_path)])
    return exit_code, out.getvalue(), csv_path, folder


def test_grade_a_class_into_json_lines_and_a_csv(graded_class):
    exit_code, stdout, csv_path, folder = graded_class
    assert exit_code == 0
    solved, student, mixed = (json.loads(line) for line in stdout.splitlines())
    assert solved["submission"] == str(NOTEBOOKS / "homework.ipynb")
    assert (solved["score"], solved["max_score"]) == (5, 5)
    assert solved["functions"] == {n: {"passed": True, "points": 1, "max_points": 1,
                                       "feedback": solved["functions"][n]["feedback"]} for n in checks.GRADED}
    assert (student["score"], student["max_score"]) == (0, 5)
    assert all(g["feedback"] == mistakes.not_implemented() for g in student["functions"].values())
    points = {n: g["points"] for n, g in mixed["functions"].items()}
    assert points == {"compute_content_cost": 0, "gram_matrix": 1, "compute_layer_style_cost": 1,
                      "compute_style_cost": 0, "total_cost": 0} and mixed["score"] == 2
    feedback = {n: g["feedback"] for n, g in mixed["functions"].items()}
    assert "tf.reduce_mean followed by the division" in feedback["compute_content_cost"]
    assert feedback["compute_style_cost"] == ("not defined: its cell (cell 8) raised SyntaxError: "
                                             "invalid syntax (line 3)")
    assert feedback["total_cost"] == "did not finish within the time limit (6 s): an endless loop?"
    rows = list(csv.reader(csv_path.open()))
    assert rows == [["submission", *checks.GRADED, "total"],
                    [str(NOTEBOOKS / "homework.ipynb"), "1", "1", "1", "1", "1", "5"],
                    [str(NOTEBOOKS / "homework-student.ipynb"), "0", "0", "0", "0", "0", "0"],
                    [str(folder / "mixed.ipynb"), "0", "1", "1", "0", "0", "2"]]
    text = format_grade(mixed).splitlines()
    assert text[0] == f"{folder / 'mixed.ipynb'}: 2/5"
    assert text[2] == f"  gram_matrix               1/1  {feedback['gram_matrix']}"
    assert text[4] == f"  compute_style_cost        0/1  FAILED: {feedback['compute_style_cost']}"
    assert summary([solved, student, mixed]) == "graded 3 submissions: mean score 2.33/5, 1 with full marks"


@pytest.mark.parametrize("what", ["text file", "missing file", "empty folder"])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, what):
    (tmp_path / "notes.txt").write_text("not a notebook\n")
    (tmp_path / "empty").mkdir()
    path = {"text file": tmp_path / "notes.txt", "missing file": tmp_path / "absent.ipynb",
            "empty folder": tmp_path / "empty"}[what]
    assert main(["grade", str(NOTEBOOKS / "homework.ipynb"), str(path)]) == 2  # before any kernel starts
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith("nst: error: ")
    assert str(path) in captured.err
