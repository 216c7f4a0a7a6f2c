"""Two checkouts of nst side by side: the same steps timed in each, interleaved round by round, and their ratios.

    python -m benchmarks checkouts                            # 7166631 (before the engine) against HEAD, 400x300
    python -m benchmarks checkouts --before 7166631 --after main --rounds 3 --steps 5
    python -m benchmarks checkouts --size 100x75 --rounds 1 --steps 2 --out /tmp/checkouts.json   # that it runs

Each revision is checked out with `git worktree add --detach` under a temporary folder (removed at the end), and
each round runs one worker process per checkout (the order alternating from round to round), with that
checkout's `nst` first on PYTHONPATH (the worker checks that it imported the checkout's own). A worker builds the
benchmark net (VGG-19's real conv widths, random weights, nst.weights.testnet) and the demo images' targets at
the size, then, the variants taking turns step by step so that other jobs on the machine slow them alike:
    adam-fp32, adam-bf16   one Adam step (the traced step, its costs read back), as bench.py times it
    lbfgs-eval-fp32        one L-BFGS evaluation: J and its gradient at an image, the gradient as float64 on the
                           host (what scipy's L-BFGS-B asks for at each evaluation)
and then the homework's loops on the same images, each call timed whole (its targets, its tracing and its files
included) and divided by its steps or evaluations:
    model_nn-fp32          `--iterations` Adam steps through model_nn (nst.optimize)
    model_lbfgs-fp32       `--iterations` L-BFGS evaluations through model_lbfgs (as the log line counts them)
The API the worker calls is whichever the checkout has (the engine's Objective, or the older cost_function).
Ratios are after / before of the medians (below 1: the after checkout is faster). Writes
benchmarks/results/checkouts.json; the load average is kept with each worker.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEP_VARIANTS = ("adam-fp32", "adam-bf16", "lbfgs-eval-fp32")
LOOP_VARIANTS = ("model_nn-fp32", "model_lbfgs-fp32")


def worker(job):
    """In a checkout's process: every variant's seconds (see the module docstring) and where nst came from."""
    import numpy as np
    import tensorflow as tf

    import nst
    from nst.images import generate_noise_image, load_image, reshape_and_normalize_image
    from nst.vgg import load_vgg_model
    from nst.weights.testnet import REAL_WIDTHS, write_test_vgg

    width, height = job["size"]
    root = Path(nst.__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        model = load_vgg_model(write_test_vgg(Path(tmp) / "vgg19-real-conv.mat", widths=REAL_WIDTHS, seed=0))
    content, style = (
        reshape_and_normalize_image(load_image(root / "images" / name, width, height))
        for name in ("grace_hopper.jpg", "swirls.jpg")
    )
    start = generate_noise_image(content, 0.6, seed=0)
    layers = (("conv1_1", 0.2), ("conv2_1", 0.2), ("conv3_1", 0.2), ("conv4_1", 0.2), ("conv5_1", 0.2))
    try:  # the engine (nst.engine): an Objective, make_train_step taking it
        from nst.engine.adam import adam_state, make_train_step
        from nst.engine.objective import Weights, objective
        from nst.engine.targets import content_target, style_targets
        from nst.settings import Config

        api = "nst.engine"
        a_C, grams = content_target(model, content, "conv4_2"), style_targets(model, style, layers)
        goals = {p: objective(model, a_C, grams, Weights(), p) for p in ("fp32", "bf16")}
        costs_of = goals
        value_and_grad = goals["fp32"].value_and_grad
    except ImportError:  # before it: cost_function(model, a_C, grams, cfg), make_train_step taking its costs
        from nst.config import Config
        from nst.objective import cost_function, make_value_and_grad
        from nst.optimize import adam_state, make_train_step
        from nst.targets import content_target, style_targets

        api = "nst.objective"
        a_C, grams = content_target(model, content, "conv4_2"), style_targets(model, style, layers)
        costs_of = {p: cost_function(model, a_C, grams, Config(precision=p)) for p in ("fp32", "bf16")}
        value_and_grad = make_value_and_grad(costs_of["fp32"])
    from nst.optimize import model_nn

    try:
        from nst.optimize import model_lbfgs
    except ImportError:  # before the engine: in nst.lbfgs
        from nst.lbfgs import model_lbfgs

    steps = {}
    for precision in ("fp32", "bf16"):
        image = tf.Variable(start)
        steps[f"adam-{precision}"] = make_train_step(costs_of[precision], image, adam_state(image), 2.0)
    point = tf.constant(np.clip(start, -120, 130).astype(np.float32))

    def evaluation():
        J, _, _, grad = value_and_grad(point)
        return float(J), grad.numpy().astype(np.float64).ravel()

    calls = {
        "adam-fp32": lambda: float(steps["adam-fp32"]()[0]),
        "adam-bf16": lambda: float(steps["adam-bf16"]()[0]),
        "lbfgs-eval-fp32": evaluation,
    }
    for call in calls.values():  # tracing
        call()
    times = {name: [] for name in calls}
    for _ in range(job["steps"]):
        for name, call in calls.items():
            t = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t)
    loops = {}
    for name, run in (("model_nn-fp32", model_nn), ("model_lbfgs-fp32", model_lbfgs)):
        with tempfile.TemporaryDirectory() as out:
            cfg = Config(
                iterations=job["iterations"],
                output_dir=Path(out),
                progress=False,
                save_every=1000,
                optimizer="lbfgs" if run is model_lbfgs else "adam",
            )
            lines = []
            t = time.perf_counter()
            run(model, content, style, start, cfg, log=lines.append)
            seconds = time.perf_counter() - t
        # per iteration: Adam's steps, L-BFGS's evaluations (both checkouts log "L-BFGS: I iterations, E evaluations")
        done = job["iterations"]
        for line in lines:
            if line.startswith("L-BFGS: "):
                done = int(line.split(",")[1].split()[0])
        loops[name] = seconds / done
    return {
        "nst": str(Path(nst.__file__).resolve()),
        "api": api,
        "times": times,
        "loops": loops,
        "load_average": os.getloadavg(),
    }


def seconds_of(result, variant):
    """A worker's figure for `variant`: its steps' median, or its loop's seconds per iteration."""
    return statistics.median(result["times"][variant]) if variant in STEP_VARIANTS else result["loops"][variant]


def checkout(repo, revision, folder):
    """A detached worktree of `repo` at `revision` in `folder`; returns (folder, the commit)."""
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", revision + "^{commit}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", str(folder), commit], check=True, capture_output=True
    )
    return folder, commit


def run_in(folder, job):
    """worker(job) in a process whose `nst` is the checkout's in `folder`."""
    env = dict(os.environ, PYTHONPATH=str(folder), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(job)],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        sys.exit(f"worker in {folder} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if not Path(result["nst"]).is_relative_to(Path(folder).resolve()) or result["nst_modules_from_elsewhere"]:
        sys.exit(
            f"the worker in {folder} imported nst modules from elsewhere: {result['nst']}, "
            f"{result['nst_modules_from_elsewhere']}"
        )
    return result


def main(argv=None):
    from benchmarks.common import ROOT, describe, machine, parse_size, write_result

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks checkouts", description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="7166631", help="the revision before (default: 7166631, before the engine)")
    parser.add_argument("--after", default="HEAD", help="the revision after (default: HEAD)")
    parser.add_argument("--size", default="400x300")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="timed steps of each variant per worker")
    parser.add_argument("--iterations", type=int, default=10, help="iterations of each homework loop per worker")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/checkouts.json")
    args = parser.parse_args(argv)
    size = parse_size(args.size)
    t0 = time.perf_counter()
    results = {
        "machine": machine(),
        "command": "python -m benchmarks checkouts " + " ".join(argv),
        "size": f"{size[0]}x{size[1]}",
        "rounds": args.rounds,
        "steps": args.steps,
        "iterations": args.iterations,
        "load_average_at_start": os.getloadavg(),
        "workers": [],
    }
    print(describe(results["machine"]), flush=True)
    job = {"size": size, "steps": args.steps, "iterations": args.iterations}
    with tempfile.TemporaryDirectory(prefix="nst-checkouts-") as tmp:
        sides = {}
        try:
            for side, revision in (("before", args.before), ("after", args.after)):
                folder, commit = checkout(ROOT, revision, Path(tmp) / side)
                sides[side] = folder
                results[side] = {"revision": revision, "commit": commit}
            for r in range(args.rounds):
                order = ("before", "after") if r % 2 == 0 else ("after", "before")
                for side in order:
                    out = run_in(sides[side], job)
                    out.update(side=side, round=r + 1)
                    results["workers"].append(out)
                    medians = {k: statistics.median(v) for k, v in out["times"].items()}
                    print(
                        f"  round {r + 1} {side:6} ({out['api']}): "
                        + ", ".join(f"{k} {v:.3f} s" for k, v in {**medians, **out["loops"]}.items())
                        + f"  (load {out['load_average'][0]:.1f}) [{time.perf_counter() - t0:.0f} s]",
                        flush=True,
                    )
        finally:
            for folder in sides.values():
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], capture_output=True
                )
    table = {}
    for variant in STEP_VARIANTS + LOOP_VARIANTS:
        row = {}
        for side in ("before", "after"):
            if variant in STEP_VARIANTS:
                values = [t for w in results["workers"] if w["side"] == side for t in w["times"][variant]]
            else:
                values = [w["loops"][variant] for w in results["workers"] if w["side"] == side]
            row[side] = {
                "median_s": statistics.median(values),
                "min_s": min(values),
                "max_s": max(values),
                "n": len(values),
            }
        row["after_vs_before"] = row["after"]["median_s"] / row["before"]["median_s"]
        per_round = []
        for r in range(1, args.rounds + 1):
            pair = {w["side"]: w for w in results["workers"] if w["round"] == r}
            per_round.append(seconds_of(pair["after"], variant) / seconds_of(pair["before"], variant))
        row["after_vs_before_per_round"] = per_round
        table[variant] = row
    results.update(table=table, load_average_at_end=os.getloadavg(), wall_s=time.perf_counter() - t0)
    print(f"\n{results['size']}, {args.rounds} rounds; after ({args.after}) / before ({args.before}), medians:")
    for variant, row in table.items():
        print(
            f"  {variant:18} before {row['before']['median_s']:7.3f} s  after {row['after']['median_s']:7.3f} s  "
            f"ratio {row['after_vs_before']:.3f} "
            f"(per round {', '.join(f'{x:.3f}' for x in row['after_vs_before_per_round'])})"
        )
    print(
        f"wrote {write_result(results, 'checkouts', args.out)} in {results['wall_s']:.0f} s (load "
        f"{results['load_average_at_start'][0]:.1f} at the start, {results['load_average_at_end'][0]:.1f} at the end)"
    )


def only_from(folder):
    """Make every `nst` module come from the checkout in `folder`: an editable install of nst (pip install -e)
    maps nst's subpackages to its own tree with a finder of its own, which would fill in the modules an older
    checkout lacks; that finder is taken out. Returns a check: the nst modules loaded from elsewhere."""
    sys.meta_path[:] = [
        finder
        for finder in sys.meta_path
        if not getattr(finder, "__module__", type(finder).__module__).startswith("__editable__")
    ]
    sys.path_hooks[:] = [
        hook for hook in sys.path_hooks if not getattr(hook, "__module__", "").startswith("__editable__")
    ]
    sys.path_importer_cache.clear()
    root = Path(folder).resolve()

    def strays():
        loaded = {
            name: getattr(module, "__file__", None)
            for name, module in sys.modules.items()
            if name == "nst" or name.startswith("nst.")
        }
        return sorted(name for name, file in loaded.items() if file and not Path(file).resolve().is_relative_to(root))

    return strays


if __name__ == "__main__":  # the worker, run as a file so that `nst` is the checkout's, never this one's
    if sys.argv[1:2] == ["--worker"] and len(sys.argv) == 3:
        strays = only_from(os.getcwd())
        result = worker(json.loads(sys.argv[2]))
        result["nst_modules_from_elsewhere"] = strays()
        print(json.dumps(result))
    else:
        sys.exit("usage: python -m benchmarks checkouts [args]")
