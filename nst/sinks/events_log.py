"""A run's event log, `events.jsonl`: one JSON object per line, appended as the run goes, read back with bounds.

The studio's painter writes it beside the run's files; the studio reads a run's state from it (and from whether a
painter holds the run's lock), never from the run's console output. Lines, in order:

    {"event": "started", "scale": k, "scales": n, "width": w, "height": h, "optimizer": "adam", "iterations": N,
     "first": i}
    {"event": "step", "scale": k, "iteration": i, "J": ..., "content": ..., "style": ..., "seconds": ...,
     "evaluations": e, "image": "20.png" or null}
    {"event": "tile", "sweep": "forward" | "backward", "segment": s, "tile": t, "tiles": n}  (at most one a second)
    {"event": "scale_finished", "scale": k, "evaluations": e, "reason": "...", "stopped": false}
    {"event": "ended", "state": "finished" | "stopped" | "failed", "message": "...", "resumable": false}

A resumed run appends to the same log. The file is another process's output: read_events takes at most
MAX_BYTES, refuses a line longer than MAX_LINE, any key, type or number outside the schema, and says why
(ValueError), so one damaged log costs only its own run.
"""

import json
import math
import os
import stat
import time
from pathlib import Path

from nst.engine.events import Ended, ScaleFinished, ScaleStarted, Step, Tile

EVENTS = "events.jsonl"
MAX_BYTES = 16 << 20  # 100,000 steps of a long run take about 15 MB
MAX_LINE = 2048
MAX_COUNT = 10**9
STATES = ("finished", "stopped", "failed")
MAX_TEXT = 1000


def events_log(folder, image_name=None, tile_seconds=1.0, clock=time.monotonic):
    """A sink appending each event of a run to `<folder>/events.jsonl` (created 0600, never through a symlink).
    image_name(scale, iteration) -> the file name under which the run's files sink saved a Step's image, or None
    (default: `<iteration>.png` for the last scale of the run). Tile events are written at most one every
    `tile_seconds` (a sweep's last tile always), so that small tiles do not fill the log."""
    path = Path(folder) / EVENTS
    scales = {"n": 1}
    last_tile = [-math.inf]

    def name_of(event):
        if event.image is None:
            return None
        if image_name is not None:
            return image_name(event.scale, event.iteration)
        return f"{event.iteration}.png" if event.scale == scales["n"] - 1 else None

    def on_event(event):
        if isinstance(event, ScaleStarted):
            scales["n"] = event.scales
            record = {
                "event": "started",
                "scale": event.scale,
                "scales": event.scales,
                "width": event.width,
                "height": event.height,
                "optimizer": event.optimizer,
                "iterations": event.iterations,
                "first": event.first,
            }
        elif isinstance(event, Step):
            record = {
                "event": "step",
                "scale": event.scale,
                "iteration": event.iteration,
                "J": event.J,
                "content": event.J_content,
                "style": event.J_style,
                "seconds": event.seconds,
                "evaluations": event.evaluations,
                "image": name_of(event),
            }
        elif isinstance(event, Tile):
            now = clock()
            if now - last_tile[0] < tile_seconds and event.tile + 1 < event.tiles:
                return
            last_tile[0] = now
            record = {
                "event": "tile",
                "sweep": event.sweep,
                "segment": event.segment,
                "tile": event.tile,
                "tiles": event.tiles,
            }
        elif isinstance(event, ScaleFinished):
            record = {
                "event": "scale_finished",
                "scale": event.scale,
                "evaluations": event.evaluations,
                "reason": event.reason[:MAX_TEXT],
                "stopped": event.stopped,
            }
        elif isinstance(event, Ended):
            record = {
                "event": "ended",
                "state": event.state,
                "message": " ".join(event.message.split())[:MAX_TEXT],
                "resumable": event.resumable,
            }
        else:
            return
        append_line(path, json.dumps(finite(record), allow_nan=False))

    return on_event


def finite(record):
    """A record with every non-finite float as None (JSON has no NaN)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


def append_line(path, line):
    """Append one line to `path` in one write (O_APPEND), the file created 0600, never through a symlink."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


SCHEMA = {
    "started": {
        "scale": "count",
        "scales": "count",
        "width": "count",
        "height": "count",
        "optimizer": "name",
        "iterations": "count",
        "first": "count",
    },
    "step": {
        "scale": "count",
        "iteration": "count",
        "J": "number",
        "content": "number",
        "style": "number",
        "seconds": "number",
        "evaluations": "count",
        "image": "image",
    },
    "tile": {"sweep": "sweep", "segment": "count", "tile": "count", "tiles": "count"},
    "scale_finished": {"scale": "count", "evaluations": "count", "reason": "text", "stopped": "flag"},
    "ended": {"state": "state", "message": "text", "resumable": "flag"},
}


def read_events(folder):
    """The records of `<folder>/events.jsonl` (dicts as above), [] when there is none. ValueError saying why when
    the file is not a plain file, too large, or a line is not a record of the schema."""
    path = Path(folder) / EVENTS
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ValueError(f"{EVENTS} cannot be read ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{EVENTS} is not a file")
        if info.st_size > MAX_BYTES:
            raise ValueError(f"{EVENTS} is larger than {MAX_BYTES >> 20} MB")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise ValueError(f"{EVENTS} is larger than {MAX_BYTES >> 20} MB")
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        lines.pop()  # a line still being written: not yet an event
    return [parse_line(line, number) for number, line in enumerate(lines, 1)]


def parse_line(line, number):
    """One line of the log as a checked record; ValueError naming the line otherwise."""
    if len(line) > MAX_LINE:
        raise ValueError(f"{EVENTS} line {number} is longer than {MAX_LINE} bytes")
    try:
        record = json.loads(line.decode("utf-8"), parse_constant=refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValueError(f"{EVENTS} line {number} is not JSON") from None
    kind = record.get("event") if isinstance(record, dict) else None
    if kind not in SCHEMA or set(record) != set(SCHEMA[kind]) | {"event"}:
        raise ValueError(f"{EVENTS} line {number} is not an event of a run")
    for key, kind_of_value in SCHEMA[kind].items():
        if not fits(record[key], kind_of_value):
            raise ValueError(f"{EVENTS} line {number}: {key} is not a {kind_of_value}")
    return record


def refuse_constant(name):
    raise ValueError(f"{name} is not a number")


def fits(value, kind):
    """Whether a value is of a schema kind."""
    if kind == "count":
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT
    if kind == "number":
        return value is None or (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
    if kind == "flag":
        return isinstance(value, bool)
    if kind == "state":
        return value in STATES
    if kind == "name":
        return value in ("adam", "lbfgs")
    if kind == "sweep":
        return value in ("forward", "backward")
    if kind == "image":
        return value is None or (
            isinstance(value, str)
            and len(value) <= 64
            and value.endswith(".png")
            and value[:-4].isdigit()
            and value.isascii()
        )
    return isinstance(value, str) and len(value) <= MAX_TEXT
