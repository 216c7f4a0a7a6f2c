"""The step's hardware-dependent choices measured on this machine: the conv input gradient, XLA, TF's threads.

    python benchmarks/choices.py               # 400x300, 3 rounds (about 10 minutes on 2 shared cores)
    python benchmarks/choices.py --rounds 5 --size 200x150

On the benchmark net (VGG-19's conv widths, random weights) with the demo images, the homework's Adam step in
fp32 and bf16, each with the rotated-kernel input gradient (nst.vgg.conv2d_same) and with TF's own
(Conv2DBackpropInput), and with XLA. One worker process per threading setting (TF's defaults; one inter-op
thread), the workers interleaved round by round; inside a worker the variants take turns step by step, so a
machine shared with other jobs slows them alike. Prints the median s/step of each variant and its ratio to the
worker's fp32 rotated step, and the 4096² matmul rate (the floor a step is measured against); writes
benchmarks/results/choices.json, whose rows back the table in nst.engine.device (docs/benchmarks/choices.md).
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = ("fp32-rotated", "fp32-tf", "bf16-rotated", "bf16-tf", "fp32-rotated-xla", "bf16-rotated-xla")
THREADS = {"default": None, "inter-op 1": 1}


def worker(job):
    """One threading setting: every variant's steps, taking turns; returns {variant: [seconds]}."""
    import tensorflow as tf

    if job["inter_op"] is not None:
        tf.config.threading.set_inter_op_parallelism_threads(job["inter_op"])
    from demo_problem import Problem, homework_start, real_net
    from nst.settings import Config
    from nst.objective import cost_function
    from nst.optimize import adam_state, make_train_step

    width, height = job["size"]
    problem = Problem(real_net(), width, height)
    start = homework_start(problem.content, 0)
    steps = {}
    for variant in job["variants"]:
        precision, gradient = variant.split("-")[:2]
        costs = cost_function(problem.model, problem.a_C, problem.grams, Config(precision=precision),
                              input_gradient=gradient)
        image = tf.Variable(start)
        steps[variant] = make_train_step(costs, image, adam_state(image), Config().learning_rate,
                                         jit_compile=variant.endswith("xla") or None)
        float(steps[variant]()[0])  # tracing
    times = {variant: [] for variant in steps}
    for _ in range(job["steps"]):
        for variant, step in steps.items():
            t = time.perf_counter()
            float(step()[0])
            times[variant].append(time.perf_counter() - t)
    out = {"times": times, "load_average": os.getloadavg()}
    if job.get("matmul"):
        from bench import matmul_rates

        out["matmul_gflops"] = matmul_rates()
    return out


def main(rounds, size, steps, variants):
    from bench import conv_flops, machine, run

    t0 = time.perf_counter()
    results = {"machine": machine(), "size": f"{size[0]}x{size[1]}", "rounds": rounds, "steps_per_round": steps,
               "command": f"python benchmarks/choices.py --rounds {rounds} --size {size[0]}x{size[1]} --steps {steps}",
               "load_average_at_start": os.getloadavg()}
    print(f"machine: {results['machine']['cpu']}, flags {' '.join(results['machine']['flags'])}; "
          f"load {results['load_average_at_start'][0]:.1f}", flush=True)
    times = {name: {v: [] for v in variants} for name in THREADS}
    loads = []
    for r in range(rounds):
        for name, inter_op in THREADS.items():
            out = run({"size": size, "steps": steps, "variants": variants, "inter_op": inter_op, "matmul": r == 0},
                      __file__)
            for v in variants:
                times[name][v] += out["times"][v]
            loads.append(out["load_average"][0])
            if "matmul_gflops" in out:
                results.setdefault("matmul_gflops", out["matmul_gflops"])
            print(f"  round {r + 1} {name}: " + ", ".join(f"{v} {statistics.median(out['times'][v]):.3f}"
                                                         for v in variants)
                  + f"  (load {out['load_average'][0]:.1f}) [{time.perf_counter() - t0:.0f} s]", flush=True)
    flops = conv_flops(*size)
    table = {}
    for name in THREADS:
        base = statistics.median(times[name][variants[0]])
        table[name] = {v: {"median_s": statistics.median(t), "min_s": min(t), "steps": len(t),
                           "gflops": flops / statistics.median(t) / 1e9, "vs_first": statistics.median(t) / base}
                       for v, t in times[name].items()}
    results.update(table=table, gflop_per_step=flops / 1e9, load_averages=loads,
                   load_average_at_end=os.getloadavg(), wall_s=time.perf_counter() - t0)
    mm = results.get("matmul_gflops", {})
    print(f"\n{results['size']}, {flops / 1e9:.1f} GFLOP/step; 4096² matmul fp32 {mm.get('fp32', 0):.0f}, "
          f"bf16 {mm.get('bf16', 0):.0f} GFLOP/s; load {min(loads):.1f}-{max(loads):.1f}")
    for name, rows in table.items():
        for v, row in rows.items():
            print(f"{name:10} {v:18} {row['median_s']:7.3f} s  min {row['min_s']:6.3f}  {row['gflops']:5.0f} GFLOP/s"
                  f"  {row['vs_first']:5.2f}x of {variants[0]}")
    out = ROOT / "benchmarks" / "results" / "choices.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(worker(json.loads(sys.argv[2]))))
    else:
        parser = argparse.ArgumentParser(description="the step's hardware-dependent choices, measured here")
        parser.add_argument("--rounds", type=int, default=3)
        parser.add_argument("--size", default="400x300")
        parser.add_argument("--steps", type=int, default=2, help="steps of each variant per round and worker")
        parser.add_argument("--variants", default=",".join(VARIANTS))
        args = parser.parse_args()
        main(args.rounds, tuple(int(v) for v in args.size.split("x")), args.steps, tuple(args.variants.split(",")))
