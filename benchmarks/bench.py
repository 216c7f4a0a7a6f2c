"""Benchmark of one style-transfer step: naive eager reference vs nst's step in fp32, with XLA, in bf16.

    python -m benchmarks bench              # both tables, writes benchmarks/results/bench.json (about 8 minutes here)
    python -m benchmarks bench --ablation   # + fp32_tf_grad in table 1 (about 1 minute more)

Writes two VGG-19 files with random weights in MatConvNet's layout (nst.weights.testnet) into a temp dir: one with the
real conv layers and tiny fc layers for the timings, and one as large as the real file (fc layers at real
width too) for the peak RSS of a whole 400x300 run, reading the file included.
Every measurement runs in its own worker process (so peak RSS is that variant's), and the variants' workers
are interleaved round by round. s/step = wall time of one step after warm-up (the costs are read back each
step, as nst's loop does). GFLOP/s use the analytic FLOP count of convs up to conv5_1, forward + input gradient.
Variants: eager = benchmarks.naive_eager (plain eager TF2, TF's own gradients); fp32 = nst's step (the
default); fp32_tf_grad = nst's step with TF's own conv input gradient instead of the rotated kernel's
(nst.engine.network.conv2d_same);
xla = fp32 with --xla; bf16 = --precision bf16.
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import conv_flops, machine, matmul_rates, noise_images, peak_rss_mb, run_worker, write_result

VARIANTS = ("eager", "fp32", "xla", "bf16")  # + "fp32_tf_grad" with --ablation
SIZES = ((200, 150), (400, 300), (800, 600), (1024, 768))
ROUNDS, STEPS_PER_ROUND = 2, 5  # table 1: 10 timed steps per variant, 1 warm-up step per worker
SCALE_STEPS = {"eager": 1, "fp32": 3}  # table 2: timed steps after 1 warm-up (400x300: table 1's figures)
FINAL_STEPS, FINAL_SIZE = 200, (100, 75)  # bf16 vs fp32 final costs


def worker(job):
    """Run one job in this process; returns a dict (printed as JSON)."""
    import tensorflow as tf

    if job["kind"] == "matmul":
        return matmul_rates()
    width, height = job["size"]
    content, style, start = noise_images(width, height)
    steps, variant = job["steps"], job["variant"]
    times = []
    if variant == "eager":
        from benchmarks.naive_eager import naive_steps
        from nst.vgg import read_vgg_weights

        weights, _ = read_vgg_weights(job["weights"])
        weights = {k: (tf.constant(W), tf.constant(b)) for k, (W, b) in weights.items()}
        clock = [time.perf_counter()]

        def tick():
            now = time.perf_counter()
            times.append(now - clock[0])
            clock[0] = now

        costs = naive_steps(weights, content, style, start, steps + 1, on_step=tick)
        return {"times": times[1:], "rss": peak_rss_mb(), "final": costs[-1]}
    from benchmarks.common import Problem
    from nst.engine.adam import adam_state, make_train_step
    from nst.homework import LEARNING_RATE
    from nst.vgg import load_vgg_model

    # fp32_tf_grad: the step with TF's own gradient (Conv2DBackpropInput); the others: this CPU's choice, as a run
    gradient = "tf" if variant == "fp32_tf_grad" else None
    problem = Problem(load_vgg_model(job["weights"]), width, height, images=(content, style))
    goal = problem.objective("bf16" if variant == "bf16" else "fp32", gradient)
    image = tf.Variable(start)
    train_step = make_train_step(goal, image, adam_state(image), LEARNING_RATE, jit_compile=variant == "xla" or None)
    for _ in range(steps + 1):
        t = time.perf_counter()
        float(train_step()[0])  # the driver reads the costs of every step back too
        times.append(time.perf_counter() - t)
    out = {"times": times[1:], "rss": peak_rss_mb(), "traces": train_step.experimental_get_tracing_count()}
    if job.get("final"):  # J of the result in the variant's own arithmetic, and in fp32
        out["final"] = float(goal.costs(image)[0])
        out["final_fp32"] = problem.J_fp32(image)
    return out


def run(job):
    return run_worker("bench", job)


def main(argv=()):
    parser = argparse.ArgumentParser(prog="python -m benchmarks bench", description=__doc__.splitlines()[0])
    parser.add_argument("--ablation", action="store_true", help="also nst's step with TF's own conv input gradient")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and steps, no real-size file: that it runs")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/bench.json")
    args = parser.parse_args(argv)
    ablation = args.ablation
    size, sizes, rounds, steps_per_round, final_steps, final_size = (
        ((100, 75), ((50, 38), (100, 75)), 1, 2, 3, (40, 30))
        if args.quick
        else ((400, 300), SIZES, ROUNDS, STEPS_PER_ROUND, FINAL_STEPS, FINAL_SIZE)
    )
    label = f"{size[0]}x{size[1]}"
    t0 = time.perf_counter()
    from nst.weights.testnet import REAL_WIDTHS, vgg_layers, write_test_vgg

    variants = VARIANTS + ("fp32_tf_grad",) * ablation
    results = {
        "machine": machine(),
        "command": "python -m benchmarks bench " + " ".join(argv),
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        # The real conv layers, tiny fc layers (quick to read) for the timings; and a file as large as the real
        # one (fc6 alone is 411 MB) for the peak RSS of a whole 400x300 run, reading included.
        weights = str(write_test_vgg(Path(tmp) / "vgg19-real-conv.mat", widths=REAL_WIDTHS, seed=0))
        layers = vgg_layers(REAL_WIDTHS, seed=0, fc_width=256 if args.quick else 4096, classes=1000)
        full_size = str(write_test_vgg(Path(tmp) / "vgg19-real-size.mat", layers=layers))
        del layers
        results["weights_file_mb"] = {
            "timings": os.path.getsize(weights) / 1e6,
            "memory": os.path.getsize(full_size) / 1e6,
        }
        mm = run({"kind": "matmul"})
        results["matmul_gflops"] = mm
        print(f"4096² matmul: fp32 {mm['fp32']:.0f} GFLOP/s, bf16 {mm['bf16']:.0f} GFLOP/s", flush=True)

        # Table 1: 400x300, interleaved rounds, one worker per (round, variant).
        flops = conv_flops(*size)
        floor = flops / 1e9 / mm["fp32"]  # seconds per step at the 4096² fp32 matmul's rate
        runs = {v: {"times": [], "rss": []} for v in variants}
        for _ in range(rounds):
            for v in variants:
                r = run({"kind": "step", "variant": v, "size": size, "steps": steps_per_round, "weights": weights})
                runs[v]["times"] += r["times"]
                runs[v]["rss"].append(r["rss"])
                print(
                    f"  {v}: {statistics.median(r['times']):.3f} s/step, traces {r.get('traces', '-')}  "
                    f"[{time.perf_counter() - t0:.0f} s]",
                    flush=True,
                )
        table1 = {}
        for v in variants:
            t = runs[v]["times"]
            med = statistics.median(t)
            table1[v] = {
                "median_s": med,
                "min_s": min(t),
                "max_s": max(t),
                "steps": len(t),
                "gflops": flops / med / 1e9,
                "pct_fp32_matmul": 100 * flops / med / 1e9 / mm["fp32"],
                "peak_rss_mb": max(runs[v]["rss"]),
            }
        for v in variants:
            table1[v]["ratio_to_eager"] = table1["eager"]["median_s"] / table1[v]["median_s"]
            table1[v]["x_fp32_matmul_floor"] = table1[v]["median_s"] / floor
        results[f"table1_{label}"] = {"gflop_per_step": flops / 1e9, "fp32_matmul_floor_s": floor, "variants": table1}
        print(
            f"\nTable 1: {label}, {flops / 1e9:.1f} GFLOP/step, {rounds}x{steps_per_round} steps per variant; "
            f"fp32 matmul floor {floor:.3f} s/step"
        )
        print(
            f"{'variant':12} {'median s':>9} {'min-max s':>13} {'GFLOP/s':>8} {'% mm fp32':>9} {'x floor':>7} "
            f"{'RSS MB':>7} {'speed-up':>8}"
        )
        for v, r in table1.items():
            print(
                f"{v:12} {r['median_s']:9.3f} {r['min_s']:6.3f}-{r['max_s']:6.3f} {r['gflops']:8.0f} "
                f"{r['pct_fp32_matmul']:8.0f}% {r['x_fp32_matmul_floor']:7.2f} {r['peak_rss_mb']:7.0f} "
                f"{r['ratio_to_eager']:7.2f}x",
                flush=True,
            )
        print(
            f"bf16 vs fp32: {table1['fp32']['median_s'] / table1['bf16']['median_s']:.2f}x; "
            f"xla vs fp32: {table1['fp32']['median_s'] / table1['xla']['median_s']:.2f}x"
            + (
                f"; nst's conv gradient vs TF's: {table1['fp32_tf_grad']['median_s'] / table1['fp32']['median_s']:.2f}x"
                if ablation
                else ""
            )
        )
        mem = run({"kind": "step", "variant": "fp32", "size": size, "steps": 2, "weights": full_size})
        results[f"peak_rss_{label}_real_size_file_mb"] = mem["rss"]
        print(
            f"peak RSS of a {label} fp32 run reading a {os.path.getsize(full_size) / 1e6:.0f} MB file "
            f"(as large as the real one): {mem['rss']:.0f} MB  [{time.perf_counter() - t0:.0f} s]",
            flush=True,
        )

        # Table 2: scaling with the image size.
        table2 = []
        for w, h in sizes:
            row = {"size": f"{w}x{h}", "pixels": w * h}
            for v in ("eager", "fp32"):
                if (w, h) == size:
                    row[v] = {k: table1[v][k] for k in ("median_s", "peak_rss_mb")}
                    continue
                r = run({"kind": "step", "variant": v, "size": (w, h), "steps": SCALE_STEPS[v], "weights": weights})
                row[v] = {"median_s": statistics.median(r["times"]), "peak_rss_mb": r["rss"]}
            table2.append(row)
            print(
                f"  {row['size']}: "
                + ", ".join(f"{v} {row[v]['median_s']:.2f} s {row[v]['peak_rss_mb']:.0f} MB" for v in ("eager", "fp32"))
                + f"  [{time.perf_counter() - t0:.0f} s]",
                flush=True,
            )
        results["table2_scaling"] = table2
        base = next(row for row in table2 if row["size"] == label)
        print(f"\nTable 2: s/step (peak RSS MB) by size; 'x px' = time ratio / pixel ratio vs {label} (1.00 = linear)")
        print(f"{'size':10} {'eager':>16} {'fp32':>16} {'speed-up':>8} {'fp32 x px':>9}")
        for row in table2:
            lin = (row["fp32"]["median_s"] / base["fp32"]["median_s"]) / (row["pixels"] / base["pixels"])
            row[f"fp32_time_per_pixel_vs_{label}"] = lin
            cells = " ".join(f"{row[v]['median_s']:7.2f} ({row[v]['peak_rss_mb']:5.0f})" for v in ("eager", "fp32"))
            print(f"{row['size']:10} {cells} {row['eager']['median_s'] / row['fp32']['median_s']:7.2f}x {lin:9.2f}")

        # Final costs after 200 steps: bf16 vs fp32, each result's J also evaluated in fp32.
        fp32, bf16 = (
            run(
                {
                    "kind": "step",
                    "variant": p,
                    "size": final_size,
                    "steps": final_steps - 1,
                    "weights": weights,
                    "final": True,
                }
            )
            for p in ("fp32", "bf16")
        )
        final = {
            "size": f"{final_size[0]}x{final_size[1]}",
            "fp32": fp32["final"],
            "bf16": bf16["final"],
            "bf16_result_in_fp32": bf16["final_fp32"],
        }
        final["rel_diff"] = abs(final["bf16"] - final["fp32"]) / final["fp32"]
        final["rel_diff_in_fp32"] = abs(final["bf16_result_in_fp32"] - final["fp32"]) / final["fp32"]
        results[f"final_costs_{final_steps}_steps"] = final
        print(
            f"\nFinal J after {final_steps} steps at {final['size']}: fp32 {final['fp32']:.6g}; bf16 "
            f"{final['bf16']:.6g} as computed in bf16 ({100 * final['rel_diff']:.2f}% off), "
            f"{final['bf16_result_in_fp32']:.6g} when its result is evaluated in fp32 "
            f"({100 * final['rel_diff_in_fp32']:.2f}% off)"
        )
    results.update(load_average_at_end=os.getloadavg(), wall_s=time.perf_counter() - t0)
    out = write_result(results, "bench", args.out)
    print(f"\nwrote {out} in {results['wall_s']:.0f} s")
