"""Each submission graded in a sandbox of its own, and the conversation with what runs inside it.

On Linux with bubblewrap (`bwrap`): a new user, PID, network, IPC and mount namespace without capabilities; the
system read-only; this project's source, the instructor notebook, the submissions' folders, the home folder and
/tmp hidden (the Python installation is shown again, read-only, with `nst` hidden inside it too); a fresh, size-
limited temporary folder holding only a copy of the notebook and a fresh HOME; no network; every process of the
submission ended with it (the PID namespace). Elsewhere (macOS, containers without user namespaces) the same
runner runs with the same limits the system offers, in temporary folders and its own process group, and the
grader says once that submissions are not isolated.

Limits, per process of a submission (rlimits, inherited): memory as address space (RLIMIT_AS, which also counts
shared mappings), the size of a file (RLIMIT_FSIZE), no core files; the folder's total size (the tmpfs);
one time budget for the whole submission, and a wall-clock limit after which the sandbox is killed.
"""

import base64
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

RUNNER_FILES = ("runner.py", "harness.py")  # copied into every sandbox: it cannot import nst
INSIDE = Path("/tmp/nst-grade")  # where the sandbox's own folder is, inside bubblewrap
TOKEN = "NST_GRADE_SANDBOX"  # marks the processes of a submission (to find them without bubblewrap)
LINE_CAP = 64 << 20  # the longest message a runner may send
EXCHANGE = 128 << 20  # the folder for requests and results, apart from the submission's own (which it may fill)
NST_HIDDEN = "nst is not available while grading: the graded functions must be your own code"
STUB = f'"""nst is hidden while grading."""\nraise ModuleNotFoundError({NST_HIDDEN!r}, name="nst")\n'  # nst/__init__
LIMITS_SOURCE = """\
import os, resource, sys
memory, disk = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_FSIZE, (disk, disk))
try:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
except (ValueError, OSError, AttributeError):  # where the address space cannot be limited: the data segment
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
os.execvp(sys.argv[3], sys.argv[3:])
"""


@dataclass(frozen=True)
class Limits:
    """What one submission may use: seconds of its budget, bytes of memory (per process), of disk (its folder,
    and any one file), of output kept per cell; the set-up of its first kernel; kernels at most; threads for
    TensorFlow."""

    budget: float = 120.0
    memory: int = 4 << 30
    disk: int = 1 << 30
    output: int = 1 << 20
    setup_seconds: float = 300.0
    max_kernels: int = 3
    threads: int = 1


# --- bubblewrap --------------------------------------------------------------------------------------------

_PROBE = {}


def bwrap_flags():
    """(bubblewrap's path, its namespace flags) when it works here, else (None, why not); tried once."""
    if "result" not in _PROBE:
        _PROBE["result"] = probe_bwrap()
    return _PROBE["result"]


def probe_bwrap():
    path = shutil.which("bwrap")
    if path is None:
        return None, "bubblewrap (bwrap) is not installed"
    base = ["--unshare-all", "--unshare-user", "--cap-drop", "ALL", "--die-with-parent", "--new-session"]
    reason = "bubblewrap cannot create its namespaces here"
    for flags in (base + ["--disable-userns"], base):  # --disable-userns: bubblewrap 0.8 and later
        try:
            done = subprocess.run([path, *flags, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
                                  capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"bubblewrap does not run ({exc})"
        if done.returncode == 0:
            return path, flags
        said = " ".join(done.stderr.decode(errors="replace").split())[:160]
        reason = f"bubblewrap cannot create its namespaces here ({said or 'user namespaces disabled?'})"
    return None, reason


def nst_locations():
    """The folders `nst` (its source and this repository with the instructor notebook) is found in: the
    running one, any on this interpreter's path, and the one a plain `python` would import (an editable
    install points elsewhere)."""
    import nst

    found = {Path(nst.__file__).resolve().parent}
    for entry in sys.path:
        if entry and (Path(entry) / "nst" / "__init__.py").is_file():
            found.add((Path(entry) / "nst").resolve())
    try:
        done = subprocess.run([sys.executable, "-I", "-c", "import importlib.util as u\ns = u.find_spec('nst')\n"
                               "print(s.origin if s and s.origin else '')"], capture_output=True, text=True,
                              timeout=60, cwd="/")
        origin = done.stdout.strip()
        if origin:
            found.add(Path(origin).resolve().parent)
    except (OSError, subprocess.TimeoutExpired):
        pass
    for package in list(found):  # a source checkout holding the package (not site-packages): hide all of it
        parent = package.parent
        if not parent.name.endswith(("site-packages", "dist-packages")) and (
                (parent / "notebooks").is_dir() or (parent / "pyproject.toml").is_file()):
            found.add(parent)
    return found


def installation():
    """The folders of this Python's installation and environment (a virtual environment may be inside a
    repository: it is shown, the repository not)."""
    folders = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    folders.add(Path(sys.executable).resolve().parent.parent)
    return {f.resolve() for f in folders if f.is_dir()}


def path_entries(secret):
    """The folders of this Python's module path outside `secret` ones (the repository's top is not one)."""
    entries = []
    for entry in sys.path:
        if entry and Path(entry).is_dir():
            folder = Path(entry).resolve()
            if not any(inside(folder, s) for s in secret) and folder not in entries:
                entries.append(folder)
    return entries


def inside(path, folder):
    return path == folder or folder in path.parents


def private_folders():
    """Folders of this machine's users hidden from every submission."""
    folders = {Path.home(), Path("/home"), Path("/root"), Path("/tmp"), Path("/var/tmp"), Path("/run/user"),
               Path(tempfile.gettempdir())}
    return {f.resolve() for f in folders if f.exists()}


def depth(path):
    return len(path.parts)


def mount_plan(secret):
    """The bubblewrap mounts, [(option, folder)]: tmpfs over the `secret` folders and the private ones, the
    Python installation and its path shown again read-only where they were hidden, then tmpfs again over
    what of `secret` lies inside those."""
    secret = {p.resolve() for p in secret}
    hidden = sorted(secret | private_folders(), key=depth)
    needed = installation() | set(path_entries(secret))
    shown = sorted((f for f in needed if any(inside(f, h) and f != h for h in hidden)
                    and not any(inside(h, f) for h in hidden if h not in secret)), key=depth)
    mounts = [("--tmpfs", h) for h in hidden] + [("--ro-bind", f) for f in shown]
    return mounts + [("--tmpfs", s) for s in sorted(secret, key=depth) if any(inside(s, f) for f in shown)]


# --- one sandbox ----------------------------------------------------------------------------------------------

class SandboxGone(Exception):
    """The sandbox ended (or broke its protocol) before answering."""


class Sandbox:
    """A submission's sandbox: started, talked to in JSON lines, ended with everything in it."""

    def __init__(self, notebook, limits, isolation, secret, debug=False):
        self.notebook, self.limits, self.isolation, self.secret, self.debug = notebook, limits, isolation, secret, debug
        self.root = None
        self.process = None
        self.lines = queue.Queue()
        self.token = secrets.token_hex(8)  # in the environment of its processes, to find them
        self.nonce = secrets.token_hex(16)  # in the runner's messages and ours only: the submission's lines lack it
        self.stderr_tail = b""
        self.wall_deadline = None
        self.namespace_pid = None

    def __enter__(self):
        self.root = Path(tempfile.mkdtemp(prefix="nst-grade-"))
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        code = self.root / "runner"
        code.mkdir()
        here = Path(__file__).parent
        for name in RUNNER_FILES:
            shutil.copyfile(here / name, code / name)
        (code / "stub" / "nst").mkdir(parents=True)
        (code / "stub" / "nst" / "__init__.py").write_text(STUB)
        (self.root / "work").mkdir()
        shutil.copyfile(self.notebook, self.root / "work" / "submission.ipynb")
        for folder in ("home", "tmp", "exchange"):
            (self.root / folder).mkdir()
        if self.isolation is not None:
            base, code_in, work_in = INSIDE, INSIDE / "runner", INSIDE / "work"
        else:
            base, code_in, work_in = self.root, code, self.root / "work"
        env = self.environment(base, code_in)
        command = [sys.executable, "-P", str(code_in / "runner.py")]
        info, keep = (os.pipe() if self.isolation is not None else (None, None)), ()
        if self.isolation is not None:  # bubblewrap says on `info` which pid its namespace's first process has
            command = self.bwrap(code, env, info[1]) + command
            keep = (info[1],)
        command = [sys.executable, "-c", LIMITS_SOURCE, str(self.limits.memory), str(self.limits.disk), *command]
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, cwd=self.root / "work", pass_fds=keep,
                                            env=env if self.isolation is None else {"PATH": os.environ.get("PATH", "")},
                                            start_new_session=True)
        finally:
            if info[1] is not None:
                os.close(info[1])
        if info[0] is not None:
            self.namespace_pid = namespace_pid(info[0])
        threading.Thread(target=self.read_lines, daemon=True).start()
        threading.Thread(target=self.read_stderr, daemon=True).start()
        settings = {"notebook": str(work_in / "submission.ipynb"), "harness": str(code_in / "harness.py"),
                    "exchange": str(base / "exchange"),
                    "budget": self.limits.budget, "setup_seconds": self.limits.setup_seconds,
                    "max_kernels": self.limits.max_kernels, "output_cap": self.limits.output,
                    "message_cap": 32 << 20, "results_cap": LINE_CAP * 3 // 4 - 1024, "debug": self.debug,
                    "nonce": self.nonce}
        self.wall_deadline = time.monotonic() + self.limits.setup_seconds + self.limits.budget + 60
        self.send(settings)

    def environment(self, base, code_in):
        home = base / "home"
        env = {"HOME": str(home), "IPYTHONDIR": str(home / ".ipython"), "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
               "JUPYTER_DATA_DIR": str(home / ".local/share/jupyter"),
               "JUPYTER_RUNTIME_DIR": str(home / ".local/share/jupyter/runtime"), "JUPYTER_PLATFORM_DIRS": "1",
               "MPLCONFIGDIR": str(home / ".config/matplotlib"), "XDG_CACHE_HOME": str(home / ".cache"),
               "XDG_CONFIG_HOME": str(home / ".config"), "TMPDIR": str(base / "tmp"), "LANG": "C.UTF-8",
               "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
               "PYTHONPATH": os.pathsep.join([str(code_in / "stub"), *map(str, path_entries(self.secret))]),
               "PYTHONDONTWRITEBYTECODE": "1", "MALLOC_ARENA_MAX": "2", "CUDA_VISIBLE_DEVICES": "",
               "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
               "TF_NUM_INTRAOP_THREADS": str(self.limits.threads), "TF_NUM_INTEROP_THREADS": str(self.limits.threads),
               "OMP_NUM_THREADS": str(self.limits.threads), TOKEN: self.token}
        return env

    def bwrap(self, code, env, info_fd):
        path, flags = self.isolation
        args = [path, *flags, "--info-fd", str(info_fd), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        for option, folder in mount_plan(self.secret | {self.root.resolve()}):
            args += [option, str(folder)] + ([str(folder)] if option == "--ro-bind" else [])
        args += ["--size", str(self.limits.disk), "--tmpfs", str(INSIDE),
                 "--ro-bind", str(code), str(INSIDE / "runner"),
                 "--dir", str(INSIDE / "work"), "--dir", str(INSIDE / "home"), "--dir", str(INSIDE / "tmp"),
                 "--size", str(EXCHANGE), "--tmpfs", str(INSIDE / "exchange"),
                 "--ro-bind", str(self.root / "work" / "submission.ipynb"), str(INSIDE / "work" / "submission.ipynb"),
                 "--chdir", str(INSIDE / "work"), "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        return args + ["--"]

    # --- the conversation ---

    def read_lines(self):
        stream = self.process.stdout
        while True:
            line = stream.readline(LINE_CAP + 1)
            if not line:
                break
            if not line.endswith(b"\n"):  # longer than any message may be: the protocol is broken
                self.lines.put(None)
                self.kill()
                break
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("nonce") == self.nonce:
                self.lines.put(message)  # lines without it were written by the submission: not the runner's
        self.lines.put(None)

    def read_stderr(self):
        stream = self.process.stderr
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                break
            if self.debug:
                sys.stderr.write(chunk.decode(errors="replace"))
            self.stderr_tail = (self.stderr_tail + chunk)[-4096:]

    def send(self, message):
        try:
            self.process.stdin.write(json.dumps({**message, "nonce": self.nonce}).encode() + b"\n")
            self.process.stdin.flush()
        except (OSError, ValueError):
            raise SandboxGone("its sandbox stopped") from None

    def receive(self):
        """The next message; SandboxGone when the sandbox ended, broke the protocol or ran past its time."""
        left = self.wall_deadline - time.monotonic()
        try:
            message = self.lines.get(timeout=max(left, 0.01))
        except queue.Empty:
            self.kill()
            raise SandboxGone(f"its sandbox ran past its time ({self.limits.budget:g} s) and was stopped") from None
        if message is None:
            last = [line for line in self.stderr_tail.decode(errors="replace").splitlines() if line.strip()]
            raise SandboxGone("its sandbox stopped" + (f" ({last[-1].strip()[:200]})" if last else ""))
        return message

    def kill(self):
        """End the sandbox and everything in it: with bubblewrap, the first process of its namespaces (the
        system then ends every process in them, and bubblewrap exits once they are gone); without, its process
        group."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            if self.namespace_pid is not None:  # bubblewrap's child, not yet reaped while bubblewrap runs
                os.kill(self.namespace_pid, signal.SIGKILL)
            else:
                os.killpg(self.process.pid, signal.SIGKILL)
        except OSError:
            pass

    def close(self):
        if self.process is not None:
            self.kill()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # bubblewrap itself stuck: its whole group
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.process.wait()
            if self.isolation is None:
                kill_marked(self.token)
            for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def namespace_pid(fd):
    """The pid of the first process in bubblewrap's namespaces, from what it writes on its --info-fd (None when
    it wrote nothing: it failed)."""
    data = b""
    try:
        while len(data) < 65536:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    try:
        pid = json.loads(data).get("child-pid")
    except (ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) and pid > 1 else None


def kill_marked(token):
    """Without bubblewrap: kill every process that carries this submission's mark in its environment (those
    that left its process group); Linux only (/proc)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return
    mark = f"{TOKEN}={token}".encode()
    for _ in range(3):  # a process may start another while we look
        found = False
        for entry in proc.iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if mark in environ.split(b"\0"):
                found = True
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                except OSError:
                    pass
        if not found:
            break
        time.sleep(0.1)


def decode(message):
    return base64.b64decode(message["results"], validate=True)
