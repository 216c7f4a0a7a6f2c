"""Made-up submissions of the homework, a class to grade: for the grader's tests and the grading benchmark.

The homework's solutions as a learner writes them, other correct ways, the known mistakes, hostile notebooks, and
notebooks built from cells (nbgrader solution cells, not-graded cells, plain code)."""

import os
import sys
import textwrap
from pathlib import Path

import nbformat

from nst.settings import PACKAGE_ROOT
from nst.teaching.homework_values import GRADED

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


def solution_cell(name, body):
    """A graded function's cell as the homework notebook has it: nbgrader solution metadata, the body between
    the solution markers."""
    head, _, rest = textwrap.dedent(body).strip().partition("\n")
    source = f"{head}\n    ### BEGIN SOLUTION\n{rest}\n    ### END SOLUTION"
    return nbformat.v4.new_code_cell(
        source,
        metadata={
            "nbgrader": {
                "grade": False,
                "grade_id": name,
                "locked": False,
                "schema_version": 3,
                "solution": True,
                "task": False,
            }
        },
    )


def write_notebook(path, cells):
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def not_graded(source):
    return nbformat.v4.new_code_cell(textwrap.dedent(source), metadata={"tags": ["not-graded"]})


def code(source):
    return nbformat.v4.new_code_cell(textwrap.dedent(source))


def define(sources):
    """The namespace a notebook with these cells (source texts) gives, run in order."""
    namespace = {}
    for source in [PRELUDE, *sources]:
        exec(textwrap.dedent(source), namespace)
    return namespace


# name of the mistake -> (the function it is in, its source, words the feedback must contain)
MISTAKES = {
    "reshape without transpose": (
        "compute_layer_style_cost",
        """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            a_S = tf.reshape(a_S, [n_C, n_H * n_W])
            a_G = tf.reshape(a_G, [n_C, n_H * n_W])
            return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G))) / (4 * n_C**2 * (n_H * n_W) ** 2)
        """,
        "plain reshape to (n_C, n_H·n_W): reshape to (n_H·n_W, n_C), then transpose",
    ),
    "Gram as AtA": (
        "gram_matrix",
        """
        def gram_matrix(A):
            return tf.matmul(tf.transpose(A), A)
        """,
        "computes AᵀA",
    ),
    "Gram element-wise": (
        "gram_matrix",
        """
        def gram_matrix(A):
            return A * A
        """,
        "element by element",
    ),
    "content: the 4 missing": (
        "compute_content_cost",
        """
        def compute_content_cost(a_C, a_G):
            m, n_H, n_W, n_C = a_G.shape
            return tf.reduce_sum((a_C - a_G) ** 2) / (n_H * n_W * n_C)
        """,
        "the 4 is missing",
    ),
    "content: mean instead of sum": (
        "compute_content_cost",
        """
        def compute_content_cost(a_C, a_G):
            m, n_H, n_W, n_C = a_G.shape
            return tf.reduce_mean(tf.square(a_C - a_G)) / (4 * n_H * n_W * n_C)
        """,
        "tf.reduce_mean followed by the division",
    ),
    "content: difference not squared": (
        "compute_content_cost",
        """
        def compute_content_cost(a_C, a_G):
            m, n_H, n_W, n_C = a_G.shape
            return tf.reduce_sum(a_C - a_G) / (4 * n_H * n_W * n_C)
        """,
        "the difference is not squared",
    ),
    "content: shapes hard-coded": (
        "compute_content_cost",
        """
        def compute_content_cost(a_C, a_G):
            return tf.reduce_sum(tf.square(a_C - a_G)) / (4 * 4 * 4 * 3)
        """,
        "hard-coded",
    ),
    "content: NumPy value": (
        "compute_content_cost",
        """
        def compute_content_cost(a_C, a_G):
            m, n_H, n_W, n_C = a_G.shape
            return np.sum(np.square(a_C - a_G)) / (4 * n_H * n_W * n_C)
        """,
        "not a TensorFlow tensor",
    ),
    "content: gradient cut by tf.constant": (
        "compute_content_cost",
        """
        def compute_content_cost(a_C, a_G):
            m, n_H, n_W, n_C = a_G.shape
            return tf.constant(np.sum((a_C.numpy() - a_G.numpy()) ** 2) / (4 * n_H * n_W * n_C), tf.float32)
        """,
        "gradient is missing",
    ),
    "layer: the 4 missing": (
        "compute_layer_style_cost",
        """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            S = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
            G = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
            return tf.reduce_sum(tf.square(gram_matrix(S) - gram_matrix(G))) / (n_C**2 * (n_H * n_W) ** 2)
        """,
        "the factor 4 is missing",
    ),
    "layer: n_C² missing": (
        "compute_layer_style_cost",
        """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            S = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
            G = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
            return tf.reduce_sum(tf.square(gram_matrix(S) - gram_matrix(G))) / (4 * (n_H * n_W) ** 2)
        """,
        "the factor n_C² is missing",
    ),
    "layer: (n_H·n_W)² missing": (
        "compute_layer_style_cost",
        """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            S = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
            G = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
            return tf.reduce_sum(tf.square(gram_matrix(S) - gram_matrix(G))) / (4 * n_C**2)
        """,
        "the factor (n_H·n_W)² is missing",
    ),
    "layer: n_H·n_W not squared": (
        "compute_layer_style_cost",
        """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            S = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
            G = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
            return tf.reduce_sum(tf.square(gram_matrix(S) - gram_matrix(G))) / (4 * n_C**2 * n_H * n_W)
        """,
        "n_H·n_W is not squared",
    ),
    "layer: mean instead of sum": (
        "compute_layer_style_cost",
        """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            S = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
            G = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
            return tf.reduce_mean(tf.square(gram_matrix(S) - gram_matrix(G))) / (4 * n_C**2 * (n_H * n_W) ** 2)
        """,
        "takes the mean (tf.reduce_mean)",
    ),
    "layer: difference not squared": (
        "compute_layer_style_cost",
        """
        def compute_layer_style_cost(a_S, a_G):
            m, n_H, n_W, n_C = a_G.get_shape().as_list()
            S = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
            G = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
            return tf.reduce_sum(gram_matrix(S) - gram_matrix(G)) / (4 * n_C**2 * (n_H * n_W) ** 2)
        """,
        "the difference of the Gram matrices is not squared",
    ),
    "layer: shapes hard-coded": (
        "compute_layer_style_cost",
        """
        def compute_layer_style_cost(a_S, a_G):
            S = tf.transpose(tf.reshape(a_S, [16, 3]))
            G = tf.transpose(tf.reshape(a_G, [16, 3]))
            return tf.reduce_sum(tf.square(gram_matrix(S) - gram_matrix(G))) / (4 * 3**2 * 16**2)
        """,
        "hard-coded",
    ),
    "gram: NumPy": (
        "gram_matrix",
        """
        def gram_matrix(A):
            return np.dot(A, np.transpose(A))
        """,
        "not a TensorFlow tensor",
    ),
    "style: λ ignored": (
        "compute_style_cost",
        """
        def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
            J_style = 0
            for layer_name, coeff in style_layers:
                J_style += compute_layer_style_cost(style_activations[layer_name], generated_activations[layer_name])
            return J_style
        """,
        "λ of the style layers is ignored",
    ),
    "style: only the last layer": (
        "compute_style_cost",
        """
        def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
            for layer_name, coeff in style_layers:
                J_style = coeff * compute_layer_style_cost(style_activations[layer_name],
                                                           generated_activations[layer_name])
            return J_style
        """,
        "keeps only the last layer's cost",
    ),
    "total: α and β swapped": (
        "total_cost",
        """
        def total_cost(J_content, J_style, alpha=10, beta=40):
            return alpha * J_style + beta * J_content
        """,
        "α and β are swapped",
    ),
    "total: α and β ignored": (
        "total_cost",
        """
        def total_cost(J_content, J_style, alpha=10, beta=40):
            return 10 * J_content + 40 * J_style
        """,
        "ignores its alpha and beta",
    ),
}


MARKER = f"nst-grade-test-left-behind-{os.getpid()}"  # in the command line of a process left behind (this run's)
WRITTEN = [PACKAGE_ROOT / "nst-grade-test-sabotage.txt", Path(sys.prefix) / "nst-grade-test-sabotage.txt"]
WRONG = {  # wrong functions: a constant each
    "compute_content_cost": "def compute_content_cost(a_C, a_G):\n    return tf.constant(1.0)",
    "gram_matrix": "def gram_matrix(A):\n    return tf.constant(1.0)",
    "compute_layer_style_cost": "def compute_layer_style_cost(a_S, a_G):\n    return tf.constant(1.0)",
    "compute_style_cost": "def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):"
    "\n    return tf.constant(1.0)",
    "total_cost": "def total_cost(J_content, J_style, alpha=10, beta=40):\n    return tf.constant(1.0)",
}
FORGED = {"passed": True, "points": 100, "max_points": 1, "feedback": "right", "right_as_is": True, "defined": True}


def wrong_functions(*names):
    return [solution_cell(name, WRONG[name]) for name in (names or GRADED)]


def hostile_notebooks(folder, canary):
    """{name: path} of the hostile submissions, each with wrong functions."""
    instructor = NOTEBOOKS / "homework.ipynb"
    answer_key = [
        solution_cell(
            "compute_content_cost",
            """
        def compute_content_cost(a_C, a_G):
            from nst import costs  # the answer key
            return costs.compute_content_cost(a_C, a_G)
        """,
        ),
        solution_cell(
            "gram_matrix",
            """
        def gram_matrix(A):
            import nst.costs
            return nst.costs.gram_matrix(A)
        """,
        ),
        code("from nst import costs as reference"),
        solution_cell(
            "compute_layer_style_cost",
            """
        def compute_layer_style_cost(a_S, a_G):
            return reference.compute_layer_style_cost(a_S, a_G)
        """,
        ),
        code(f"""
        # the instructor notebook's solutions, and a file of answers outside the sandbox
        import json
        with open({str(instructor)!r}) as f:
            for cell in json.load(f)["cells"]:
                if cell["metadata"].get("nbgrader", {{}}).get("solution"):
                    exec("".join(cell["source"]))
        """),
        code(f"exec(open({str(canary)!r}).read())"),
    ]
    forger = [
        code(PRELUDE),
        *wrong_functions("compute_style_cost", "total_cost"),
        *answer_key,
        code(f"""
        # patch the checker a kernel-side grader would use, NumPy's comparisons, the references, the expected values
        import numpy as np
        np.all = np.allclose = np.array_equal = lambda *args, **kwargs: True
        np.isclose = lambda a, b, *args, **kwargs: np.ones(np.shape(a), bool)
        try:
            import nst.teaching.function_checks as fc
            import nst.teaching.homework_values as hv
            from IPython.display import display
            fc.close = lambda *args, **kwargs: True
            fc.REFERENCES.update({{name: globals()[name] for name in fc.REFERENCES}})
            hv.EXPECTED.update({{"J_content": 1.0, "J_style_layer": 1.0, "J": 1.0, "GA": 1.0}})
            fc.show = lambda name, namespace, wrong=(): display({{fc.MIME: {FORGED!r}}}, raw=True)
        except ImportError as exc:
            print("no checker here:", exc)
        """),
        code(f"""
        # forge results: under the grader's MIME type before every cell, through display, by printing, and into
        # the pipes of the process that started this kernel (the grader's, or a sandbox's runner), as the lines a
        # runner sends (malformed ones first). Only that process: never the pipes of anything else on the machine
        import base64, glob, io, json, os, stat
        import IPython.display
        MIME = "application/vnd.nst.grade+json"
        ip = get_ipython()
        ip.events.register("pre_run_cell", lambda *args: IPython.display.display({{MIME: "malformed"}}, raw=True))
        ip.events.register("pre_run_cell", lambda *args: IPython.display.display({{MIME: {FORGED!r}}}, raw=True))
        _display = IPython.display.display
        IPython.display.display = lambda *args, **kwargs: _display({{MIME: {FORGED!r}}}, raw=True)
        print(json.dumps({FORGED!r}))
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps({{"function": "total_cost", "points": 100, "calls": {{}}}})))
        lines = [json.dumps({{"function": name, "round": r, "results": payload, "points": 100}}) + "\\n"
                 for r in (1, 2) for name in {list(GRADED)!r}
                 for payload in ("bm90IGFuIG5weg==", base64.b64encode(buffer.getvalue()).decode())]
        lines.append("not json at all\\n")
        for fd in glob.glob(f"/proc/{{os.getppid()}}/fd/*"):
            try:
                if stat.S_ISFIFO(os.stat(fd).st_mode):
                    out = os.open(fd, os.O_WRONLY | os.O_NONBLOCK)
                    os.write(out, "".join(lines).encode())
                    os.close(out)
            except OSError:
                pass
        """),
        code(
            """
        # a notebook-level globals and __import__, which a check cell looking names up would use
        import types
        def globals():
            return {"compute_content_cost": lambda *args: 6.76559}
        fake = types.ModuleType("nst")
        fake.teaching = types.SimpleNamespace(function_checks=types.SimpleNamespace(
            show=lambda *args: IPython.display.display({MIME: FORGED}, raw=True)))
        FORGED = %r
        __import__ = lambda *args, **kwargs: fake
        """
            % (FORGED,)
        ),
    ]
    saboteur = [
        code(PRELUDE),
        *wrong_functions(),
        code(f"""
        # for the next kernels (this one's, and any other submission's): a numpy that breaks, a startup file that
        # ends the kernel; into the project and the environment; a process that stays behind
        import os, subprocess, sys
        os.makedirs("numpy", exist_ok=True)
        with open("numpy/__init__.py", "w") as f:
            f.write("raise ImportError('numpy sabotaged')\\n")
        for top in {{os.path.expanduser("~/.ipython"), os.environ.get("IPYTHONDIR", "")}} - {{""}}:
            os.makedirs(f"{{top}}/profile_default/startup", exist_ok=True)
            with open(f"{{top}}/profile_default/startup/00-sabotage.py", "w") as f:
                f.write("import os\\nos._exit(1)\\n")
        for target in {[str(p) for p in WRITTEN]!r}:
            try:
                with open(target, "w") as f:
                    f.write("sabotage")
            except OSError:
                pass
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", {MARKER!r}], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        """),
        code("import os\nos._exit(1)  # and crash"),
    ]
    hog = [
        code(PRELUDE),
        *wrong_functions(*GRADED[:2]),
        code("""
        chunks = []  # memory without bound
        try:
            while True:
                chunks.append(bytearray(256 << 20))
        except MemoryError:
            pass
        del chunks
        """),
        code("""
        hog = bytearray(6 << 30)  # beyond the memory of a sandbox: total_cost below is never defined
        def total_cost(J_content, J_style, alpha=10, beta=40):
            return tf.constant(2.0)
        """),
        code("""
        with open("big", "wb") as f:  # beyond the disk of a sandbox
            for _ in range(64):
                f.write(bytes(16 << 20))
        """),
        code("""
        for _ in range(20):  # output without end
            print("x" * 1_000_000)
        print("y" * (48 << 20))
        """),
        *[code("import time\ntime.sleep(20)") for _ in range(12)],  # and twelve cells sleeping 20 s each
        *wrong_functions(*GRADED[2:4]),
    ]
    notebooks = {"forger": forger, "saboteur": saboteur, "hog": hog}
    return {name: write_notebook(folder / f"{name}.ipynb", cells) for name, cells in notebooks.items()}


def mixed_notebook(folder):
    """A known mistake, correct functions written differently, a syntax error, a cell that runs forever, a
    function that loops forever, a not-graded cell that would spoil a function."""
    return write_notebook(
        folder / "mixed.ipynb",
        [
            code(PRELUDE),
            solution_cell("compute_content_cost", MISTAKES["content: mean instead of sum"][1]),
            code(CORRECT_DIFFERENTLY[0]),
            solution_cell("gram_matrix", CORRECT_DIFFERENTLY[2]),
            not_graded("def gram_matrix(A):\n    raise RuntimeError('a not-graded cell ran')"),
            solution_cell("compute_layer_style_cost", CORRECT_DIFFERENTLY[3]),
            code(
                "import time\nwhile True:  # a cell that never ends (sleeping: no CPU taken from the other tests)\n"
                "    time.sleep(0.1)"
            ),
            solution_cell("compute_style_cost", CORRECT["compute_style_cost"].replace("J_style = 0", "J_style = = 0")),
            solution_cell(
                "total_cost",
                """
            def total_cost(J_content, J_style, alpha=10, beta=40):
                while True:
                    pass
            """,
            ),
        ],
    )
