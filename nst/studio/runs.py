"""Studio runs: each painting is `python -m nst` in a child process, in its own folder; its state is read from disk.

A run folder `<output_dir>/studio/<time>-<name>/` holds the copied inputs, `studio.json` (what the page asked
for), the CLI's usual files (`<i>.png`, `costs.csv`, `checkpoint.npz`, `generated_image.jpg`, `run.json`,
pictures) and the child's `stdout.txt` / `stderr.txt`. Everything the page shows comes from these files, so a
reopened run, a run of an earlier server and the running one read alike. Stop is SIGINT (the CLI's interrupt
path: `<step>.png`, costs.csv and checkpoint.npz saved, exit 130); Resume is `python -m nst --resume DIR`.
One child at a time.
"""

import dataclasses
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from nst.config import Config
from nst.costs_csv import read_costs_csv
from nst.errors import NstError
from nst.files import atomic_path, prepare_output_dir, write_text_atomic
from nst.images import read_image

DEFAULTS = Config()
STUDIO_JSON = "studio.json"
STDOUT, STDERR = "stdout.txt", "stderr.txt"

# The settings the page offers: name -> (type, CLI flag). Booleans are flags given when true.
SETTINGS = {
    "iterations": (int, "--iterations"),
    "width": (int, "--width"),
    "height": (int, "--height"),
    "alpha": (float, "--alpha"),
    "beta": (float, "--beta"),
    "learning_rate": (float, "--learning-rate"),
    "noise_ratio": (float, "--noise-ratio"),
    "seed": (int, "--seed"),
    "save_every": (int, "--save-every"),
    "optimizer": (str, "--optimizer"),
    "tv_weight": (float, "--tv-weight"),
    "preserve_colors": (bool, "--preserve-colors"),
    "precision": (str, "--precision"),
}
DEFAULT_SETTINGS = {name: getattr(DEFAULTS, name) for name in SETTINGS}


@dataclasses.dataclass
class Studio:
    """The server's state: where runs go, the weights, and the one child process (if any) with its folder."""

    output_dir: Path
    weights: Path
    max_pixels: int | None = DEFAULTS.max_pixels
    download: bool = True
    process: subprocess.Popen | None = None
    folder: Path | None = None
    started: float = 0.0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def runs_dir(self):
        return Path(self.output_dir) / "studio"


def running(studio):
    """The folder of the run whose child is still alive, else None."""
    if studio.process is not None and studio.process.poll() is None:
        return studio.folder
    return None


def parse_settings(form):
    """The page's form fields -> settings dict (defaults for missing/empty ones); NstError for a bad number."""
    settings = dict(DEFAULT_SETTINGS)
    for name, (kind, flag) in SETTINGS.items():
        value = form.get(name)
        if kind is bool:
            settings[name] = str(value).lower() in ("1", "true", "on", "yes")
            continue
        if value is None or str(value).strip() == "":
            continue
        try:
            settings[name] = kind(str(value).strip())
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise NstError(f"{flag} must be {what}, got {str(value).strip()!r}") from None
    return settings


def slug(text, limit=24):
    """A file-name-safe lowercase piece of `text` (letters, digits, dashes)."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:limit].strip("-") or "image"


def new_run_folder(studio, content_name, style_name):
    """Create `<runs_dir>/<YYYYmmdd-HHMMSS>-<content>-<style>/` (a suffix when taken); NstError if not writable."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{slug(Path(content_name).stem)}-{slug(Path(style_name).stem)}"
    prepare_output_dir(studio.runs_dir)
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


def keep_input(folder, role, name, data, max_pixels):
    """Write an input image (`data`, bytes) atomically as `<folder>/<role>-<name>`, then read it as the CLI
    does (an image? within the pixel limit?). Returns the path; NstError with the CLI's one-line reason."""
    stem, suffix = Path(name).stem, Path(name).suffix.lower()
    suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""
    path = Path(folder) / f"{role}-{slug(stem, 40)}{suffix}"
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    try:
        read_image(path, max_pixels=max_pixels)
    except NstError as exc:  # the CLI's reason, naming the file as the user knows it
        shown = Path(name).name if Path(name).name.isprintable() else repr(Path(name).name)
        raise NstError(str(exc).replace(str(path), f"{shown} ({role})")) from None
    return path


def child_command(studio, content, style, folder, settings):
    """`python -m nst ...` for a new run: the CLI's own code path, flags for every setting."""
    cmd = [sys.executable, "-m", "nst", "--content", str(content), "--style", str(style),
           "--weights", str(Path(studio.weights).absolute()), "--output-dir", str(folder)]
    if studio.max_pixels is not None:
        cmd += ["--max-pixels", str(studio.max_pixels)]
    if not studio.download:
        cmd.append("--no-download")
    for name, (kind, flag) in SETTINGS.items():
        value = settings[name]
        if kind is bool:
            cmd += [flag] if value else []
        elif value is not None:
            cmd += [flag, str(value)]
    return cmd


def launch(studio, folder, cmd):
    """Start `cmd` as the studio's child, its output appended to the folder's stdout.txt / stderr.txt.

    The child gets a session of its own: Ctrl-C in the server's terminal reaches only the server, which then
    stops the child the same way the Stop button does (see stop_child).
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    with open(folder / STDOUT, "ab") as out, open(folder / STDERR, "ab") as err:
        studio.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                          start_new_session=True)
    studio.folder, studio.started = Path(folder), time.time()


class Busy(NstError):
    """A run was asked for while another one paints."""


def busy_error(folder):
    return Busy(f"the run {Path(folder).name} is still painting: one run at a time on this machine. "
                    "Wait for it to finish, or Stop it first.")


def start_run(studio, content, style, settings):
    """Start a new run. `content` and `style` are (file name, bytes). Returns the run folder's name.

    Refused (NstError) while another run is painting, and for inputs the CLI would refuse: the inputs are
    copied into the new folder and read before the child starts; a refused start leaves no folder behind.
    """
    with studio.lock:
        if running(studio) is not None:
            raise busy_error(studio.folder)
        folder = new_run_folder(studio, content[0], style[0])
        try:
            content_path = keep_input(folder, "content", content[0], content[1], studio.max_pixels)
            style_path = keep_input(folder, "style", style[0], style[1], studio.max_pixels)
        except NstError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        record = {"content": content_path.name, "style": style_path.name, "settings": settings,
                  "created": datetime.datetime.now().isoformat(timespec="seconds")}
        write_text_atomic(folder / STUDIO_JSON, json.dumps(record, indent=2) + "\n")
        launch(studio, folder, child_command(studio, content_path, style_path, folder, settings))
        return folder.name


def resume_run(studio, name):
    """Continue a stopped run with `python -m nst --resume DIR`; NstError when busy or not resumable."""
    with studio.lock:
        if running(studio) is not None:
            raise busy_error(studio.folder)
        folder = run_folder(studio, name)
        if not (folder / "checkpoint.npz").is_file() or (folder / "run.json").is_file():
            raise NstError(f"the run {name} cannot be resumed: it has no checkpoint.npz or it has finished")
        launch(studio, folder, [sys.executable, "-m", "nst", "--resume", str(folder)])
        return folder.name


def stop_child(studio, wait=None):
    """Send SIGINT to the running child (the CLI saves its state and exits 130). Returns the run's name or
    None when nothing runs. `wait` seconds: wait that long for it to exit (server shutdown)."""
    with studio.lock:
        folder = running(studio)
        if folder is None:
            return None
        studio.process.send_signal(signal.SIGINT)
    if wait is not None:
        try:
            studio.process.wait(wait)
        except subprocess.TimeoutExpired:
            studio.process.kill()
    return folder.name


def run_folder(studio, name):
    """The folder of the run `name` (a direct child of runs_dir); NstError for anything else."""
    folder = studio.runs_dir / str(name)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", str(name)) or not folder.is_dir():
        raise NstError(f"there is no run {name!r} in {studio.runs_dir}")
    return folder


def saved_steps(folder):
    """[(step, mtime)] of the `<step>.png` snapshots in the folder, by step."""
    steps = []
    for path in Path(folder).glob("*.png"):
        if path.stem.isdigit():
            steps.append((int(path.stem), path.stat().st_mtime))
    return sorted(steps)


def last_line(path):
    """The last non-empty line of a text file (carriage returns of progress bars count as line ends), or ""."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 4096))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in re.split(r"[\r\n]+", text) if line.strip()]
    return lines[-1] if lines else ""


def read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def run_status(studio, name):
    """Everything the page shows about a run, from its folder (and whether its child is alive).

    state: "running" | "finished" (run.json written) | "stopped" (interrupted; resumable with a checkpoint)
    | "failed" (the child's last stderr line, `nst: error: ...`, is the message).
    """
    folder = run_folder(studio, name)
    studio_json = read_json(folder / STUDIO_JSON) or {}
    run_json = read_json(folder / "run.json")
    settings = dict(studio_json.get("settings") or {})
    if run_json:
        settings.update({k: v for k, v in run_json.get("parameters", {}).items() if k in SETTINGS})
    try:
        costs = [list(row) for row in read_costs_csv(folder / "costs.csv")]
    except NstError:
        costs = []
    steps = saved_steps(folder)
    alive = running(studio) == folder
    console = last_line(folder / STDERR)
    if alive:
        state = "running"
    elif run_json is not None:
        state = "finished"
    elif console.startswith("nst: error:"):
        state = "failed"
    elif console.startswith("nst: interrupted") or (folder / "checkpoint.npz").is_file():
        state = "stopped"
    else:
        state = "failed"
    total = settings.get("iterations") or DEFAULTS.iterations
    if state == "finished" and (folder / "generated_image.jpg").is_file():
        image = "generated_image.jpg"
    else:
        image = f"{steps[-1][0]}.png" if steps else None
    status = {
        "name": folder.name,
        "state": state,
        "iterations": total,
        "step": costs[-1][0] if costs else None,
        "costs": costs,
        "image": image,
        "image_version": (folder / image).stat().st_mtime_ns if image else None,
        "eta_seconds": eta(steps, total, studio.started) if alive else None,
        "console": console,
        "error": console if state == "failed" else None,
        "resumable": state == "stopped" and (folder / "checkpoint.npz").is_file(),
        "settings": settings,
        "inputs": {"content": studio_json.get("content"), "style": studio_json.get("style")},
        "final_costs": (run_json or {}).get("final_costs"),
        "files": sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")),
    }
    return status


def eta(steps, total, started, now=None):
    """Seconds left, from the snapshots saved since the child started: time per step between the first and the
    last of them times the steps left after the last. None until two snapshots exist."""
    recent = [(step, mtime) for step, mtime in steps if mtime >= started]
    if len(recent) < 2 or recent[-1][0] == recent[0][0]:
        return None
    (s0, t0), (s1, t1) = recent[0], recent[-1]
    per_step = (t1 - t0) / (s1 - s0)
    left = per_step * (total - 1 - s1) - ((now or time.time()) - t1)
    return max(0.0, left)


def gallery(studio):
    """The runs in runs_dir, newest first: name, state, thumbnail, settings, final J."""
    if not studio.runs_dir.is_dir():
        return []
    runs = []
    for folder in sorted(studio.runs_dir.iterdir(), reverse=True):
        if not folder.is_dir() or not (folder / STUDIO_JSON).is_file():
            continue
        status = run_status(studio, folder.name)
        final = status["final_costs"] or {}
        runs.append({
            "name": status["name"], "state": status["state"], "image": status["image"],
            "image_version": status["image_version"], "settings": status["settings"],
            "final_total": final.get("total", status["costs"][-1][1] if status["costs"] else None),
            "step": status["step"], "iterations": status["iterations"],
        })
    return runs
