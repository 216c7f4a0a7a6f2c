"""L-BFGS's default budget: how many cost evaluations L-BFGS needs to reach the J of the homework's 200 Adam steps.

    python benchmarks/lbfgs_default.py                                   # 4 pairs at 200x150, 3 at 400x300
    python benchmarks/lbfgs_default.py --sizes 96x72 --pairs grace_hopper:swirls --max-evaluations 30   # quick
    python benchmarks/lbfgs_default.py --summarize benchmarks/results/lbfgs_default*.json   # docs/options.md's table

On the real ImageNet VGG-16 (nst.weights.imagenet), for each content/style pair (images/) and size: the homework's
run (200 fp32 Adam steps, lr 2.0, from the homework's noisy start of --seed) gives the target J; then scipy's
L-BFGS-B as `--optimizer lbfgs` runs from the same start for --max-evaluations evaluations (at 400x300
--max-evaluations-large), every iteration's J and evaluation count kept. The record says after how many
evaluations L-BFGS first reached the target, and how far below it the longer run went. J values do not depend
on the machine's load; the load average is kept with each record anyway.
Writes benchmarks/results/lbfgs_default.json after every record (a partial run keeps its numbers).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PAIRS = ("grace_hopper:swirls", "grace_hopper:mosaic", "chelsea:swirls", "chelsea:mosaic")
IMAGES = {"grace_hopper": "grace_hopper.jpg", "chelsea": "chelsea.jpg", "swirls": "swirls.jpg", "mosaic": "mosaic.jpg"}


def lbfgs_trajectory(problem, start, max_evaluations):
    """scipy L-BFGS-B as nst.lbfgs runs it (fp32, pixels bounded to 0..255, gtol 0) from `start` for
    max_evaluations evaluations: [(iteration, evaluations so far, J at the iteration's point)]."""
    import numpy as np
    import scipy.optimize
    import tensorflow as tf

    from nst.lbfgs import pixel_bounds
    from nst.objective import make_value_and_grad

    value_and_grad = make_value_and_grad(problem.costs("fp32"))
    shape = tuple(start.shape)
    lower, upper = pixel_bounds(shape)
    state = {"evaluations": 0, "x": None, "J": None}
    trajectory = []

    def fun(x):
        J, _, _, grad = value_and_grad(tf.constant(x.reshape(shape), dtype=tf.float32))
        state.update(evaluations=state["evaluations"] + 1, x=x.copy(), J=float(J))
        return float(J), grad.numpy().astype(np.float64).ravel()

    def callback(intermediate_result):
        x = intermediate_result.x
        J = state["J"] if np.array_equal(x, state["x"]) else problem.J_fp32(x.reshape(shape))
        trajectory.append((len(trajectory), state["evaluations"], J))
        if state["evaluations"] >= max_evaluations:
            raise StopIteration

    x0 = np.clip(np.asarray(start, dtype=np.float64), lower, upper).ravel()
    scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", callback=callback,
                            bounds=scipy.optimize.Bounds(lower.ravel(), upper.ravel()),
                            options={"maxiter": max_evaluations, "maxfun": max_evaluations, "gtol": 0.0})
    return trajectory


def one_record(model, pair, width, height, seed, max_evaluations):
    from demo_problem import Problem, homework_start
    from time_to_quality import Clock, adam_until

    content, style = (ROOT / "images" / IMAGES[name] for name in pair.split(":"))
    problem = Problem(model, width, height, content, style)
    start = homework_start(problem.content, seed)
    load, t0 = os.getloadavg(), time.perf_counter()
    _, target, _ = adam_until(problem, "fp32", start, None, 200, 200, Clock())
    adam_seconds = time.perf_counter() - t0
    trajectory = lbfgs_trajectory(problem, start, max_evaluations)
    reached = next(((i, e, J) for i, e, J in trajectory if J <= target), None)
    return {"pair": pair, "size": f"{width}x{height}", "seed": seed, "J_start": problem.J_fp32(start),
            "J_adam_200": target, "adam_seconds": adam_seconds,
            "reached": None if reached is None else {"iteration": reached[0], "evaluations": reached[1], "J": reached[2]},
            "final": {"iteration": trajectory[-1][0], "evaluations": trajectory[-1][1], "J": trajectory[-1][2],
                      "J_vs_adam": trajectory[-1][2] / target},
            "trajectory": trajectory, "load_average": {"before": load, "after": os.getloadavg()}}


def summarize(paths, budget):
    """docs/options.md's table rows from result files: J after `budget` evaluations (the default), 60 and 120,
    as multiples of Adam's."""
    for path in paths:
        for r in json.loads(Path(path).read_text())["records"]:
            def at(n):
                J = next((J for _, e, J in r["trajectory"] if e >= n), None)
                return "—" if J is None else f"{J / r['J_adam_200']:.2f}×"
            reached = r["reached"]["evaluations"] if r["reached"] else f"> {r['final']['evaluations']}"
            print(f"| {r['pair'].replace(':', ', ')} | {r['size'].replace('x', '×')} | {r['J_adam_200']:.3g} | {reached} "
                  f"| {at(budget)} | {at(60)} | {at(120)} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200x150,400x300")
    parser.add_argument("--pairs", default=",".join(PAIRS), help="content:style names from images/, comma-separated")
    parser.add_argument("--large-pairs", type=int, default=3, help="at 400x300 and above only the first N pairs")
    parser.add_argument("--max-evaluations", type=int, default=200)
    parser.add_argument("--max-evaluations-large", type=int, default=60, help="at 400x300 and above")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lbfgs_default.json")
    parser.add_argument("--summarize", nargs="+", metavar="JSON", help="print the table of these results and stop")
    args = parser.parse_args(argv)
    if args.summarize:
        from nst.settings import LBFGS_EVALUATIONS

        return summarize(args.summarize, LBFGS_EVALUATIONS)

    from bench import machine
    from demo_problem import NETWORK_LABELS, imagenet_net

    results = {"machine": machine(), "network": NETWORK_LABELS["imagenet"],
               "command": "python benchmarks/lbfgs_default.py " + " ".join(argv or sys.argv[1:]), "records": []}
    model = imagenet_net()
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        large = width * height >= 400 * 300
        pairs = args.pairs.split(",")[:args.large_pairs] if large else args.pairs.split(",")
        for pair in pairs:
            record = one_record(model, pair, width, height, args.seed,
                                args.max_evaluations_large if large else args.max_evaluations)
            results["records"].append(record)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1) + "\n")
            r, f = record["reached"], record["final"]
            print(f"{size} {pair}: Adam 200 J {record['J_adam_200']:.4g} ({record['adam_seconds']:.0f} s); L-BFGS "
                  + (f"reached it after {r['evaluations']} evaluations ({r['iteration'] + 1} iterations)"
                     if r else "did not reach it")
                  + f"; after {f['evaluations']} evaluations J = {f['J_vs_adam']:.3g} x Adam's"
                  + f"  [load {record['load_average']['before'][0]:.1f}]", flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
