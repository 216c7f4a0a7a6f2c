"""`nst grade`: homework notebooks graded by what their functions do, each submission in a sandbox of its own.

A submission's cells run in a kernel inside its sandbox (`nst.teaching.sandbox`, `nst.teaching.runner`); its
graded functions are then called there on inputs sent only at that moment (the homework's and fresh random ones
from a secret seed) and their raw results come back as data. The verdict, the known mistake, the points and the
feedback are computed here, in the grader's own process (`nst.teaching.function_checks`). Several sandboxes run
at once, each on CPUs of its own; the output and the CSV keep the submissions' order. Text, JSON lines, a CSV,
Gradescope's results.json.

Whatever happens to one submission (a file that is no notebook, a sandbox that breaks the protocol, stops, floods
or crashes anything) costs only that submission: it gets 0 with the reason, the others are graded, and the CSV
(and results.json, even when grading fails as a whole) is written.
"""

import argparse
import ast
import concurrent.futures
import csv
import io
import json
import os
import queue
import re
import secrets
import signal
import stat
import sys
import threading
import time
import traceback
import unicodedata
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
MAX_NOTEBOOK = 64 << 20  # bytes of a submission at most
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet takes a cell starting so for a formula
NOT_ISOLATED = (
    "nst grade: WARNING: submissions are NOT isolated ({reason}): each runs with its limits (memory, "
    "disk, time) in a temporary folder and its own process group, but can read and write your files "
    "and reach the network; install bubblewrap, or pass --isolation required to refuse"
)
AS_USER = (
    "nst grade: bubblewrap cannot run here ({reason}): each submission runs as a user of its own (uids "
    "{uids}) that cannot reach the grader's files, its results or the other submissions, and whose "
    "processes are all ended with it; it can still read what every user may read and reach the network"
)


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

Where bubblewrap cannot run and nst grade is root (a container such as Gradescope's), each submission
runs as an unprivileged user of its own instead, all its processes ended with it. Elsewhere without
bubblewrap (macOS, an ordinary user in a container) the same limits apply but submissions are NOT
isolated; a warning says so, and --isolation required refuses instead.
Put -- before the submissions when a file name may start with a dash (a glob of students' files).
Exit 0 when every submission was graded (whatever the scores: a file that is not a notebook gets 0
with the reason), 2 on bad input.""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  nst grade my-homework.ipynb                  check your own notebook\n"
        "  nst grade --csv grades.csv submissions/      grade a class: every .ipynb in submissions/\n"
        "  nst grade --json -- a.ipynb b.ipynb          one JSON object per line, for your own tools\n"
        "  nst grade --gradescope /autograder/results/results.json -- /autograder/submission/*.ipynb\n\n"
        "A function that uses another graded one (compute_layer_style_cost uses gram_matrix,\n"
        "compute_style_cost uses compute_layer_style_cost) is graded on its own steps: when only the\n"
        "function it uses is wrong, it gets its point and the feedback names the culprit.",
    )
    p.add_argument(
        "submissions",
        nargs="+",
        type=Path,
        metavar="SUBMISSION",
        help="a notebook (.ipynb), or a folder: every .ipynb in it",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="time of one submission, its cells and the checks of its functions together (default: "
        "%(default)s; starting its kernel and importing TensorFlow not counted): the cells may use 50%% "
        "of it, a cell still running then is stopped and the cells after it share the next 10%%, the "
        "checks get the rest (an endless loop costs that function its point, not the others theirs)",
    )
    p.add_argument(
        "--memory",
        default=DEFAULT_MEMORY,
        metavar="SIZE",
        help="memory of each process of a submission, as address space (default: %(default)s; "
        "TensorFlow itself takes about 1.7G of it)",
    )
    p.add_argument(
        "--disk",
        default=DEFAULT_DISK,
        metavar="SIZE",
        help="what a submission may write: its folder in all, and any one file (default: %(default)s)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="submissions graded at once (default: the number of cores, at most one per 2 GiB of memory)",
    )
    p.add_argument(
        "--isolation",
        choices=("auto", "required", "bubblewrap", "user"),
        default="auto",
        help="auto (default): bubblewrap where it works, else (as root) a user of its own per submission, "
        "else grade without isolation and say so; required: refuse to grade without isolation; "
        "bubblewrap: refuse without bubblewrap; user: a user of its own per submission (root only), even "
        "where bubblewrap works",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per submission and line: submission, functions (name -> passed, "
        "points, max_points, feedback), score, max_score, notes, seconds",
    )
    p.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="also write FILE: one row per submission, its points per function and the total",
    )
    p.add_argument(
        "--gradescope",
        type=Path,
        metavar="FILE",
        help="also write FILE in Gradescope's autograder format (results.json: score, one test per "
        "function with its score, max_score and feedback); one submission",
    )
    p.add_argument(
        "--debug", action="store_true", help="show the sandboxes' and kernels' own messages and full tracebacks"
    )
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


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop as at Ctrl-C (every sandbox ended, every temporary folder removed)."""


def grade_main(argv):
    """`nst grade ...`: exit 0 when every submission was graded, 2 (one line on stderr) on bad input."""
    args = build_grade_parser().parse_args(argv)
    from nst.commands.console import import_tensorflow_quietly, run_command

    def command():
        from nst.teaching.sandbox import Limits, choose_isolation, release, slots

        if not args.timeout > 0:
            raise NstError(f"--timeout must be a positive number of seconds, got {args.timeout}")
        if args.jobs is not None and args.jobs < 1:
            raise NstError(f"--jobs must be 1 or more, got {args.jobs}")
        memory, disk = size(args.memory, "--memory"), size(args.disk, "--disk")
        paths = submission_paths(args.submissions)
        for option in ("csv", "gradescope"):
            target = getattr(args, option)
            if target is None:
                continue
            if target.is_dir() or not target.parent.is_dir():
                raise NstError(
                    f"cannot write {target}: " + ("it is a folder" if target.is_dir() else f"no folder {target.parent}")
                )
            if target.suffix == ".ipynb" or any(same_file(target, path) for path in paths):
                raise NstError(
                    f"--{option} {target} would overwrite a notebook: put -- before the submissions "
                    "when a file name starts with a dash"
                )
        if args.gradescope is not None and len(paths) != 1:
            raise NstError(f"--gradescope writes the results of one submission, got {len(paths)}")
        jobs = min(args.jobs or default_jobs(), len(paths), cpu_count())
        if not args.debug:
            import_tensorflow_quietly()  # for the checks, here in the grader: after the input is checked
        try:
            isolation = choose_isolation(args.isolation, jobs)
        except ValueError as exc:
            raise NstError(
                f"{exc}: install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap), grade as root, "
                "or grade without --isolation " + args.isolation
            ) from None
        if isolation.mode == "none":
            print(NOT_ISOLATED.format(reason=isolation.why), file=sys.stderr, flush=True)
        elif isolation.mode == "user":
            uids = f"{isolation.uids[0]}" + (f"-{isolation.uids[-1]}" if len(isolation.uids) > 1 else "")
            print(AS_USER.format(reason=isolation.why, uids=uids), file=sys.stderr, flush=True)
        places = slots(isolation, jobs)
        threads = max(1, min(len(place.cpus) for place in places)) if places[0].cpus else 1
        limits = Limits(
            budget=args.timeout,
            memory=memory,
            disk=disk,
            setup_seconds=SETUP_SECONDS,
            max_kernels=MAX_KERNELS,
            threads=threads,
        )
        from nst.teaching.function_checks import Plan

        plan = Plan(secrets.randbits(63))  # inputs nobody can know before this run
        grader = ClassGrader(plan, limits, isolation, paths, places, args.debug)
        grades = []
        try:
            for grade in grader.grade(paths):
                grades.append(grade)
                print(json.dumps(grade, ensure_ascii=False) if args.json else format_grade(grade), flush=True)
            for target in (args.csv, args.gradescope):  # every sandbox has ended: what one left at a target goes
                remove_planted(target, isolation.uids)
        finally:
            release(isolation)
        if args.csv is not None:
            write_utf8(args.csv, grades_csv(grades))
        if args.gradescope is not None:
            write_utf8(args.gradescope, json.dumps(gradescope(grades[0]), ensure_ascii=False, indent=1) + "\n")
        if not args.json:
            print(summary(grades, args.csv))
        if grader.setup_failures == len(paths) and grader.setup_reason:
            raise NstError(
                f"cannot grade: the grading kernel could not import TensorFlow ({grader.setup_reason}); "
                f"is `nst` installed in {sys.executable}, and --memory large enough?"
            )

    def on_sigterm(signum, frame):
        raise Terminated()

    previous = (
        signal.signal(signal.SIGTERM, on_sigterm) if threading.current_thread() is threading.main_thread() else None
    )
    said = []
    try:
        code = run_command(command, debug=args.debug, tensorflow=False, on_error=said.append)
    except KeyboardInterrupt as exc:
        if args.debug:
            raise
        code = 143 if isinstance(exc, Terminated) else 130
        print(
            f"nst: grading {'terminated' if code == 143 else 'interrupted'} (every submission's sandbox was stopped)",
            file=sys.stderr,
        )
    except Exception as exc:  # noqa: BLE001 (results.json is written whatever went wrong)
        if args.debug or args.gradescope is None:
            raise
        said.append(f"grading failed ({type(exc).__name__}: {clean(exc, 300)})")
        print(f"nst: error: {said[-1]}", file=sys.stderr)
        code = 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if code != 0 and args.gradescope is not None and not args.gradescope.is_file() and not args.gradescope.is_dir():
        write_failed_gradescope(args.gradescope, code, said[-1] if said else None)
    return code


def write_failed_gradescope(path, code, why=None):
    """results.json with score 0 and the reason, when grading itself failed (Gradescope shows it to the student)."""
    reason = {130: "grading was interrupted", 143: "grading was stopped"}.get(code, "grading failed")
    try:
        write_utf8(
            path,
            json.dumps(
                {"score": 0, "output": f"{reason}" + (f": {clean(why, 500)}" if why else ""), "tests": []}, indent=1
            )
            + "\n",
        )
    except NstError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)


def remove_planted(target, uids):
    """Remove what a sandbox's own uid put where the grader writes (results.json as a folder, a link, a file)."""
    if target is None or not uids:
        return
    try:
        info = os.lstat(target)
    except OSError:
        return
    if info.st_uid in uids:
        if stat.S_ISDIR(info.st_mode):
            import shutil

            shutil.rmtree(target, ignore_errors=True)
        else:
            os.unlink(target)


def same_file(a, b):
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def cpu_count():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def write_utf8(path, text):
    """Write `text` to `path` atomically, in UTF-8 (feedback has α, β and ·), with an ordinary file's mode."""
    from nst.files import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# --- the submissions ----------------------------------------------------------------------------------------


def submission_paths(arguments):
    """The notebooks to grade: each path as given, each folder's *.ipynb entries sorted (whatever they are: a
    folder or a link among them is graded 0 with the reason; so is a folder named *.ipynb given itself, as a
    glob of students' files gives it); NstError for an argument that does not exist."""
    paths = []
    for path in arguments:
        if path.is_dir() and not path.is_symlink() and path.suffix != ".ipynb":
            found = sorted(path.glob("*.ipynb"))
            if not found:
                raise NstError(f"no .ipynb files in folder {path}")
            paths.extend(found)
        elif not path.exists() and not path.is_symlink():
            raise NstError(f"no such submission: {path}")
        else:
            paths.append(path)
    return paths


class BadSubmission(Exception):
    """A submission that is not a notebook file: graded 0, the message its reason."""


def import_nbformat():
    """nbformat, imported without rfc3987_syntax when this process imports jsonschema (nbformat's validator) for the
    first time: where it is installed (jupyter-events, hence nbgrader and JupyterLab, ask for it), jsonschema imports
    it, and it compiles a grammar at import, a second of CPU on the way to every `nst grade`'s first sandbox, for
    IRI formats nbformat's schema never checks (the sandbox's runner goes without it too)."""
    if "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # jsonschema's IRI format checks are optional: it does without them
        try:
            import nbformat
        finally:
            del sys.modules["rfc3987_syntax"]
    import nbformat

    return nbformat


def read_submission(path):
    """(the notebook's bytes, the notebook) of a submission: a regular file (not a link, not a folder) of at most
    MAX_NOTEBOOK bytes holding a Jupyter notebook (nbformat 4); BadSubmission saying why not."""
    nbformat = import_nbformat()

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if os.path.islink(path):
            raise BadSubmission("not graded: it is a symbolic link, not a notebook file") from None
        if os.path.isdir(path):
            raise BadSubmission("not graded: it is a folder, not a notebook file") from None
        raise BadSubmission(f"not graded: it cannot be read ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise BadSubmission(
            "not graded: it is a folder, not a notebook file"
            if stat.S_ISDIR(info.st_mode)
            else "not graded: it is not a regular file"
        )
    with os.fdopen(fd, "rb") as f:
        if info.st_size > MAX_NOTEBOOK:
            raise BadSubmission(
                f"not graded: it is {info.st_size >> 20} MB, more than a notebook may be ({MAX_NOTEBOOK >> 20} MB)"
            )
        try:
            data = f.read(MAX_NOTEBOOK + 1)
        except OSError as exc:
            raise BadSubmission(f"not graded: it cannot be read ({exc.strerror})") from None
    if len(data) > MAX_NOTEBOOK:
        raise BadSubmission(f"not graded: it is more than a notebook may be ({MAX_NOTEBOOK >> 20} MB)")
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        if not isinstance(nb.get("cells"), list) or not all(
            isinstance(c, dict) and isinstance(c.get("source"), str) and "cell_type" in c for c in nb.cells
        ):
            raise ValueError("its cells are not a notebook's")
    except Exception as exc:  # noqa: BLE001 (nbformat raises JSON, schema, key, decoding errors alike)
        what = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else type(exc).__name__
        raise BadSubmission(f"not graded: it is not a Jupyter notebook ({what})") from None
    return data, nb


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


class Cells:
    """A notebook's code cells, numbered as Jupyter counts them when the notebook runs in order, each parsed at
    most once (so what is said about a notebook takes time linear in its cells)."""

    def __init__(self, nb):
        self.cells = code_cells(nb)
        self.defined = {}

    def __contains__(self, number):
        return number in self.cells

    def __len__(self):
        return len(self.cells)

    def tags(self, number):
        return self.cells[number].get("metadata", {}).get("tags", [])

    def grade_id(self, number):
        return self.cells[number].get("metadata", {}).get("nbgrader", {}).get("grade_id")

    def defines(self, number):
        """The names code cell `number` defines at its top level."""
        if number not in self.defined:
            self.defined[number] = defined_in(self.cells[number].source)
        return self.defined[number]

    def cell_of(self, name):
        """The number of the code cell defining graded function `name`: nbgrader's grade_id, else the last code
        cell with a top-level definition of it; None when there is none."""
        for number in self.cells:
            if self.grade_id(number) == name:
                return number
        found = [number for number in self.cells if name in self.defines(number)]
        return found[-1] if found else None

    def name(self, number):
        """ "code cell 7 (the one defining total_cost)" (or without the parenthesis when it defines none)."""
        graded = (
            []
            if number not in self.cells
            else [name for name in GRADED if name in self.defines(number) or self.grade_id(number) == name]
        )
        return f"code cell {number}" + (f" (the one defining {', '.join(graded)})" if graded else "")

    def nst_imports(self):
        """{name: code cell number} of the names the notebook imports from nst (which grading hides)."""
        names = {}
        for number, cell in self.cells.items():
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
    """Grades submissions, several sandboxes at once, each in a Slot of its own (its CPUs, its uid); Ctrl-C
    stops all of them. Any failure in grading one submission is that submission's 0 with the reason."""

    def __init__(self, plan, limits, isolation, paths, places, debug=False):
        from nst.teaching.sandbox import nst_locations

        self.plan, self.limits, self.isolation, self.debug = plan, limits, isolation, debug
        self.secret = nst_locations() | {Path(p).parent.resolve() for p in paths}
        self.running, self.lock, self.stopping = set(), threading.Lock(), threading.Event()
        self.places = queue.Queue()
        for place in places:
            self.places.put(place)
        self.setup_failures, self.setup_reason = 0, None

    def grade(self, paths):
        """The grades, one by one in the submissions' order, as they are ready."""
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.places.qsize())
        futures = [pool.submit(self.grade_safely, path) for path in paths]
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

    def grade_safely(self, path):
        """grade_one, but whatever fails (in nbformat, in the checks, in the grader) is this submission's 0."""
        started = time.monotonic()
        try:
            return self.grade_one(path)
        except KeyboardInterrupt:
            raise
        except BadSubmission as exc:
            return not_graded(path, str(exc), time.monotonic() - started)
        except Exception as exc:  # noqa: BLE001 (one submission never stops the class)
            if self.debug:
                traceback.print_exc()
            return not_graded(
                path,
                f"not graded: grading it failed ({type(exc).__name__}: {clean(exc, 200)})",
                time.monotonic() - started,
            )

    def grade_one(self, path):
        from nst.teaching.sandbox import Sandbox

        if self.stopping.is_set():
            raise KeyboardInterrupt
        started = time.monotonic()
        data, nb = read_submission(path)
        place = self.places.get()
        try:
            with Sandbox(data, self.limits, self.isolation, self.secret, place, self.debug) as box:
                with self.lock:
                    self.running.add(box)
                if self.stopping.is_set():  # stopped while this one started
                    box.kill()
                try:
                    grades, info = Conversation(box, self.plan, self.limits, len(code_cells(nb))).run()
                finally:
                    with self.lock:
                        self.running.discard(box)
        finally:
            self.places.put(place)
        if self.stopping.is_set():
            raise KeyboardInterrupt
        if info.get("setup_failed"):
            with self.lock:
                self.setup_failures += 1
                self.setup_reason = info["setup_failed"]
        return assemble(path, nb, grades, info, self.limits, time.monotonic() - started)


def not_graded(path, reason, seconds):
    """The grade of a submission that could not be graded: 0 for every function, the reason in its feedback."""
    from nst.teaching.function_checks import POINTS

    functions = {
        name: {"passed": False, "points": 0, "max_points": POINTS[name], "feedback": clean(reason)} for name in GRADED
    }
    return {
        "submission": str(path),
        "functions": functions,
        "score": 0,
        "max_score": sum(POINTS.values()),
        "notes": [clean(reason)],
        "seconds": round(seconds, 1),
    }


class Conversation:
    """What the grader and one sandbox say to each other: the cells' outcome, requests, results. Every message
    is checked (`nst.teaching.protocol`); one outside the protocol ends the sandbox, which is graded as it stands."""

    def __init__(self, box, plan, limits, code_cells):
        self.box, self.plan, self.limits, self.code_cells = box, plan, limits, code_cells
        self.info = {"outcome": {}, "not_run": [], "output_cut": [], "gone": None, "setup_failed": None}
        self.rounds = 0
        self.said = set()  # the kinds said once at most: ready, setup_failed

    def receive(self, names=()):
        """The next message from the sandbox, checked: (kind, content); SandboxGone when there is none."""
        from nst.teaching.protocol import ProtocolError, message
        from nst.teaching.sandbox import LINE_CAP, SandboxGone

        raw = self.box.receive()
        try:
            kind, content = message(raw, self.code_cells, self.rounds, names, LINE_CAP)
        except ProtocolError as exc:
            self.box.kill()
            raise SandboxGone(f"its sandbox broke the grading protocol ({exc}) and was stopped") from None
        if kind in ("ready", "setup_failed"):
            if self.said & {"ready", "setup_failed"}:
                self.box.kill()
                raise SandboxGone(f"its sandbox broke the grading protocol (it said {kind} again) and was stopped")
            self.said.add(kind)
        if kind == "ready":
            self.box.ready()
        elif kind == "outcome":
            self.info.update(content)
        return kind, content

    def run(self):
        from nst.teaching.function_checks import grade_functions
        from nst.teaching.sandbox import SandboxGone

        try:
            kind, content = self.receive()
            while kind not in ("setup_failed", "outcome"):
                kind, content = self.receive()
            if kind == "setup_failed":
                self.info["setup_failed"] = " ".join(content.split())[:300]
                self.info["gone"] = "not graded: the grading kernel could not start (" + self.info["setup_failed"] + ")"
        except SandboxGone as exc:
            self.info["gone"] = str(exc)
        grades = grade_functions(self.plan, self.measure)
        try:
            if self.info["gone"] is None:
                self.box.send({"done": True})
                while True:
                    self.receive()
        except SandboxGone:
            pass
        return grades, self.info

    def measure(self, request, plan, names):
        from nst.teaching.function_checks import NoResult
        from nst.teaching.sandbox import SandboxGone, decode

        if self.info["gone"] is not None:
            return {name: NoResult(f"not checked: {self.info['gone']}") for name in names}
        self.rounds += 1
        text = self.plan.request_text if request is self.plan.request else self.plan.second_text
        results = {}
        try:
            self.box.send({"round": self.rounds, "names": list(names)}, data=text)
            while len(results) < len(names):
                kind, content = self.receive(names)
                if kind == "results":
                    name, data = content
                    try:
                        results.setdefault(name, decode(data))
                    except ValueError:
                        results.setdefault(name, NoResult("no result: what its sandbox sent for it is not results"))
                elif kind == "failed":
                    name, failure = content
                    results.setdefault(name, NoResult(self.failure(failure)))
        except SandboxGone as exc:
            self.info["gone"] = str(exc)
            for name in names:
                results.setdefault(name, NoResult(f"not checked: {exc}"))
        return results

    def failure(self, message):
        kind = message["failed"]
        if kind == "timeout":
            seconds = message.get("seconds")
            share = f"its share of the time ({seconds:g} s)" if seconds is not None else "its time"
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
    """Text from a submission made safe to print on one line: terminal escape sequences, control characters and
    invisible format characters (bidi overrides, zero-width ones: Unicode's category Cf) removed, white space
    collapsed; linear in the text's length."""
    text = ESCAPES.sub("", str(text)[: limit * 4])
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return " ".join(text.split())[:limit]


def assemble(path, nb, grades, info, limits, seconds=None):
    """{submission, functions: name -> {passed, points, max_points, feedback}, score, max_score, notes, seconds
    (how long grading it took)}."""
    cells = Cells(nb)
    outcome = {
        int(k): v
        for k, v in info["outcome"].items()
        if int(k) in cells and isinstance(v, dict) and v.get("kind") in ("error", "timeout", "stuck", "crashed")
    }
    not_run, output_cut = (
        sorted({n for n in info.get(key, []) if isinstance(n, int) and n in cells}) for key in ("not_run", "output_cut")
    )
    imports = cells.nst_imports()
    functions = {}
    for name in GRADED:
        grade = dict(
            grades.get(name)
            or {
                "passed": False,
                "points": 0,
                "max_points": 1,
                "defined": True,
                "feedback": f"not checked: {info.get('gone') or 'no result'}",
            }
        )
        feedback = grade["feedback"]
        if not grade.get("defined", True):
            feedback = not_defined(cells, name, outcome, not_run, limits)
        else:
            found = re.match(r"raises NameError: name '(\w+)' is not defined", feedback)
            missing = found.group(1) if found else None
            if missing in imports:
                feedback = f"{NST_HIDDEN} (it uses {missing}, which code cell {imports[missing]} imports from nst)"
            elif missing is not None:  # a cell that should have defined it failed: say which, and why
                failing = [n for n in sorted(outcome) if missing in cells.defines(n)]
                if failing:
                    feedback += (
                        f": {cells.name(failing[-1])}, which defines {missing}, "
                        f"{describe(outcome[failing[-1]], limits)}"
                    )
        functions[name] = {
            "passed": bool(grade["passed"]),
            "points": grade["points"],
            "max_points": grade["max_points"],
            "feedback": clean(feedback),
        }
    notes = []
    for number in sorted(outcome):
        what = describe(outcome[number], limits)
        if outcome[number]["kind"] != "error":
            notes.append(f"{cells.name(number)} {what}")
        elif NST_HIDDEN in what:
            notes.append(
                f"{cells.name(number)} imports nst, which grading hides: the cells that run when grading "
                "may use NumPy and TensorFlow, not nst (a notebook made from an older student version needs "
                "the current version's first cells)"
            )
    for number in output_cut:
        notes.append(
            f"{cells.name(number)} printed more than {limits.output >> 20} MB: the rest of its output was not kept"
        )
    if not_run:
        notes.append(
            f"code cell{'s' if len(not_run) > 1 else ''} {ranges(not_run)} did not run: the "
            f"time for the cells ({cells_time(limits):g} s of --timeout {limits.budget:g}) ran out"
        )
    if info.get("gone"):
        notes.append(clean(info["gone"], 300))
    score = sum(g["points"] for g in functions.values())
    grade = {
        "submission": str(path),
        "functions": functions,
        "score": score,
        "max_score": sum(g["max_points"] for g in functions.values()),
        "notes": [clean(n) for n in notes],
    }
    if seconds is not None:
        grade["seconds"] = round(seconds, 1)
    return grade


def ranges(numbers):
    """ "3, 5-9, 12" of sorted distinct numbers."""
    parts, start = [], None
    for k, n in enumerate(numbers):
        if start is None:
            start = n
        if k + 1 == len(numbers) or numbers[k + 1] != n + 1:
            parts.append(str(n) if n == start else f"{start}-{n}")
            start = None
    return ", ".join(parts)


def cells_time(limits):
    from nst.teaching.runner import CELLS_SHARE

    return round(CELLS_SHARE * limits.budget, 1)


def describe(outcome, limits):
    """What happened to a cell, in words."""
    seconds = outcome.get("seconds")
    after = f" after {seconds:g} s" if isinstance(seconds, (int, float)) else ""
    kind = outcome["kind"]
    if kind == "timeout":
        return (
            f"was stopped{after}: the time for the cells ({cells_time(limits):g} s of --timeout "
            f"{limits.budget:g}) ran out"
        )
    if kind == "stuck":
        return f"was stopped{after} at the time limit and did not stop when interrupted, so its kernel was ended"
    if kind == "crashed":
        return "stopped its kernel (a crash, or a call that exits Python), so the cells ran again without it"
    return clean(outcome.get("what", "raised an error"), 300)


def not_defined(cells, name, outcome, not_run, limits):
    """Feedback for a function the notebook did not define: what happened to its cell (or to the notebook)."""
    number = cells.cell_of(name)
    if number is not None and number in outcome:
        return f"not defined: its cell (code cell {number}) {describe(outcome[number], limits)}"
    if number is not None and NOT_GRADED_TAG in cells.tags(number):
        return f"not defined: its cell (code cell {number}) is tagged {NOT_GRADED_TAG}, so it does not run"
    if number is not None and number in not_run:
        cut = [n for n in sorted(outcome) if outcome[n]["kind"] in ("timeout", "stuck")]
        why = f": {cells.name(cut[0])} {describe(outcome[cut[0]], limits)}" if cut else ""
        return f"not defined: its cell (code cell {number}) did not run, the time for the cells ran out{why}"
    if outcome:
        first = min(outcome)
        return (
            f"not defined: the notebook has no function {name} (its first failing cell, {cells.name(first)}, "
            f"{describe(outcome[first], limits)})"
        )
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
        writer.writerow(
            [
                spreadsheet_text(grade["submission"]),
                *(grade["functions"][name]["points"] for name in GRADED),
                grade["score"],
            ]
        )
    return out.getvalue()


def spreadsheet_text(text):
    """`text` as a spreadsheet shows it, never a formula: a cell starting with = + - @, a tab or a carriage return
    gets a leading apostrophe."""
    text = str(text)
    return "'" + text if text.startswith(FORMULA_START) else text


def gradescope(grade):
    """A submission's grade in Gradescope's autograder format (results.json)."""
    tests = [
        {
            "name": name,
            "score": g["points"],
            "max_score": g["max_points"],
            "status": "passed" if g["passed"] else "failed",
            "output": g["feedback"],
        }
        for name, g in grade["functions"].items()
    ]
    return {"score": grade["score"], "output": "\n".join(grade.get("notes", [])), "tests": tests}


def summary(grades, csv_path=None):
    """One line: how many submissions were graded, the mean score, how many got full marks."""
    n, max_score = len(grades), grades[0]["max_score"]
    mean = sum(g["score"] for g in grades) / n
    full = sum(g["score"] == g["max_score"] for g in grades)
    line = f"graded {n} submission{'s' if n != 1 else ''}: mean score {mean:.3g}/{max_score:g}, {full} with full marks"
    return line + (f"; points per function in {csv_path}" if csv_path is not None else "")
