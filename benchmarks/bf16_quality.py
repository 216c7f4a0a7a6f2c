"""Is bf16 good enough? Final J of 200 Adam steps in fp32 and bf16 over several seeds, every result judged in fp32.

    python benchmarks/bf16_quality.py                        # 200x150 then 400x300, 5 seeds, 200 steps
    python benchmarks/bf16_quality.py --sizes 40x30 --seeds 1 --steps 3 --out /tmp/smoke.json   # smoke test
    python benchmarks/bf16_quality.py --network imagenet --sizes 200x150 --seeds 3   # the real ImageNet VGG-16

On the benchmark net (--network random: real VGG-19 conv widths, random weights, nst.weights.testnet;
--network imagenet: the real ImageNet VGG-16, nst.weights.imagenet) with the demo images
(images/grace_hopper.jpg, images/swirls.jpg), for each size and seed (the homework's noisy start image of that
seed) the same Adam run in each precision, interleaved fp32, bf16 per seed. Each run's final image is evaluated
in fp32 (the objective both minimise); J in fp32 is also taken after every 50 steps, and the seconds per step
are kept (median after the first, traced, step) so the bf16/fp32 speed ratio comes out of the same run. Each
non-fp32 run's picture is compared with the fp32 picture of its seed: SSIM (tf.image.ssim on the RGB images as
saved, 0..255, 11x11 window) and the load average is kept with each run.
The bar: bf16's median final J within the fp32 runs' seed range and at most 2 % above their median.
Results go to benchmarks/results/bf16_quality[_imagenet].json after every run (a partial run still has its numbers).
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

BAR_ABOVE_MEDIAN = 0.02  # bf16's median final J at most 2 % above fp32's median


def summary(runs, modes):
    """Per mode: final J (in fp32) min, median, max, s/step median; for each mode but fp32 the bar's verdict
    and its speed-up over fp32 (ratio of the per-step medians)."""
    out = {}
    for mode in modes:
        finals = [r["final_J_fp32"] for r in runs if r["mode"] == mode]
        if not finals:
            continue
        steps = [r["s_per_step"] for r in runs if r["mode"] == mode]
        out[mode] = {"runs": len(finals), "min": min(finals), "median": statistics.median(finals),
                     "max": max(finals), "s_per_step_median": statistics.median(steps)}
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


def one_run(problem, mode, seed, steps):
    """One Adam run; returns its record (final J in its own precision and in fp32, J in fp32 every 50 steps,
    s/step median)."""
    from demo_problem import adam_steps, homework_start

    costs = problem.costs(mode)
    times, marks, clock = [], {}, [time.perf_counter()]

    def on_step(i, image):
        now = time.perf_counter()
        times.append(now - clock[0])
        if i % 50 == 0 and i < steps:
            marks[i] = problem.J_fp32(image)
        clock[0] = time.perf_counter()

    image = adam_steps(costs, homework_start(problem.content, seed), steps, on_step)
    return image.numpy(), {"size": f"{problem.width}x{problem.height}", "mode": mode, "seed": seed, "steps": steps,
            "final_J_own": float(costs(image)[0]), "final_J_fp32": problem.J_fp32(image), "J_fp32_every_50": marks,
            "s_per_step": statistics.median(times[1:] or times), "wall_s": sum(times)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200x150,400x300", help="comma-separated WIDTHxHEIGHT, run in order")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds FIRST .. FIRST+SEEDS-1 (to split a run)")
    parser.add_argument("--summarize", type=Path, nargs="+", metavar="JSON",
                        help="print the summary of the runs in these result files (e.g. a split run) and stop")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--modes", default="fp32,bf16", help="precisions, comma-separated, fp32 first")
    parser.add_argument("--network", choices=("random", "imagenet"), default="random")
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/results/bf16_quality.json "
                        "(--network imagenet: bf16_quality_imagenet.json)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = ROOT / "benchmarks" / "results" / f"bf16_quality{'_imagenet' * (args.network == 'imagenet')}.json"
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    if args.summarize:
        runs = [r for path in args.summarize for r in json.loads(path.read_text())["runs"]]
        for size in dict.fromkeys(r["size"] for r in runs):
            print_summary(size, summary([r for r in runs if r["size"] == size], modes))
        return

    from bench import machine
    from demo_problem import NETWORK_LABELS, NETWORKS, Problem

    t0 = time.perf_counter()
    results = {"machine": machine(), "network": NETWORK_LABELS[args.network], "command": "python benchmarks/bf16_quality.py " + " ".join(argv or sys.argv[1:]),
               "images": ["images/grace_hopper.jpg", "images/swirls.jpg"], "steps": args.steps,
               "bar": f"bf16 median final J (in fp32) <= fp32 max and <= fp32 median * {1 + BAR_ABOVE_MEDIAN}",
               "runs": [], "summary": {}}
    print(json.dumps(results["machine"]), flush=True)
    model = NETWORKS[args.network]()
    for width, height in sizes:
        problem = Problem(model, width, height)
        size = f"{width}x{height}"
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            pictures = {}
            for mode in modes:
                load = os.getloadavg()
                pictures[mode], run = one_run(problem, mode, seed, args.steps)
                run["load_average"] = {"before": load, "after": os.getloadavg()}
                if mode != modes[0]:
                    run["ssim_to_" + modes[0]] = picture_ssim(pictures[mode], pictures[modes[0]])
                results["runs"].append(run)
                results["summary"][size] = summary([r for r in results["runs"] if r["size"] == size], modes)
                results["wall_s"] = time.perf_counter() - t0
                args.out.write_text(json.dumps(results, indent=2) + "\n")
                print(f"{size} seed {seed} {mode}: final J in fp32 {run['final_J_fp32']:.6g} (own "
                      f"{run['final_J_own']:.6g}), {run['s_per_step']:.3f} s/step  [{results['wall_s']:.0f} s]",
                      flush=True)
        print_summary(size, results["summary"][size])
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")


def print_summary(size, s):
    ref = s["fp32"]
    print(f"\n{size}: fp32 final J median {ref['median']:.6g}, range {ref['min']:.6g}-{ref['max']:.6g} "
          f"({100 * (ref['max'] - ref['min']) / ref['median']:.2f} % of the median), {ref['s_per_step_median']:.3f} s/step")
    for mode, m in s.items():
        if mode != "fp32":
            print(f"  {mode}: median {m['median']:.6g} ({100 * m['median_vs_fp32_median']:+.2f} % vs fp32's), range "
                  f"{m['min']:.6g}-{m['max']:.6g}, within fp32 range: {m['within_fp32_range']}, bar: "
                  f"{'PASS' if m['passes_bar'] else 'FAIL'}; {m['s_per_step_median']:.3f} s/step, "
                  f"{m['speedup_vs_fp32']:.2f}x fp32"
                  + (f", SSIM to fp32's picture >= {m['ssim_to_fp32_min']:.4f}" if "ssim_to_fp32_min" in m else ""),
                  flush=True)


if __name__ == "__main__":
    main()
