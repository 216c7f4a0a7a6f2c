"""Time to a finished picture: the seconds each mode needs to reach the J of the homework's 200 fp32 Adam steps.

    python benchmarks/time_to_quality.py            # 400x300
    python benchmarks/time_to_quality.py --quick    # 200x150
    python benchmarks/time_to_quality.py --quick --modes adam-fp32,adam-bf16   # some modes only
    python benchmarks/time_to_quality.py --network imagenet   # the real ImageNet VGG-16 (nst.weights.imagenet)

On the benchmark net (--network random: real VGG-19 conv widths, random weights; --network imagenet: the real
ImageNet VGG-16 in MatConvNet's layout) with the demo images (or --content, --style) and the homework's start
image (seed 0): first the reference, 200 Adam steps in fp32; its final J (in fp32) is the target. Then each
mode runs from the same start until its image's J, evaluated in fp32 every --check steps (L-BFGS: every
iteration), is at or below the target, or until it has spent 3x the reference's steps (not reached).
Modes: adam-fp32 (the reference itself), adam-bf16, lbfgs-fp32, lbfgs-bf16 (scipy L-BFGS-B as
`--optimizer lbfgs`), and scales2-* (`--scales 2`: --coarse-steps steps/evaluations at half size from the
half-size start, the result upsampled, then the full size until the target).
Seconds are the optimiser's wall time, tracing included (a user pays it), the fp32 checks excluded. The
machine may be shared: steps/evaluations to the target do not depend on the load, seconds do.
Each mode's record keeps the load average (os.getloadavg) before and after it.
Writes benchmarks/results/time_to_quality[_quick].json (--network imagenet: time_to_quality_imagenet_<size>.json)
after every mode.
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

MODES = ("adam-fp32", "adam-bf16", "lbfgs-fp32", "lbfgs-bf16",
         "scales2-adam-fp32", "scales2-adam-bf16", "scales2-lbfgs-fp32", "scales2-lbfgs-bf16")
REFERENCE_STEPS = 200
BUDGET = 3  # a mode may spend this many times the reference's steps (L-BFGS: evaluations)


class Clock:
    """Wall time of the optimiser alone: `pause()` ... `resume()` around the fp32 checks."""

    def __init__(self):
        self.spent, self.since = 0.0, None

    def pause(self):
        if self.since is not None:
            self.spent += time.perf_counter() - self.since
            self.since = None

    def resume(self):
        self.since = time.perf_counter()

    def seconds(self):
        return self.spent


def adam_until(problem, precision, start, target, max_steps, check, clock):
    """Adam from `start` until J (in fp32) <= target (checked every `check` steps and at the end) or max_steps.
    Returns (steps, J in fp32 at the end, image)."""
    from demo_problem import adam_steps

    state = {"steps": 0, "J": None, "at": None}

    def on_step(i, image):
        state["steps"] = i
        if target is None or i % check:
            return False
        clock.pause()
        state["J"], state["at"] = problem.J_fp32(image), i
        clock.resume()
        return state["J"] <= target

    clock.resume()
    image = adam_steps(problem.costs(precision), start, max_steps, on_step)
    clock.pause()
    if state["at"] != state["steps"]:
        state["J"] = problem.J_fp32(image)
    return state["steps"], state["J"], image.numpy()


def lbfgs_until(problem, precision, start, target, max_evaluations, clock):
    """scipy L-BFGS-B as `--optimizer lbfgs` (pixels bounded to 0..255, gtol 0) from `start` until J (in fp32)
    of an iteration's point <= target or max_evaluations. Returns (evaluations, J in fp32, image)."""
    import numpy as np
    import scipy.optimize
    import tensorflow as tf

    from nst.lbfgs import pixel_bounds
    from nst.objective import make_value_and_grad

    clock.resume()
    value_and_grad = make_value_and_grad(problem.costs(precision))
    shape = tuple(start.shape)
    lower, upper = pixel_bounds(shape)
    state = {"evaluations": 0, "J": None}

    def fun(x):
        J, _, _, grad = value_and_grad(tf.constant(x.reshape(shape), dtype=tf.float32))
        state["evaluations"] += 1
        return float(J), grad.numpy().astype(np.float64).ravel()

    def callback(intermediate_result):
        clock.pause()
        state["J"] = problem.J_fp32(intermediate_result.x.reshape(shape))
        clock.resume()
        if (target is not None and state["J"] <= target) or state["evaluations"] >= max_evaluations:
            raise StopIteration

    x0 = np.clip(np.asarray(start, dtype=np.float64), lower, upper).ravel()
    clock.resume()
    result = scipy.optimize.minimize(
        fun, x0, jac=True, method="L-BFGS-B", bounds=scipy.optimize.Bounds(lower.ravel(), upper.ravel()),
        callback=callback, options={"maxiter": max_evaluations, "maxfun": max_evaluations, "gtol": 0.0})
    clock.pause()
    image = result.x.reshape(shape).astype(np.float32)
    return state["evaluations"], problem.J_fp32(image), image


def run_mode(mode, problems, start, coarse_start, target, check, coarse_steps):
    """One mode to the target; returns its record."""
    import numpy as np

    from nst.images import MEANS, reshape_and_normalize_image, resize_image

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
        # the result upsampled as nst.commands.run does it (not timed: milliseconds)
        start = reshape_and_normalize_image(resize_image(np.clip(coarse[0] + MEANS[0], 0, 255), full.width, full.height))
        record["coarse"] = {"size": f"{half.width}x{half.height}", "steps": budget, "seconds": clock.seconds()}
    limit = BUDGET * REFERENCE_STEPS
    if optimiser == "adam":
        steps, J, _ = adam_until(full, precision, start, target, limit, check, clock)
    else:
        steps, J, _ = lbfgs_until(full, precision, start, target, limit, clock)
    record.update(steps=steps, final_J_fp32=J, reached=target is not None and J <= target, seconds=clock.seconds())
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200x150 instead of 400x300")
    parser.add_argument("--size", default=None, metavar="WxH", help="another size (e.g. 40x30 for a smoke test)")
    parser.add_argument("--modes", default=",".join(MODES[1:]), help="comma-separated, from: " + ", ".join(MODES[1:]))
    parser.add_argument("--check", type=int, default=5, help="evaluate J in fp32 every N Adam steps (default 5)")
    parser.add_argument("--coarse-steps", type=int, default=100,
                        help="--scales 2: Adam steps / L-BFGS evaluations at half size (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the homework's start image")
    parser.add_argument("--network", choices=("random", "imagenet"), default="random")
    parser.add_argument("--content", type=Path, default=None, help="content image (default: the demo's)")
    parser.add_argument("--style", type=Path, default=None, help="style image (default: the demo's)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    width, height = (200, 150) if args.quick else (400, 300)
    if args.size:
        width, height = (int(v) for v in args.size.split("x"))
    if args.out is None and args.network == "imagenet":
        args.out = ROOT / "benchmarks" / "results" / f"time_to_quality_imagenet_{width}x{height}.json"
    out = args.out or ROOT / "benchmarks" / "results" / f"time_to_quality{'_quick' * args.quick}.json"
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES[1:]]
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}")

    from bench import machine
    from demo_problem import NETWORK_LABELS, NETWORKS, Problem, homework_start

    t0 = time.perf_counter()
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, flags {' '.join(info['flags'])}, native bf16: "
          f"{info['native_bf16'] or 'no'}; TF {info['tensorflow']}, GPUs {info['gpus']}", flush=True)
    model = NETWORKS[args.network]()
    problems = tuple(Problem(model, w, h, args.content, args.style) for w, h in ((width, height), (width // 2, height // 2)))
    start = homework_start(problems[0].content, args.seed)
    coarse_start = homework_start(problems[1].content, args.seed)
    results = {"machine": info, "command": "python benchmarks/time_to_quality.py " + " ".join(argv or sys.argv[1:]),
               "network": NETWORK_LABELS[args.network], "content": str(args.content or "images/grace_hopper.jpg"),
               "style": str(args.style or "images/swirls.jpg"), "size": f"{width}x{height}", "seed": args.seed, "check_every": args.check,
               "coarse_steps": args.coarse_steps, "modes": []}

    clock, load = Clock(), os.getloadavg()
    _, target, _ = adam_until(problems[0], "fp32", start, None, REFERENCE_STEPS, args.check, clock)
    reference = {"mode": "adam-fp32", "optimizer": "adam", "precision": "fp32", "steps": REFERENCE_STEPS,
                 "final_J_fp32": target, "reached": True, "seconds": clock.seconds(),
                 "load_average": {"before": load, "after": os.getloadavg()}}
    results["target_J_fp32"] = target
    results["modes"].append(reference)
    print(f"{width}x{height}: target J {target:.6g} (200 fp32 Adam steps) in {reference['seconds']:.1f} s", flush=True)
    for mode in modes:
        load = os.getloadavg()
        record = run_mode(mode, problems, start, coarse_start, target, args.check, args.coarse_steps)
        record["load_average"] = {"before": load, "after": os.getloadavg()}
        record["speedup_vs_reference"] = reference["seconds"] / record["seconds"] if record["reached"] else None
        results["modes"].append(record)
        results["wall_s"] = time.perf_counter() - t0
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"  {mode}: {'reached' if record['reached'] else 'NOT reached'} after {record['steps']} "
              f"{'steps' if record['optimizer'] == 'adam' else 'evaluations'}"
              + (f" (+ {record['coarse']['steps']} at {record['coarse']['size']})" if "coarse" in record else "")
              + f", {record['seconds']:.1f} s, J {record['final_J_fp32']:.6g}"
              + (f", {record['speedup_vs_reference']:.2f}x the reference" if record["reached"] else "")
              + f"  [{results['wall_s']:.0f} s, load {record['load_average']['before'][0]:.1f}]", flush=True)
    print_table(results)
    print(f"wrote {out}")


def print_table(results):
    print(f"\n{results['size']}, target J {results['target_J_fp32']:.6g}; machine {results['machine']['cpu']}, "
          f"{results['machine']['cores']} cores, {' '.join(results['machine']['flags'])}")
    print(f"{'mode':22} {'reached':>7} {'steps':>6} {'seconds':>8} {'speed-up':>8}")
    for r in results["modes"]:
        extra = f"+{r['coarse']['steps']}c" if "coarse" in r else ""
        speed = f"{results['modes'][0]['seconds'] / r['seconds']:.2f}x" if r["reached"] else "-"
        print(f"{r['mode']:22} {'yes' if r['reached'] else 'no':>7} {str(r['steps']) + extra:>6} "
              f"{r['seconds']:8.1f} {speed:>8}")


if __name__ == "__main__":
    main()
