"""Each submission graded in a sandbox of its own, and the conversation with what runs inside it.

Three kinds of isolation, the best this machine allows (`choose_isolation`):

- "bubblewrap" (Linux with user namespaces): new user, PID, network, IPC, UTS and mount namespaces without
  capabilities; only what the kernel needs is shown, read-only (the system's /usr, this Python's installation
  with `nst` hidden inside it, a few files of /etc, most of them made for the sandbox); no host socket, no /run,
  /home, /root or /var; every writable place a size-limited tmpfs (the folder and /tmp, /dev/shm, the exchange
  folder); the runner's messages on descriptors bubblewrap's own first process does not keep; the kernel in user
  and PID namespaces of its own below the runner's (it cannot see the runner, let alone read its memory); every
  process ended with the sandbox. As root, the sandbox runs as a dedicated unprivileged uid.
- "user" (root where bubblewrap cannot run, as inside Docker's default seccomp profile): the runner and the kernel
  as a dedicated unprivileged uid with no groups, in a folder only that uid can enter, under a folder of the
  grader's it can only traverse; no privilege can be gained (no_new_privs); every process of that uid ended with
  the sandbox (kill(-1) as that uid, until none is left) and its files in the world-writable folders removed.
- "none" (elsewhere): the same limits, the grader's own uid, its own process group; the grader says so once.

Everywhere: the limits per process (address space, file size, no core files), a process-count limit (per uid, or
per user namespace), the sandbox's CPUs (each job its own; a system-call filter keeps it from leaving them and
from ptrace), the runner not dumpable (another process of its uid cannot read its memory or descriptors), and the
conversation over two pipes with a deadline on every read and write and a schema for every message
(`nst.teaching.grader`).
"""

import base64
import ctypes
import json
import os
import pwd
import queue
import secrets
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

RUNNER_FILES = ("runner.py", "harness.py")  # copied into every sandbox: it cannot import nst
RUNNER_DIR = Path(__file__).parent  # where they are copied from
INSIDE = Path("/tmp/nst-grade")  # where the sandbox's own folder is, inside bubblewrap
TOKEN = "NST_GRADE_SANDBOX"  # marks the processes of a submission (to find them without isolation)
LINE_CAP = 64 << 20  # the longest message a runner may send
TOTAL_CAP = 512 << 20  # all a runner may send: past it the sandbox is flooding and is ended
EXCHANGE = 128 << 20  # the folder for requests and results, apart from the submission's own (which it may fill)
SHM_CAP = 64 << 20  # /dev/shm at most (a quarter of --disk when that is less), counted in --disk
KERNEL_UID = 1000  # the kernel's uid inside its own user namespace (the runner's is another)
SANDBOX_UIDS = range(60100, 60600)  # where the dedicated uids are looked for when the grader is root
SEND_SECONDS, SEND_RATE = 10.0, 8 << 20  # a write to a sandbox: seconds at least, plus its size at this rate
GRACE = 60.0  # after its budget, what a sandbox may take to report and end
BLOCKED_SYSCALLS = ("sched_setaffinity", "io_uring_setup", "ptrace", "process_vm_readv", "process_vm_writev")
SYSTEM_FOLDERS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "mime.types")
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock")
NST_HIDDEN = "nst is not available while grading: the graded functions must be your own code"
STUB = f'"""nst is hidden while grading."""\nraise ModuleNotFoundError({NST_HIDDEN!r}, name="nst")\n'  # nst/__init__
LAUNCHER_SOURCE = """\
import ctypes, json, os, resource, sys
spec = json.loads(sys.argv[1])
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_FSIZE, (spec["disk"], spec["disk"]))
try:
    resource.setrlimit(resource.RLIMIT_AS, (spec["memory"], spec["memory"]))
except (ValueError, OSError, AttributeError):  # where the address space cannot be limited: the data segment
    resource.setrlimit(resource.RLIMIT_DATA, (spec["memory"], spec["memory"]))
if spec["cpus"]:
    os.sched_setaffinity(0, spec["cpus"])
if spec["seccomp"]:  # these system calls fail with EPERM: leaving the CPUs, io_uring's own threads, ptrace
    lib = ctypes.CDLL(spec["seccomp"])
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    context = lib.seccomp_init(0x7FFF0000)
    numbers = [lib.seccomp_syscall_resolve_name(name.encode()) for name in spec["blocked"]]
    if not context or any(n >= 0 and lib.seccomp_rule_add(context, 0x00050001, n, 0) for n in numbers) \\
            or lib.seccomp_load(context):
        sys.exit("nst-grade: the sandbox's system-call filter could not be loaded")
os.execvp(sys.argv[2], sys.argv[2:])
"""


@dataclass(frozen=True)
class Limits:
    """What one submission may use: seconds of its budget, bytes of memory (per process), of disk (its folders
    in all, and any one file), of output kept per cell; the set-up of its first kernel; kernels at most; threads
    for TensorFlow; processes (and threads) at once."""

    budget: float = 120.0
    memory: int = 4 << 30
    disk: int = 1 << 30
    output: int = 1 << 20
    setup_seconds: float = 300.0
    max_kernels: int = 3
    threads: int = 1
    processes: int = 256


@dataclass(frozen=True)
class Isolation:
    """How submissions are isolated: mode "bubblewrap", "user" or "none"; bubblewrap's path and its namespace
    flags; whether the kernel gets namespaces of its own below the runner's; the uids sandboxes run as (the grader
    is root), one per job; libseccomp's path (a filter keeps a sandbox on its CPUs); why not better."""

    mode: str
    bwrap: str = None
    flags: tuple = ()
    nested: bool = False
    uids: tuple = ()
    seccomp: str = None
    why: str = ""
    locks: tuple = ()  # descriptors holding the uids for this run


@dataclass(frozen=True)
class Slot:
    """One job's place: its CPUs and its uid (None: the grader's own)."""

    cpus: tuple
    uid: int = None


# --- what this machine allows ----------------------------------------------------------------------------------


def seccomp_library():
    """libseccomp's file name when it loads here (Linux), else None."""
    for name in ("libseccomp.so.2", "libseccomp.so"):
        try:
            lib = ctypes.CDLL(name)
            if hasattr(lib, "seccomp_load"):
                return name
        except OSError:
            continue
    return None


def free_uids(count, locks=None):
    """`count` uids nobody uses (no user or group of that number, no process, mapped in this namespace, and not
    locked by another `nst grade`: each one found is locked, its descriptor added to `locks`, until released),
    for the sandboxes when the grader is root; fewer when there are not enough."""
    mapped = uid_map()
    busy = process_uids()
    found = []
    for uid in SANDBOX_UIDS:
        if len(found) == count:
            break
        if uid in busy or not any(start <= uid < start + length for start, length in mapped):
            continue
        if locks is not None and not lock_uid(uid, locks):
            continue
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        try:
            import grp

            grp.getgrgid(uid)
            continue
        except (KeyError, ImportError):
            pass
        found.append(uid)
    return found


def lock_uid(uid, locks):
    """Take `uid` for this grading run (an exclusive lock on a file of root's); False when another run has it."""
    import fcntl

    folder = (
        Path("/run/nst-grade-uids") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir(), "nst-grade-uids")
    )
    try:
        folder.mkdir(mode=0o755, exist_ok=True)
        if folder.is_symlink() or folder.stat().st_uid != os.geteuid():
            return False
        fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    locks.append(fd)
    return True


def release(isolation):
    """Give back the uids a grading run took."""
    for fd in isolation.locks:
        try:
            os.close(fd)
        except OSError:
            pass


def uid_map():
    try:
        lines = Path("/proc/self/uid_map").read_text().split("\n")
    except OSError:
        return [(0, 1 << 32)]
    return [(int(f[0]), int(f[2])) for f in (line.split() for line in lines) if len(f) == 3]


def process_uids():
    """The real, effective and saved uids of the processes running now (from their status: a process that is not
    dumpable shows root as the owner of its /proc folder)."""
    uids = set()
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            try:
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("Uid:"):
                        uids.update(int(x) for x in line.split()[1:4])
                        break
            except (OSError, ValueError):
                pass
    return uids


def runs_as(uid, command, timeout=60):
    """(whether `command` ran and exited 0 as `uid` with no groups, what it said)."""
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            timeout=timeout,
            cwd="/",
            user=uid,
            group=uid,
            extra_groups=[],
            env={"PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return False, str(exc)
    said = " ".join(done.stderr.decode(errors="replace").split())[:200]
    return done.returncode == 0, said


def probe_bwrap(uid=None):
    """(bubblewrap's path, its flags, whether a kernel's namespaces nest inside) when it works here (as `uid`),
    else (None, (), why not)."""
    path = shutil.which("bwrap")
    if path is None:
        return None, (), "bubblewrap (bwrap) is not installed"
    base = ("--unshare-all", "--unshare-user", "--cap-drop", "ALL", "--die-with-parent", "--new-session")
    layout = system_binds() + ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    inner = [path, *kernel_flags(), "true"]
    reason = "bubblewrap cannot create its namespaces here"
    for flags, nested in ((base, True), (base + ("--disable-userns",), False), (base, False)):
        command = [path, *flags, *layout, *(inner if nested else ["true"])]
        try:
            if uid is None:
                done = subprocess.run(command, capture_output=True, timeout=60)
                ok, said = done.returncode == 0, " ".join(done.stderr.decode(errors="replace").split())[:160]
            else:
                ok, said = runs_as(uid, command)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, (), f"bubblewrap does not run ({exc})"
        if ok:
            return path, flags, nested
        reason = f"bubblewrap cannot create its namespaces here ({said or 'user namespaces disabled?'})"
    return None, (), reason


def kernel_flags():
    """bubblewrap's flags for a kernel inside a sandbox: user, PID and IPC namespaces of its own (no further ones),
    another uid, its own session, everything of the sandbox shown as it is, a /proc of its own (no parent pid for
    ipykernel to watch: its parent there is the namespace's first process, and it ends with the namespace)."""
    return [
        "--unsetenv",
        "JPY_PARENT_PID",
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--disable-userns",
        "--uid",
        str(KERNEL_UID),
        "--gid",
        str(KERNEL_UID),
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--bind",
        "/",
        "/",
        "--dev-bind",
        "/dev",
        "/dev",
        "--proc",
        "/proc",
    ]


def choose_isolation(wanted, jobs):
    """The Isolation for `jobs` sandboxes at once, as `wanted` ("auto", "required", "bubblewrap" or "user");
    ValueError (its message one line) when that cannot be had."""
    seccomp = seccomp_library()
    uids, why_not_user, locks = [], "the grader is not root", []
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        uids = free_uids(jobs, locks)
        if len(uids) < jobs:
            uids, why_not_user = [], f"no {jobs} free uids in {SANDBOX_UIDS.start}-{SANDBOX_UIDS.stop - 1}"
        else:
            # what the runner imports, as it imports them (without rfc3987_syntax's grammar: nst.teaching.runner)
            check = "import sys; sys.modules['rfc3987_syntax'] = None; import nbclient, ipykernel, numpy"
            ok, said = runs_as(uids[0], [sys.executable, "-I", "-c", check])
            if not ok:
                uids, why_not_user = (
                    [],
                    (
                        f"this Python ({sys.executable}) does not run as another user ({said}): "
                        "its installation must be readable by all"
                    ),
                )
    if wanted != "user":
        path, flags, nested = probe_bwrap(uids[0] if uids else None)
        if path is not None:
            return Isolation("bubblewrap", path, flags, nested, tuple(uids), seccomp, locks=tuple(locks))
        why = nested
        if wanted == "bubblewrap":
            release(Isolation("none", locks=tuple(locks)))
            raise ValueError(f"--isolation bubblewrap, but {why}")
    else:
        why = "--isolation user"
    if uids:
        return Isolation("user", uids=tuple(uids), seccomp=seccomp, why=why, locks=tuple(locks))
    release(Isolation("none", locks=tuple(locks)))
    if wanted in ("user", "required"):
        raise ValueError(f"--isolation {wanted}, but {why}, and {why_not_user}")
    return Isolation("none", seccomp=seccomp, why=f"{why}, and {why_not_user}")


def slots(isolation, jobs):
    """One Slot per job: the CPUs split among them (each its own when there are enough), their uids."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    groups = [tuple(cpus[k::jobs]) for k in range(jobs)] if len(cpus) >= jobs else [tuple(cpus)] * jobs
    return [Slot(group, isolation.uids[k] if isolation.uids else None) for k, group in enumerate(groups)]


# --- what a sandbox sees -----------------------------------------------------------------------------------------


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
        done = subprocess.run(
            [
                sys.executable,
                "-I",
                "-c",
                "import importlib.util as u\ns = u.find_spec('nst')\nprint(s.origin if s and s.origin else '')",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )
        origin = done.stdout.strip()
        if origin:
            found.add(Path(origin).resolve().parent)
    except (OSError, subprocess.TimeoutExpired):
        pass
    for package in list(found):  # a source checkout holding the package (not site-packages): hide all of it
        parent = package.parent
        if not parent.name.endswith(("site-packages", "dist-packages")) and (
            (parent / "notebooks").is_dir() or (parent / "pyproject.toml").is_file()
        ):
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


def depth(path):
    return len(path.parts)


def system_binds():
    """The system's program and library folders, read-only (a symbolic link such as /lib -> usr/lib as a link)."""
    args = []
    for name in SYSTEM_FOLDERS:
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


def mount_plan(secret):
    """The folders shown to a sandbox besides the system's, [(option, folder)]: this Python's installation and
    the folders of its module path outside `secret` (read-only; one inside another shown once), then an empty
    folder over each `secret` one inside them (nst installed into site-packages)."""
    secret = {p.resolve() for p in secret}
    system = [Path("/") / name for name in SYSTEM_FOLDERS]
    needed = sorted(installation() | set(path_entries(secret)), key=depth)
    shown = []
    for folder in needed:
        if not any(inside(folder, s) for s in system + shown):
            shown.append(folder)
    hidden = sorted((s for s in secret if any(inside(s, f) for f in shown + system)), key=depth)
    return [("--ro-bind", f) for f in shown] + [("--hide", s) for s in hidden]


def etc_files(uid):
    """{name: text} of the /etc made for a sandbox: its users and groups (the runner and the kernel), hosts."""
    names = {uid: "grader", KERNEL_UID: "student"}
    passwd = "".join(f"{name}:x:{u}:{u}::{INSIDE / 'home'}:/bin/sh\n" for u, name in sorted(names.items()))
    group = "".join(f"{name}:x:{u}:\n" for u, name in sorted(names.items()))
    return {"passwd": passwd, "group": group, "hosts": "127.0.0.1 localhost\n::1 localhost\n"}


# --- one sandbox ------------------------------------------------------------------------------------------------


class SandboxGone(Exception):
    """The sandbox ended (or broke its protocol, or ran past a deadline) before answering."""


class Sandbox:
    """A submission's sandbox: started, talked to in JSON lines over two pipes, ended with everything in it."""

    def __init__(self, notebook, limits, isolation, secret, slot=Slot(()), debug=False):
        self.notebook, self.limits, self.isolation, self.secret, self.debug = notebook, limits, isolation, secret, debug
        self.slot = slot
        self.root = None
        self.process = None
        self.lines = queue.Queue()
        self.token = secrets.token_hex(8)  # in the environment of its processes, to find them (mode "none")
        self.nonce = secrets.token_hex(16)  # in the runner's messages and ours only
        self.stderr_tail = b""
        self.wall_deadline = None
        self.namespace_pid = None
        self.to_runner = self.from_runner = None
        self.received = 0
        self.broken = None  # why the reader ended the sandbox (the protocol broken), said before anything else
        self.reader = None
        self.closed = threading.Event()

    @property
    def uid(self):
        return self.slot.uid

    def __enter__(self):
        self.root = Path(tempfile.mkdtemp(prefix="nst-grade-", dir=temporary_folder(self.uid)))
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def folders(self):
        """The sandbox's own folders on this side: its code, its work folder with the notebook, home, tmp,
        exchange; owned by its uid (mode "user"), entered by nobody else."""
        code = self.root / "runner"
        (code / "stub" / "nst").mkdir(parents=True)
        for name in RUNNER_FILES:
            shutil.copyfile(RUNNER_DIR / name, code / name)
        (code / "stub" / "nst" / "__init__.py").write_text(STUB)
        for folder in ("work", "home", "tmp", "exchange", "etc", "empty"):
            (self.root / folder).mkdir()
        (self.root / "work" / "submission.ipynb").write_bytes(self.notebook)
        for name, text in etc_files(self.uid if self.uid is not None else os.getuid()).items():
            (self.root / "etc" / name).write_text(text)
        if self.uid is not None:  # others may traverse the root and read the code; the rest is the sandbox's
            os.chmod(self.root, 0o711)
            for path in [
                code,
                *code.rglob("*"),
                self.root / "etc",
                *(self.root / "etc").iterdir(),
                self.root / "empty",
            ]:
                os.chmod(path, 0o755 if path.is_dir() else 0o644)
            if self.isolation.mode == "user":
                for folder in ("work", "home", "tmp", "exchange"):
                    for path in (self.root / folder, *(self.root / folder).rglob("*")):
                        os.chown(path, self.uid, self.uid)
                    os.chmod(self.root / folder, 0o700)
            else:
                os.chmod(self.root / "work", 0o755)
                os.chmod(self.root / "work" / "submission.ipynb", 0o644)
        return code

    def start(self):
        code = self.folders()
        bubblewrap = self.isolation.mode == "bubblewrap"
        base = INSIDE if bubblewrap else self.root
        code_in, work_in = base / "runner", base / "work"
        env = self.environment(base, code_in)
        to_runner, from_runner, errors = os.pipe(), os.pipe(), os.pipe()
        info = os.pipe() if bubblewrap else (None, None)
        keep = [to_runner[0], from_runner[1]] + ([info[1]] if bubblewrap else [])
        command = [sys.executable, "-P", str(code_in / "runner.py"), str(to_runner[0]), str(from_runner[1])]
        if bubblewrap:
            command = self.bwrap(code, env, info[1]) + command
        spec = {
            "memory": self.limits.memory,
            "disk": self.limits.disk,
            "cpus": list(self.slot.cpus),
            "seccomp": self.isolation.seccomp,
            "blocked": list(BLOCKED_SYSCALLS),
        }
        command = [sys.executable, "-I", "-c", LAUNCHER_SOURCE, json.dumps(spec), *command]
        as_user = {"user": self.uid, "group": self.uid, "extra_groups": []} if self.uid is not None else {}
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=errors[1],
                stderr=errors[1],
                pass_fds=keep,
                cwd=self.root / "work" if not bubblewrap else "/",
                start_new_session=True,
                env=env if not bubblewrap else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                **as_user,
            )
        finally:
            for fd in keep + [errors[1]]:
                os.close(fd)
            if self.process is None:
                for fd in (to_runner[1], from_runner[0], errors[0], info[0]):
                    if fd is not None:
                        os.close(fd)
        self.to_runner, self.from_runner = to_runner[1], from_runner[0]
        os.set_blocking(self.to_runner, False)
        if bubblewrap:
            self.namespace_pid = namespace_pid(info[0])
        self.reader = threading.Thread(target=self.read_lines, daemon=True)
        self.reader.start()
        threading.Thread(target=self.read_stderr, args=(errors[0],), daemon=True).start()
        settings = {
            "notebook": str(work_in / "submission.ipynb"),
            "harness": str(code_in / "harness.py"),
            "exchange": str(base / "exchange"),
            "budget": self.limits.budget,
            "setup_seconds": self.limits.setup_seconds,
            "max_kernels": self.limits.max_kernels,
            "output_cap": self.limits.output,
            "message_cap": 32 << 20,
            "results_cap": LINE_CAP * 3 // 4 - 1024,
            "debug": self.debug,
            "processes": self.limits.processes if self.isolation.mode != "none" else 0,
            "nonce": self.nonce,
            "kernel_prefix": ["bwrap", *kernel_flags(), "--"] if bubblewrap and self.isolation.nested else [],
        }
        self.wall_deadline = time.monotonic() + self.limits.setup_seconds + self.limits.budget + GRACE
        self.send(settings)

    def ready(self):
        """The first kernel is ready: from now on the sandbox has its budget and a grace."""
        self.wall_deadline = min(self.wall_deadline, time.monotonic() + self.limits.budget + GRACE)

    def environment(self, base, code_in):
        home = base / "home"
        env = {
            "HOME": str(home),
            "IPYTHONDIR": str(home / ".ipython"),
            "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
            "JUPYTER_DATA_DIR": str(home / ".local/share/jupyter"),
            "JUPYTER_RUNTIME_DIR": str(home / ".local/share/jupyter/runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "MPLCONFIGDIR": str(home / ".config/matplotlib"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "TMPDIR": str(base / "tmp"),
            "LANG": "C.UTF-8",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "PYTHONPATH": os.pathsep.join([str(code_in / "stub"), *map(str, path_entries(self.secret))]),
            "PYTHONDONTWRITEBYTECODE": "1",
            "MALLOC_ARENA_MAX": "2",
            "CUDA_VISIBLE_DEVICES": "",
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            "TF_NUM_INTRAOP_THREADS": str(self.limits.threads),
            "TF_NUM_INTEROP_THREADS": str(self.limits.threads),
            "OMP_NUM_THREADS": str(self.limits.threads),
            TOKEN: self.token,
        }
        return env

    def bwrap(self, code, env, info_fd):
        iso = self.isolation
        shm = min(SHM_CAP, self.limits.disk // 4)
        args = [iso.bwrap, *iso.flags, "--info-fd", str(info_fd), *system_binds()]
        # /tmp first: an installation under /tmp (a venv there) is bound on top of it, not hidden by it
        args += ["--size", str(max(self.limits.disk - shm, 1 << 20)), "--tmpfs", "/tmp"]
        for option, folder in mount_plan(self.secret | {self.root.resolve()}):
            args += ["--ro-bind", str(self.root / "empty") if option == "--hide" else str(folder), str(folder)]
        args += [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--remount-ro",
            "/dev",
            "--size",
            str(shm),
            "--tmpfs",
            "/dev/shm",
            "--dir",
            "/etc",
        ]
        for name in ETC_FILES:
            if Path("/etc", name).exists():
                args += ["--ro-bind", str(Path("/etc", name)), str(Path("/etc", name))]
        for name in etc_files(0):
            args += ["--ro-bind", str(self.root / "etc" / name), f"/etc/{name}"]
        args += [
            "--ro-bind",
            str(code),
            str(INSIDE / "runner"),
            "--dir",
            str(INSIDE / "work"),
            "--dir",
            str(INSIDE / "home"),
            "--dir",
            str(INSIDE / "tmp"),
            "--size",
            str(EXCHANGE),
            "--tmpfs",
            str(INSIDE / "exchange"),
            "--ro-bind",
            str(self.root / "work" / "submission.ipynb"),
            str(INSIDE / "work" / "submission.ipynb"),
            "--remount-ro",
            "/",
            "--chdir",
            str(INSIDE / "work"),
            "--clearenv",
        ]
        for key, value in env.items():
            args += ["--setenv", key, value]
        return args + ["--"]

    # --- the conversation ---

    def read_lines(self):
        """Lines from the runner, each parsed as JSON, into `lines` (None at the end); a line too long, more than
        the runner may send in all, or not JSON with our nonce ends the sandbox: the protocol is broken."""
        buffer, broken = b"", None
        try:
            while broken is None:
                chunk = os.read(self.from_runner, 1 << 20)
                if not chunk:
                    break
                self.received += len(chunk)
                if self.received > TOTAL_CAP:
                    broken = "it sent more than its messages may hold"
                    break
                buffer += chunk
                while broken is None and b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    message = parse_line(line)
                    if message is None or message.pop("nonce", None) != self.nonce:
                        broken = "it sent what is not a message of the grading protocol"
                    else:
                        self.lines.put(message)
                if len(buffer) > LINE_CAP:
                    broken = "it sent a message longer than any may be"
        except OSError:
            pass
        if broken is not None:
            self.broken = f"its sandbox broke the grading protocol ({broken}) and was stopped"
            self.lines.put(SandboxGone(self.broken))
            self.kill()
        self.lines.put(None)

    def read_stderr(self, fd):
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                if self.debug:
                    sys.stderr.write(chunk.decode(errors="replace"))
                self.stderr_tail = (self.stderr_tail + chunk)[-4096:]
        except OSError:
            pass
        finally:
            os.close(fd)

    def send(self, message, data=None):
        """Write one message (with `data`, an already encoded text, as its "request"), within a deadline that
        grows with its size; SandboxGone when the sandbox stopped or did not take it in time."""
        body = {**message, "nonce": self.nonce}
        if data is not None:
            body["request"] = ""
        line = json.dumps(body).encode()
        if data is not None:  # the request's text spliced in, not copied through json.dumps
            head, tail = line.rsplit(b'"request": ""', 1)
            line = head + b'"request": "' + data.encode("ascii") + b'"' + tail
        line += b"\n"
        deadline = min(self.wall_deadline, time.monotonic() + SEND_SECONDS + len(line) / SEND_RATE)
        view = memoryview(line)
        try:
            while view:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.kill()
                    raise SandboxGone(
                        self.broken
                        or "its sandbox did not take what the grader sent in time (stopped?) and was stopped"
                    )
                _, writable, _ = select.select([], [self.to_runner], [], min(left, 1.0))
                if writable:
                    view = view[os.write(self.to_runner, view[: 1 << 20]) :]
        except (OSError, ValueError):
            self.reader.join(timeout=5)  # the pipe broke: the reader may still be telling why
            raise SandboxGone(self.broken or "its sandbox stopped") from None

    def receive(self):
        """The next message; SandboxGone when the sandbox ended, broke the protocol or ran past its time."""
        left = self.wall_deadline - time.monotonic()
        try:
            message = self.lines.get(timeout=max(left, 0.01))
        except queue.Empty:
            self.kill()
            raise SandboxGone(f"its sandbox ran past its time ({self.limits.budget:g} s) and was stopped") from None
        if isinstance(message, SandboxGone):
            self.lines.put(None)
            raise message
        if message is None:
            self.lines.put(None)
            last = [line for line in self.stderr_tail.decode(errors="replace").splitlines() if line.strip()]
            raise SandboxGone("its sandbox stopped" + (f" ({last[-1].strip()[:200]})" if last else ""))
        return message

    def kill(self):
        """End the sandbox and everything in it: with bubblewrap, the first process of its namespaces (the
        system then ends every process in them); as a uid of its own, every process of that uid; else its
        process group."""
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
        if self.closed.is_set():
            return
        self.closed.set()
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
        if self.uid is not None:
            end_uid(self.uid)
        elif self.isolation.mode == "none":
            kill_marked(self.token)
        for fd in (self.to_runner, self.from_runner):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.to_runner = self.from_runner = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def temporary_folder(uid):
    """Where sandboxes' folders are made: the usual temporary folder, or /tmp when a sandbox's own uid could not
    reach into it (a private TMPDIR)."""
    folder = Path(tempfile.gettempdir()).resolve()
    if uid is None:
        return str(folder)
    for path in (folder, *folder.parents):
        try:
            if not path.stat().st_mode & stat.S_IXOTH:
                return "/tmp"
        except OSError:
            return "/tmp"
    return str(folder)


def parse_line(line):
    """A line's JSON object (no NaN or Infinity, nesting as deep as Python allows), else None."""
    try:
        message = json.loads(line, parse_constant=lambda name: {}[name])
    except (ValueError, RecursionError, KeyError, UnicodeDecodeError, MemoryError):
        return None
    return message if isinstance(message, dict) else None


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


KILL_ALL = "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"


def end_uid(uid, rounds=50):
    """End every process of `uid` (kill(-1) as that uid: the system signals all of them at once, so none can
    start another meanwhile), until none is left; then remove its files from the world-writable folders."""
    for _ in range(rounds):
        if not processes_of(uid):
            break
        subprocess.run(
            [sys.executable, "-I", "-S", "-c", KILL_ALL],
            user=uid,
            group=uid,
            extra_groups=[],
            cwd="/",
            env={},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        time.sleep(0.05)
    for folder in WORLD_WRITABLE:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass


def processes_of(uid):
    """The pids of the processes whose real, effective or saved uid is `uid` and which can still run: a zombie
    (every thread of it ended, its exit status not yet collected by its parent) is none of them, while a process
    whose first thread has ended but another runs still is."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("Uid:"):
                    if str(uid) in line.split()[1:4] and not ended(entry):
                        found.append(int(entry.name))
                    break
        except OSError:
            pass
    return found


def ended(entry):
    """Whether every thread of the process at /proc/<pid> `entry` has ended (a zombie left for its parent, which
    the sandbox's namespaces' first process is, briefly, once the host's init inherits it)."""
    try:
        tasks = list((entry / "task").iterdir())
    except OSError:  # the process is gone
        return True
    for task in tasks:
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):  # that thread is gone; the others are still looked at
            continue
        if state not in ("Z", "X"):
            return False
    return True


def kill_marked(token):
    """Without isolation: kill every process that carries this submission's mark in its environment (those
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


def decode(text):
    return base64.b64decode(text, validate=True)
