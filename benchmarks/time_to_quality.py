"""Time to a finished picture: the seconds each mode needs to reach the J of the homework's 200 fp32 Adam steps.

    python -m benchmarks time_to_quality            # 400x300
    python -m benchmarks time_to_quality --quick    # 200x150
    python -m benchmarks time_to_quality --quick --modes adam-bf16,lbfgs-fp32   # some modes only
    python -m benchmarks time_to_quality --network imagenet   # the real ImageNet VGG-16 (nst.weights.imagenet)

On the benchmark net (--network random: real VGG-19 conv widths, random weights; --network imagenet: the real
ImageNet VGG-16 in MatConvNet's layout) with the demo images (or --content, --style) and the homework's start
image (seed 0): first the reference, 200 Adam steps in fp32; its final J (in fp32) is the target. Then each
mode runs from the same start until its image's J, evaluated in fp32 every --check steps (L-BFGS: every
iteration), is at or below the target, or until it has spent 3x the reference's steps (not reached).
Modes: adam-fp32 (the reference itself), adam-bf16, lbfgs-fp32, lbfgs-bf16 (scipy L-BFGS-B as
`--optimizer lbfgs`, benchmarks.common.lbfgs_until), and scales2-* (`--scales 2`: --coarse-steps
steps/evaluations at half size from the half-size start, the result upsampled, then the full size until the
target).
Seconds are the optimiser's wall time, tracing included (a user pays it), the fp32 checks excluded. The
machine may be shared: steps/evaluations to the target do not depend on the load, seconds do.
Each mode's record keeps the load average (os.getloadavg) before and after it.
Writes benchmarks/results/time_to_quality[_quick].json (--network imagenet: time_to_quality_imagenet_<size>.json)
after every mode.
"""

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks.common import (
    NETWORK_LABELS,
    NETWORKS,
    RESULTS,
    Clock,
    Problem,
    adam_until,
    describe,
    homework_start,
    lbfgs_until,
    machine,
    parse_size,
    write_result,
)

MODES = (
    "adam-fp32",
    "adam-bf16",
    "lbfgs-fp32",
    "lbfgs-bf16",
    "scales2-adam-fp32",
    "scales2-adam-bf16",
    "scales2-lbfgs-fp32",
    "scales2-lbfgs-bf16",
)
REFERENCE_STEPS = 200
BUDGET = 3  # a mode may spend this many times the reference's steps (L-BFGS: evaluations)


def run_mode(mode, problems, start, coarse_start, target, check, coarse_steps, reference_steps=REFERENCE_STEPS):
    """One mode to the target; returns its record."""
    from nst.engine.driver import resized_start

    parts = mode.split("-")
    optimiser, precision = parts[-2], parts[-1]
    full, half = problems
    clock = Clock()
    record = {"mode": mode, "optimizer": optimiser, "precision": precision}
    if parts[0] == "scales2":
        budget = coarse_steps
        if optimiser == "adam":
            _, _, coarse = adam_until(half, precision, coarse_start, None, budget, check, clock)
        else:
            _, _, coarse = lbfgs_until(half, precision, coarse_start, None, budget, clock)
        start = resized_start(coarse, full.width, full.height)  # as the driver does it (not timed: milliseconds)
        record["coarse"] = {"size": f"{half.width}x{half.height}", "steps": budget, "seconds": clock.seconds()}
    limit = BUDGET * reference_steps
    if optimiser == "adam":
        steps, J, _ = adam_until(full, precision, start, target, limit, check, clock)
    else:
        steps, J, _ = lbfgs_until(full, precision, start, target, limit, clock)
    record.update(steps=steps, final_J_fp32=J, reached=target is not None and J <= target, seconds=clock.seconds())
    return record


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks time_to_quality", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200x150 instead of 400x300")
    parser.add_argument("--size", default=None, metavar="WxH", help="another size (e.g. 40x30 for a smoke test)")
    parser.add_argument("--modes", default=",".join(MODES[1:]), help="comma-separated, from: " + ", ".join(MODES[1:]))
    parser.add_argument("--check", type=int, default=5, help="evaluate J in fp32 every N Adam steps (default 5)")
    parser.add_argument(
        "--coarse-steps",
        type=int,
        default=100,
        help="--scales 2: Adam steps / L-BFGS evaluations at half size (default 100)",
    )
    parser.add_argument(
        "--reference-steps",
        type=int,
        default=REFERENCE_STEPS,
        help=f"the reference's fp32 Adam steps (default {REFERENCE_STEPS}, the homework's)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the homework's start image")
    parser.add_argument("--network", choices=("random", "imagenet"), default="random")
    parser.add_argument("--content", type=Path, default=None, help="content image (default: the demo's)")
    parser.add_argument("--style", type=Path, default=None, help="style image (default: the demo's)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    width, height = (200, 150) if args.quick else (400, 300)
    if args.size:
        width, height = parse_size(args.size)
    if args.out is None and args.network == "imagenet":
        args.out = RESULTS / f"time_to_quality_imagenet_{width}x{height}.json"
    out = args.out or RESULTS / f"time_to_quality{'_quick' * args.quick}.json"
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES[1:]]
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}")

    t0 = time.perf_counter()
    info = machine()
    print(describe(info), flush=True)
    model = NETWORKS[args.network]()
    problems = tuple(
        Problem(model, w, h, args.content, args.style) for w, h in ((width, height), (width // 2, height // 2))
    )
    start = homework_start(problems[0].content, args.seed)
    coarse_start = homework_start(problems[1].content, args.seed)
    results = {
        "machine": info,
        "command": "python -m benchmarks time_to_quality " + " ".join(argv),
        "network": NETWORK_LABELS[args.network],
        "content": str(args.content or "images/grace_hopper.jpg"),
        "style": str(args.style or "images/swirls.jpg"),
        "size": f"{width}x{height}",
        "seed": args.seed,
        "check_every": args.check,
        "coarse_steps": args.coarse_steps,
        "modes": [],
    }

    clock, load = Clock(), os.getloadavg()
    _, target, _ = adam_until(problems[0], "fp32", start, None, args.reference_steps, args.check, clock)
    reference = {
        "mode": "adam-fp32",
        "optimizer": "adam",
        "precision": "fp32",
        "steps": args.reference_steps,
        "final_J_fp32": target,
        "reached": True,
        "seconds": clock.seconds(),
        "load_average": {"before": load, "after": os.getloadavg()},
    }
    results["target_J_fp32"] = target
    results["modes"].append(reference)
    print(
        f"{width}x{height}: target J {target:.6g} ({args.reference_steps} fp32 Adam steps) in "
        f"{reference['seconds']:.1f} s",
        flush=True,
    )
    for mode in modes:
        load = os.getloadavg()
        record = run_mode(
            mode, problems, start, coarse_start, target, args.check, args.coarse_steps, args.reference_steps
        )
        record["load_average"] = {"before": load, "after": os.getloadavg()}
        record["speedup_vs_reference"] = reference["seconds"] / record["seconds"] if record["reached"] else None
        results["modes"].append(record)
        results["wall_s"] = time.perf_counter() - t0
        write_result(results, None, out)
        print(
            f"  {mode}: {'reached' if record['reached'] else 'NOT reached'} after {record['steps']} "
            f"{'steps' if record['optimizer'] == 'adam' else 'evaluations'}"
            + (f" (+ {record['coarse']['steps']} at {record['coarse']['size']})" if "coarse" in record else "")
            + f", {record['seconds']:.1f} s, J {record['final_J_fp32']:.6g}"
            + (f", {record['speedup_vs_reference']:.2f}x the reference" if record["reached"] else "")
            + f"  [{results['wall_s']:.0f} s, load {record['load_average']['before'][0]:.1f}]",
            flush=True,
        )
    results["load_average_at_end"] = os.getloadavg()
    write_result(results, None, out)
    print_table(results)
    print(f"wrote {out}")


def print_table(results):
    print(
        f"\n{results['size']}, target J {results['target_J_fp32']:.6g}; machine {results['machine']['cpu']}, "
        f"{results['machine']['cores']} cores, {' '.join(results['machine']['flags'])}"
    )
    print(f"{'mode':22} {'reached':>7} {'steps':>6} {'seconds':>8} {'speed-up':>8}")
    for r in results["modes"]:
        extra = f"+{r['coarse']['steps']}c" if "coarse" in r else ""
        speed = f"{results['modes'][0]['seconds'] / r['seconds']:.2f}x" if r["reached"] else "-"
        print(
            f"{r['mode']:22} {'yes' if r['reached'] else 'no':>7} {str(r['steps']) + extra:>6} "
            f"{r['seconds']:8.1f} {speed:>8}"
        )
