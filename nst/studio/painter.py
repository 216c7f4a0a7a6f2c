"""The painter: the studio's one child process, which paints every run and stays warm between runs.

`python -m nst.studio.painter [WEIGHTS]` imports TensorFlow and builds the network from WEIGHTS once, then paints
the runs the server sends on its stdin, one JSON line each, {"run": ID, "folder": DIR, "argv": [...]}, one at a
time; {"stop": ID} stops run ID (or cancels it if it has not begun). Each run is the CLI itself
(nst.commands.cli.main) in this process, its events appended to DIR/events.jsonl (nst.sinks.events_log) and its
output to DIR/stdout.txt and DIR/stderr.txt; the network is
kept for the next run (nst.commands.run.load_model). The painter answers on its stdout, one JSON line each: {"locked": ID} as soon as it
holds run ID's folder (even while it warms up), or {"refused": ID} when another process holds it (with "reason"
when the lock cannot be taken at all); {"ended": ID, "code": exit code} when the run is over.

What holds, even when the server crashes:
- One painter per run folder: the painter holds a POSIX lock on DIR/.painter.lock from the moment it is given the
  run (before it has warmed up) until the run ends; the server answers a Start only once it does. A server
  started later asks the kernel who holds it (lock_holder): that run shows as painting, Stop reaches it, Start
  waits for it. Only a write lock held by a painter process of this user counts (a read lock, or a lock any other
  program took, is nobody's run), and only such a process is ever sent a signal.
- Private files: the painter's umask is 077, so the run's files are the user's alone (0600, folders 0700); the
  lock file too, so no other user can open it to fake a run.
- The painter ends with its server: its stdin is a pipe from the server, which ends when the server exits or is
  killed; the painter then stops its run as Ctrl-C does (the CLI saves the image, costs and checkpoint) and exits.
- Stop is the CLI's own interrupt (SIGINT), sent only while the run it names paints; a SIGINT that arrives between
  runs is ignored.
"""

import contextlib
import dataclasses
import fcntl
import json
import os
import queue
import signal
import stat
import struct
import subprocess
import sys
import threading
import traceback
from pathlib import Path

LOCK_FILE = ".painter.lock"
STDOUT, STDERR = "stdout.txt", "stderr.txt"
FLOCK = "@hhqqi"  # Linux's struct flock: l_type, l_whence, l_start, l_len, l_pid (padded to 32 bytes)
FLOCK_SIZE = 32


# --- the server's side ---------------------------------------------------------------------------------------


def start_painter(weights):
    """Start the painter (it warms up in the background); a Popen whose stdin takes runs and stdout gives reports.

    Its own session: Ctrl-C in the server's terminal reaches only the server, which stops the run itself."""
    import nst

    env = {k: v for k, v in os.environ.items() if not k.startswith("NST_STUDIO_")}  # not the server's token
    env.update(PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    package_parent = str(Path(nst.__file__).resolve().parent.parent)  # this nst, importable in the child
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "nst.studio.painter", str(weights)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
        env=env,
        start_new_session=True,
    )


def send(process, **message):
    """One message to the painter: run=ID, folder=DIR, argv=[...] (paint DIR with the CLI's arguments), or stop=ID.
    OSError when the painter is gone."""
    process.stdin.write(json.dumps(message, default=str) + "\n")
    process.stdin.flush()


def reports(process):
    """The painter's reports (dicts), until it exits."""
    for line in process.stdout:
        try:
            yield json.loads(line)
        except ValueError:
            continue


def open_lock_file(folder, flags):
    """An fd of `folder`'s lock file: never through a symlink, never blocking (a FIFO planted there), a regular
    file only; OSError otherwise."""
    fd = os.open(Path(folder) / LOCK_FILE, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{LOCK_FILE} is not a regular file")
    return fd


def lock_holder(folder):
    """The pid of the painter that paints in `folder` (it holds the folder's lock for writing), else None. The
    kernel says who holds the lock (F_GETLK, which never waits); only a painter process of this user counts."""
    try:
        fd = open_lock_file(folder, os.O_RDONLY)
    except OSError:
        return None
    try:
        query = struct.pack(FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0).ljust(FLOCK_SIZE, b"\0")
        kind, _, _, _, pid = struct.unpack_from(FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    except OSError:
        return None
    finally:
        os.close(fd)
    return pid if kind == fcntl.F_WRLCK and pid > 0 and is_painter(pid) else None


def is_painter(pid):
    """Whether process `pid` is a studio painter (`python -m nst.studio.painter`) of this user."""
    try:
        if os.stat(f"/proc/{pid}").st_uid != os.geteuid():
            return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read(4096).split(b"\0")
    except OSError:
        return False
    return args[1:3] == [b"-m", b"nst.studio.painter"]


def interrupt_painter(folder, pid):
    """SIGINT (the CLI's Ctrl-C) to the painter `pid` that paints in `folder`, checked again through a pidfd (so a
    pid reused meanwhile is never signalled). Whether it was sent."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        if lock_holder(folder) != pid:
            return False
        signal.pidfd_send_signal(pidfd, signal.SIGINT)
        return True
    except OSError:
        return False
    finally:
        os.close(pidfd)


# --- the painter's side --------------------------------------------------------------------------------------


def take_lock(folder):
    """Lock `folder`'s painter lock file (0600) for writing, without waiting; its fd (closing it releases the lock),
    or None when another process holds it. OSError when the file cannot be opened."""
    fd = open_lock_file(folder, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def run_output(folder):
    """File descriptors 1 and 2 (print, tqdm, TensorFlow's C++ logs) appended to the run's stdout.txt / stderr.txt."""
    sys.stdout.flush()
    sys.stderr.flush()
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK
    files = [os.open(Path(folder) / name, flags, 0o600) for name in (STDOUT, STDERR)]
    saved = [os.dup(1), os.dup(2)]
    try:
        for fd, target in zip(files, (1, 2)):
            os.dup2(fd, target)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, target in zip(saved, (1, 2)):
            os.dup2(fd, target)
        for fd in saved + files:
            os.close(fd)


@dataclasses.dataclass
class Painting:
    """What the painter's main loop and the thread reading the server's messages share."""

    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    run: int | None = None  # the ID of the run being painted
    cancelled: set = dataclasses.field(default_factory=set)  # runs stopped before they began
    locks: dict = dataclasses.field(default_factory=dict)  # run ID -> the fd holding its folder's lock
    server_gone: bool = False


def paint(job, models):
    """Paint one run (its folder locked already), the CLI's output in the folder and its events in the folder's
    event log (nst.sinks.events_log, what the studio reads the run's state from); returns the exit code."""
    from nst.commands.cli import main as cli_main
    from nst.sinks.events_log import events_log

    folder = Path(job["folder"])
    try:
        with run_output(folder):
            try:
                return cli_main(job["argv"], models=models, on_event=events_log(folder))
            except SystemExit as exc:  # argparse: the message is on stderr already
                note(folder, "failed", "the run's settings were refused (its stderr.txt says why)")
                return exc.code if isinstance(exc.code, int) else 2
            except Exception as exc:  # noqa: BLE001 - a bug: its traceback in the run's stderr.txt, the painter goes on
                traceback.print_exc()
                note(folder, "failed", f"the painter failed: {type(exc).__name__} (its stderr.txt has the traceback)")
                return 1
    except KeyboardInterrupt:  # a Stop that came before the CLI's own Ctrl-C handling took over: nothing ran
        note(folder, "stopped", "interrupted before the first step; nothing was saved")
        return 130


def note(folder, state, message):
    """The run's last event when the CLI could not say it: how it ended (nst.engine.events.Ended)."""
    from nst.engine.events import Ended
    from nst.sinks.events_log import events_log

    with contextlib.suppress(OSError):
        events_log(folder)(Ended(state, message))


def paint_unless_stopped(job, models, state):
    """Paint `job` unless it was stopped before it began (or the server is gone); its exit code. A SIGINT that
    lands after the CLI has returned ends here too. Its folder's lock is released at the end, once no SIGINT can
    interrupt that (state.run is None)."""
    try:
        try:
            with state.lock:
                begin = not state.server_gone and job["run"] not in state.cancelled
                state.run = job["run"] if begin else None
            if begin:
                return paint(job, models)
            note(job["folder"], "stopped", "interrupted before the first step; nothing was saved")
            return 130
        finally:
            state.run = None
    except KeyboardInterrupt:
        state.run = None
        return 130
    finally:
        with state.lock:
            fd = state.locks.pop(job["run"], None)
        if fd is not None:
            os.close(fd)


def read_messages(runs, state, answer):
    """Thread: the server's runs into `runs`, each one's folder locked first (answered "locked", or "refused" when
    another process holds it); a stop sends SIGINT while its run paints, else cancels it. At the end of input the
    server is gone: a run in progress is stopped as Ctrl-C does (it saves its state) and the main loop told to end;
    with none, the painter exits at once."""
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if "stop" not in message:
            try:
                fd = take_lock(message["folder"])
            except OSError as exc:
                answer(refused=message["run"], reason=f"cannot lock {Path(message['folder']) / LOCK_FILE} ({exc})")
                continue
            if fd is None:
                answer(refused=message["run"])
                continue
            with state.lock:
                state.locks[message["run"]] = fd
            answer(locked=message["run"])
            runs.put(message)
            continue
        with state.lock:
            if state.run == message["stop"]:
                os.kill(os.getpid(), signal.SIGINT)
            else:
                state.cancelled.add(message["stop"])
    with state.lock:
        state.server_gone = True
        if state.run is None:
            os._exit(0)  # warming up or idle: nothing to save
        os.kill(os.getpid(), signal.SIGINT)
    runs.put(None)


def warm_up(weights, models):
    """Import TensorFlow and build the network from `weights` (when the file is there) into `models`."""
    from nst.commands.console import import_tensorflow_quietly
    from nst.engine.memory import give_back_freed_memory

    give_back_freed_memory()  # one run after another here: a print-size run's pool must not stay for the rest
    import_tensorflow_quietly()
    from nst.commands.run import load_model
    from nst.errors import NstError

    if weights and Path(weights).is_file():
        with contextlib.suppress(NstError):  # a bad file: the first run says so, in its folder
            load_model(Path(weights), models=models)


def main(argv=None):
    """The painter's loop (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    os.umask(0o077)  # every file of every run: the user's alone
    channel = os.fdopen(os.dup(1), "w", buffering=1)  # the reports; fd 1 itself goes to the runs' stdout.txt
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    channel_lock = threading.Lock()  # two threads report

    def answer(**report):
        with channel_lock, contextlib.suppress(OSError):  # the server is gone: nobody to tell
            channel.write(json.dumps(report) + "\n")

    state = Painting()

    def on_sigint(signum, frame):
        """Stop: the CLI's interrupt while a run paints (the CLI's loop has handlers of its own); else ignored."""
        if state.run is not None:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    runs = queue.SimpleQueue()
    threading.Thread(target=read_messages, args=(runs, state, answer), daemon=True).start()
    models = {}
    warm_up(argv[0] if argv else None, models)
    while (job := runs.get()) is not None:
        answer(ended=job["run"], code=paint_unless_stopped(job, models, state))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the run's files are written; TensorFlow's slow teardown would only delay the exit


if __name__ == "__main__":
    main()
