"""`nst grade` against a student who has read the grader's code: each test is an attack that worked on the first
pass's sandbox (see docs/teaching.md, "What holds").

- a runner that breaks the protocol in every way (as a kernel that read the runner's secret could make it): huge
  numbers, cell numbers that are no numbers, NaN, nesting deeper than Python parses, a flood, a stop while the
  grader writes its request; each costs its own submission only, the correct one after them gets 5/5;
- a class of notebooks side by side (--jobs 2): a CPU hog of 120 busy processes beside a correct classmate, a
  notebook probing the host (a canary file, a canary unix socket, /etc/shadow, the runner's secret), filling every
  writable place, starting processes without end, one of 20,000 cells, feedback with invisible characters, and
  bad files (not JSON, a folder, a link, a FIFO, a huge file, names that look like options or formulas);
- the grader stopped by SIGTERM; grading as root without bubblewrap (a user of its own per submission) against a
  forger that waits for results.json to overwrite it.
"""

import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from nst.commands.cli import main
from nst.settings import PACKAGE_ROOT
from nst.teaching import sandbox
from nst.teaching.function_checks import GRADED, RIGHT
from nst.teaching.submissions import CORRECT, NOTEBOOKS, PRELUDE, code, solution_cell, write_notebook

BWRAP = sandbox.probe_bwrap()
TIMEOUT = 20
MARKER = f"nst-grade-attack-{os.getpid()}"


def needs_bubblewrap():
    if BWRAP[0] is None:
        pytest.skip(f"no sandbox here: {BWRAP[2]}")


def graded(argv, **env):
    """(exit code, {submission stem: grade}, stderr) of `nst grade --json ...` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for key, value in env.items():
            patch.setenv(key, value)
        code_ = main(["grade", "--json", *argv])
    grades = {Path(g["submission"]).name: g for g in map(json.loads, out.getvalue().splitlines())}
    return code_, grades, err.getvalue()


def correct_notebook(path):
    path.write_bytes((NOTEBOOKS / "homework.ipynb").read_bytes())
    return path


def mine(pattern, text):
    found = re.search(pattern, text)
    assert found, text
    return float(found.group(1))


# --- a runner that breaks the protocol -----------------------------------------------------------------------

HOSTILE_RUNNER = """
import json, os, signal, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
requests = os.fdopen(int(sys.argv[1]), "r")
out = os.fdopen(int(sys.argv[2]), "w")
settings = json.loads(requests.readline())
with open(settings["notebook"]) as f:
    first = "".join(json.load(f)["cells"][0]["source"])
attack = first.split("attack:", 1)[1].split()[0] if "attack:" in first else None
if attack is None:  # a classmate: the real runner
    import resource, real_runner
    real_runner.not_dumpable()
    resource.setrlimit(resource.RLIMIT_NPROC, (settings["processes"],) * 2) if settings["processes"] else None
    real_runner.Runner(settings, out, requests).run()
nonce = settings["nonce"]

def send(message):
    out.write(json.dumps({**message, "nonce": nonce}) + "\\n")
    out.flush()

def raw(text):
    out.write(text + "\\n")
    out.flush()

send({"ready": True})
send({"outcome": {}, "not_run": [], "output_cut": [], "kernels": 1})
if attack == "superscript":  # a cell "number" int() cannot read
    send({"outcome": {"\\u00b2": {"kind": "error", "what": "x", "seconds": 1, "left_out": False}},
          "not_run": [], "output_cut": [], "kernels": 1})
elif attack == "deep":  # deeper than json can parse
    raw('{"nonce": "%s", "outcome": %s}' % (nonce, "[" * 100000 + "]" * 100000))
elif attack == "nan":
    raw('{"nonce": "%s", "outcome": {"1": {"kind": "timeout", "what": "", "seconds": NaN, "left_out": true}}, '
        '"not_run": [], "output_cut": [], "kernels": 1}' % nonce)
elif attack == "flood":
    while True:
        raw(json.dumps({"nonce": nonce, "ready": True}) + " " * 100000)
elif attack == "stop":  # stopped while the grader writes its request of some 50 MB
    os.kill(os.getpid(), signal.SIGSTOP)
request = json.loads(requests.readline())
name = request["names"][0]
if attack == "overflow":
    send({"function": name, "round": request["round"], "failed": "timeout", "seconds": 10 ** 400})
elif attack == "points":
    send({"function": name, "round": request["round"], "failed": "error", "points": 100})
time.sleep(600)
"""
# "stop" first: its wait (the grader's write deadline, some 16 s) runs beside the correct notebook and the others,
# not after them
ATTACKS = ("stop", "superscript", "overflow", "deep", "nan", "flood", "points")


def test_a_runner_that_breaks_the_protocol_costs_only_its_own_submission(tmp_path, monkeypatch):
    """What a kernel that read the runner's secret could send (a kernel of the first pass could): each line
    crashed the grader (OverflowError, ValueError) or hung it (a RecursionError in its reader, a write to a
    stopped runner); now each is its own submission's 0 with the reason, and the class goes on."""
    needs_bubblewrap()
    runners = tmp_path / "runners"
    runners.mkdir()
    (runners / "runner.py").write_text(HOSTILE_RUNNER)
    for name in ("runner.py", "harness.py"):
        shutil.copyfile(
            Path(sandbox.__file__).parent / name, runners / ("real_runner.py" if name == "runner.py" else name)
        )
    monkeypatch.setattr(sandbox, "RUNNER_DIR", runners)
    monkeypatch.setattr(sandbox, "RUNNER_FILES", ("runner.py", "harness.py", "real_runner.py"))
    paths = [write_notebook(tmp_path / f"{attack}.ipynb", [code(f"# attack: {attack}")]) for attack in ATTACKS]
    paths.insert(1, correct_notebook(tmp_path / "zz-correct.ipynb"))  # graded beside the stopped one, before the rest
    exit_code, grades, err = graded(
        ["--jobs", "2", "--timeout", str(TIMEOUT), "--csv", str(tmp_path / "g.csv"), "--", *map(str, paths)]
    )
    assert exit_code == 0, err
    assert grades["zz-correct.ipynb"]["score"] == 5, grades["zz-correct.ipynb"]
    for attack in ATTACKS:
        grade = grades[f"{attack}.ipynb"]
        assert grade["score"] == 0, grade
        expected = "did not take what the grader sent in time" if attack == "stop" else "broke the grading protocol"
        assert any(expected in note for note in grade["notes"]), (attack, grade["notes"])
    assert len(list(csv.reader((tmp_path / "g.csv").open()))) == len(paths) + 1


# --- a class side by side: the CPU, the host, the disk, processes, many cells, bad files -------------------


class CanarySocket:
    """A unix socket on the host (under /run, or the temp folder) that gives a secret to whoever connects, and
    the same under an abstract name."""

    def __init__(self, folder):
        self.secret = f"canary-{os.getpid()}-socket"
        base = Path("/run") if os.access("/run", os.W_OK) else folder
        self.path = base / f"nst-grade-test-{os.getpid()}.sock"
        self.abstract = f"nst-grade-test-{os.getpid()}"
        self.servers = []
        for address in (str(self.path), "\0" + self.abstract):
            server = socket.socket(socket.AF_UNIX)
            server.bind(address)
            server.listen(8)
            self.servers.append(server)
            threading.Thread(target=self.serve, args=(server,), daemon=True).start()
        os.chmod(self.path, 0o777)

    def serve(self, server):
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(self.secret.encode())

    def close(self):
        for server in self.servers:
            server.close()
        self.path.unlink(missing_ok=True)


def probe_notebook(path, canary_file, canary_text, sock):
    """Probes the host and its own limits from its cells; its functions give back what it found, as numbers:
    compute_content_cost the host's bits, compute_layer_style_cost the MB it could write, compute_style_cost the
    processes it could start, total_cost whether it found the runner's secret; gram_matrix raises an error full
    of invisible characters."""
    return write_notebook(
        path,
        [
            code(PRELUDE),
            code(f"""
        import glob, os, re, socket, stat, subprocess
        HOST = 0
        def probe(bit, check):
            global HOST
            try:
                if check():
                    HOST |= bit
            except Exception:
                pass
        def connect(address):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(3)
            s.connect(address)
            return {sock.secret!r} in s.recv(100).decode()
        probe(1, lambda: {canary_text!r} in open({str(canary_file)!r}).read())
        probe(2, lambda: len(open("/etc/shadow").read()) > 0)
        probe(4, lambda: connect({str(sock.path)!r}))
        probe(8, lambda: connect("\\0" + {sock.abstract!r}))
        probe(16, lambda: os.path.exists({str(PACKAGE_ROOT / "pyproject.toml")!r}))
        probe(32, lambda: os.path.isdir("/run") and len(os.listdir("/run")) > 0)
        """),
            code("""
        # the runner's secret: in the memory, the pipes or the environment of any other process in sight
        SECRET = 0
        token = re.compile(rb"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
        for pid in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
            for fd in glob.glob(f"/proc/{pid}/fd/*"):
                try:
                    if stat.S_ISFIFO(os.stat(fd).st_mode):
                        f = os.open(fd, os.O_RDONLY | os.O_NONBLOCK)
                        SECRET |= 1 if token.search(os.read(f, 1 << 20)) else 0
                        os.close(f)
                except OSError:
                    pass
            try:
                SECRET |= 2 if token.search(open(f"/proc/{pid}/environ", "rb").read()) else 0
            except OSError:
                pass
            try:
                with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
                    read = 0
                    for line in maps:
                        start, end = (int(x, 16) for x in line.split()[0].split("-"))
                        if "rw" not in line.split()[1] or read > 256 << 20:
                            continue
                        mem.seek(start)
                        chunk = mem.read(min(end - start, 64 << 20))
                        read += len(chunk)
                        SECRET |= 4 if b'"nonce"' in chunk and token.search(chunk) else 0
            except (OSError, ValueError, OverflowError):
                pass
        """),
            code("""
        # every writable place, as full as it goes
        WRITTEN = 0
        for folder in {os.getcwd(), os.environ.get("TMPDIR", "/tmp"), "/tmp", "/dev/shm", os.path.expanduser("~"),
                       "/var/tmp", "/"}:
            try:
                with open(os.path.join(folder, "fill"), "wb") as f:
                    for _ in range(1024):
                        f.write(bytes(1 << 20))
                        f.flush()
                        WRITTEN += 1
            except OSError:
                pass
        """),
            code("""
        # processes without end
        STARTED = 0
        children = []
        try:
            for _ in range(600):
                children.append(subprocess.Popen(["sleep", "60"]))
                STARTED += 1
        except OSError:
            pass
        """),
            solution_cell(
                "compute_content_cost", "def compute_content_cost(a_C, a_G):\n    return tf.constant(float(HOST))"
            ),
            solution_cell(
                "gram_matrix", "def gram_matrix(A):\n    raise ValueError('\\u202eevil\\u200b \\u2066text\\u200d')"
            ),
            solution_cell(
                "compute_layer_style_cost",
                "def compute_layer_style_cost(a_S, a_G):\n    return tf.constant(float(WRITTEN))",
            ),
            solution_cell(
                "compute_style_cost",
                "def compute_style_cost(style_activations, generated_activations, "
                "style_layers=STYLE_LAYERS):\n    return tf.constant(float(STARTED))",
            ),
            solution_cell(
                "total_cost",
                "def total_cost(J_content, J_style, alpha=10, beta=40):\n    return tf.constant(float(SECRET))",
            ),
        ],
    )


def hog_notebook(path, seconds):
    """120 busy processes in sessions of their own, each trying to run on every CPU, for `seconds`."""
    return write_notebook(
        path,
        [
            code(PRELUDE),
            code(f"""
        import os, time
        for _ in range(120):
            if os.fork() == 0:
                os.setsid()
                try:
                    os.sched_setaffinity(0, range(os.cpu_count()))
                except OSError:
                    pass
                end = time.time() + {seconds}
                while time.time() < end:
                    pass
                os._exit(0)
        """),
            code("import time\ntime.sleep(1000)"),
        ],
    )


def many_cells(path, n):
    return write_notebook(path, [code(PRELUDE), *(code("1 / 0" if k % 2 else "pass") for k in range(n))])


@pytest.fixture(scope="module")
def side_by_side(tmp_path_factory):
    needs_bubblewrap()
    folder = tmp_path_factory.mktemp("class2")
    outside = Path(
        tempfile.mkdtemp(prefix="nst-grade-canary-", dir="/var/lib" if os.access("/var/lib", os.W_OK) else None)
    )
    canary_file, canary_text = outside / "secret.txt", f"canary-{os.getpid()}-file"
    canary_file.write_text(canary_text)
    canary_file.chmod(0o644)
    outside.chmod(0o755)
    sock = CanarySocket(folder)
    order = [
        hog_notebook(folder / "hog.ipynb", TIMEOUT),
        correct_notebook(folder / "correct.ipynb"),
        probe_notebook(folder / "probe.ipynb", canary_file, canary_text, sock),
        many_cells(folder / "cells.ipynb", 20_000),
    ]
    bad = {
        "notjson.ipynb": "not a Jupyter notebook",
        "folder.ipynb": "a folder",
        "link.ipynb": "symbolic link",
        "fifo.ipynb": "not a regular file",
        "huge.ipynb": "more than a notebook may be",
        "-2+3.ipynb": "not a Jupyter notebook",
        "--csv=pwned.ipynb": "not a Jupyter notebook",
        "=SUM(1+1).ipynb": "not a Jupyter notebook",
    }
    for name in bad:
        target = folder / name
        if name == "folder.ipynb":
            target.mkdir()
        elif name == "link.ipynb":
            target.symlink_to("/etc/shadow" if Path("/etc/shadow").exists() else canary_file)
        elif name == "fifo.ipynb":
            os.mkfifo(target)
        elif name == "huge.ipynb":
            with open(target, "wb") as f:
                f.truncate(65 << 20)
        else:
            target.write_text('{"cells": [' + "=SUM(1+1)," * 3)
        order.append(target)
    csv_path = folder / "grades.csv"
    cwd = os.getcwd()
    os.chdir(folder)  # as a teacher grades: `nst grade --csv grades.csv -- *.ipynb` in the class's folder
    try:
        exit_code, grades, err = graded(
            [
                "--jobs",
                "2",
                "--timeout",
                str(TIMEOUT),
                "--memory",
                "3G",
                "--disk",
                "64M",
                "--csv",
                "grades.csv",
                "--",
                *(p.name for p in order),
            ]
        )
    finally:
        os.chdir(cwd)
        sock.close()
        shutil.rmtree(outside)
    return {"exit": exit_code, "grades": grades, "stderr": err, "csv": csv_path, "bad": bad, "order": order}


def value_of(grade, name):
    """The number a probe's function gave back, from its feedback ("yours 3, ours ...")."""
    return mine(r"yours (-?[\d.e+]+)", grade["functions"][name]["feedback"])


def test_a_cpu_hog_does_not_cost_a_classmate_points(side_by_side):
    """120 busy processes in sessions of their own, each asking for every CPU, beside a correct classmate with
    --jobs 2: the classmate lost points ("time ran out"); now each sandbox has CPUs of its own and cannot leave
    them."""
    assert side_by_side["exit"] == 0, side_by_side["stderr"]
    correct = side_by_side["grades"]["correct.ipynb"]
    assert correct["score"] == 5 and all(g["feedback"] == RIGHT for g in correct["functions"].values()), correct


def test_the_host_is_not_visible(side_by_side):
    """A canary file outside the hidden folders, /etc/shadow, a canary unix socket under /run and an abstract
    one, the project's checkout, /run: none reached; the runner's secret not found in any process in sight."""
    probe = side_by_side["grades"]["probe.ipynb"]
    assert value_of(probe, "compute_content_cost") == 0, probe["functions"]["compute_content_cost"]
    assert value_of(probe, "total_cost") == 0, probe["functions"]["total_cost"]


def test_every_writable_place_is_counted_and_processes_are_limited(side_by_side):
    probe = side_by_side["grades"]["probe.ipynb"]
    assert value_of(probe, "compute_layer_style_cost") <= 64  # MB, with --disk 64M
    assert 0 < value_of(probe, "compute_style_cost") < sandbox.Limits().processes


def test_feedback_loses_invisible_characters(side_by_side):
    feedback = side_by_side["grades"]["probe.ipynb"]["functions"]["gram_matrix"]["feedback"]
    assert feedback.startswith("raises ValueError: evil text")
    assert not any(c in feedback for c in "\u202e\u200b\u2066\u200d")


def test_twenty_thousand_cells(side_by_side):
    cells = side_by_side["grades"]["cells.ipynb"]
    assert cells["score"] == 0
    note = [
        n
        for n in cells["notes"]
        if n.endswith(f"did not run: the time for the cells ({TIMEOUT / 2:g} s of --timeout {TIMEOUT:g}) ran out")
    ]
    assert note and re.match(r"code cells \d+-20001 did not run", note[0]), cells["notes"]


def test_bad_files_are_zeros_with_their_reason_and_the_csv_is_safe(side_by_side):
    grades, bad = side_by_side["grades"], side_by_side["bad"]
    for name, reason in bad.items():
        grade = grades[name]
        assert grade["score"] == 0 and reason in grade["notes"][0], (name, grade)
    assert "root:" not in json.dumps(grades)  # the link's target was not read
    rows = list(csv.reader(side_by_side["csv"].open()))
    names = [p.name for p in side_by_side["order"]]
    assert [r[0] for r in rows[1:]] == [("'" + n if n.startswith(("=", "-")) else n) for n in names]
    assert not (side_by_side["csv"].parent / "pwned.ipynb").exists()


def test_what_is_said_about_a_notebook_takes_time_linear_in_its_cells():
    """Notes checked each cell not run against the whole notebook: an 8,000-cell notebook took 75 s of the
    grader's CPU. Counted here in Python function calls (not seconds): four times the cells, about four times the
    calls."""
    from nst.teaching.grader import assemble
    from nst.teaching.sandbox import Limits

    def calls(n):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1") for _ in range(n)])
        info = {
            "outcome": {
                str(k): {"kind": "error", "what": "raised ZeroDivisionError", "seconds": 0.1, "left_out": False}
                for k in range(1, n // 2)
            },
            "not_run": list(range(n // 2, n + 1)),
            "output_cut": [],
        }
        count = [0]

        def profile(frame, event, arg):
            if event == "call":
                count[0] += 1

        sys.setprofile(profile)
        try:
            assemble("many.ipynb", nb, {}, info, Limits())
        finally:
            sys.setprofile(None)
        return count[0]

    small, large = calls(500), calls(2000)
    assert large < 5 * small, (small, large)


# --- the grader stopped ---------------------------------------------------------------------------------------


def test_sigterm_ends_every_sandbox_and_removes_its_folder(tmp_path):
    needs_bubblewrap()
    temp = Path(tempfile.mkdtemp(prefix="nst-grade-test-", dir="/tmp"))
    temp.chmod(0o711)
    sleepy = write_notebook(tmp_path / "sleepy.ipynb", [code("import time\ntime.sleep(600)")])
    process = subprocess.Popen(
        [sys.executable, "-m", "nst", "grade", str(sleepy), "--timeout", "600"],
        env={**os.environ, "TMPDIR": str(temp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=PACKAGE_ROOT,
    )
    try:
        deadline = time.monotonic() + 300
        while not kernels_below(process.pid) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)  # until the sandbox's kernel runs: then SIGTERM has a kernel to end too
        assert marked_processes(str(temp)) and list(temp.iterdir()), "the sandbox never started"
        assert kernels_below(process.pid), "the sandbox's kernel never started"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, err
    assert err.decode().endswith("nst: grading terminated (every submission's sandbox was stopped)\n")
    assert marked_processes(str(temp)) == [] and list(temp.iterdir()) == []
    temp.rmdir()


def kernels_below(pid):
    """The ipykernel processes descending from process `pid` (through the sandbox's namespaces: /proc here shows
    their parents as this machine sees them)."""
    parents, kernels = {}, []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit():
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if b"ipykernel_launcher" in (entry / "cmdline").read_bytes():
                    kernels.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            pass

    def descends(child):
        while child > 1:
            child = parents.get(child, 0)
            if child == pid:
                return True
        return False

    return [k for k in kernels if descends(k)]


def marked_processes(marker=MARKER):
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


# --- as root where bubblewrap cannot run: a user of its own per submission --------------------------------------


def test_as_root_without_bubblewrap_a_forger_cannot_touch_results_json(tmp_path, monkeypatch):
    """Where bubblewrap cannot run (Docker's default profile, likely Gradescope), a submission started a process
    in a session of its own with an empty environment that waited for results.json and overwrote it, and another
    that outlived grading. As root, each submission now runs as a uid of its own, every process of which is ended
    with it; the grader's folders are out of its reach, and the runner's secret too (it is not dumpable)."""
    try:
        isolation = sandbox.choose_isolation("user", 1)
    except ValueError as exc:
        pytest.skip(str(exc))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bwrap-here") + os.pathsep + "/usr/bin:/bin")
    results = Path(tempfile.mkdtemp(prefix="nst-grade-test-results-", dir="/tmp"))
    results.chmod(0o777)  # as open as a results folder could be: anyone may write into it
    secret = results / "grader-only.txt"  # a file of the grader's, for its eyes only
    secret.write_text("the grader's own")
    secret.chmod(0o600)
    script = (
        "import json, sys, time\nend = time.time() + float(sys.argv[2])\nwhile time.time() < end:\n"
        "    try:\n        with open(sys.argv[1], 'w') as f:\n            json.dump({'score': 99}, f)\n"
        "    except OSError:\n        pass\n    time.sleep(0.05)\n"
    )
    forger = f"""
        import os, subprocess, sys
        os.makedirs({str(results / "results.json" / "taken")!r}, exist_ok=True)  # a folder where results.json goes
        for delay in (120, 45):  # overwrite results.json as soon as it is there; outlive grading
            subprocess.Popen([sys.executable, "-c", {script!r}, {str(results / "results.json")!r}, str(delay),
                              {MARKER!r}], start_new_session=True, env={{}}, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        READ = 0
        try:
            READ = len(open({str(secret)!r}).read())
        except OSError:
            pass
        """
    notebook = write_notebook(
        tmp_path / "forger.ipynb",
        [
            code(PRELUDE),
            *(solution_cell(n, CORRECT[n]) for n in GRADED[:-1]),
            code(forger),
            solution_cell(
                "total_cost",
                "def total_cost(J_content, J_style, alpha=10, beta=40):\n"
                "    return alpha * J_content + beta * J_style + READ",
            ),
        ],
    )
    out = results / "results.json"
    exit_code, grades, err = graded(
        ["--isolation", "user", "--timeout", str(TIMEOUT), "--gradescope", str(out), "--", str(notebook)]
    )
    assert exit_code == 0, err
    assert "each submission runs as a user of its own" in err
    assert marked_processes() == [] and not any(sandbox.processes_of(uid) for uid in isolation.uids)
    time.sleep(1)
    report = json.loads(out.read_text())
    assert report["score"] == 5, report["output"]  # neither 99 nor the grader's file read (total_cost would be off)
    assert sorted(p.name for p in results.iterdir()) == ["grader-only.txt", "results.json"]
    shutil.rmtree(results)
