"""The honest headline: each mode's time to the homework's picture on the real ImageNet VGG-16, and the command's.

    python -m nst.weights.imagenet          # once: pretrained-model/imagenet-vgg-verydeep-16.mat
    python benchmarks/picture.py            # 400x300 (about 15 minutes on 2 quiet cores)

The target is the J (in fp32) that the homework's 200 fp32 Adam steps reach at 400x300 from the homework's start
image of seed 1 (the PyTorch peers' start: ../shared/peers/prep_images.py) with the demo images. Each mode runs
from the same start until its image's J, evaluated in fp32 (every 5 Adam steps, every L-BFGS iteration; the
checks are not timed), is at or below the target (benchmarks/time_to_quality.py's rules; L-BFGS with scipy's
BLAS on one thread, as nst.lbfgs runs it). "per evaluation" is an L-BFGS run's optimiser time divided by its
evaluations, beside the same precision's Adam step from the same run. Then the whole command, `python -m nst
--optimizer lbfgs --precision P --iterations E` with E the evaluations found, is timed from its start to its end
(weights from the cache, TensorFlow's import included), and so is the default command with one Adam step
(`--iterations 1`: start-up, the step, the outputs), each with its peak RSS. Writes
benchmarks/results/picture.json.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SEED = 1
MODES = ("adam-bf16", "lbfgs-fp32", "lbfgs-bf16")


# `python -m nst ARGS` with the process's peak RSS (VmHWM) printed to stderr as it exits
PEAK = ("import atexit, runpy, sys\n"
        "atexit.register(lambda: print('VmHWM', next(l.split()[1] for l in open('/proc/self/status') "
        "if l.startswith('VmHWM')), file=sys.stderr))\n"
        "sys.argv = ['nst'] + sys.argv[1:]\n"
        "runpy.run_module('nst', run_name='__main__', alter_sys=True)\n")


def whole_command(weights, precision, iterations, seed, optimizer="lbfgs"):
    """`python -m nst --optimizer O --precision P --iterations N ...` from the start of its process to its end:
    wall seconds and the process's peak RSS (MiB)."""
    with tempfile.TemporaryDirectory() as out:
        args = ["--weights", str(weights), "--seed", str(seed), "--optimizer", optimizer, "--precision", precision,
                "--iterations", str(iterations), "--no-progress", "--no-download"]
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", PEAK, *args, "--output-dir", out], capture_output=True,
                              text=True, cwd=ROOT, stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"nst {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    peak = int(proc.stderr.strip().splitlines()[-1].split()[1]) / 1024
    return {"command": "python -m nst " + " ".join(args), "wall_s": seconds, "peak_rss_mib": peak}


def main():
    from threadpoolctl import threadpool_limits

    from bench import machine
    from demo_problem import Problem, homework_start
    from nst.vgg import load_vgg_model
    from nst.weights.cache import read_weights
    from nst.weights.imagenet import imagenet_vgg16
    from time_to_quality import Clock, adam_until, lbfgs_until

    weights = imagenet_vgg16()  # found where weights are looked for, else written into $NST_HOME
    t0 = time.perf_counter()
    results = {"machine": machine(), "command": "python benchmarks/picture.py", "size": "400x300", "seed": SEED,
               "network": "ImageNet VGG-16 (nst.weights.imagenet)", "load_average_at_start": os.getloadavg(),
               "modes": []}
    print(f"machine: {results['machine']['cpu']}, flags {' '.join(results['machine']['flags'])}; "
          f"load {results['load_average_at_start'][0]:.1f}", flush=True)
    read_weights(weights)  # the weights cache written (when it is not there yet): the commands below find it warm
    problem = Problem(load_vgg_model(weights), 400, 300)
    start = homework_start(problem.content, SEED)
    out = ROOT / "benchmarks" / "results" / "picture.json"

    clock = Clock()
    _, target, _ = adam_until(problem, "fp32", start, None, 200, 5, clock)
    results["target_J_fp32"] = target
    results["modes"].append({"mode": "adam-fp32", "steps": 200, "seconds": clock.seconds(),
                             "per_step_s": clock.seconds() / 200, "final_J_fp32": target})
    print(f"target J {target:.7g}: 200 fp32 Adam steps in {clock.seconds():.1f} s", flush=True)
    for mode in MODES:
        optimiser, precision = mode.split("-")
        clock = Clock()
        if optimiser == "adam":
            steps, J, _ = adam_until(problem, precision, start, target, 600, 5, clock)
        else:
            with threadpool_limits(1, user_api="blas"):
                steps, J, _ = lbfgs_until(problem, precision, start, target, 200, clock)
        record = {"mode": mode, "steps": steps, "seconds": clock.seconds(), "final_J_fp32": J,
                  "reached": J <= target, ("per_step_s" if optimiser == "adam" else "per_evaluation_s"):
                  clock.seconds() / steps}
        results["modes"].append(record)
        print(f"  {mode}: {steps} {'steps' if optimiser == 'adam' else 'evaluations'}, {record['seconds']:.1f} s, "
              f"J {J:.7g} ({'reached' if record['reached'] else 'NOT reached'})  [{time.perf_counter() - t0:.0f} s]",
              flush=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
    by_mode = {r["mode"]: r for r in results["modes"]}
    for precision in ("fp32", "bf16"):
        lbfgs = by_mode[f"lbfgs-{precision}"]
        lbfgs["evaluation_vs_adam_step"] = lbfgs["per_evaluation_s"] / by_mode[f"adam-{precision}"]["per_step_s"]
        lbfgs["whole_command"] = whole_command(weights, precision, lbfgs["steps"], SEED)
        print(f"  lbfgs-{precision}: an evaluation {lbfgs['evaluation_vs_adam_step']:.2f}x an Adam step; "
              f"`{lbfgs['whole_command']['command']}` {lbfgs['whole_command']['wall_s']:.1f} s", flush=True)
    results["first_step"] = {}
    for precision in ("fp32", "bf16"):  # start-up: the whole default command with one Adam step
        results["first_step"][precision] = whole_command(weights, precision, 1, SEED, optimizer="adam")
        print(f"  one Adam step, {precision}: `{results['first_step'][precision]['command']}` "
              f"{results['first_step'][precision]['wall_s']:.1f} s, peak RSS "
              f"{results['first_step'][precision]['peak_rss_mib']:.0f} MiB", flush=True)
    results.update(load_average_at_end=os.getloadavg(), wall_s=time.perf_counter() - t0)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out} in {results['wall_s']:.0f} s (load {results['load_average_at_end'][0]:.1f} at the end)")


if __name__ == "__main__":
    if sys.argv[1:]:
        sys.exit("usage: python benchmarks/picture.py")
    main()
