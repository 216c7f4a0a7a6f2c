"""Admission: whether a run of the size asked for fits the memory this machine has free now, before it starts.

The estimate is the CLI's own (nst.settings.BYTES_PER_PIXEL: at least about 2 KB per pixel of --width x --height,
beyond TensorFlow's own); the CLI compares it with the machine's whole memory, the studio with what is free now
(MemAvailable, and the room left under a cgroup memory limit), since the painter shares the machine with
everything else running. `admit` is the one place that decides, so a better planner can replace the estimate.
"""

from pathlib import Path

from nst.errors import NstError
from nst.settings import BYTES_PER_PIXEL, gigabytes


def meminfo_available(path="/proc/meminfo"):
    """MemAvailable in bytes, or None when the kernel does not say."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cgroup_room(root=Path("/sys/fs/cgroup")):
    """The memory this process's cgroup (v2) and its ancestors still allow (memory.max - memory.current, the
    smallest), or None when none sets a limit."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
        relative = next(line.split(":", 2)[2] for line in lines if line.startswith("0::"))
    except (OSError, StopIteration, IndexError):
        return None
    room = None
    group = root / relative.lstrip("/")
    while True:
        try:
            limit = (group / "memory.max").read_text().strip()
            if limit != "max":
                left = int(limit) - int((group / "memory.current").read_text())
                room = left if room is None else min(room, left)
        except (OSError, ValueError):
            pass
        if group == root or root not in group.parents:
            return room
        group = group.parent


def available_memory():
    """Bytes a new run can count on now, or None when unknown (then nothing is refused here)."""
    known = [m for m in (meminfo_available(), cgroup_room()) if m is not None]
    return max(0, min(known)) if known else None


def admit(settings):
    """NstError (one line) when a run of `settings` (width, height) cannot fit the memory free now."""
    width, height = settings["width"], settings["height"]
    need = width * height * BYTES_PER_PIXEL
    free = available_memory()
    if free is not None and need > free:
        raise NstError(f"--width {width} --height {height} needs at least {gigabytes(need)} of memory (about "
                       f"{BYTES_PER_PIXEL // 1024} KB per pixel) and {gigabytes(free)} is free on this machine now: "
                       "pass a smaller --width and --height")
