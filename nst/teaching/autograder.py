"""`nst teach autograder`: a Gradescope autograder.zip that works as uploaded, and what it runs for each submission.

The zip holds, at its root, as Gradescope's autograder specification asks:

    setup.sh                 run once, as root, when Gradescope builds the image: Python >= 3.11 (Ubuntu 22.04's
                             python3.11 packages on the default image, whose own Python is 3.10), a virtual
                             environment /autograder/nst-venv with the wheel below and its dependencies from the
                             package index, bubblewrap, and a check that TensorFlow imports
    run_autograder           run for each submission: `python -m nst.teaching.autograder` in that environment;
                             writes /autograder/results/results.json itself if even that cannot start
    nst-<version>-*.whl      this nst, as a wheel: no clone, no network but the package index
    nst-autograder.json      the settings given to `nst teach autograder` (AutograderSettings)
    README.md                for the teacher: the image, Python, memory and time it needs, the settings to raise

For each submission `run` picks the notebook (pick_notebook: the stated rule), grades it with `nst grade` in a child
process with a deadline, and writes results.json in every case: the grade, or score 0 with the reason (no notebook,
not a notebook, grading failed or ran out of time), with `execution_time` and the chosen `visibility`s.
"""

import argparse
import base64
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from nst.errors import NstError

ROOT = Path("/autograder")  # Gradescope's layout
VENV = ROOT / "nst-venv"
SETTINGS_FILE = "nst-autograder.json"
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
DEFAULT_NOTEBOOK = "homework-student.ipynb"
MAX_NOTEBOOK_BYTES = 50 << 20
GRADE_MARGIN = 120  # seconds beyond the budget and the kernel's set-up before `nst grade` itself is stopped
PYTHON_MIN = (3, 11)
NOT_BUILT = (
    ".git",
    ".venv",
    "venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".hypothesis",
    "output",
    "pretrained-model",
    ".pytest_cache",
)  # a checkout's folders a wheel is not built from
BASE_IMAGE = (
    "Ubuntu 22.04 (Gradescope's default base image, Python 3.10; Python 3.11 is installed from Ubuntu's packages)"
)


@dataclasses.dataclass(frozen=True)
class AutograderSettings:
    """What `nst teach autograder` was told: the notebook to prefer, `nst grade`'s --timeout and --memory, and
    Gradescope's visibility of the whole result, of the autograder's stdout, and of each function's test."""

    notebook: str = DEFAULT_NOTEBOOK
    timeout: float = 120.0
    memory: str = "4G"
    visibility: str = "visible"
    stdout_visibility: str = "hidden"
    test_visibility: str = "visible"

    def check(self):
        from nst.teaching.grader import size

        for name in ("visibility", "stdout_visibility", "test_visibility"):
            if getattr(self, name) not in VISIBILITIES:
                raise NstError(
                    f"--{name.replace('_', '-')} must be one of {', '.join(VISIBILITIES)}, got {getattr(self, name)!r}"
                )
        if not (isinstance(self.timeout, (int, float)) and 0 < self.timeout <= 3600):
            raise NstError(f"--timeout must be a number of seconds between 0 and 3600, got {self.timeout!r}")
        size(self.memory, "--memory")
        if not self.notebook.endswith(".ipynb") or "/" in self.notebook:
            raise NstError(f"--notebook must be a file name ending in .ipynb, got {self.notebook!r}")
        return self


# --- the zip ----------------------------------------------------------------------------------------------------

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (made by `nst teach autograder`).
# Python >= 3.11: the image's own python3 when it is recent enough, else Ubuntu's python3.11 packages (Gradescope's
# default base image is Ubuntu 22.04, whose python3 is 3.10). nst and its dependencies go into a virtual
# environment, /autograder/nst-venv, from the wheel in this zip and the package index.
set -euo pipefail
SOURCE=/autograder/source
VENV=/autograder/nst-venv
export DEBIAN_FRONTEND=noninteractive

UPDATED=""
install() {  # Ubuntu's packages, the package lists read once first
    if [ -z "$UPDATED" ]; then apt-get update -qq; UPDATED=yes; fi
    apt-get install -y --no-install-recommends "$@"
}

# bubblewrap isolates each submission where the container allows user namespaces (nst grade says when it cannot)
if ! command -v bwrap >/dev/null 2>&1; then
    install bubblewrap
fi

PYTHON=""
for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        PYTHON=$(command -v "$candidate")
        break
    fi
done
if [ -z "$PYTHON" ]; then
    install python3.11 python3.11-venv
    PYTHON=$(command -v python3.11)
fi
if ! "$PYTHON" -m venv "$VENV"; then  # Debian and Ubuntu keep venv's pip in a package of its own
    install "python3.$("$PYTHON" -c 'import sys; print(sys.version_info[1])')-venv"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install "$SOURCE"/nst-*.whl
# where bubblewrap cannot run, nst grade runs each submission as an unprivileged user of its own, with this Python
chmod o+x /autograder
chmod -R a+rX "$VENV"
# a broken installation fails here, while the image is built, and not on a student's submission
"$VENV/bin/python" -m nst.teaching.autograder --check
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for each submission, as root, in /autograder (made by `nst teach autograder`): the notebook
# in /autograder/submission is graded by nst, and /autograder/results/results.json is written whatever happens.
RESULTS=/autograder/results/results.json
/autograder/nst-venv/bin/python -m nst.teaching.autograder --settings /autograder/source/nst-autograder.json
status=$?
if [ ! -s "$RESULTS" ]; then  # nst itself could not start: still a result, score 0, that says so
    mkdir -p /autograder/results
    printf '{"score": 0, "output": "The autograder could not run (exit code %s); your notebook was not graded: please tell your teacher.", "tests": []}\n' "$status" > "$RESULTS"
fi
exit 0
"""

README = """# nst's Gradescope autograder

Made by `nst teach autograder` (nst {version}). Upload this zip as the assignment's autograder ("Configure
Autograder" → "Zip file upload"); students submit their notebook (`{notebook}`).

- **Base image**: {base_image}. On a base image whose `python3` is 3.11 or later, that one is used.
- **Setup** (`setup.sh`, once, when Gradescope builds the image): a virtual environment `/autograder/nst-venv`
  with the nst wheel in this zip and its dependencies from the package index (TensorFlow among them: about
  2 GB), and bubblewrap. Nothing else is downloaded; no clone.
- **Each submission** (`run_autograder`): the notebook is chosen by this rule: the file named `{notebook}`
  if there is one, else the only `.ipynb`, else the first `.ipynb` by name (the others are named in the
  result); then `nst grade --timeout {timeout:g} --memory {memory}`. `results.json` is always written: the
  grade (one test per graded function, one point each), or score 0 with the reason (no notebook, not a
  notebook, grading failed or ran out of time), with `execution_time`; visibility `{visibility}`, stdout
  `{stdout_visibility}`, each test `{test_visibility}`.
- **Memory: raise it.** Gradescope's default of 768 MB is too little: grading one notebook holds TensorFlow
  twice (the grader's checks and the submission's kernel), {peak} at its peak, and at 768 MB the system kills
  it (the student then gets score 0 saying so). Set the autograder's memory to 2 GB (assignment → Settings →
  Autograder settings); 1 GB passed where this was measured, with little room.
- **Time**: one notebook takes {cpu} CPU-seconds ({machine}): half a minute or more with Gradescope's default of
  half a CPU, well inside its default timeout of 10 minutes. A notebook whose cells run long may take up to
  `--timeout` ({timeout:g} s) plus up to 300 s to start its kernel and import TensorFlow: keep the timeout at
  10 minutes or more.
- **Isolation**: where the container lets bubblewrap create its namespaces, each submission runs isolated
  (no network, the system read-only, nst and the grader hidden); where it cannot (Docker's default seccomp
  profile forbids them), `nst grade` says so in the autograder's output and runs each submission as an
  unprivileged user of its own, whose processes all end with its grading and which cannot write the results
  (nst's docs/teaching.md, "With Gradescope", says exactly what holds).
"""
MEASURED = {
    "peak": "0.91 GB (0.87 GB resident)",
    "cpu": "13 to 16",
    "machine": "AMD EPYC, Zen 4, benchmarks/gradescope.py",
}
"""What the zip's README states about one notebook's grading, measured by benchmarks/gradescope.py."""


def build_autograder(output, settings, wheel=None):
    """Write the autograder zip to `output` (atomically); returns the wheel's name inside it."""
    from nst import __version__
    from nst.files import atomic_path

    settings = settings.check()
    output = Path(output)
    if output.is_dir() or not output.parent.is_dir():
        raise NstError(
            f"cannot write {output}: " + ("it is a folder" if output.is_dir() else f"no folder {output.parent}")
        )
    with tempfile.TemporaryDirectory(prefix="nst-autograder-") as tmp:
        wheel = Path(wheel) if wheel is not None else nst_wheel(Path(tmp))
        if not (wheel.is_file() and wheel.name.startswith("nst-") and wheel.suffix == ".whl"):
            raise NstError(f"--wheel {wheel}: not an nst wheel (nst-<version>-py3-none-any.whl)")
        readme = README.format(version=__version__, base_image=BASE_IMAGE, **MEASURED, **dataclasses.asdict(settings))
        with atomic_path(output) as part, zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as z:
            for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
                info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
                info.external_attr = 0o100755 << 16  # executable regular file
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, text)
            z.writestr(SETTINGS_FILE, json.dumps(dataclasses.asdict(settings), indent=1) + "\n")
            z.writestr("README.md", readme)
            z.write(wheel, wheel.name)
    return wheel.name


def nst_wheel(folder):
    """A wheel of the running nst in `folder`: built from the checkout it runs from (offline when setuptools is
    installed here, else pip fetches its build backend), or packed from its installed files."""
    from nst.weights.locate import checkout_root

    checkout = checkout_root()
    if checkout is not None:
        import importlib.util

        source = folder / "source"  # a clean copy: setuptools would add a stale build/ to the checkout's wheel
        shutil.copytree(checkout, source, ignore=shutil.ignore_patterns(*NOT_BUILT))
        isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", *isolation, "-w", str(folder), str(source)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        wheels = sorted(folder.glob("nst-*.whl"))
        if done.returncode != 0 or not wheels:
            said = " ".join((done.stderr or done.stdout).split())[-300:]
            raise NstError(f"could not build nst's wheel from {checkout} ({said}); pass --wheel FILE")
        return wheels[0]
    return packed_wheel(folder)


def packed_wheel(folder):
    """The installed nst packed back into a wheel in `folder` (its files as installed, a fresh RECORD)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("nst")
    except PackageNotFoundError:  # nst runs from a folder on the path, not installed
        raise NstError("nst is not installed as a package here: pass --wheel FILE") from None
    site = Path(dist.locate_file(""))
    files = [
        f
        for f in dist.files or []
        if not str(f).startswith("..")
        and "__pycache__" not in str(f)
        and Path(str(f)).name not in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
    ]
    if not any(str(f).startswith("nst/") for f in files):
        raise NstError("nst is installed in editable mode without a checkout: pass --wheel FILE")
    info = f"nst-{dist.version}.dist-info"
    path = folder / f"nst-{dist.version}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            data = (site / str(f)).read_bytes()
            name = str(f).replace(os.sep, "/")
            z.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        z.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


# --- one submission, inside Gradescope ------------------------------------------------------------------------


def pick_notebook(folder, preferred=DEFAULT_NOTEBOOK):
    """(the notebook to grade or None, a sentence about the choice or why there is none).

    The rule: the file named `preferred` (at any depth, the shallowest first) if there is one; else the only
    .ipynb; else the first .ipynb by path, the others named. Jupyter's .ipynb_checkpoints are not submissions."""
    folder = Path(folder)
    found = sorted(
        (
            p
            for p in folder.rglob("*.ipynb")
            if ".ipynb_checkpoints" not in p.parts and p.is_file() and not p.is_symlink()
        ),
        key=lambda p: (len(p.relative_to(folder).parts), str(p)),
    )
    if not found:
        others = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())[:10]
        listing = f" (submitted: {', '.join(others)})" if others else " (nothing was submitted)"
        return None, f"No notebook (.ipynb) was submitted{listing}: submit your {preferred}."
    named = [p for p in found if p.name.lower() == preferred.lower()]
    chosen = (named or found)[0]
    if len(found) == 1:
        return chosen, f"Submission: {chosen.relative_to(folder)}."
    ignored = ", ".join(str(p.relative_to(folder)) for p in found if p != chosen)
    why = f"the one named {preferred}" if named else "the first by name"
    return chosen, (
        f"{len(found)} notebooks were submitted: graded {chosen.relative_to(folder)} ({why}); not graded: "
        f"{ignored}. Submit only your {preferred}."
    )


def zero(reason, started, settings):
    """results.json for a submission that could not be graded: score 0 and the reason."""
    return {
        "score": 0,
        "output": reason,
        "tests": [],
        "execution_time": round(time.monotonic() - started),
        "visibility": settings.visibility,
        "stdout_visibility": settings.stdout_visibility,
    }


def graded(results, said, started, settings):
    """`nst grade --gradescope`'s results with the choice's sentence, execution_time and the visibilities; None
    when they are not what that grader writes (a dict with a numeric score and a list of tests)."""
    if not (
        isinstance(results, dict)
        and isinstance(results.get("score"), (int, float))
        and isinstance(results.get("tests"), list)
        and all(isinstance(t, dict) for t in results["tests"])
    ):
        return None
    output = "\n".join(part for part in (said, results.get("output")) if isinstance(part, str) and part)
    tests = [dict(test, visibility=settings.test_visibility) for test in results["tests"]]
    return {
        **results,
        "output": output,
        "tests": tests,
        "execution_time": round(time.monotonic() - started),
        "visibility": settings.visibility,
        "stdout_visibility": settings.stdout_visibility,
    }


def grade_submission(settings, root=ROOT):
    """results.json's content for the submission in `root`/submission (never raises for what was submitted)."""
    started = time.monotonic()
    notebook, said = pick_notebook(root / "submission", settings.notebook)
    print(said, flush=True)
    if notebook is None:
        return zero(said, started, settings)
    if notebook.stat().st_size > MAX_NOTEBOOK_BYTES:
        return zero(f"{said} It is larger than {MAX_NOTEBOOK_BYTES >> 20} MB: not graded.", started, settings)
    from nst.teaching.grader import read_submission

    try:
        read_submission(notebook)
    except Exception as exc:  # noqa: BLE001 - the grader's BadSubmission, or an NstError: the reason either way
        return zero(f"{said} It is not a Jupyter notebook, so it was not graded ({exc}).", started, settings)
    work = Path(tempfile.mkdtemp(prefix="nst-autograder-"))  # the grader's own folder: 0700, the submission's not
    try:
        out = work / "results.json"
        command = [
            sys.executable,
            "-m",
            "nst",
            "grade",
            "--timeout",
            f"{settings.timeout:g}",
            "--memory",
            settings.memory,
            "--gradescope",
            str(out),
            str(notebook),
        ]
        deadline = settings.timeout + 300 + GRADE_MARGIN  # its budget, its kernel's set-up, and a margin
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, cwd=work
        )
        try:
            printed, _ = proc.communicate(timeout=deadline)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return zero(
                f"{said} Grading did not finish within {deadline:g} s and was stopped: score 0.", started, settings
            )
        print(printed, end="", flush=True)  # the autograder's stdout: the teacher's view of what happened
        try:
            results = graded(json.loads(out.read_text(encoding="utf-8")), said, started, settings)
        except (OSError, ValueError):
            results = None
        if results is None and proc.returncode == -signal.SIGKILL:
            return zero(
                f"{said} Grading was killed by the system, most likely at the autograder's memory limit "
                "(nst's README: 2 GB or more): score 0; please tell your teacher.",
                started,
                settings,
            )
        if results is None:
            last = (printed.strip().splitlines() or ["no message"])[-1][:300]
            return zero(f"{said} Grading failed (exit code {proc.returncode}: {last}): score 0.", started, settings)
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_results(results, root=ROOT):
    """Write results.json into `root`/results atomically."""
    from nst.files import atomic_path

    folder = root / "results"
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "results.json") as tmp:
        tmp.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def check_installation():
    """setup.sh's last step: nst imports, TensorFlow with it; NstError otherwise."""
    from nst.commands.console import import_tensorflow_quietly

    if sys.version_info < PYTHON_MIN:
        raise NstError(f"Python {sys.version.split()[0]} is too old for nst: 3.11 or later")
    import_tensorflow_quietly()
    import tensorflow as tf

    print(f"nst autograder ready: Python {sys.version.split()[0]}, TensorFlow {tf.__version__}")


def main(argv=None):
    """`python -m nst.teaching.autograder --settings FILE` (a submission) or `--check` (setup.sh): exit 0."""
    p = argparse.ArgumentParser(
        prog="python -m nst.teaching.autograder",
        description="Inside Gradescope: grade /autograder/submission into "
        "/autograder/results/results.json (run_autograder), or check the installation "
        "(setup.sh).",
    )
    p.add_argument("--settings", type=Path, help="the zip's nst-autograder.json")
    p.add_argument("--check", action="store_true", help="check that nst and TensorFlow import")
    args = p.parse_args(argv)
    if args.check:
        from nst.commands.console import run_command

        return run_command(check_installation, tensorflow=False)
    started = time.monotonic()
    settings = AutograderSettings()
    try:
        settings = AutograderSettings(**json.loads(args.settings.read_text(encoding="utf-8"))).check()
        results = grade_submission(settings)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the student gets a result that says so
        results = zero(
            f"The autograder failed ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); your "
            "notebook was not graded: please tell your teacher.",
            started,
            settings,
        )
    write_results(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
