"""`nst grade`: homework notebooks graded by what their functions do.

Each submission runs in a fresh kernel of
this Python (cells tagged not-graded skipped, errors allowed, a time limit), then each graded function is checked
in that kernel by `nst.teaching.function_checks`; per function passed or not, points and feedback, as text, JSON lines or a CSV.

Grading runs the submissions' code on this machine, as nbgrader does.
"""

import argparse
import contextlib
import csv
import io
import json
import logging
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from nst.errors import NstError

GRADED = ("compute_content_cost", "gram_matrix", "compute_layer_style_cost", "compute_style_cost", "total_cost")
NOT_GRADED_TAG = "not-graded"
MIME = "application/vnd.nst.grade+json"  # nst.teaching.function_checks.show displays a grade under this type
DEFAULT_TIMEOUT = 120
MAX_KERNELS = 3  # kernels one submission may use when its cells crash them
AFTER_TIMEOUT_SECONDS = 10  # each cell after the one cut at the time limit, so later functions are still defined
SETUP_SECONDS = 300  # the grader's own set-up in the kernel (TensorFlow, nst.teaching.function_checks), not the submission's time
TIMEOUT_ERROR = {"ename": "nst-grade-time-limit", "evalue": "", "traceback": []}  # nbclient's reply at a time limit
SETUP_SOURCE = '__import__("nst.console").console.import_tensorflow_quietly()\n__import__("nst.teaching.function_checks")'


def build_grade_parser():
    p = argparse.ArgumentParser(
        prog="nst grade",
        description="""\
Grade homework notebooks (notebooks/homework-student.ipynb filled in).

Each runs in a fresh Python kernel, cells tagged not-graded skipped, a failing cell not stopping the
others; then each graded function (compute_content_cost, gram_matrix, compute_layer_style_cost,
compute_style_cost, total_cost) is checked by what it does: the homework's outputs, other shapes,
the gradient, tf.function. A wrong function gets feedback naming its mistake.

Grading RUNS the submitted code on this machine, as nbgrader does.
Exit 0 when every submission was graded (whatever the scores), 2 on bad input.""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  nst grade my-homework.ipynb                  check your own notebook\n"
        "  nst grade submissions/ --csv grades.csv      grade a class: every .ipynb in submissions/\n"
        "  nst grade a.ipynb b.ipynb --json             one JSON object per line, for your own tools\n\n"
        "One point per function. A function that uses another graded one (compute_layer_style_cost uses\n"
        "gram_matrix, compute_style_cost uses compute_layer_style_cost) is graded on its own steps: when only\n"
        "the function it uses is wrong, it gets its point and the feedback names the culprit.")
    p.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION",
                   help="a notebook (.ipynb), or a folder: every .ipynb in it")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="time limit of a submission's cells together (default: %(default)s); a cell still running "
                   f"then is interrupted and the cells after it get {AFTER_TIMEOUT_SECONDS} s each; checking each "
                   "function has the same limit (an endless loop costs that function its point)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per submission and line: submission, functions (name -> passed, "
                   "points, max_points, feedback), score, max_score")
    p.add_argument("--csv", type=Path, metavar="FILE",
                   help="also write FILE: one row per submission, its points per function and the total")
    p.add_argument("--debug", action="store_true", help="show the kernels' own messages and full tracebacks")
    return p


def grade_main(argv):
    """`nst grade ...`: exit 0 when every submission was graded, 2 (one line on stderr) on bad input."""
    args = build_grade_parser().parse_args(argv)
    from nst.console import run_command

    def command():
        if not args.timeout > 0:
            raise NstError(f"--timeout must be a positive number of seconds, got {args.timeout}")
        paths = submission_paths(args.submissions)
        notebooks = [read_submission(path) for path in paths]
        if args.csv is not None and (args.csv.is_dir() or not args.csv.parent.is_dir()):
            raise NstError(f"cannot write {args.csv}: " + ("it is a folder" if args.csv.is_dir() else
                                                           f"no folder {args.csv.parent}"))
        grades = []
        for path, nb in zip(paths, notebooks):
            grade = grade_submission(path, nb, args.timeout, debug=args.debug)
            grades.append(grade)
            print(json.dumps(grade, ensure_ascii=False) if args.json else format_grade(grade), flush=True)
        if args.csv is not None:
            from nst.files import write_text_atomic

            write_text_atomic(args.csv, grades_csv(grades))
        if not args.json:
            print(summary(grades, args.csv))

    try:  # the grader itself needs no TensorFlow: the checks run in the submissions' kernels
        return run_command(command, debug=args.debug, tensorflow=False)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("nst: grading interrupted (the kernel of the submission being graded was shut down)", file=sys.stderr)
        return 130


# --- the submissions ----------------------------------------------------------------------------------------

def submission_paths(arguments):
    """The notebooks to grade: each file as given, each folder's *.ipynb sorted; NstError for what is missing."""
    paths = []
    for path in arguments:
        if path.is_dir():
            found = sorted(path.glob("*.ipynb"))
            if not found:
                raise NstError(f"no .ipynb files in folder {path}")
            paths.extend(found)
        elif not path.exists():
            raise NstError(f"no such submission: {path}")
        else:
            paths.append(path)
    return paths


def read_submission(path):
    """The notebook at `path` (nbformat 4); NstError in one line when it is none."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no cells")
    except Exception as exc:  # noqa: BLE001 (nbformat raises JSON, schema, key and OS errors alike)
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise NstError(f"cannot grade {path}: not a Jupyter notebook ({reason})") from None
    return nb


def graded_cells(nb):
    """[(position in the notebook, 1-based, code cell)] of the cells that run when grading: every code cell but
    those tagged not-graded (weights, the optimisation, pictures)."""
    return [(k, cell) for k, cell in enumerate(nb.cells, 1)
            if cell.cell_type == "code" and NOT_GRADED_TAG not in cell.get("metadata", {}).get("tags", [])]


def solution_cell(nb, name):
    """1-based position of the cell whose nbgrader grade_id is `name`, or None."""
    for k, cell in enumerate(nb.cells, 1):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == name:
            return k
    return None


# --- running one submission in its kernel ------------------------------------------------------------------

def kernel_manager(log):
    """A kernel manager whose "python3" is always this interpreter's ipykernel (the one with this nst), whatever
    kernel specs the user has installed."""
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())

    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=ThisPython(), log=log)


def kernel_environment():
    """The kernel's environment: ours, with this nst importable first and TensorFlow's start-up noise off."""
    env = dict(os.environ)
    top = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([top] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def error_line(cell):
    """The last line of the error a cell raised ("NameError: name 'x' is not defined"), or None."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = " ".join(str(output.get("evalue", "")).split())
            value = re.sub(r"\([^()]*?\d+\.py, (line \d+)\)", r"(\1)", value)  # IPython's cell file names
            return f"{output.get('ename', 'Error')}: {value}" if value else output.get("ename", "Error")
    return None


def grade_submission(path, nb, timeout, debug=False):
    """{submission, functions: name -> {passed, points, max_points, feedback}, score, max_score} of one notebook.

    Its cells run in a fresh kernel in the notebook's folder: together at most `timeout` seconds (a cell running
    then is interrupted, the cells after it get AFTER_TIMEOUT_SECONDS each), errors allowed; then each graded
    function is checked there, `timeout` seconds each. A function the notebook could not define gets 0 with the
    error of its cell as feedback. A cell or a check that kills the kernel (or ignores the interrupt) is left out
    and the rest runs again in a new kernel, at most MAX_KERNELS kernels in all.
    """
    outcome = {}  # position of a cell in the notebook -> (what stopped it, whether a new kernel leaves it out)
    checked = {}  # graded function -> its grade
    for _ in range(MAX_KERNELS):
        if run_in_kernel(path, graded_cells(nb), outcome, checked, timeout, debug):
            break
    functions = {name: public(checked[name]) if name in checked
                 else failed(f"not checked: the notebook stopped its kernel {MAX_KERNELS} times") for name in GRADED}
    for name, grade in functions.items():  # why a function is missing: what happened to its cell
        if name in checked and not checked[name].get("defined", True):
            grade["feedback"] = not_defined(nb, name, outcome)
    score = sum(grade["points"] for grade in functions.values())
    return {"submission": str(path), "functions": functions, "score": score,
            "max_score": sum(grade["max_points"] for grade in functions.values())}


def run_in_kernel(path, cells, outcome, checked, timeout, debug):
    """Run the graded cells (but those cut or crashed before, as `outcome` says) and the checks not yet in
    `checked` in a fresh kernel, recording into both. True when done; False when the kernel died or would not
    stop (that cell or check is recorded, so the next run leaves it out)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    log = logging.Logger("nst.teaching.grader", logging.DEBUG if debug else logging.CRITICAL + 1)
    client = NotebookClient(nbformat.v4.new_notebook(), km=kernel_manager(log), allow_errors=True,
                            interrupt_on_timeout=True, error_on_timeout=TIMEOUT_ERROR, log=log,
                            resources={"metadata": {"path": str(Path(path).resolve().parent)}})

    def run(source, seconds):
        cell = nbformat.v4.new_code_cell(source)
        client.nb.cells.append(cell)
        return cell, run_cell(client, cell, len(client.nb.cells) - 1, seconds)

    quiet = None if debug else subprocess.DEVNULL
    running = None
    try:
        with start_kernel(client, env=kernel_environment(), stdout=quiet, stderr=quiet, cleanup_kc=True):
            cell, status = run(SETUP_SOURCE, SETUP_SECONDS)
            if status != "ran" or error_line(cell):
                raise NstError("cannot grade: the grading kernel could not import TensorFlow and nst.teaching.function_checks ("
                               f"{error_line(cell) or status}); is `nst` installed in {sys.executable}?")
            deadline = time.monotonic() + timeout
            for position, source_cell in cells:
                if outcome.get(position, ("", False))[1]:  # cut or crashed in a kernel before
                    continue
                running = position
                cell, status = run(source_cell.source, max(deadline - time.monotonic(), 0) or AFTER_TIMEOUT_SECONDS)
                if status == "stuck":
                    outcome[position] = ("ran past the time limit and did not stop when interrupted", True)
                    return False
                if status == "timeout":
                    outcome[position] = (f"ran past the time limit ({timeout:g} s) and was interrupted", True)
                    deadline = time.monotonic()  # the budget is spent: the cells after get their few seconds
                elif error_line(cell):
                    outcome[position] = (f"raised {error_line(cell)}", False)
            for name in GRADED:
                if name in checked:
                    continue
                running = name
                wrong = [n for n in checked if not checked[n].get("right_as_is")]
                cell, status = run(f'__import__("nst.teaching.function_checks").teaching.function_checks.show({name!r}, globals(), {wrong!r})', timeout)
                checked[name] = check_result(cell, status, timeout)
                if status == "stuck":
                    return False
    except DeadKernelError:
        if running in GRADED:
            checked[running] = failed("the kernel died while checking it (a crash, or a call that exits Python)")
        elif running is not None:
            outcome[running] = ("stopped the kernel: a crash, or a call that exits Python", True)
        return False
    return True


@contextlib.contextmanager
def start_kernel(client, **kwargs):
    """client.setup_kernel(**kwargs), a kernel that cannot start being a one-line NstError."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(client.setup_kernel(**kwargs))
        except Exception as exc:  # noqa: BLE001 (jupyter_client raises OS, runtime and timeout errors alike)
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise NstError(f"cannot start a Python kernel for grading ({reason}): is ipykernel installed in "
                           f"{sys.executable}?") from None
        yield  # leaving shuts the kernel down


def run_cell(client, cell, index, seconds):
    """Run one cell with a time limit: "ran" (with or without an error), "timeout" (interrupted at the limit) or
    "stuck" (it did not stop when interrupted: the kernel cannot go on)."""
    import nbformat

    if not timed_out(client, cell, index, seconds):
        return "ran"
    probe = nbformat.v4.new_code_cell("pass")  # an interrupted kernel answers again within seconds
    return "stuck" if timed_out(client, probe, index, AFTER_TIMEOUT_SECONDS) else "timeout"


def timed_out(client, cell, index, seconds):
    """Execute `cell`; whether it ran past `seconds` (then nbclient has interrupted the kernel and waited a few
    seconds for the cell's last outputs, so none of them land in a later cell)."""
    replies = []
    client.on_cell_executed = lambda execute_reply, **_: replies.append(execute_reply)
    client.timeout = max(1, math.ceil(seconds))
    client.execute_cell(cell, index)
    return bool(replies) and replies[-1].get("content", {}).get("ename") == TIMEOUT_ERROR["ename"]


def check_result(cell, status, timeout):
    """The grade a check cell displayed, or a 0 saying why there is none."""
    if status != "ran":
        return failed(f"did not finish within the time limit ({timeout:g} s): an endless loop?")
    for output in cell.get("outputs", []):
        if output.get("output_type") == "display_data" and MIME in output.get("data", {}):
            return dict(output["data"][MIME])
    return failed(f"the check stopped: {error_line(cell) or 'it displayed no result'}")


def failed(feedback):
    return {"passed": False, "points": 0, "max_points": 1, "feedback": feedback}


def public(grade):
    return {key: grade[key] for key in ("passed", "points", "max_points", "feedback")}


def not_defined(nb, name, outcome):
    """Feedback for a function the notebook did not define: what happened to its cell (or to the notebook)."""
    position = solution_cell(nb, name)
    if position is not None and position in outcome:
        return f"not defined: its cell (cell {position}) {outcome[position][0]}"
    if position is not None and NOT_GRADED_TAG in nb.cells[position - 1].get("metadata", {}).get("tags", []):
        return f"not defined: its cell (cell {position}) is tagged {NOT_GRADED_TAG}, so it does not run"
    if outcome:
        first = min(outcome)
        return (f"not defined: the notebook has no function {name} (its first failing cell, cell {first}, "
                f"{outcome[first][0]})")
    return f"not defined: the notebook has no function {name}"


# --- reporting -----------------------------------------------------------------------------------------------

def format_grade(grade):
    """A submission's grade as text: a header line with the score, then one line per function."""
    lines = [f"{grade['submission']}: {grade['score']:g}/{grade['max_score']:g}"]
    width = max(map(len, grade["functions"]))
    for name, g in grade["functions"].items():
        feedback = g["feedback"] if g["passed"] else f"FAILED: {g['feedback']}"
        lines.append(f"  {name:<{width}}  {g['points']:g}/{g['max_points']:g}  {feedback}")
    return "\n".join(lines)


def grades_csv(grades):
    """One row per submission: submission, the points of each graded function, total."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["submission", *GRADED, "total"])
    for grade in grades:
        writer.writerow([grade["submission"], *(grade["functions"][name]["points"] for name in GRADED),
                         grade["score"]])
    return out.getvalue()


def summary(grades, csv_path=None):
    """One line: how many submissions were graded, the mean score, how many got full marks."""
    n, max_score = len(grades), grades[0]["max_score"]
    mean = sum(g["score"] for g in grades) / n
    full = sum(g["score"] == g["max_score"] for g in grades)
    line = (f"graded {n} submission{'s' if n != 1 else ''}: mean score {mean:.3g}/{max_score:g}, "
            f"{full} with full marks")
    return line + (f"; points per function in {csv_path}" if csv_path is not None else "")
