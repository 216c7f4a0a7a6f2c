"""The honest headline: each mode's time to the homework's picture on the real ImageNet VGG-16, and the command's.

    python -m nst.weights.imagenet          # once: pretrained-model/imagenet-vgg-verydeep-16.mat
    python -m benchmarks picture            # 400x300 (about 15 minutes on 2 quiet cores)
    python -m benchmarks picture --size 80x60 --reference-steps 10 --out /tmp/picture.json   # that it runs

The target is the J (in fp32) that the homework's 200 fp32 Adam steps reach at 400x300 from the homework's start
image of seed 1 (the PyTorch peers' start: ../shared/peers/prep_images.py) with the demo images. Each mode runs
from the same start until its image's J, evaluated in fp32 (every 5 Adam steps, every L-BFGS iteration; the
checks are not timed), is at or below the target (benchmarks.time_to_quality's rules; L-BFGS with scipy's
BLAS on one thread, as nst.engine.lbfgs runs it). "per evaluation" is an L-BFGS run's optimiser time divided by its
evaluations, beside the same precision's Adam step from the same run. Then the whole command, `python -m nst
--optimizer lbfgs --precision P --iterations E` with E the evaluations found, is timed from its start to its end
(weights from the cache, TensorFlow's import included), and so is the default command with one Adam step
(`--iterations 1`: start-up, the step, the outputs), each with its peak RSS. Writes
benchmarks/results/picture.json.
"""

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks.common import (
    Clock,
    Problem,
    adam_until,
    describe,
    homework_start,
    lbfgs_until,
    machine,
    nst_command,
    parse_size,
    write_result,
)

SEED = 1
MODES = ("adam-bf16", "lbfgs-fp32", "lbfgs-bf16")


def whole_command(weights, precision, iterations, seed, optimizer="lbfgs", size=(400, 300)):
    """`python -m nst --optimizer O --precision P --iterations N ...` from the start of its process to its end:
    wall seconds and the process's peak RSS (MiB)."""
    args = [
        "--weights",
        str(weights),
        "--seed",
        str(seed),
        "--optimizer",
        optimizer,
        "--precision",
        precision,
        "--iterations",
        str(iterations),
        "--no-progress",
        "--no-download",
    ]
    if size != (400, 300):
        args += ["--width", str(size[0]), "--height", str(size[1])]
    return nst_command(args)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks picture", description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="400x300")
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="default: the ImageNet VGG-16 (nst.weights.imagenet, where nst looks for weights)",
    )
    parser.add_argument("--reference-steps", type=int, default=200, help="the homework's 200 fp32 Adam steps")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/picture.json")
    args = parser.parse_args(argv)
    from nst.vgg import load_vgg_model
    from nst.weights.cache import read_weights
    from nst.weights.imagenet import imagenet_vgg16

    weights = args.weights or imagenet_vgg16()  # found where weights are looked for, else written into $NST_HOME
    size, steps = parse_size(args.size), args.reference_steps
    t0 = time.perf_counter()
    results = {
        "machine": machine(),
        "command": "python -m benchmarks picture " + " ".join(argv),
        "size": f"{size[0]}x{size[1]}",
        "seed": SEED,
        "network": "ImageNet VGG-16 (nst.weights.imagenet)" if args.weights is None else str(weights),
        "load_average_at_start": os.getloadavg(),
        "modes": [],
    }
    print(describe(results["machine"]), flush=True)
    read_weights(weights)  # the weights cache written (when it is not there yet): the commands below find it warm
    problem = Problem(load_vgg_model(weights), *size)
    start = homework_start(problem.content, SEED)

    clock = Clock()
    _, target, _ = adam_until(problem, "fp32", start, None, steps, 5, clock)
    results["target_J_fp32"] = target
    results["modes"].append(
        {
            "mode": "adam-fp32",
            "steps": steps,
            "seconds": clock.seconds(),
            "per_step_s": clock.seconds() / steps,
            "final_J_fp32": target,
        }
    )
    print(f"target J {target:.7g}: {steps} fp32 Adam steps in {clock.seconds():.1f} s", flush=True)
    for mode in MODES:
        optimiser, precision = mode.split("-")
        clock = Clock()
        if optimiser == "adam":
            done, J, _ = adam_until(problem, precision, start, target, 3 * steps, 5, clock)
        else:
            done, J, _ = lbfgs_until(problem, precision, start, target, steps, clock)
        record = {
            "mode": mode,
            "steps": done,
            "seconds": clock.seconds(),
            "final_J_fp32": J,
            "reached": J <= target,
            ("per_step_s" if optimiser == "adam" else "per_evaluation_s"): clock.seconds() / done,
        }
        results["modes"].append(record)
        print(
            f"  {mode}: {done} {'steps' if optimiser == 'adam' else 'evaluations'}, {record['seconds']:.1f} s, "
            f"J {J:.7g} ({'reached' if record['reached'] else 'NOT reached'})  [{time.perf_counter() - t0:.0f} s]",
            flush=True,
        )
        write_result(results, "picture", args.out)
    by_mode = {r["mode"]: r for r in results["modes"]}
    for precision in ("fp32", "bf16"):
        lbfgs = by_mode[f"lbfgs-{precision}"]
        lbfgs["evaluation_vs_adam_step"] = lbfgs["per_evaluation_s"] / by_mode[f"adam-{precision}"]["per_step_s"]
        lbfgs["whole_command"] = whole_command(weights, precision, lbfgs["steps"], SEED, size=size)
        print(
            f"  lbfgs-{precision}: an evaluation {lbfgs['evaluation_vs_adam_step']:.2f}x an Adam step; "
            f"`{lbfgs['whole_command']['command']}` {lbfgs['whole_command']['wall_s']:.1f} s",
            flush=True,
        )
    results["first_step"] = {}
    for precision in ("fp32", "bf16"):  # start-up: the whole default command with one Adam step
        results["first_step"][precision] = whole_command(weights, precision, 1, SEED, optimizer="adam", size=size)
        print(
            f"  one Adam step, {precision}: `{results['first_step'][precision]['command']}` "
            f"{results['first_step'][precision]['wall_s']:.1f} s, peak RSS "
            f"{results['first_step'][precision]['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
    results.update(load_average_at_end=os.getloadavg(), wall_s=time.perf_counter() - t0)
    out = write_result(results, "picture", args.out)
    print(f"wrote {out} in {results['wall_s']:.0f} s (load {results['load_average_at_end'][0]:.1f} at the end)")
