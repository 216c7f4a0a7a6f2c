"""Admission: whether a run of the size asked for fits the memory this machine has free now, before it starts.

The need is the CLI's own: the smallest budget any plan of tiles fits in (nst.engine.memory, through
nst.settings.memory_need); the CLI compares it with its budget (--max-memory, else 80 percent of the memory
available when it starts), the studio with what is free now (MemAvailable, and the room left under a cgroup
memory limit), since the painter shares the machine with everything else running.
"""

import dataclasses
from pathlib import Path

from nst.errors import NstError
from nst.settings import Config, gigabytes, gigabytes_up, memory_need, memory_problem

SHARE = 0.8
"""The share of the memory free now that a run started by the studio plans within (as the CLI's default)."""


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


def admit(settings, share=SHARE):
    """NstError (one line) when a run of `settings` (the studio's form: width, height, optimizer, ...) cannot fit
    `share` of the memory free now by any plan of tiles (the painter's run plans within that share: the CLI's
    default budget, nst.engine.memory.default_budget)."""
    free = available_memory()
    if free is None:
        return
    known = {name: value for name, value in settings.items() if name in Config.__dataclass_fields__}
    cfg = dataclasses.replace(Config(), **known)
    need = memory_need(memory_problem(cfg), None, int(share * free))
    if need is not None:
        raise NstError(
            f"--width {cfg.width} --height {cfg.height} needs at least {gigabytes_up(need)[:-1]} GB of "
            f"memory by any plan of tiles and {gigabytes(free)} is free on this machine now: pass a "
            "smaller --width and --height"
        )
