"""The step's hardware-dependent choices measured on this machine: the conv input gradient, XLA, TF's threads.

    python -m benchmarks choices               # 400x300, 3 rounds (about 10 minutes on 2 shared cores)
    python -m benchmarks choices --rounds 5 --size 200x150

On the benchmark net (VGG-19's conv widths, random weights) with the demo images, the homework's Adam step in
fp32 and bf16, each with the rotated-kernel input gradient (nst.engine.network.conv2d_same) and with TF's own
(Conv2DBackpropInput), and with XLA. One worker process per threading setting (TF's defaults; one inter-op
thread), the workers interleaved round by round; inside a worker the variants take turns step by step, so a
machine shared with other jobs slows them alike. Prints the median s/step of each variant and its ratio to the
worker's fp32 rotated step, and the 4096² matmul rate (the floor a step is measured against); writes
benchmarks/results/choices.json, whose rows back the table in nst.engine.device (docs/benchmarks/choices.md).
"""

import argparse
import os
import statistics
import time
from pathlib import Path

from benchmarks.common import (
    Problem,
    conv_flops,
    homework_start,
    machine,
    matmul_rates,
    parse_size,
    real_net,
    run_worker,
    write_result,
)

VARIANTS = ("fp32-rotated", "fp32-tf", "bf16-rotated", "bf16-tf", "fp32-rotated-xla", "bf16-rotated-xla")
THREADS = {"default": None, "inter-op 1": 1}


def worker(job):
    """One threading setting: every variant's steps, taking turns; returns {variant: [seconds]}."""
    import tensorflow as tf

    if job["inter_op"] is not None:
        tf.config.threading.set_inter_op_parallelism_threads(job["inter_op"])
    from nst.engine.adam import adam_state, make_train_step
    from nst.homework import LEARNING_RATE

    width, height = job["size"]
    problem = Problem(real_net(), width, height)
    start = homework_start(problem.content, 0)
    steps = {}
    for variant in job["variants"]:
        precision, gradient = variant.split("-")[:2]
        image = tf.Variable(start)
        steps[variant] = make_train_step(
            problem.objective(precision, gradient),
            image,
            adam_state(image),
            LEARNING_RATE,
            jit_compile=variant.endswith("xla") or None,
        )
        float(steps[variant]()[0])  # tracing
    times = {variant: [] for variant in steps}
    for _ in range(job["steps"]):
        for variant, step in steps.items():
            t = time.perf_counter()
            float(step()[0])
            times[variant].append(time.perf_counter() - t)
    out = {"times": times, "load_average": os.getloadavg()}
    if job.get("matmul"):
        out["matmul_gflops"] = matmul_rates()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks choices", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", default="400x300")
    parser.add_argument("--steps", type=int, default=2, help="steps of each variant per round and worker")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/choices.json")
    args = parser.parse_args(argv)
    rounds, size, steps, variants = args.rounds, parse_size(args.size), args.steps, tuple(args.variants.split(","))
    t0 = time.perf_counter()
    results = {
        "machine": machine(),
        "size": f"{size[0]}x{size[1]}",
        "rounds": rounds,
        "steps_per_round": steps,
        "command": f"python -m benchmarks choices --rounds {rounds} --size {size[0]}x{size[1]} --steps {steps}",
        "load_average_at_start": os.getloadavg(),
    }
    print(
        f"machine: {results['machine']['cpu']}, flags {' '.join(results['machine']['flags'])}; "
        f"load {results['load_average_at_start'][0]:.1f}",
        flush=True,
    )
    times = {name: {v: [] for v in variants} for name in THREADS}
    loads = []
    for r in range(rounds):
        for name, inter_op in THREADS.items():
            out = run_worker(
                "choices", {"size": size, "steps": steps, "variants": variants, "inter_op": inter_op, "matmul": r == 0}
            )
            for v in variants:
                times[name][v] += out["times"][v]
            loads.append(out["load_average"][0])
            if "matmul_gflops" in out:
                results.setdefault("matmul_gflops", out["matmul_gflops"])
            print(
                f"  round {r + 1} {name}: "
                + ", ".join(f"{v} {statistics.median(out['times'][v]):.3f}" for v in variants)
                + f"  (load {out['load_average'][0]:.1f}) [{time.perf_counter() - t0:.0f} s]",
                flush=True,
            )
    flops = conv_flops(*size)
    table = {}
    for name in THREADS:
        base = statistics.median(times[name][variants[0]])
        table[name] = {
            v: {
                "median_s": statistics.median(t),
                "min_s": min(t),
                "steps": len(t),
                "gflops": flops / statistics.median(t) / 1e9,
                "vs_first": statistics.median(t) / base,
            }
            for v, t in times[name].items()
        }
    results.update(
        table=table,
        gflop_per_step=flops / 1e9,
        load_averages=loads,
        load_average_at_end=os.getloadavg(),
        wall_s=time.perf_counter() - t0,
    )
    mm = results.get("matmul_gflops", {})
    print(
        f"\n{results['size']}, {flops / 1e9:.1f} GFLOP/step; 4096² matmul fp32 {mm.get('fp32', 0):.0f}, "
        f"bf16 {mm.get('bf16', 0):.0f} GFLOP/s; load {min(loads):.1f}-{max(loads):.1f}"
    )
    for name, rows in table.items():
        for v, row in rows.items():
            print(
                f"{name:10} {v:18} {row['median_s']:7.3f} s  min {row['min_s']:6.3f}  {row['gflops']:5.0f} GFLOP/s"
                f"  {row['vs_first']:5.2f}x of {variants[0]}"
            )
    print(f"wrote {write_result(results, 'choices', args.out)}")
