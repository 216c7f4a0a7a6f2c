"""bf16 or not: is a bf16 picture as good as fp32's (quality), how much sooner (speed), and where its error comes from.

    python -m benchmarks bf16 quality                  # 200x150 then 400x300, 5 seeds x {fp32, bf16} x 200 Adam steps
    python -m benchmarks bf16 quality --network imagenet --sizes 200x150 --seeds 3   # the real ImageNet VGG-16
    python -m benchmarks bf16 quality --images noise --sizes 200x150 --seeds 1       # the noise images
    python -m benchmarks bf16 quality --summarize benchmarks/results/bf16_quality*.json   # a split run's summary
    python -m benchmarks bf16 speed                    # fp32 and bf16 steps alternated, 20 pairs at 400x300
    python -m benchmarks bf16 error                    # bf16 vs fp32 on the same image along an fp32 run, 200x150

quality: on the benchmark net (--network random: real VGG-19 conv widths, random weights, nst.weights.testnet;
--network imagenet: the real ImageNet VGG-16, nst.weights.imagenet), for each size and seed the same Adam run from
the same start in each precision, interleaved fp32, bf16 per seed. Images: the demo's with the homework's noisy
start of each seed (--images demo), or uniform noise content and style with a start blended from them
(--images noise, one start whatever the seed: the problem on which the first bf16 figures were 5 % worse). Each
run's final image is evaluated in fp32 (the objective both minimise) and in its own precision; J in fp32 is also
taken every 50 steps; the seconds per step are kept (median after the first, traced, step), so the bf16/fp32
speed ratio comes out of the same run; each bf16 picture is compared with its seed's fp32 picture (SSIM,
tf.image.ssim on the RGB images as saved, 11x11 window); the load average is kept with each run. The bar: bf16's
median final J within the fp32 runs' seed range and at most 2 % above their median. Results go to
benchmarks/results/bf16_quality[_imagenet|_noise].json after every run (a partial run keeps its numbers).

speed: fp32 and bf16 steps alternated one by one in one process (a machine shared with other jobs slows both
alike), on the benchmark net with the demo images; each precision's median s/step and the median of the pairs'
ratios (fp32 time / bf16 time). --out writes them.

error: where bf16's error comes from, on the benchmark net for the demo images (the homework's start, seed 0)
and the noise images: fp32 Adam steps, and at steps 0, 50, 100, ... on that same image J in fp32, the relative
error of J in bf16, of each style layer's Gram and cost, of the content cost, and of the gradient dJ/dimage
(relative L2 error and cosine against fp32's). An error that is small next to J's own fall is harmless; one that
grows as J falls sets a floor below which bf16 cannot follow fp32.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common import (
    NETWORK_LABELS,
    NETWORKS,
    RESULTS,
    Problem,
    adam_steps,
    describe,
    homework_start,
    machine,
    noise_images,
    parse_size,
    real_net,
    write_result,
)

BAR_ABOVE_MEDIAN = 0.02  # bf16's median final J at most 2 % above fp32's median


# --- quality -------------------------------------------------------------------------------------------------------


def summary(runs, modes):
    """Per mode: final J (in fp32) min, median, max, s/step median; for each mode but fp32 the bar's verdict
    and its speed-up over fp32 (ratio of the per-step medians)."""
    out = {}
    for mode in modes:
        finals = [r["final_J_fp32"] for r in runs if r["mode"] == mode]
        if not finals:
            continue
        steps = [r["s_per_step"] for r in runs if r["mode"] == mode]
        out[mode] = {
            "runs": len(finals),
            "min": min(finals),
            "median": statistics.median(finals),
            "max": max(finals),
            "s_per_step_median": statistics.median(steps),
        }
        ssims = [r[key] for r in runs if r["mode"] == mode for key in r if key.startswith("ssim_to_")]
        if ssims:
            out[mode]["ssim_to_fp32_min"] = min(ssims)
    ref = out.get("fp32")
    for mode, s in out.items():
        if mode == "fp32" or ref is None:
            continue
        s["median_vs_fp32_median"] = s["median"] / ref["median"] - 1
        s["within_fp32_range"] = ref["min"] <= s["median"] <= ref["max"]
        s["passes_bar"] = s["median"] <= ref["max"] and s["median_vs_fp32_median"] <= BAR_ABOVE_MEDIAN
        s["speedup_vs_fp32"] = ref["s_per_step_median"] / s["s_per_step_median"]
    return out


def picture_ssim(a, b):
    """SSIM of two normalized (1, H, W, 3) images as saved (means added, clipped, uint8)."""
    import tensorflow as tf

    from nst.images import to_uint8

    x, y = (tf.constant(to_uint8(im)[None], tf.float32) for im in (a, b))
    return float(tf.image.ssim(x, y, max_val=255.0)[0])


def one_run(problem, mode, start, seed, steps):
    """One Adam run; returns its final image and record (final J in its own precision and in fp32, J in fp32
    every 50 steps, s/step median)."""
    goal = problem.objective(mode)
    times, marks, clock = [], {}, [time.perf_counter()]

    def on_step(i, image):
        now = time.perf_counter()
        times.append(now - clock[0])
        if i % 50 == 0 and i < steps:
            marks[i] = problem.J_fp32(image)
        clock[0] = time.perf_counter()

    image = adam_steps(goal, start, steps, on_step)
    return image.numpy(), {
        "size": f"{problem.width}x{problem.height}",
        "mode": mode,
        "seed": seed,
        "steps": steps,
        "final_J_own": float(goal.costs(image)[0]),
        "final_J_fp32": problem.J_fp32(image),
        "J_fp32_every_50": marks,
        "s_per_step": statistics.median(times[1:] or times),
        "wall_s": sum(times),
    }


def quality(args):
    modes = args.modes.split(",")
    if args.summarize:
        runs = [r for path in args.summarize for r in json.loads(path.read_text())["runs"]]
        for size in dict.fromkeys(r["size"] for r in runs):
            print_summary(size, summary([r for r in runs if r["size"] == size], modes))
        return
    suffix = {"imagenet": "_imagenet"}.get(args.network, "") + {"noise": "_noise"}.get(args.images, "")
    out = args.out or RESULTS / f"bf16_quality{suffix}.json"
    t0 = time.perf_counter()
    results = {
        "machine": machine(),
        "network": NETWORK_LABELS[args.network],
        "command": "python -m benchmarks bf16 " + " ".join(args.argv),
        "images": ["images/grace_hopper.jpg", "images/swirls.jpg"] if args.images == "demo" else "noise",
        "steps": args.steps,
        "bar": f"bf16 median final J (in fp32) <= fp32 max and <= fp32 median * {1 + BAR_ABOVE_MEDIAN}",
        "runs": [],
        "summary": {},
    }
    print(describe(results["machine"]), flush=True)
    model = NETWORKS[args.network]()
    for width, height in map(parse_size, args.sizes.split(",")):
        if args.images == "noise":
            content, style, noise_start = noise_images(width, height)
            problem = Problem(model, width, height, images=(content, style))
        else:
            problem = Problem(model, width, height)
        size = f"{width}x{height}"
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            start = noise_start if args.images == "noise" else homework_start(problem.content, seed)
            pictures = {}
            for mode in modes:
                load = os.getloadavg()
                pictures[mode], run = one_run(problem, mode, start, seed, args.steps)
                run["load_average"] = {"before": load, "after": os.getloadavg()}
                if mode != modes[0]:
                    run["ssim_to_" + modes[0]] = picture_ssim(pictures[mode], pictures[modes[0]])
                results["runs"].append(run)
                results["summary"][size] = summary([r for r in results["runs"] if r["size"] == size], modes)
                results["wall_s"] = time.perf_counter() - t0
                write_result(results, None, out)
                print(
                    f"{size} seed {seed} {mode}: final J in fp32 {run['final_J_fp32']:.6g} (own "
                    f"{run['final_J_own']:.6g}), {run['s_per_step']:.3f} s/step  [{results['wall_s']:.0f} s]",
                    flush=True,
                )
        print_summary(size, results["summary"][size])
    print(f"wrote {out} in {time.perf_counter() - t0:.0f} s")


def print_summary(size, s):
    ref = s["fp32"]
    print(
        f"\n{size}: fp32 final J median {ref['median']:.6g}, range {ref['min']:.6g}-{ref['max']:.6g} "
        f"({100 * (ref['max'] - ref['min']) / ref['median']:.2f} % of the median), "
        f"{ref['s_per_step_median']:.3f} s/step"
    )
    for mode, m in s.items():
        if mode != "fp32":
            print(
                f"  {mode}: median {m['median']:.6g} ({100 * m['median_vs_fp32_median']:+.2f} % vs fp32's), range "
                f"{m['min']:.6g}-{m['max']:.6g}, within fp32 range: {m['within_fp32_range']}, bar: "
                f"{'PASS' if m['passes_bar'] else 'FAIL'}; {m['s_per_step_median']:.3f} s/step, "
                f"{m['speedup_vs_fp32']:.2f}x fp32"
                + (f", SSIM to fp32's picture >= {m['ssim_to_fp32_min']:.4f}" if "ssim_to_fp32_min" in m else ""),
                flush=True,
            )


# --- speed ---------------------------------------------------------------------------------------------------------


def speed(args):
    import tensorflow as tf

    from nst.engine.adam import adam_state, make_train_step
    from nst.homework import LEARNING_RATE

    width, height = parse_size(args.size)
    info = machine()
    print(describe(info) + f"; {width}x{height}", flush=True)
    problem = Problem(real_net(), width, height)
    start = homework_start(problem.content, 0)
    steps = {}
    for precision in ("fp32", "bf16"):
        image = tf.Variable(start)
        steps[precision] = make_train_step(problem.objective(precision), image, adam_state(image), LEARNING_RATE)
        float(steps[precision]()[0])  # warm-up: tracing
    times = {"fp32": [], "bf16": []}
    load = os.getloadavg()
    for i in range(args.pairs):
        for precision, step in steps.items():
            t = time.perf_counter()
            float(step()[0])
            times[precision].append(time.perf_counter() - t)
        print(f"  pair {i + 1}: fp32 {times['fp32'][-1]:.3f} s, bf16 {times['bf16'][-1]:.3f} s", flush=True)
    ratios = [a / b for a, b in zip(times["fp32"], times["bf16"])]
    print(
        f"{width}x{height}: fp32 {statistics.median(times['fp32']):.3f} s/step, bf16 "
        f"{statistics.median(times['bf16']):.3f} s/step; fp32/bf16 per pair: median {statistics.median(ratios):.2f}x, "
        f"range {min(ratios):.2f}-{max(ratios):.2f}x over {args.pairs} pairs"
    )
    if args.out:
        results = {
            "machine": info,
            "command": "python -m benchmarks bf16 " + " ".join(args.argv),
            "size": f"{width}x{height}",
            "times": times,
            "ratio_median": statistics.median(ratios),
            "load_average": {"before": load, "after": os.getloadavg()},
        }
        print(f"wrote {write_result(results, None, args.out)}")


# --- error ---------------------------------------------------------------------------------------------------------


def layer_errors(model, a_C, grams, image):
    """Per style layer: (Gram rel. error, layer cost rel. error); content cost rel. error; bf16 vs fp32."""
    import tensorflow as tf

    from nst.costs import compute_content_cost, layer_style_cost_from_gram, style_gram
    from nst.homework import CONTENT_LAYER, STYLE_LAYERS

    layers = [CONTENT_LAYER] + [name for name, _ in STYLE_LAYERS]
    fp32 = model(tf.constant(image), layers)
    bf16 = {k: tf.cast(v, tf.float32) for k, v in model(tf.cast(tf.constant(image), tf.bfloat16), layers).items()}

    def rel(a, b):
        return float(tf.norm(a - b) / tf.norm(b))

    out = {}
    for name, _ in STYLE_LAYERS:
        g32, g16 = style_gram(fp32[name]), style_gram(bf16[name])
        c32 = layer_style_cost_from_gram(grams[name], fp32[name])
        c16 = layer_style_cost_from_gram(grams[name], bf16[name])
        out[name] = (rel(g16, g32), float(abs(c16 - c32) / c32))
    c32, c16 = (compute_content_cost(a_C, acts[CONTENT_LAYER]) for acts in (fp32, bf16))
    out["content"] = (None, float(abs(c16 - c32) / c32))
    return out


def error(args):
    import numpy as np
    import tensorflow as tf

    width, height = parse_size(args.size)
    steps = args.steps
    print(describe(machine()) + f"; {width}x{height}", flush=True)
    model = real_net()
    demo = Problem(model, width, height)
    noise_content, noise_style, noise_start = noise_images(width, height)
    cases = {
        "demo": (demo, homework_start(demo.content, 0)),
        "noise": (Problem(model, width, height, images=(noise_content, noise_style)), noise_start),
    }
    for name, (problem, start) in cases.items():
        vg = {p: problem.objective(p).value_and_grad for p in ("fp32", "bf16")}
        print(f"\n{name} images: step, J (fp32), J bf16 err, grad rel err, grad cosine | per layer Gram err / cost err")
        J0 = None

        def report(i, image, problem=problem, vg=vg):
            nonlocal J0
            if i % 50 and i != steps:
                return False
            x = tf.constant(image.numpy() if hasattr(image, "numpy") else image)
            J32, _, _, g32 = vg["fp32"](x)
            J16, _, _, g16 = vg["bf16"](x)
            J0 = J0 or float(J32)
            g32, g16 = g32.numpy().ravel().astype(np.float64), g16.numpy().ravel().astype(np.float64)
            err = np.linalg.norm(g16 - g32) / np.linalg.norm(g32)
            cos = g16 @ g32 / np.linalg.norm(g16) / np.linalg.norm(g32)
            layers = layer_errors(model, problem.a_C, problem.grams, x.numpy())
            cells = " ".join(
                f"{k}: {'-' if g is None else f'{100 * g:.2f}'}/{100 * c:.2f}%" for k, (g, c) in layers.items()
            )
            print(
                f"  {i:4d} J {float(J32):.5g} ({float(J32) / J0:.2g} of start) "
                f"J err {100 * abs(float(J16 - J32)) / float(J32):.2f}% grad err {100 * err:.1f}% cos {cos:.4f} | "
                f"{cells}",
                flush=True,
            )
            return False

        report(0, start)
        adam_steps(problem.objective("fp32"), start, steps, report)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks bf16", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality", help="final J of fp32 and bf16 Adam runs over seeds, judged in fp32")
    q.add_argument("--sizes", default="200x150,400x300", help="comma-separated WIDTHxHEIGHT, run in order")
    q.add_argument("--seeds", type=int, default=5)
    q.add_argument("--first-seed", type=int, default=0, help="seeds FIRST .. FIRST+SEEDS-1 (to split a run)")
    q.add_argument(
        "--summarize",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="print the summary of the runs in these result files (e.g. a split run) and stop",
    )
    q.add_argument("--steps", type=int, default=200)
    q.add_argument("--modes", default="fp32,bf16", help="precisions, comma-separated, fp32 first")
    q.add_argument("--network", choices=tuple(NETWORKS), default="random")
    q.add_argument("--images", choices=("demo", "noise"), default="demo")
    q.add_argument(
        "--out", type=Path, default=None, help="default benchmarks/results/bf16_quality[_imagenet][_noise].json"
    )
    s = sub.add_parser("speed", help="fp32 and bf16 steps alternated in one process")
    s.add_argument("size", nargs="?", default="400x300")
    s.add_argument("--pairs", type=int, default=20)
    s.add_argument("--out", type=Path, default=None, help="write the times there (default: print only)")
    e = sub.add_parser("error", help="bf16's error in J, the Grams and the gradient along an fp32 run")
    e.add_argument("size", nargs="?", default="200x150")
    e.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    args.argv = argv
    {"quality": quality, "speed": speed, "error": error}[args.what](args)
