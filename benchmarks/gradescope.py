"""What one Gradescope submission costs: `nst teach autograder`'s zip graded in Gradescope's layout, under a cgroup.

The zip in Gradescope's layout (nst.teaching.gradescope_layout), a correct notebook graded, under a cgroup (v1
memory and cpu controllers) as Gradescope's container has one.

    python -m benchmarks gradescope      # writes benchmarks/results/gradescope.json (root; a few minutes)

For each setting (memory limit, CPU quota) the container's wall time, its memory peak as the cgroup counts it
(memory.max_usage_in_bytes: resident memory and page cache, which the kernel reclaims before it kills), the peak
of its resident memory alone (total_rss, sampled every 0.1 s), its CPU seconds (cpuacct), how often it hit the
memory limit (failcnt), and the score. The settings: no limit and 2 CPUs; Gradescope's defaults (768 MB, half a
CPU); 1 GB and 2 GB with half a CPU; 2 GB, 1 CPU.
"""

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import ROOT, machine, write_result

SETTINGS = [
    ("no limit, 2 CPUs", None, None),
    ("768 MB, 0.5 CPU (Gradescope's default)", 768 << 20, 0.5),
    ("1 GB, 0.5 CPU", 1 << 30, 0.5),
    ("2 GB, 0.5 CPU", 2 << 30, 0.5),
    ("2 GB, 1 CPU", 2 << 30, 1.0),
]
V1 = Path("/sys/fs/cgroup")


def cgroup(name, memory, cpus):
    """v1 memory, cpu and cpuacct cgroups named `name` with the limits; returns their folders."""
    folders = V1 / "memory" / name, V1 / "cpu" / name, V1 / "cpuacct" / name
    for folder in folders:
        folder.mkdir(exist_ok=True)
    (folders[0] / "memory.limit_in_bytes").write_text(str(memory if memory else -1))
    (folders[1] / "cpu.cfs_period_us").write_text("100000")
    (folders[1] / "cpu.cfs_quota_us").write_text(str(int(cpus * 100000)) if cpus else "-1")
    return folders


def measure(autograder, label, memory, cpus, notebook):
    from nst.teaching import gradescope_layout as layout

    name = f"nst-gradescope-{os.getpid()}"
    mem, cpu, acct = cgroup(name, memory, cpus)
    peak_rss, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            stat = dict(line.split() for line in (mem / "memory.stat").read_text().splitlines())
            peak_rss[0] = max(peak_rss[0], int(stat.get("total_rss", 0)))
            time.sleep(0.1)

    def join():  # the container's first process joins the cgroups before it execs bubblewrap
        for folder in (mem, cpu, acct):
            (folder / "cgroup.procs").write_text(str(os.getpid()))

    threading.Thread(target=sample, daemon=True).start()
    started = time.monotonic()
    try:
        layout.submit(autograder, {"homework-student.ipynb": notebook.read_bytes()}, preexec=join)
    finally:
        done.set()
    seconds = time.monotonic() - started - 5  # the harness's 5 s after run_autograder
    results = json.loads((autograder / "results" / "results.json").read_text())
    record = {
        "setting": label,
        "memory_limit_mb": memory and memory >> 20,
        "cpus": cpus or 2,
        "wall_s": round(seconds, 1),
        "cpu_s": round(int((acct / "cpuacct.usage").read_text()) / 1e9, 1),
        "peak_mb": int((mem / "memory.max_usage_in_bytes").read_text()) >> 20,
        "peak_rss_mb": peak_rss[0] >> 20,
        "oom_kills": int((mem / "memory.failcnt").read_text()),
        "score": results["score"],
        "output": results["output"][:300],
        "load_average": os.getloadavg(),
    }
    time.sleep(1)
    for folder in (mem, cpu, acct):
        folder.rmdir()
    return record


def main(argv=None):
    if argv:
        sys.exit("usage: python -m benchmarks gradescope")

    from nst.commands.cli import main as nst
    from nst.teaching import gradescope_layout as layout

    folder = Path(tempfile.mkdtemp(prefix="nst-gradescope-"))
    assert nst(["teach", "autograder", "-o", str(folder / "autograder.zip")]) == 0
    autograder = layout.lay_out(folder, folder / "autograder.zip")
    assert layout.image(autograder).returncode == 0
    results = {"machine": machine(), "command": "python -m benchmarks gradescope", "runs": []}
    for label, memory, cpus in SETTINGS:
        record = measure(autograder, label, memory, cpus, ROOT / "notebooks" / "homework.ipynb")
        results["runs"].append(record)
        print(json.dumps(record), flush=True)
    print(f"wrote {write_result(results, 'gradescope')}")
