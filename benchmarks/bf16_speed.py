"""How much faster a bf16 Adam step is than an fp32 one here: steps alternated one by one in one process.

    python benchmarks/bf16_speed.py              # 400x300, 20 pairs after one warm-up step each
    python benchmarks/bf16_speed.py 200x150 10   # SIZE PAIRS

On the benchmark net (real VGG-19 conv widths, random weights) with the demo images: an fp32 step, then a bf16
step, and so on, so a machine shared with other jobs slows both alike; prints each precision's median s/step and
the median of the pairs' ratios (fp32 time / bf16 time), the figure nst.engine.device.BF16_SPEEDUP quotes.
"""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(width, height, pairs):
    import tensorflow as tf

    from bench import machine
    from demo_problem import Problem, homework_start, real_net
    from nst.settings import Config
    from nst.optimize import adam_state, make_train_step

    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {' '.join(info['flags'])}; {width}x{height}", flush=True)
    problem = Problem(real_net(), width, height)
    start = homework_start(problem.content, 0)
    steps = {}
    for precision in ("fp32", "bf16"):
        image = tf.Variable(start)
        steps[precision] = make_train_step(problem.costs(precision), image, adam_state(image), Config().learning_rate)
        float(steps[precision]()[0])  # warm-up: tracing
    times = {"fp32": [], "bf16": []}
    for i in range(pairs):
        for precision, step in steps.items():
            t = time.perf_counter()
            float(step()[0])
            times[precision].append(time.perf_counter() - t)
        print(f"  pair {i + 1}: fp32 {times['fp32'][-1]:.3f} s, bf16 {times['bf16'][-1]:.3f} s", flush=True)
    ratios = [a / b for a, b in zip(times["fp32"], times["bf16"])]
    print(f"{width}x{height}: fp32 {statistics.median(times['fp32']):.3f} s/step, bf16 "
          f"{statistics.median(times['bf16']):.3f} s/step; fp32/bf16 per pair: median {statistics.median(ratios):.2f}x, "
          f"range {min(ratios):.2f}-{max(ratios):.2f}x over {pairs} pairs")


if __name__ == "__main__":
    from demo_problem import size_and_count

    main(*size_and_count(sys.argv[1:], "400x300", 20, "usage: python benchmarks/bf16_speed.py [WIDTHxHEIGHT [PAIRS]]"))
