"""`nst grade`: homework notebooks graded by what their functions do, each submission in a sandbox of its own.

A submission's cells run in a kernel inside its sandbox (`nst.teaching.sandbox`, `nst.teaching.runner`); its
graded functions are then called there on inputs sent only at that moment (the homework's and fresh random ones
from a secret seed) and their raw results come back as data. The verdict, the known mistake, the points and the
feedback are computed here, in the grader's own process (`nst.teaching.function_checks`). Several sandboxes run
at once; the output and the CSV keep the submissions' order. Text, JSON lines, a CSV, Gradescope's results.json.
"""

import argparse
import ast
import base64
import concurrent.futures
import csv
import io
import json
import os
import re
import secrets
import sys
import threading
import time
from pathlib import Path

from nst.errors import NstError
from nst.teaching.homework_values import GRADED
from nst.teaching.sandbox import NST_HIDDEN
NOT_GRADED_TAG = "not-graded"
DEFAULT_TIMEOUT = 120
DEFAULT_MEMORY, DEFAULT_DISK = "4G", "1G"
MAX_KERNELS = 3  # kernels one submission may use when its cells crash them
SETUP_SECONDS = 300  # starting a submission's first kernel and importing TensorFlow: not the submission's time
MEMORY_PER_JOB = 2 << 30  # --jobs by default: the cores, at most one sandbox per 2 GiB of memory
ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)?|\x1b.?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")
NOT_ISOLATED = ("nst grade: WARNING: submissions are NOT isolated ({reason}): each runs with its limits (memory, "
                "disk, time) in a temporary folder and its own process group, but can read and write your files "
                "and reach the network; install bubblewrap, or pass --isolation required to refuse")


def build_grade_parser():
    p = argparse.ArgumentParser(
        prog="nst grade",
        description="""\
Grade homework notebooks (notebooks/homework-student.ipynb filled in).

Each submission runs in a sandbox of its own (bubblewrap on Linux: no network, the system read-only,
this project, the other submissions and your files hidden, all its processes ended with it), in a
fresh kernel, cells tagged not-graded skipped, a failing cell not stopping the others. Its graded
functions (compute_content_cost, gram_matrix, compute_layer_style_cost, compute_style_cost,
total_cost) are then called there on inputs sent only then (the homework's, and fresh random ones
per run, realistic shapes among them); their results come back as data, and the verdict is made
here: the homework's outputs, other shapes, the gradient, tf.function. A wrong function gets
feedback naming its mistake. One point per function, from the grader's own table.

Without bubblewrap (macOS, containers without user namespaces) the same limits apply but submissions
are NOT isolated; a warning says so, and --isolation required refuses instead.
Exit 0 when every submission was graded (whatever the scores), 2 on bad input.""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  nst grade my-homework.ipynb                  check your own notebook\n"
        "  nst grade submissions/ --csv grades.csv      grade a class: every .ipynb in submissions/\n"
        "  nst grade a.ipynb b.ipynb --json             one JSON object per line, for your own tools\n"
        "  nst grade /autograder/submission/*.ipynb --gradescope /autograder/results/results.json\n\n"
        "A function that uses another graded one (compute_layer_style_cost uses gram_matrix,\n"
        "compute_style_cost uses compute_layer_style_cost) is graded on its own steps: when only the\n"
        "function it uses is wrong, it gets its point and the feedback names the culprit.")
    p.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION",
                   help="a notebook (.ipynb), or a folder: every .ipynb in it")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="time of one submission, its cells and the checks of its functions together (default: "
                   "%(default)s; starting its kernel and importing TensorFlow not counted): the cells may use 50%% "
                   "of it, a cell still running then is stopped and the cells after it share the next 10%%, the "
                   "checks get the rest (an endless loop costs that function its point, not the others theirs)")
    p.add_argument("--memory", default=DEFAULT_MEMORY, metavar="SIZE",
                   help="memory of each process of a submission, as address space (default: %(default)s; "
                   "TensorFlow itself takes about 1.7G of it)")
    p.add_argument("--disk", default=DEFAULT_DISK, metavar="SIZE",
                   help="what a submission may write: its folder in all, and any one file (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="submissions graded at once (default: the number of cores, at most one per 2 GiB of memory)")
    p.add_argument("--isolation", choices=("auto", "required"), default="auto",
                   help="auto (default): bubblewrap where it works, else grade without isolation and say so; "
                   "required: refuse to grade without it")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per submission and line: submission, functions (name -> passed, "
                   "points, max_points, feedback), score, max_score, notes, seconds")
    p.add_argument("--csv", type=Path, metavar="FILE",
                   help="also write FILE: one row per submission, its points per function and the total")
    p.add_argument("--gradescope", type=Path, metavar="FILE",
                   help="also write FILE in Gradescope's autograder format (results.json: score, one test per "
                   "function with its score, max_score and feedback); one submission")
    p.add_argument("--debug", action="store_true", help="show the sandboxes' and kernels' own messages and full "
                   "tracebacks")
    return p


def size(text, option):
    """Bytes in "4G", "512M", "100K" or a plain number; NstError naming the option otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    if not match or float(match.group(1)) <= 0:
        raise NstError(f"{option} must be a size such as 4G, 512M or a number of bytes, got {text!r}")
    return int(float(match.group(1)) * 1024 ** " KMGT".index(match.group(2).upper() or " "))


def default_jobs():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return cores
    return max(1, min(cores, memory // MEMORY_PER_JOB))


def grade_main(argv):
    """`nst grade ...`: exit 0 when every submission was graded, 2 (one line on stderr) on bad input."""
    args = build_grade_parser().parse_args(argv)
    from nst.commands.console import import_tensorflow_quietly, run_command

    def command():
        from nst.teaching.sandbox import Limits, bwrap_flags

        if not args.timeout > 0:
            raise NstError(f"--timeout must be a positive number of seconds, got {args.timeout}")
        if args.jobs is not None and args.jobs < 1:
            raise NstError(f"--jobs must be 1 or more, got {args.jobs}")
        memory, disk = size(args.memory, "--memory"), size(args.disk, "--disk")
        paths = submission_paths(args.submissions)
        notebooks = [read_submission(path) for path in paths]
        for option in ("csv", "gradescope"):
            target = getattr(args, option)
            if target is not None and (target.is_dir() or not target.parent.is_dir()):
                raise NstError(f"cannot write {target}: " + ("it is a folder" if target.is_dir() else
                                                             f"no folder {target.parent}"))
        if args.gradescope is not None and len(paths) != 1:
            raise NstError(f"--gradescope writes the results of one submission, got {len(paths)}")
        bwrap, flags_or_reason = bwrap_flags()
        if bwrap is None and args.isolation == "required":
            raise NstError(f"--isolation required, but {flags_or_reason}: install bubblewrap (Debian/Ubuntu: "
                           "apt-get install bubblewrap) or grade without --isolation required")
        if bwrap is None:
            print(NOT_ISOLATED.format(reason=flags_or_reason), file=sys.stderr, flush=True)
        jobs = min(args.jobs or default_jobs(), len(paths))
        threads = max(1, (os.cpu_count() or 1) // jobs)
        limits = Limits(budget=args.timeout, memory=memory, disk=disk, setup_seconds=SETUP_SECONDS,
                        max_kernels=MAX_KERNELS, threads=threads)
        if not args.debug:
            import_tensorflow_quietly()  # for the checks, here in the grader: after the input is checked
        from nst.teaching.function_checks import Plan

        plan = Plan(secrets.randbits(63))  # inputs nobody can know before this run
        grader = ClassGrader(plan, limits, None if bwrap is None else (bwrap, flags_or_reason), paths, args.debug)
        grades = []
        for grade in grader.grade(paths, notebooks, jobs):
            grades.append(grade)
            print(json.dumps(grade, ensure_ascii=False) if args.json else format_grade(grade), flush=True)
        if args.csv is not None:
            write_utf8(args.csv, grades_csv(grades))
        if args.gradescope is not None:
            write_utf8(args.gradescope, json.dumps(gradescope(grades[0]), ensure_ascii=False, indent=1) + "\n")
        if not args.json:
            print(summary(grades, args.csv))

    try:
        return run_command(command, debug=args.debug, tensorflow=False)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("nst: grading interrupted (every submission's sandbox was stopped)", file=sys.stderr)
        return 130


def write_utf8(path, text):
    """Write `text` to `path` atomically, in UTF-8 (feedback has α, β and ·), with an ordinary file's mode."""
    from nst.files import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


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


def code_cells(nb):
    """{number of the code cell (1-based, as Jupyter counts them when the notebook runs in order): cell}."""
    return dict(enumerate((c for c in nb.cells if c.cell_type == "code"), 1))


def python_of(source):
    """A cell's source as Python: IPython's magics and shell lines left out; None when it does not parse."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n")]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def defined_in(source):
    """The names a cell defines at its top level (def, class, assignment, import)."""
    tree = python_of(source)
    names = set()
    for node in tree.body if tree is not None else ():
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
    if tree is None:  # a cell that does not parse still says what it meant to define
        names.update(re.findall(r"^def\s+(\w+)", source, re.M))
    return names


def cell_of(nb, name):
    """The number of the code cell defining graded function `name`: nbgrader's grade_id, else the last code cell
    with a top-level definition of it; None when there is none."""
    cells = code_cells(nb)
    for number, cell in cells.items():
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == name:
            return number
    found = [number for number, cell in cells.items() if name in defined_in(cell.source)]
    return found[-1] if found else None


def cell_name(nb, number):
    """"code cell 7 (the one defining total_cost)" (or without the parenthesis when it defines none)."""
    cell = code_cells(nb).get(number)
    graded = [name for name in GRADED if cell is not None and (
        name in defined_in(cell.source) or cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == name)]
    return f"code cell {number}" + (f" (the one defining {', '.join(graded)})" if graded else "")


def nst_imports(nb):
    """{name: code cell number} of the names the notebook imports from nst (which grading hides)."""
    names = {}
    for number, cell in code_cells(nb).items():
        tree = python_of(cell.source)
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "nst":
                        names[alias.asname or alias.name.split(".")[0]] = number
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "nst" and not node.level:
                for alias in node.names:
                    names[alias.asname or alias.name] = number
    return names


# --- grading a class ----------------------------------------------------------------------------------------

class ClassGrader:
    """Grades submissions, several sandboxes at once; Ctrl-C stops all of them."""

    def __init__(self, plan, limits, isolation, paths, debug=False):
        from nst.teaching.sandbox import nst_locations

        self.plan, self.limits, self.isolation, self.debug = plan, limits, isolation, debug
        self.secret = nst_locations() | {Path(p).resolve().parent for p in paths}
        self.running, self.lock, self.stopping = set(), threading.Lock(), threading.Event()

    def grade(self, paths, notebooks, jobs):
        """The grades, one by one in the submissions' order, as they are ready."""
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
        futures = [pool.submit(self.grade_one, path, nb) for path, nb in zip(paths, notebooks)]
        try:
            for future in futures:
                while True:  # waking now and then, so that Ctrl-C is seen at once
                    try:
                        grade = future.result(timeout=0.5)
                        break
                    except concurrent.futures.TimeoutError:
                        continue
                yield grade
        except BaseException:
            self.stop()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def stop(self):
        self.stopping.set()
        with self.lock:
            for box in list(self.running):
                box.kill()

    def grade_one(self, path, nb):
        from nst.teaching.sandbox import Sandbox

        if self.stopping.is_set():
            raise KeyboardInterrupt
        started = time.monotonic()
        with Sandbox(path, self.limits, self.isolation, self.secret, self.debug) as box:
            with self.lock:
                self.running.add(box)
            if self.stopping.is_set():  # stopped while this one started
                box.kill()
            try:
                grades, info = Conversation(box, self.plan, self.limits).run()
            finally:
                with self.lock:
                    self.running.discard(box)
        if self.stopping.is_set():
            raise KeyboardInterrupt
        return assemble(path, nb, grades, info, self.limits, time.monotonic() - started)


class Conversation:
    """What the grader and one sandbox say to each other: the cells' outcome, requests, results."""

    def __init__(self, box, plan, limits):
        self.box, self.plan, self.limits = box, plan, limits
        self.info = {"outcome": {}, "not_run": [], "output_cut": [], "gone": None}
        self.rounds = 0

    def absorb(self, message):
        if isinstance(message.get("outcome"), dict):
            self.info["outcome"] = message["outcome"]
            for key in ("not_run", "output_cut"):
                self.info[key] = message.get(key) if isinstance(message.get(key), list) else []

    def run(self):
        from nst.teaching.function_checks import grade_functions
        from nst.teaching.sandbox import SandboxGone

        try:
            message = self.box.receive()
            while "setup_failed" not in message and "outcome" not in message:
                message = self.box.receive()
            if "setup_failed" in message:
                reason = " ".join(str(message["setup_failed"]).split())[:300]
                raise NstError(f"cannot grade: the grading kernel could not import TensorFlow ({reason}); is "
                               f"`nst` installed in {sys.executable}, and --memory large enough?")
            self.absorb(message)
        except SandboxGone as exc:
            self.info["gone"] = str(exc)
        grades = grade_functions(self.plan, self.measure)
        try:
            if self.info["gone"] is None:
                self.box.send({"done": True})
                while True:
                    self.absorb(self.box.receive())
        except SandboxGone:
            pass
        return grades, self.info

    def measure(self, request, plan, names):
        from nst.teaching.function_checks import NoResult
        from nst.teaching.sandbox import SandboxGone, decode

        if self.info["gone"] is not None:
            return {name: NoResult(f"not checked: {self.info['gone']}") for name in names}
        self.rounds += 1
        r = self.rounds
        payload = self.plan.request_text if request is self.plan.request else None
        results = {}
        try:
            self.box.send({"round": r, "names": list(names),
                           "request": payload or base64.b64encode(request).decode("ascii")})
            while len(results) < len(names):
                message = self.box.receive()
                self.absorb(message)
                name = message.get("function")
                if message.get("round") != r or name not in names or name in results:
                    continue
                if "results" in message:
                    try:
                        results[name] = decode(message)
                    except (ValueError, TypeError):
                        results[name] = NoResult("no result: what its sandbox sent for it is not results")
                else:
                    results[name] = NoResult(self.failure(message))
        except SandboxGone as exc:
            self.info["gone"] = str(exc)
            for name in names:
                results.setdefault(name, NoResult(f"not checked: {exc}"))
        return results

    def failure(self, message):
        kind = message.get("failed")
        if kind == "timeout":
            seconds = message.get("seconds")
            share = f"its share of the time ({seconds:g} s)" if isinstance(seconds, (int, float)) else "its time"
            return f"did not finish within {share}: an endless loop?"
        if kind == "stuck":
            return "did not finish within its time and did not stop when interrupted: an endless loop?"
        if kind == "died":
            return "the kernel died while checking it (a crash, or a call that exits Python)"
        if kind == "kernels":
            return f"not checked: the notebook stopped its kernel {self.limits.max_kernels} times"
        if kind == "time":
            return f"not checked: the submission's time (--timeout {self.limits.budget:g}) ran out before it"
        detail = " ".join(str(message.get("detail", "")).split())[:300]
        return f"the check stopped: {detail or 'no reason given'}"


# --- one submission's grade -------------------------------------------------------------------------------

def clean(text, limit=1000):
    """Text from a submission made safe to print on one line: terminal escape sequences and control characters
    removed, white space collapsed."""
    return " ".join(ESCAPES.sub("", str(text)).split())[:limit]


def assemble(path, nb, grades, info, limits, seconds=None):
    """{submission, functions: name -> {passed, points, max_points, feedback}, score, max_score, notes, seconds
    (how long grading it took)}."""
    outcome = {}
    for key, value in info["outcome"].items():
        if str(key).isdigit() and isinstance(value, dict) and value.get("kind") in (
                "error", "timeout", "stuck", "crashed"):
            outcome[int(key)] = value
    not_run, output_cut = (sorted({n for n in info.get(key, []) if isinstance(n, int) and n in code_cells(nb)})
                           for key in ("not_run", "output_cut"))
    imports = nst_imports(nb)
    functions = {}
    for name in GRADED:
        grade = dict(grades.get(name) or {"passed": False, "points": 0, "max_points": 1, "defined": True,
                                           "feedback": f"not checked: {info.get('gone') or 'no result'}"})
        feedback = grade["feedback"]
        if not grade.get("defined", True):
            feedback = not_defined(nb, name, outcome, not_run, limits)
        else:
            found = re.match(r"raises NameError: name '(\w+)' is not defined", feedback)
            missing = found.group(1) if found else None
            if missing in imports:
                feedback = (f"{NST_HIDDEN} (it uses {missing}, which code cell {imports[missing]} imports from nst)")
            elif missing is not None:  # a cell that should have defined it failed: say which, and why
                failing = [n for n in sorted(outcome) if missing in defined_in(code_cells(nb)[n].source)]
                if failing:
                    feedback += (f": {cell_name(nb, failing[-1])}, which defines {missing}, "
                                 f"{describe(outcome[failing[-1]], limits)}")
        functions[name] = {"passed": bool(grade["passed"]), "points": grade["points"],
                           "max_points": grade["max_points"], "feedback": clean(feedback)}
    notes = []
    for number in sorted(outcome):
        what = describe(outcome[number], limits)
        if outcome[number]["kind"] != "error":
            notes.append(f"{cell_name(nb, number)} {what}")
        elif NST_HIDDEN in what:
            notes.append(f"{cell_name(nb, number)} imports nst, which grading hides: the cells that run when grading "
                         "may use NumPy and TensorFlow, not nst (a notebook made from an older student version needs "
                         "the current version's first cells)")
    for number in output_cut:
        notes.append(f"{cell_name(nb, number)} printed more than {limits.output >> 20} MB: the rest of its output "
                     "was not kept")
    if not_run:
        notes.append(f"code cell{'s' if len(not_run) > 1 else ''} {', '.join(map(str, not_run))} did not run: the "
                     f"time for the cells ({cells_time(limits):g} s of --timeout {limits.budget:g}) ran out")
    if info.get("gone"):
        notes.append(clean(info["gone"], 300))
    score = sum(g["points"] for g in functions.values())
    grade = {"submission": str(path), "functions": functions, "score": score,
             "max_score": sum(g["max_points"] for g in functions.values()), "notes": [clean(n) for n in notes]}
    if seconds is not None:
        grade["seconds"] = round(seconds, 1)
    return grade


def cells_time(limits):
    from nst.teaching.runner import CELLS_SHARE

    return round(CELLS_SHARE * limits.budget, 1)


def describe(outcome, limits):
    """What happened to a cell, in words."""
    seconds = outcome.get("seconds")
    after = f" after {seconds:g} s" if isinstance(seconds, (int, float)) else ""
    kind = outcome["kind"]
    if kind == "timeout":
        return (f"was stopped{after}: the time for the cells ({cells_time(limits):g} s of --timeout "
                f"{limits.budget:g}) ran out")
    if kind == "stuck":
        return f"was stopped{after} at the time limit and did not stop when interrupted, so its kernel was ended"
    if kind == "crashed":
        return "stopped its kernel (a crash, or a call that exits Python), so the cells ran again without it"
    return clean(outcome.get("what", "raised an error"), 300)


def not_defined(nb, name, outcome, not_run, limits):
    """Feedback for a function the notebook did not define: what happened to its cell (or to the notebook)."""
    number = cell_of(nb, name)
    if number is not None and number in outcome:
        return f"not defined: its cell (code cell {number}) {describe(outcome[number], limits)}"
    if number is not None and NOT_GRADED_TAG in code_cells(nb)[number].get("metadata", {}).get("tags", []):
        return f"not defined: its cell (code cell {number}) is tagged {NOT_GRADED_TAG}, so it does not run"
    if number is not None and number in not_run:
        cut = [n for n in sorted(outcome) if outcome[n]["kind"] in ("timeout", "stuck")]
        why = f": {cell_name(nb, cut[0])} {describe(outcome[cut[0]], limits)}" if cut else ""
        return f"not defined: its cell (code cell {number}) did not run, the time for the cells ran out{why}"
    if outcome:
        first = min(outcome)
        return (f"not defined: the notebook has no function {name} (its first failing cell, {cell_name(nb, first)}, "
                f"{describe(outcome[first], limits)})")
    return f"not defined: the notebook has no function {name}"


# --- reporting -----------------------------------------------------------------------------------------------

def format_grade(grade):
    """A submission's grade as text: a header line with the score, one line per function, then its notes."""
    lines = [f"{clean(grade['submission'])}: {grade['score']:g}/{grade['max_score']:g}"]
    width = max(map(len, grade["functions"]))
    for name, g in grade["functions"].items():
        feedback = g["feedback"] if g["passed"] else f"FAILED: {g['feedback']}"
        lines.append(f"  {name:<{width}}  {g['points']:g}/{g['max_points']:g}  {feedback}")
    lines += [f"  note: {note}" for note in grade.get("notes", [])]
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


def gradescope(grade):
    """A submission's grade in Gradescope's autograder format (results.json)."""
    tests = [{"name": name, "score": g["points"], "max_score": g["max_points"],
              "status": "passed" if g["passed"] else "failed", "output": g["feedback"]}
             for name, g in grade["functions"].items()]
    return {"score": grade["score"], "output": "\n".join(grade.get("notes", [])), "tests": tests}


def summary(grades, csv_path=None):
    """One line: how many submissions were graded, the mean score, how many got full marks."""
    n, max_score = len(grades), grades[0]["max_score"]
    mean = sum(g["score"] for g in grades) / n
    full = sum(g["score"] == g["max_score"] for g in grades)
    line = (f"graded {n} submission{'s' if n != 1 else ''}: mean score {mean:.3g}/{max_score:g}, "
            f"{full} with full marks")
    return line + (f"; points per function in {csv_path}" if csv_path is not None else "")
