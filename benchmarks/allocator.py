"""TensorFlow's pooling CPU allocator against the one that gives freed memory back: whole commands interleaved.

    python -m benchmarks allocator        # 400x300 (40 Adam steps, twice) and 1920x1080 untiled (3 steps)

A run evaluated in tiles gives TensorFlow's freed blocks back to the system (nst.engine.memory.
give_back_freed_memory: oneDNN's allocator on malloc, glibc's mmap threshold fixed); one evaluated whole keeps the
pool (nst.settings.evaluated_in_tiles). This measures what giving back costs where it is not needed: the same
`nst` command, the real ImageNet VGG-16, in a process of its own per variant, the variants taking turns (the order
alternating), with CPU seconds (the child's), run.json's seconds per iteration, the peak resident set and J.
"pool": TF_ONEDNN_USE_SYSTEM_ALLOCATOR=0; "give back": TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1 and
MALLOC_MMAP_THRESHOLD_ (glibc reads it at start, as the run's mallopt sets it). Writes
benchmarks/results/allocator.json.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.common import RESULTS, machine
from benchmarks.print_size import measured

JOBS = (
    ["--width", "400", "--height", "300", "--iterations", "40"],
    ["--width", "400", "--height", "300", "--iterations", "40"],
    ["--width", "1920", "--height", "1080", "--scales", "1", "--iterations", "3"],
)
VARIANTS = {
    "pool": {"TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "0"},
    "give back": {"TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "1", "MALLOC_MMAP_THRESHOLD_": str(4 * 2**20)},
}


def run(variant, args, weights):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_ONEDNN", "MALLOC_"))}
    env.update(VARIANTS[variant], TF_CPP_MIN_LOG_LEVEL="2")
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "nst", "--weights", str(weights), "--seed", "1", "--no-progress"]
        log, peak, wall, cpu, code = measured([*argv, "--output-dir", tmp, *args], env=env)
        if code != 0:
            sys.exit(f"nst failed:\n{log[-3000:]}")
        manifest = json.loads((Path(tmp) / "run.json").read_text())
    return {
        "variant": variant,
        "arguments": args,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "seconds_per_iteration": manifest["seconds_per_iteration"],
        "peak_bytes": peak,
        "J": manifest["final_costs"]["total"],
        "load_average": os.getloadavg(),
    }


def main(argv):
    from nst.weights.imagenet import imagenet_vgg16

    weights = imagenet_vgg16()
    runs = []
    for k, args in enumerate(JOBS):
        for variant in ("pool", "give back") if k % 2 == 0 else ("give back", "pool"):
            runs.append(run(variant, args, weights))
            print(json.dumps(runs[-1]), flush=True)
    out = {"machine": machine(), "command": "python -m benchmarks allocator", "runs": runs}
    (RESULTS / "allocator.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / 'allocator.json'}")
    return 0
