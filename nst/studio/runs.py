"""Studio runs: each painting is a CLI run in a folder of its own, painted by the painter; its state read from disk.

A run folder `<output_dir>/studio/<time>-<name>/` holds the inputs as the studio wrote them (`content.png`,
`style-1.png`), `studio.json` (what the page asked for, the user's file names as text), the CLI's usual files
(`<i>.png`, `costs.csv`, `checkpoint.npz`, `generated_image.jpg`, `run.json`, pictures) and the run's
`stdout.txt` / `stderr.txt`. Everything the page shows comes from these files and from whether a painter
holds the folder's lock, so a reopened run, a run of an earlier server and the running one read alike.
Stop is the CLI's interrupt (`<step>.png`, costs.csv and checkpoint.npz saved, exit 130), Resume the CLI's
`--resume DIR`. One run at a time, painted by the studio's one painter process (nst.studio.painter).
"""

import contextlib
import dataclasses
import datetime
import itertools
import json
import math
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from nst.settings import Config, default, default_iterations, studio_settings
from nst.sinks.costs_csv import read_costs_csv
from nst.errors import NstError
from nst.files import prepare_output_dir, write_text_atomic
from nst.studio.painter import STDERR, lock_holder, reports, send, start_painter
from nst.studio.uploads import shown_name, store_image

STUDIO_JSON = "studio.json"
ROLES = {"content": "content", "style": "style-1"}  # role -> the stem of its file in the run folder
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""A run folder's or a run file's name: no path, no hidden file."""
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".csv": "text/csv; charset=utf-8",
                 ".json": "application/json", ".txt": "text/plain; charset=utf-8", ".tif": "image/tiff",
                 ".npz": "application/octet-stream"}
"""The only files a run folder serves, by suffix; nothing else (no .html, .svg, ...) is ever served."""
DOWNLOADS = (".tif", ".npz")  # served as attachments: the browser shows none of them
RESULTS = ("generated_image.jpg", "costs.csv", "costs.png", "progress.png", "summary.png", "run.json")
MAX_SEED = 2**32 - 1

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
    painter: subprocess.Popen | None = None
    job: Path | None = None  # the folder our painter was sent and has not reported ended
    job_id: int | None = None  # its ID in the painter's messages
    started: float = 0.0
    ids: itertools.count = dataclasses.field(default_factory=itertools.count)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    decoding: threading.Lock = dataclasses.field(default_factory=threading.Lock)  # one upload decoded at a time

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
    """Thread: the painter's reports; a run it reports ended is no longer ours. When the painter ends before the run
    it was given (the studio stopping, or the painter killed: out of memory?), that run's stderr.txt says so."""
    for report in reports(process):
        if "ended" in report:
            with studio.lock:
                if studio.job_id == report["ended"]:
                    studio.job = studio.job_id = None
    code = process.wait()
    with studio.lock:
        if studio.painter is process and studio.job is not None:
            if code == 0:
                line = "nst: interrupted before the first step; nothing was saved (the studio stopped)"
            else:
                how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                line = f"nst: error: the painter process ended during the run ({how}; out of memory?)"
            with open(studio.job / STDERR, "a") as err:
                err.write(f"\n{line}\n")
            studio.job = studio.job_id = None


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
        if NAME.fullmatch(folder.name) and lock_holder(folder) is not None:
            return folder
    return None


def busy_error(folder):
    return Busy(f"the run {Path(folder).name} is still painting: one run at a time on this machine. "
                "Wait for it to finish, or Stop it first.")


# --- settings and inputs ---------------------------------------------------------------------------------------

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
    Config(**settings).check()
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


def input_file(folder, record, role):
    """The path of a run's `role` input as the studio wrote it, or None (an older run, a damaged record)."""
    entry = (record or {}).get(role) or {}
    name = entry.get("file")
    if not isinstance(name, str) or not NAME.fullmatch(name) or Path(name).stem != ROLES[role]:
        return None
    path = Path(folder) / name
    return path if is_plain_file(path) else None


def stage_inputs(studio, sources):
    """Decode the inputs {role: (source, name, shipped)} into a hidden folder under runs_dir (one upload decoded at a
    time, not under the run lock); returns (that folder, {role: (path, name, shipped)}). NstError: nothing left."""
    prepare_output_dir(studio.runs_dir)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=studio.runs_dir))
    try:
        with studio.decoding:
            stored = {role: (store_image(source, staging, ROLES[role], f"{name} ({role})", studio.max_pixels),
                             name, shipped) for role, (source, name, shipped) in sources.items()}
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging, stored


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
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
        except OSError as exc:
            raise NstError(f"cannot create run folder {folder} ({exc.strerror}): start the studio with "
                           "--output-dir set to a writable folder") from None
    raise NstError(f"too many runs named {base} in {studio.runs_dir}")


def child_argv(studio, folder, inputs, settings):
    """The CLI's arguments for a new run in `folder` on its `inputs` {role: path}: a flag for every setting."""
    argv = ["--content", inputs["content"], "--style", inputs["style"], "--weights", Path(studio.weights).absolute(),
            "--output-dir", folder]
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
    """Hand `folder` to the painter (started if needed); call with studio.lock held."""
    ensure_painter(studio)
    run = next(studio.ids)
    try:
        send(studio.painter, run=run, folder=folder, argv=argv)
    except OSError:  # the painter died just now: a new one
        studio.painter.kill()
        ensure_painter(studio)
        send(studio.painter, run=run, folder=folder, argv=argv)
    studio.job, studio.job_id, studio.started = Path(folder), run, time.time()


def start_run(studio, sources, settings, seed_drawn=False):
    """Start a new run; `sources` {role: (a file object or path, name, shipped?)}. Returns the run folder's name.

    Refused (NstError) while another run is painting, and for inputs the CLI would refuse: the inputs are decoded
    and written anew before the run starts; a refused start leaves no folder behind."""
    active = running(studio)
    if active is not None:  # before decoding anything
        raise busy_error(active)
    staging, stored = stage_inputs(studio, sources)
    try:
        with studio.lock:
            active = running(studio)
            if active is not None:
                raise busy_error(active)
            folder = new_run_folder(studio, stored["content"][1], stored["style"][1])
            record = {"created": datetime.datetime.now().isoformat(timespec="seconds"), "settings": settings,
                      "seed_drawn": seed_drawn}
            for role, (path, name, shipped) in stored.items():
                os.replace(path, folder / path.name)
                record[role] = {"file": path.name, "from": name, "shipped": shipped}
            write_text_atomic(folder / STUDIO_JSON, json.dumps(record, indent=2, allow_nan=False) + "\n")
            inputs = {role: folder / entry["file"] for role, entry in record.items() if role in ROLES}
            paint(studio, folder, child_argv(studio, folder, inputs, settings))
            return folder.name
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resume_run(studio, name):
    """Continue a stopped run with the CLI's `--resume DIR`; NstError when busy or not resumable."""
    with studio.lock:
        active = running(studio)
        if active is not None:
            raise busy_error(active)
        status = run_status(studio, name)
        if not status["resumable"]:
            raise NstError(f"the run {name} cannot be resumed: it has no checkpoint or it has finished")
        folder = run_folder(studio, name)
        paint(studio, folder, ["--resume", str(folder)])
        return folder.name


def stop_run(studio, name):
    """Stop the run `name` as Ctrl-C does (the CLI saves its state and exits 130): our painter's run (by its ID: a
    Stop never reaches another run; one not yet begun never begins), or one whose lock another painter holds
    (SIGINT to that painter). NstError when there is no such run, NotPainting when it does not paint."""
    folder = run_folder(studio, name)
    with studio.lock:
        if studio.job == folder and studio.painter is not None and studio.painter.poll() is None:
            with contextlib.suppress(OSError):  # a painter that just died: its run has stopped anyway
                send(studio.painter, stop=studio.job_id)
            return folder.name
        holder = lock_holder(folder)
        if holder is None:
            raise NotPainting(f"the run {folder.name} is not painting")
        os.kill(holder, signal.SIGINT)
        return folder.name


# --- what the page shows ---------------------------------------------------------------------------------------

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


def open_run_file(studio, name, file):
    """(fd, size, content type, download?) of a file of the run `name` the studio serves: a regular file (never a
    symlink: O_NOFOLLOW) directly in the folder, of a type in CONTENT_TYPES. NstError for anything else."""
    folder = run_folder(studio, name)
    suffix = Path(file).suffix.lower()
    if not NAME.fullmatch(file) or suffix not in CONTENT_TYPES:
        raise NstError(f"no file {file[:80]!r} in run {folder.name}")
    try:
        fd = os.open(folder / file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        raise NstError(f"no file {file[:80]!r} in run {folder.name}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NstError(f"no file {file[:80]!r} in run {folder.name}")
    return fd, info.st_size, CONTENT_TYPES[suffix], suffix in DOWNLOADS


def read_json(path, strict=True):
    """A run's JSON file (never through a symlink), or None when it is missing; ValueError when it is damaged.
    strict: NaN and Infinity (which an older server wrote into studio.json) are damage too."""
    if not is_plain_file(path):
        return None

    def refuse(constant):
        raise ValueError(f"{constant} is not a number")

    text = Path(path).read_text(encoding="utf-8")
    return json.loads(text, parse_constant=refuse) if strict else json.loads(text)


def finite(value):
    """`value` (JSON-like) with every NaN or infinite float as None: any status can be sent as JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def read_record(folder):
    """studio.json as {"settings", "seed_drawn", "content": {"file", "from", "shipped"}, "style": ...}; ValueError
    when damaged.
    An older server's record (inputs as plain file names) reads the same way."""
    raw = read_json(Path(folder) / STUDIO_JSON)
    if not isinstance(raw, dict) or not isinstance(raw.get("settings", {}), dict):
        raise ValueError(f"{STUDIO_JSON} is not a record of a run")
    settings = {}
    for name, value in raw.get("settings", {}).items():
        if name not in SETTINGS or value is None:
            continue
        kind = SETTINGS[name][0]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not kind:
            raise ValueError(f"{STUDIO_JSON}: setting {name} is {value!r}")
        settings[name] = value
    record = {"settings": settings, "seed_drawn": raw.get("seed_drawn") is True}
    for role in ROLES:
        entry = raw.get(role)
        entry = {"file": entry, "from": None} if isinstance(entry, str) else entry if isinstance(entry, dict) else {}
        record[role] = {"file": entry.get("file"), "from": shown_name(entry["from"]) if entry.get("from") else None,
                        "shipped": entry.get("shipped") is True}
    return record


def saved_steps(folder):
    """[(step, mtime)] of the `<step>.png` snapshots in the folder, by step."""
    steps = []
    for path in Path(folder).glob("*.png"):
        if path.stem.isdigit() and not path.is_symlink():
            steps.append((int(path.stem), path.lstat().st_mtime))
    return sorted(steps)


def last_line(path):
    """The last non-empty line of a text file (carriage returns of progress bars count as line ends), or ""."""
    if not is_plain_file(path):
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 4096))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in re.split(r"[\r\n]+", text) if line.strip()]
    return lines[-1] if lines else ""


def steps_in_progress_bar(line):
    """The steps done that the CLI's progress bar shows (`... | 7/20 [00:01<...`), or None."""
    match = re.search(r"\|\s*(\d+)/(\d+)\s*\[", line)
    return int(match.group(1)) if match else None


def run_status(studio, name):
    """Everything the page shows about the run `name` (see folder_status); NstError when there is no such run."""
    return folder_status(studio, run_folder(studio, name), running(studio))


def folder_status(studio, folder, active):
    """Everything the page shows about a run, from its folder and whether it is `active` (the run painting).

    state: "running" | "finished" (run.json written) | "stopped" (interrupted; resumable with a checkpoint)
    | "failed" (the last stderr line, `nst: error: ...`, is the message) | "damaged" (its record cannot be read:
    `error` says why). done: the steps done (1-based: "iteration 20 of 20" at the end).
    """
    alive = active == folder
    try:
        return finite(read_status(studio, folder, alive))
    except (ValueError, OSError, NstError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        return {"name": folder.name, "state": "running" if alive else "damaged", "error": f"damaged run: {reason}",
                "iterations": None, "done": 0, "costs": [], "image": None, "image_version": None, "eta_seconds": None,
                "console": "", "resumable": False, "settings": {}, "seed_drawn": False, "inputs": {},
                "final_costs": None, "results": [], "other_files": []}


def read_status(studio, folder, alive):
    record = read_record(folder)
    run_json = read_json(folder / "run.json", strict=False)
    settings = dict(record["settings"])
    if isinstance(run_json, dict):
        settings.update({k: v for k, v in run_json.get("parameters", {}).items() if k in SETTINGS})
    costs = [list(row) for row in read_costs_csv(folder / "costs.csv")] if is_plain_file(folder / "costs.csv") else []
    steps = saved_steps(folder)
    console = last_line(folder / STDERR)
    checkpoint = is_plain_file(folder / "checkpoint.npz")
    if alive:
        state = "running"
    elif run_json is not None:
        state = "finished"
    elif console.startswith("nst: error:"):
        state = "failed"
    elif console.startswith("nst: interrupted") or checkpoint:
        state = "stopped"
    else:
        state = "failed"
    total = settings.get("iterations") or default_iterations(settings.get("optimizer"))
    done = max(int(costs[-1][0]) + 1 if costs else 0, steps_in_progress_bar(console) or 0)
    if state == "finished" and is_plain_file(folder / "generated_image.jpg"):
        image = "generated_image.jpg"
    else:
        image = f"{steps[-1][0]}.png" if steps else None
    files = sorted(p.name for p in folder.iterdir()
                   if NAME.fullmatch(p.name) and p.suffix.lower() in CONTENT_TYPES and is_plain_file(p))
    inputs = {role: record[role] | {"file": path.name if path else None}
              for role in ROLES for path in [input_file(folder, record, role)]}
    results = [f for f in RESULTS if f in files] + [entry["file"] for entry in inputs.values() if entry["file"]]
    return {
        "name": folder.name,
        "state": state,
        "iterations": total,
        "done": total if state == "finished" else min(done, total),
        "costs": costs,
        "image": image,
        "image_version": (folder / image).lstat().st_mtime_ns if image else None,
        "eta_seconds": eta(steps, total, studio.started) if alive and studio.job == folder else None,
        "console": console,
        "error": console if state == "failed" else None,
        "resumable": state == "stopped" and checkpoint and done < total and settings.get("optimizer") != "lbfgs",
        "settings": settings,
        "seed_drawn": record["seed_drawn"],
        "inputs": inputs,
        "final_costs": (run_json or {}).get("final_costs") if isinstance(run_json, dict) else None,
        "results": results,
        "other_files": [f for f in files if f not in results],
    }


def eta(steps, total, started, now=None):
    """Seconds left, from the snapshots saved since the run started: time per step between the first and the
    last of them times the steps left after the last. None until two snapshots exist."""
    recent = [(step, mtime) for step, mtime in steps if mtime >= started]
    if len(recent) < 2 or recent[-1][0] == recent[0][0]:
        return None
    (s0, t0), (s1, t1) = recent[0], recent[-1]
    per_step = (t1 - t0) / (s1 - s0)
    left = per_step * (total - 1 - s1) - ((now or time.time()) - t1)
    return max(0.0, left)


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
        runs.append({
            "name": status["name"], "state": status["state"], "image": status["image"],
            "image_version": status["image_version"], "settings": status["settings"],
            "seed_drawn": status["seed_drawn"], "error": status["error"] if status["state"] == "damaged" else None,
            "final_total": final.get("total", status["costs"][-1][1] if status["costs"] else None),
            "done": status["done"], "iterations": status["iterations"],
        })
    return runs
