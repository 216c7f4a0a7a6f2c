"""Studio runs: each painting is a CLI run in a folder of its own, painted by the painter; its state read from disk.

A run folder `<output_dir>/studio/<time>-<name>/` holds the inputs as the studio wrote them (`content.png`,
`style-1.png`), `studio.json` (what the page asked for, the user's file names as text), the CLI's usual files
(`<i>.png`, `costs.csv`, `checkpoint.npz`, `generated_image.jpg`, `run.json`, pictures) and the run's
`stdout.txt` / `stderr.txt`. Everything the page shows comes from these files and from whether a painter
holds the folder's lock, so a reopened run, a run of an earlier server and the running one read alike.
Stop is the CLI's interrupt (`<step>.png`, costs.csv and checkpoint.npz saved, exit 130), Resume the CLI's
`--resume DIR`. One run at a time, painted by the studio's one painter process (nst.studio.painter); a Start is
answered once the painter holds the new folder's lock, and servers on one folder take turns to start
(START_LOCK), so two servers never paint at once.

Private: the runs' folder (`<output_dir>/studio`, which must be the user's own) and every run folder are 0700,
the studio's files 0600. Hostile files: a run folder's files are read never through a symlink, never blocking
(a FIFO), never more than a bound, and anything wrong in them (deep nesting, wrong types, huge files) makes that
run "damaged", never the gallery.
"""

import contextlib
import dataclasses
import datetime
import fcntl
import itertools
import json
import math
import os
import re
import secrets
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from nst.commands.resume import resume_refusal
from nst.engine.events import Ended
from nst.errors import NstError
from nst.files import prepare_output_dir
from nst.settings import Config, default, default_iterations, studio_settings
from nst.sinks.events_log import events_log, read_events
from nst.studio.admission import admit
from nst.studio.painter import STDERR, interrupt_painter, lock_holder, reports, send, start_painter
from nst.studio.uploads import DecodeLimits, Decoder, decode_images, shown_name

STUDIO_JSON = "studio.json"
ROLES = {"content": "content", "style": "style-1"}  # role -> the stem of its file in the run folder
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""A run folder's or a run file's name: no path, no hidden file."""
CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".tif": "image/tiff",
    ".npz": "application/octet-stream",
}
"""The only files a run folder serves, by suffix; nothing else (no .html, .svg, ...) is ever served."""
DOWNLOADS = (".tif", ".npz")  # served as attachments: the browser shows none of them
RESULTS = ("generated_image.jpg", "costs.csv", "costs.png", "progress.png", "summary.png", "run.json")
MAX_SEED = 2**32 - 1
START_LOCK = ".start.lock"  # in runs_dir: held (flock) by the server that is starting a run
LOCK_WAIT = 60.0  # seconds a Start waits for the painter to hold the new run's folder, or for another server
MAX_RECORD = 1 << 20  # studio.json and run.json: a larger one is damage

SETTINGS = studio_settings()
"""The settings the page offers: name -> (type, CLI flag), from the settings table (nst.settings). Booleans are
flags given when true."""
DEFAULT_SETTINGS = {name: default(name) for name in SETTINGS}
"""The form's defaults: the homework's, with iterations left to the optimiser (200 Adam steps, fewer L-BFGS
evaluations: nst.settings.default_iterations)."""


@dataclasses.dataclass
class Studio:
    """The server's state: where runs go, the weights, the painter process and the run it paints (if any)."""

    output_dir: Path
    weights: Path
    max_pixels: int | None = default("max_pixels")
    download: bool = True
    decode_limits: DecodeLimits = DecodeLimits()
    decoder: Decoder = dataclasses.field(default_factory=Decoder)  # the next upload decoder, started ahead
    painter: subprocess.Popen | None = None
    job: Path | None = None  # the folder our painter was sent and has not reported ended
    job_id: int | None = None  # its ID in the painter's messages
    started: float = 0.0
    ids: itertools.count = dataclasses.field(default_factory=itertools.count)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)  # Start, Resume and Stop, one at a time
    changed: threading.Condition = dataclasses.field(default_factory=threading.Condition)  # job and acks below
    acks: dict = dataclasses.field(default_factory=dict)  # run ID -> ("locked" | "refused", reason), from the painter
    decoding: threading.Lock = dataclasses.field(default_factory=threading.Lock)  # one Start's uploads at a time

    @property
    def runs_dir(self):
        return Path(self.output_dir) / "studio"


class Busy(NstError):
    """A run was asked for while another one paints."""


class NotPainting(NstError):
    """Stop was asked for a run that is not painting."""


# --- the painter -----------------------------------------------------------------------------------------------


def ensure_painter(studio):
    """Start the painter if it is not running (at server start, and after it died); call with studio.lock held."""
    if studio.painter is None or studio.painter.poll() is not None:
        studio.painter = start_painter(studio.weights)
        threading.Thread(target=follow_painter, args=(studio, studio.painter), daemon=True).start()


def follow_painter(studio, process):
    """Thread: the painter's reports; a run it holds the lock of is acknowledged, a run it reports ended is no
    longer ours. When the painter ends before the run it was given (the studio stopping, or the painter killed:
    out of memory?), that run's stderr.txt says so."""
    for report in reports(process):
        with studio.changed:
            if "ended" in report and studio.job_id == report["ended"]:
                studio.job = studio.job_id = None
            for kind in ("locked", "refused"):
                if kind in report:
                    studio.acks[report[kind]] = (kind, report.get("reason"))
            studio.changed.notify_all()
    code = process.wait()
    with studio.changed:
        if studio.painter is process and studio.job is not None:
            if code == 0:
                ended = Ended("stopped", "interrupted before the first step; nothing was saved (the studio stopped)")
            else:
                how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                ended = Ended("failed", f"the painter process ended during the run ({how}; out of memory?)")
            with contextlib.suppress(OSError):
                events_log(studio.job)(ended)
            studio.job = studio.job_id = None
        studio.changed.notify_all()


def stop_painter(studio, wait=60):
    """Server shutdown: end the painter's input, as when the server dies: the run in progress stops as Ctrl-C
    stops it (saving its state), then the painter exits. Waits `wait` seconds for that, then kills it."""
    process = studio.painter
    if process is None:
        return
    with contextlib.suppress(OSError):
        process.stdin.close()
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def running(studio):
    """The folder of the run being painted: the one our painter paints, or one whose lock another painter holds
    (a painter of an earlier server, still saving or stopped), else None."""
    if studio.job is not None and studio.painter is not None and studio.painter.poll() is None:
        return studio.job
    if not studio.runs_dir.is_dir():
        return None
    for folder in studio.runs_dir.iterdir():
        if NAME.fullmatch(folder.name) and is_plain(folder, stat.S_ISDIR) and lock_holder(folder) is not None:
            return folder
    return None


def busy_error(folder):
    return Busy(
        f"the run {Path(folder).name} is still painting: one run at a time on this machine. "
        "Wait for it to finish, or Stop it first."
    )


# --- settings and inputs ---------------------------------------------------------------------------------------

ANY_MEMORY = 1 << 62


def parse_settings(form):
    """The page's form fields -> settings dict (defaults for missing or empty ones, a seed drawn when none was
    given), checked as the CLI checks them (Config.check); NstError (one line) for a value no run can use.
    Returns (settings, whether the seed was drawn)."""
    settings = dict(DEFAULT_SETTINGS)
    for name, (kind, flag) in SETTINGS.items():
        value = form.get(name)
        if kind is bool:
            settings[name] = str(value).lower() in ("1", "true", "on", "yes")
            continue
        if value is None or str(value).strip() == "":
            continue
        text = str(value).strip()
        try:
            settings[name] = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise NstError(f"{flag} must be {what}, got {text[:40]!r}") from None
    if settings["iterations"] is None:
        settings["iterations"] = default_iterations(settings["optimizer"])
    drawn = settings["seed"] is None
    if drawn:
        settings["seed"] = secrets.randbelow(MAX_SEED + 1)
    if settings["seed"] > MAX_SEED:
        raise NstError(f"--seed must be a whole number from 0 to {MAX_SEED}, got {settings['seed']}")
    # the memory is admission's to judge, against what is free now (nst.studio.admission), not the CLI's budget
    Config(**settings, max_memory=ANY_MEMORY).check()
    return settings, drawn


def input_source(studio, role, upload, choice, shipped):
    """(what to decode: a file object or a path, the name to show, whether it is a shipped image) for the content
    or style image: the upload if one was given, else the shipped image named `choice`, or `run:<name>` for that
    run's own input."""
    if upload is not None and getattr(upload, "filename", None):
        return upload.file, shown_name(upload.filename), False
    choice = str(choice or "")
    if choice in shipped:
        return shipped[choice], choice, True
    if choice.startswith("run:"):
        folder = run_folder(studio, choice[4:])
        try:
            record = read_record(folder)
        except ValueError:
            record = None
        path = input_file(folder, record, role)
        if path is not None:
            return path, record[role]["from"] or path.name, record[role]["shipped"]
    raise NstError(f"choose a {role} image or upload one (unknown choice {choice[:60]!r})")


def stage_inputs(studio, sources):
    """Decode the inputs {role: (source, name, shipped)} into a hidden folder (0700) under runs_dir, in a worker
    held to studio.decode_limits, one Start's at a time (not under the run lock); returns (that folder,
    {role: (path, name, shipped)}). NstError: nothing left."""
    prepare_runs_dir(studio)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=studio.runs_dir))
    try:
        if not studio.decoding.acquire(timeout=studio.decode_limits.seconds + LOCK_WAIT):
            raise NstError("another Start's images are still being decoded: try again in a minute")
        try:
            images = [(source, ROLES[role], f"{name} ({role})") for role, (source, name, _) in sources.items()]
            paths = decode_images(images, staging, studio.max_pixels, studio.decode_limits, studio.decoder)
        finally:
            studio.decoding.release()
        stored = {role: (path, name, shipped) for (role, (_, name, shipped)), path in zip(sources.items(), paths)}
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging, stored


def prepare_runs_dir(studio):
    """Create runs_dir (0700); NstError when it cannot be, or when it is not a folder of this user's (another user
    who made it could read and plant anything in it). A folder of ours that others could enter is closed (0700)."""
    runs_dir = studio.runs_dir
    prepare_output_dir(runs_dir)
    info = os.lstat(runs_dir)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise NstError(
            f"{runs_dir} is not a folder of yours (it is a link, or another user's): the studio keeps "
            "your photos there; pass --output-dir to a folder of your own"
        )
    if info.st_mode & 0o077:
        os.chmod(runs_dir, 0o700)
    return runs_dir


# --- start, resume, stop ---------------------------------------------------------------------------------------


def slug(text, limit=24):
    """A file-name-safe lowercase piece of `text` (letters, digits, dashes)."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:limit].strip("-") or "image"


def new_run_folder(studio, content_name, style_name):
    """Create `<runs_dir>/<YYYYmmdd-HHMMSS>-<content>-<style>/` (a suffix when taken); NstError if not writable."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{slug(Path(content_name).stem)}-{slug(Path(style_name).stem)}"
    for n in range(1, 1000):
        folder = studio.runs_dir / (base if n == 1 else f"{base}-{n}")
        try:
            folder.mkdir(mode=0o700)
            return folder
        except FileExistsError:
            continue
        except OSError as exc:
            raise NstError(
                f"cannot create run folder {folder} ({exc.strerror}): start the studio with "
                "--output-dir set to a writable folder"
            ) from None
    raise NstError(f"too many runs named {base} in {studio.runs_dir}")


def child_argv(studio, folder, inputs, settings):
    """The CLI's arguments for a new run in `folder` on its `inputs` {role: path}: a flag for every setting."""
    argv = [
        "--content",
        inputs["content"],
        "--style",
        inputs["style"],
        "--weights",
        Path(studio.weights).absolute(),
        "--output-dir",
        folder,
    ]
    if studio.max_pixels is not None:
        argv += ["--max-pixels", studio.max_pixels]
    if not studio.download:
        argv.append("--no-download")
    for name, (kind, flag) in SETTINGS.items():
        value = settings[name]
        if kind is bool:
            argv += [flag] if value else []
        elif value is not None:
            argv += [flag, value]
    return [str(a) for a in argv]


def paint(studio, folder, argv):
    """Hand `folder` to the painter (started if needed) and wait until it holds the folder's lock (it takes it as
    the message comes, even while it warms up); call with studio.lock held. Busy when another process holds it,
    NstError when the painter does not answer within LOCK_WAIT (the run is then cancelled)."""
    ensure_painter(studio)
    run = next(studio.ids)
    with studio.changed:
        studio.job, studio.job_id, studio.started = Path(folder), run, time.time()
    try:
        send(studio.painter, run=run, folder=folder, argv=argv)
    except OSError:  # the painter died just now: a new one
        studio.painter.kill()
        ensure_painter(studio)
        send(studio.painter, run=run, folder=folder, argv=argv)
    painter = studio.painter
    with studio.changed:
        studio.changed.wait_for(lambda: run in studio.acks or painter.poll() is not None, LOCK_WAIT)
        answer, reason = studio.acks.pop(run, (None, None))
        if answer != "locked" and studio.job_id == run:
            studio.job = studio.job_id = None
    if answer == "locked":
        return
    if answer == "refused":
        raise busy_error(folder) if reason is None else NstError(reason)
    with contextlib.suppress(OSError):
        send(painter, stop=run)  # should it come to the run later: cancelled
    raise NstError(f"the painter did not take the run within {LOCK_WAIT:g} s (is the machine very busy?): try again")


@contextlib.contextmanager
def start_lock(studio, wait=LOCK_WAIT):
    """Held while this server checks that no run paints and starts one, so that two servers on one output folder
    cannot both start (a flock on runs_dir/.start.lock, tried without blocking until `wait` seconds have
    passed); Busy when another server keeps it that long."""
    fd = os.open(
        studio.runs_dir / START_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600
    )
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NstError(f"{studio.runs_dir / START_LOCK} is not a regular file: remove it")
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Busy("another studio on this output folder is starting a run: try again") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)


def start_run(studio, sources, settings, seed_drawn=False):
    """Start a new run; `sources` {role: (a file object or path, name, shipped?)}. Returns the run folder's name.

    Refused (NstError) while another run is painting, for a size the memory free now cannot hold, and for inputs
    the CLI would refuse: the inputs are decoded and written anew before the run starts; a refused start leaves
    no folder behind."""
    admit(settings)
    active = running(studio)
    if active is not None:  # before decoding anything
        raise busy_error(active)
    staging, stored = stage_inputs(studio, sources)
    try:
        with studio.lock, start_lock(studio):
            active = running(studio)
            if active is not None:
                raise busy_error(active)
            folder = new_run_folder(studio, stored["content"][1], stored["style"][1])
            record = {
                "created": datetime.datetime.now().isoformat(timespec="seconds"),
                "settings": settings,
                "seed_drawn": seed_drawn,
            }
            for role, (path, name, shipped) in stored.items():
                os.replace(path, folder / path.name)
                record[role] = {"file": path.name, "from": name, "shipped": shipped}
            write_private(folder / STUDIO_JSON, json.dumps(record, indent=2, allow_nan=False) + "\n")
            inputs = {role: folder / entry["file"] for role, entry in record.items() if role in ROLES}
            paint(studio, folder, child_argv(studio, folder, inputs, settings))
            return folder.name
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_private(path, text):
    """Write `text` to `path` (0600) atomically: a temp file beside it, renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{Path(path).name}.", suffix=".part", dir=Path(path).parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_line(path, line):
    """Append `line` to the text file `path` (created 0600; never through a symlink, never blocking)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(line + "\n")


def resume_run(studio, name):
    """Continue a stopped run with the CLI's `--resume DIR`; NstError when busy or not resumable."""
    with studio.lock, start_lock(studio):
        active = running(studio)
        if active is not None:
            raise busy_error(active)
        status = run_status(studio, name)
        if not status["resumable"]:
            raise NstError(f"the run {name} cannot be resumed: it has no checkpoint or it has finished")
        admit(status["settings"])
        folder = run_folder(studio, name)
        paint(studio, folder, ["--resume", str(folder)])
        return folder.name


def stop_run(studio, name):
    """Stop the run `name` as Ctrl-C does (the CLI saves its state and exits 130): our painter's run (by its ID: a
    Stop never reaches another run; one not yet begun never begins), or one whose lock another painter holds
    (SIGINT to that painter, and to no other process: nst.studio.painter.interrupt_painter). NstError when there
    is no such run, NotPainting when it does not paint."""
    folder = run_folder(studio, name)
    with studio.lock:
        if studio.job == folder and studio.painter is not None and studio.painter.poll() is None:
            with contextlib.suppress(OSError):  # a painter that just died: its run has stopped anyway
                send(studio.painter, stop=studio.job_id)
            return folder.name
        holder = lock_holder(folder)
        if holder is None or not interrupt_painter(folder, holder):
            raise NotPainting(f"the run {folder.name} is not painting")
        return folder.name


# --- what the page shows: a run's state, read from its folder ---------------------------------------------------
#
# Everything below reads files another process wrote, and anyone who can write in the run folder can plant them:
# every read goes through read_bounded (no symlink, no FIFO or device, at most a bound), every record is checked
# field by field, and whatever is wrong makes that run "damaged" (folder_status), never the gallery.


def run_folder(studio, name):
    """The folder of the run `name`: a real directory (no symlink) directly in runs_dir; NstError otherwise."""
    name = str(name)
    folder = studio.runs_dir / name
    if not NAME.fullmatch(name) or not is_plain(folder, stat.S_ISDIR):
        raise NstError(f"there is no run {name[:80]!r} in {studio.runs_dir}")
    return folder


def is_plain(path, kind):
    """Whether `path` is, itself (a symlink is not followed), of `kind` (stat.S_ISDIR / S_ISREG)."""
    try:
        return kind(os.lstat(path).st_mode)
    except OSError:
        return False


def is_plain_file(path):
    return is_plain(path, stat.S_ISREG)


def open_plain(path):
    """An fd of the regular file `path` and its fstat: never through a symlink (O_NOFOLLOW), never blocking (a FIFO
    or a device planted there opens at once and is refused). OSError otherwise (FileNotFoundError when missing)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise OSError(f"{Path(path).name} is not a regular file")
    return fd, info


def read_bounded(path, limit, tail=False):
    """The bytes of the regular file `path` (see open_plain), or None when it is missing; ValueError when it is not
    a regular file or is larger than `limit` bytes (tail: its last `limit` bytes instead)."""
    try:
        fd, info = open_plain(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"{Path(path).name}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        if info.st_size > limit:
            if not tail:
                raise ValueError(f"{Path(path).name} is larger than {limit} bytes")
            f.seek(info.st_size - limit)
        return f.read(limit)


def read_json(path, strict=True):
    """A run's JSON file (read_bounded: MAX_RECORD), or None when it is missing; ValueError when it is damaged
    (not UTF-8, not JSON, nested too deeply). strict: NaN and Infinity (which an older server wrote into
    studio.json) are damage too."""
    data = read_bounded(path, MAX_RECORD)
    if data is None:
        return None

    def refuse(constant):
        raise ValueError(f"{constant} is not a number")

    try:
        text = data.decode("utf-8")
        return json.loads(text, parse_constant=refuse) if strict else json.loads(text)
    except RecursionError:
        raise ValueError(f"{Path(path).name} is nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError(f"{Path(path).name} is not UTF-8 text") from None


def finite(value):
    """`value` (JSON-like) with every NaN or infinite float as None: any status can be sent as JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def checked_settings(raw, source):
    """The settings in the JSON object `raw` (names in SETTINGS, each of its type; an int for a float is taken);
    ValueError for anything else."""
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: the settings are not an object")
    settings = {}
    for name, value in raw.items():
        if name not in SETTINGS or value is None:
            continue
        kind = SETTINGS[name][0]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not kind:
            raise ValueError(f"{source}: setting {name} is {str(value)[:40]!r}")
        settings[name] = value
    return settings


def read_record(folder):
    """studio.json as {"settings", "seed_drawn", "content": {"file", "from", "shipped"}, "style": ...}; ValueError
    when damaged.
    An older server's record (inputs as plain file names) reads the same way."""
    raw = read_json(Path(folder) / STUDIO_JSON)
    if not isinstance(raw, dict):
        raise ValueError(f"{STUDIO_JSON} is not a record of a run")
    record = {
        "settings": checked_settings(raw.get("settings", {}), STUDIO_JSON),
        "seed_drawn": raw.get("seed_drawn") is True,
    }
    for role in ROLES:
        entry = raw.get(role)
        entry = {"file": entry, "from": None} if isinstance(entry, str) else entry if isinstance(entry, dict) else {}
        file, shown = entry.get("file"), entry.get("from")
        record[role] = {
            "file": file if isinstance(file, str) else None,
            "from": shown_name(shown) if isinstance(shown, str) and shown else None,
            "shipped": entry.get("shipped") is True,
        }
    return record


def read_run_json(folder):
    """run.json (the CLI's, at the end of a run) as (its parameters among SETTINGS, its final costs {iteration,
    total, content, style}), or None when there is none; ValueError when damaged."""
    raw = read_json(Path(folder) / "run.json", strict=False)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("run.json is not a record of a run")
    parameters = checked_settings(raw.get("parameters", {}), "run.json")
    final = raw.get("final_costs")
    if final is not None:
        if not isinstance(final, dict):
            raise ValueError("run.json: final_costs is not an object")
        final = {k: final[k] for k in ("iteration", "total", "content", "style") if k in final}
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in final.values()):
            raise ValueError("run.json: a final cost is not a number")
    return parameters, final


def last_line(path):
    """The last non-empty line of a text file (carriage returns of progress bars count as line ends), or "": what
    the page shows of the run's console while it starts (a download's progress, say). Nothing is read from it."""
    try:
        data = read_bounded(path, 4096, tail=True)
    except ValueError:
        return ""
    text = (data or b"").decode("utf-8", "replace")
    lines = [line.strip() for line in re.split(r"[\r\n]+", text) if line.strip()]
    return lines[-1] if lines else ""


def input_file(folder, record, role):
    """The path of a run's `role` input as the studio wrote it, or None (an older run, a damaged record)."""
    entry = (record or {}).get(role) or {}
    name = entry.get("file")
    if not isinstance(name, str) or not NAME.fullmatch(name) or Path(name).stem != ROLES[role]:
        return None
    path = Path(folder) / name
    return path if is_plain_file(path) else None


def open_run_file(studio, name, file):
    """(fd, size, content type, download?) of a file of the run `name` the studio serves: a regular file (never a
    symlink: O_NOFOLLOW) directly in the folder, of a type in CONTENT_TYPES. NstError for anything else."""
    folder = run_folder(studio, name)
    suffix = Path(file).suffix.lower()
    if not NAME.fullmatch(file) or suffix not in CONTENT_TYPES:
        raise NstError(f"no file {file[:80]!r} in run {folder.name}")
    try:
        fd, info = open_plain(folder / file)
    except OSError:
        raise NstError(f"no file {file[:80]!r} in run {folder.name}") from None
    return fd, info.st_size, CONTENT_TYPES[suffix], suffix in DOWNLOADS


def run_status(studio, name):
    """Everything the page shows about the run `name` (see folder_status); NstError when there is no such run."""
    return folder_status(studio, run_folder(studio, name), running(studio))


def folder_status(studio, folder, active):
    """Everything the page shows about a run, from its folder and whether it is `active` (the run painting).

    state: "running" | "finished" (run.json written) | "stopped" (interrupted; resumable with a checkpoint)
    | "failed" (the last stderr line, `nst: error: ...`, is the message) | "damaged" (its files cannot be read:
    `error` says why; whatever it was, only this run is affected). done: the steps done (1-based: "iteration 20
    of 20" at the end).
    """
    alive = active == folder
    try:
        return finite(read_status(studio, folder, alive))
    except Exception as exc:  # noqa: BLE001 - one run's damage is that run's, never the gallery's
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        return {
            "name": folder.name,
            "state": "running" if alive else "damaged",
            "error": f"damaged run: {reason}",
            "iterations": None,
            "done": 0,
            "costs": [],
            "image": None,
            "image_version": None,
            "eta_seconds": None,
            "scale": None,
            "tile": None,
            "console": "",
            "resumable": False,
            "settings": {},
            "seed_drawn": False,
            "inputs": {},
            "final_costs": None,
            "results": [],
            "other_files": [],
        }


def read_status(studio, folder, alive):
    """The run's status from its record, its event log (nst.sinks.events_log) and run.json; ValueError (the run is
    damaged) when one of them is."""
    record = read_record(folder)
    run_json = read_run_json(folder)
    settings = dict(record["settings"])
    if run_json is not None:
        settings.update(run_json[0])
    events = read_events(folder)
    started = [e for e in events if e["event"] == "started"]
    rows = {}  # a step run again after a crash (resumed from an earlier save point) replaces the first one
    for e in events:
        if e["event"] == "step" and (not started or e["scale"] == started[-1]["scale"]):
            rows[e["iteration"]] = e
    steps = [rows[i] for i in sorted(rows)]
    ended = events[-1] if events and events[-1]["event"] == "ended" else None
    # a print-size scale evaluated in tiles: the tile in progress since the last step
    tile = events[-1] if alive and events and events[-1]["event"] == "tile" else None
    checkpoint = is_plain_file(folder / "checkpoint.npz")
    if alive:
        state = "running"
    elif ended is not None:
        state = ended["state"]
    elif run_json is not None:  # a run of an older nst, without an event log
        state = "finished"
    elif checkpoint:
        state = "stopped"
    else:
        state = "failed"
    total = (
        started[-1]["iterations"]
        if started
        else settings.get("iterations") or default_iterations(settings.get("optimizer"))
    )
    done = steps[-1]["iteration"] + 1 if steps else 0
    saved = [e["image"] for e in steps if e["image"] and is_plain_file(folder / e["image"])]
    if state == "finished" and is_plain_file(folder / "generated_image.jpg"):
        image = "generated_image.jpg"
    else:
        image = saved[-1] if saved else None
    files = sorted(
        p.name
        for p in folder.iterdir()
        if NAME.fullmatch(p.name) and p.suffix.lower() in CONTENT_TYPES and is_plain_file(p)
    )
    inputs = {
        role: record[role] | {"file": path.name if path else None}
        for role in ROLES
        for path in [input_file(folder, record, role)]
    }
    results = [f for f in RESULTS if f in files] + [entry["file"] for entry in inputs.values() if entry["file"]]
    if state == "failed" and ended is None:
        message = "the run ended without saying how (its painter was stopped before it began, or killed)"
    else:
        message = ended["message"] if ended is not None else ""
    resumable = state == "stopped" and checkpoint and resume_refusal(folder) is None
    return {
        "name": folder.name,
        "state": state,
        "iterations": total,
        "done": total if state == "finished" else min(done, total),
        "costs": [[e["iteration"], e["J"], e["content"], e["style"]] for e in steps],
        "image": image,
        "image_version": (folder / image).lstat().st_mtime_ns if image else None,
        "eta_seconds": eta(steps, total) if alive and studio.job == folder else None,
        "scale": {key: started[-1][key] for key in ("scale", "scales", "width", "height")} if started else None,
        "tile": {key: tile[key] for key in ("sweep", "segment", "tile", "tiles")} if tile else None,
        "console": last_line(folder / STDERR) if alive else message,
        "error": message if state == "failed" else None,
        "resumable": bool(resumable),
        "settings": settings,
        "seed_drawn": record["seed_drawn"],
        "inputs": inputs,
        "final_costs": run_json[1] if run_json is not None else None,
        "results": results,
        "other_files": [f for f in files if f not in results],
    }


def eta(steps, total, window=10):
    """Seconds left: the mean of the last `window` steps' seconds (the first step, which traces the step, left out
    when others exist) times the steps left. None before a step is done."""
    timed = [e["seconds"] for e in steps[1:] or steps if e["seconds"] is not None][-window:]
    if not timed:
        return None
    return max(0.0, sum(timed) / len(timed) * (total - (steps[-1]["iteration"] + 1)))


def gallery(studio):
    """The runs in runs_dir, newest first: name, state, thumbnail, settings, final J (a damaged one says so)."""
    if not studio.runs_dir.is_dir():
        return []
    active = running(studio)
    runs = []
    for folder in sorted(studio.runs_dir.iterdir(), reverse=True):
        if not NAME.fullmatch(folder.name) or not is_plain(folder, stat.S_ISDIR):
            continue
        if not os.path.lexists(folder / STUDIO_JSON):
            continue
        status = folder_status(studio, folder, active)
        final = status["final_costs"] or {}
        runs.append(
            {
                "name": status["name"],
                "state": status["state"],
                "image": status["image"],
                "image_version": status["image_version"],
                "settings": status["settings"],
                "seed_drawn": status["seed_drawn"],
                "error": status["error"] if status["state"] == "damaged" else None,
                "final_total": final.get("total", status["costs"][-1][1] if status["costs"] else None),
                "done": status["done"],
                "iterations": status["iterations"],
            }
        )
    return runs
