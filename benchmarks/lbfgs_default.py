"""L-BFGS's default budget: how many cost evaluations L-BFGS needs to reach the J of the homework's 200 Adam steps.

    python -m benchmarks lbfgs_default                                   # 4 pairs at 200x150, 3 at 400x300
    python -m benchmarks lbfgs_default --sizes 96x72 --pairs grace_hopper:swirls --max-evaluations 30   # quick
    python -m benchmarks lbfgs_default --summarize benchmarks/results/lbfgs_default*.json   # docs/options.md's table

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

from benchmarks.common import (
    NETWORK_LABELS,
    RESULTS,
    ROOT,
    Clock,
    Problem,
    adam_until,
    homework_start,
    imagenet_net,
    lbfgs_until,
    machine,
    parse_size,
    write_result,
)

PAIRS = ("grace_hopper:swirls", "grace_hopper:mosaic", "chelsea:swirls", "chelsea:mosaic")
IMAGES = {"grace_hopper": "grace_hopper.jpg", "chelsea": "chelsea.jpg", "swirls": "swirls.jpg", "mosaic": "mosaic.jpg"}


def lbfgs_trajectory(problem, start, max_evaluations):
    """L-BFGS as `--optimizer lbfgs` runs it (fp32, benchmarks.common.lbfgs_until) from `start` for max_evaluations
    evaluations: [(iteration, evaluations so far, J at the iteration's point)]."""
    trajectory = []
    lbfgs_until(
        problem,
        "fp32",
        start,
        None,
        max_evaluations,
        Clock(),
        on_iteration=lambda i, evaluations, J: trajectory.append((i, evaluations, J)),
    )
    return trajectory


def one_record(model, pair, width, height, seed, max_evaluations):
    content, style = (ROOT / "images" / IMAGES[name] for name in pair.split(":"))
    problem = Problem(model, width, height, content, style)
    start = homework_start(problem.content, seed)
    load, t0 = os.getloadavg(), time.perf_counter()
    _, target, _ = adam_until(problem, "fp32", start, None, 200, 200, Clock())
    adam_seconds = time.perf_counter() - t0
    trajectory = lbfgs_trajectory(problem, start, max_evaluations)
    reached = next(((i, e, J) for i, e, J in trajectory if J <= target), None)
    return {
        "pair": pair,
        "size": f"{width}x{height}",
        "seed": seed,
        "J_start": problem.J_fp32(start),
        "J_adam_200": target,
        "adam_seconds": adam_seconds,
        "reached": None if reached is None else {"iteration": reached[0], "evaluations": reached[1], "J": reached[2]},
        "final": {
            "iteration": trajectory[-1][0],
            "evaluations": trajectory[-1][1],
            "J": trajectory[-1][2],
            "J_vs_adam": trajectory[-1][2] / target,
        },
        "trajectory": trajectory,
        "load_average": {"before": load, "after": os.getloadavg()},
    }


def summarize(paths, budget):
    """docs/options.md's table rows from result files: J after `budget` evaluations (the default), 60 and 120,
    as multiples of Adam's."""
    for path in paths:
        for r in json.loads(Path(path).read_text())["records"]:

            def at(n, r=r):
                J = next((J for _, e, J in r["trajectory"] if e >= n), None)
                return "—" if J is None else f"{J / r['J_adam_200']:.2f}×"

            reached = r["reached"]["evaluations"] if r["reached"] else f"> {r['final']['evaluations']}"
            print(
                f"| {r['pair'].replace(':', ', ')} | {r['size'].replace('x', '×')} | {r['J_adam_200']:.3g} "
                f"| {reached} "
                f"| {at(budget)} | {at(60)} | {at(120)} |"
            )


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks lbfgs_default", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200x150,400x300")
    parser.add_argument("--pairs", default=",".join(PAIRS), help="content:style names from images/, comma-separated")
    parser.add_argument("--large-pairs", type=int, default=3, help="at 400x300 and above only the first N pairs")
    parser.add_argument("--max-evaluations", type=int, default=200)
    parser.add_argument("--max-evaluations-large", type=int, default=60, help="at 400x300 and above")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "lbfgs_default.json")
    parser.add_argument("--summarize", nargs="+", metavar="JSON", help="print the table of these results and stop")
    args = parser.parse_args(argv)
    if args.summarize:
        from nst.settings import LBFGS_EVALUATIONS

        return summarize(args.summarize, LBFGS_EVALUATIONS)

    results = {
        "machine": machine(),
        "network": NETWORK_LABELS["imagenet"],
        "command": "python -m benchmarks lbfgs_default " + " ".join(argv),
        "records": [],
    }
    model = imagenet_net()
    for size in args.sizes.split(","):
        width, height = parse_size(size)
        large = width * height >= 400 * 300
        pairs = args.pairs.split(",")[: args.large_pairs] if large else args.pairs.split(",")
        for pair in pairs:
            record = one_record(
                model, pair, width, height, args.seed, args.max_evaluations_large if large else args.max_evaluations
            )
            results["records"].append(record)
            write_result(results, None, args.out)
            r, f = record["reached"], record["final"]
            print(
                f"{size} {pair}: Adam 200 J {record['J_adam_200']:.4g} ({record['adam_seconds']:.0f} s); L-BFGS "
                + (
                    f"reached it after {r['evaluations']} evaluations ({r['iteration'] + 1} iterations)"
                    if r
                    else "did not reach it"
                )
                + f"; after {f['evaluations']} evaluations J = {f['J_vs_adam']:.3g} x Adam's"
                + f"  [load {record['load_average']['before'][0]:.1f}]",
                flush=True,
            )
    print(f"wrote {args.out}")
