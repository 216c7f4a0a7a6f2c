"""Benchmark of one style-transfer step: naive eager reference vs nst's step in fp32, with XLA, in bf16.

    python benchmarks/bench.py              # both tables, writes benchmarks/results/bench.json (about 8 minutes here)
    python benchmarks/bench.py --ablation   # + fp32_tf_grad in table 1 (about 1 minute more)

Writes two VGG-19 files with random weights in MatConvNet's layout (nst.weights.testnet) into a temp dir: one with the
real conv layers and tiny fc layers for the timings, and one as large as the real file (fc layers at real
width too) for the peak RSS of a whole 400x300 run, reading the file included.
Every measurement runs in its own worker process (so peak RSS is that variant's), and the variants' workers
are interleaved round by round. s/step = wall time of one step after warm-up (the costs are read back each
step, as nst's loop does). GFLOP/s use the analytic FLOP count of convs up to conv5_1, forward + input gradient.
Variants: eager = benchmarks/naive_eager.py (plain eager TF2, TF's own gradients); fp32 = nst's step (the
default); fp32_tf_grad = nst's step with TF's own conv input gradient instead of nst.vgg.conv2d_same's;
xla = fp32 with --xla; bf16 = --precision bf16.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = ("eager", "fp32", "xla", "bf16")  # + "fp32_tf_grad" with --ablation
SIZES = ((200, 150), (400, 300), (800, 600), (1024, 768))
ROUNDS, STEPS_PER_ROUND = 2, 5  # table 1: 10 timed steps per variant, 1 warm-up step per worker
SCALE_STEPS = {"eager": 1, "fp32": 3}  # table 2: timed steps after 1 warm-up (400x300: table 1's figures)
FINAL_STEPS, FINAL_SIZE = 200, (100, 75)  # bf16 vs fp32 final costs


def conv_flops(width, height):
    """FLOP of one step: convs up to conv5_1, forward 2*9*C_in*C_out*H*W each, the input gradient as much again."""
    from nst.weights.testnet import REAL_WIDTHS

    flops, c_in, h, w = 0, 3, height, width
    for block, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 1)):
        c_out = REAL_WIDTHS[block - 1]
        for _ in range(n):
            flops += 2 * 9 * c_in * c_out * h * w
            c_in = c_out
        h, w = -(-h // 2), -(-w // 2)
    return 2 * flops


def peak_rss_mb():
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: Linux carries that across exec, so a
    worker would report its parent's peak."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def problem(width, height):
    import numpy as np

    rng = np.random.default_rng(0)
    content, style = (rng.uniform(-120, 130, (1, height, width, 3)).astype(np.float32) for _ in range(2))
    start = (0.6 * rng.uniform(-20, 20, content.shape) + 0.4 * content).astype(np.float32)
    return content, style, start


def matmul_rates():
    """GFLOP/s of a 4096x4096 tf.matmul in fp32 and bf16 (best of 5 after a warm-up): the floor a step is
    measured against."""
    import tensorflow as tf

    rates = {}
    for name, dtype in (("fp32", tf.float32), ("bf16", tf.bfloat16)):
        a = tf.cast(tf.random.normal((4096, 4096)), dtype)
        mm = tf.function(lambda a: tf.matmul(a, a))
        mm(a).numpy()
        times = []
        for _ in range(5):
            t = time.perf_counter()
            mm(a).numpy()
            times.append(time.perf_counter() - t)
        rates[name] = 2 * 4096**3 / min(times) / 1e9
    return rates


def worker(job):
    """Run one job in this process; returns a dict (printed as JSON)."""
    import numpy as np
    import tensorflow as tf

    if job["kind"] == "matmul":
        return matmul_rates()
    width, height = job["size"]
    content, style, start = problem(width, height)
    steps, variant = job["steps"], job["variant"]
    times = []
    if variant == "eager":
        from naive_eager import naive_steps
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
    import nst.vgg
    from nst.settings import Config
    from nst.objective import cost_function
    from nst.optimize import adam_state, make_train_step
    from nst.engine.targets import content_target, style_targets
    from nst.vgg import load_vgg_model

    if variant == "fp32_tf_grad":  # the same step with TF's own gradient (Conv2DBackpropInput)
        nst.vgg.conv2d_same = lambda x, W: tf.nn.conv2d(x, W, strides=1, padding="SAME")
    cfg = Config(precision="bf16" if variant == "bf16" else "fp32", xla=variant == "xla")
    model = load_vgg_model(job["weights"])
    a_C = content_target(model, content, cfg.content_layer)  # float32 targets, whatever the precision
    grams = style_targets(model, style, cfg.style_layers)
    costs = cost_function(model, a_C, grams, cfg)
    image = tf.Variable(start)
    train_step = make_train_step(costs, image, adam_state(image), cfg.learning_rate, jit_compile=cfg.xla or None)
    for _ in range(steps + 1):
        t = time.perf_counter()
        float(train_step()[0])  # model_nn reads the costs of every step back too
        times.append(time.perf_counter() - t)
    out = {"times": times[1:], "rss": peak_rss_mb(), "traces": train_step.experimental_get_tracing_count()}
    if job.get("final"):  # J of the result in the variant's own arithmetic, and in fp32
        out["final"] = float(costs(image)[0])
        out["final_fp32"] = float(cost_function(model, a_C, grams, Config())(image)[0])
    return out


def run(job, script=__file__):
    """`python SCRIPT --worker JOB` in a process of its own (its own threads and peak RSS); its last stdout line,
    parsed. A failed worker ends the benchmark with its stderr's tail."""
    proc = subprocess.run([sys.executable, script, "--worker", json.dumps(job)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"worker {job} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine():
    import platform

    import tensorflow as tf

    from nst.engine.device import cpu_flags, cpu_model, native_bf16, read_cpuinfo, usable_cores

    cpuinfo = read_cpuinfo()
    flags = cpu_flags(cpuinfo)
    return {"cpu": cpu_model(cpuinfo) or "?", "cores": usable_cores(),
            "flags": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags],
            "amx_bf16": "amx_bf16" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "native_bf16": native_bf16(cpuinfo, []), "python": platform.python_version(),
            "tensorflow": tf.__version__, "gpus": len(tf.config.list_physical_devices("GPU"))}


def main(ablation=False):
    t0 = time.perf_counter()
    from nst.weights.testnet import REAL_WIDTHS, vgg_layers, write_test_vgg

    variants = VARIANTS + ("fp32_tf_grad",) * ablation
    results = {"machine": machine(), "command": "python benchmarks/bench.py" + " --ablation" * ablation}
    with tempfile.TemporaryDirectory() as tmp:
        # The real conv layers, tiny fc layers (quick to read) for the timings; and a file as large as the real
        # one (fc6 alone is 411 MB) for the peak RSS of a whole 400x300 run, reading included.
        weights = str(write_test_vgg(Path(tmp) / "vgg19-real-conv.mat", widths=REAL_WIDTHS, seed=0))
        layers = vgg_layers(REAL_WIDTHS, seed=0, fc_width=4096, classes=1000)
        full_size = str(write_test_vgg(Path(tmp) / "vgg19-real-size.mat", layers=layers))
        del layers
        results["weights_file_mb"] = {"timings": os.path.getsize(weights) / 1e6,
                                      "memory": os.path.getsize(full_size) / 1e6}
        mm = run({"kind": "matmul"})
        results["matmul_gflops"] = mm
        print(f"4096² matmul: fp32 {mm['fp32']:.0f} GFLOP/s, bf16 {mm['bf16']:.0f} GFLOP/s", flush=True)

        # Table 1: 400x300, interleaved rounds, one worker per (round, variant).
        flops = conv_flops(400, 300)
        floor = flops / 1e9 / mm["fp32"]  # seconds per step at the 4096² fp32 matmul's rate
        runs = {v: {"times": [], "rss": []} for v in variants}
        for _ in range(ROUNDS):
            for v in variants:
                r = run({"kind": "step", "variant": v, "size": (400, 300), "steps": STEPS_PER_ROUND, "weights": weights})
                runs[v]["times"] += r["times"]
                runs[v]["rss"].append(r["rss"])
                print(f"  {v}: {statistics.median(r['times']):.3f} s/step, traces {r.get('traces', '-')}  "
                      f"[{time.perf_counter() - t0:.0f} s]", flush=True)
        table1 = {}
        for v in variants:
            t = runs[v]["times"]
            med = statistics.median(t)
            table1[v] = {"median_s": med, "min_s": min(t), "max_s": max(t), "steps": len(t),
                         "gflops": flops / med / 1e9, "pct_fp32_matmul": 100 * flops / med / 1e9 / mm["fp32"],
                         "peak_rss_mb": max(runs[v]["rss"])}
        for v in variants:
            table1[v]["ratio_to_eager"] = table1["eager"]["median_s"] / table1[v]["median_s"]
            table1[v]["x_fp32_matmul_floor"] = table1[v]["median_s"] / floor
        results["table1_400x300"] = {"gflop_per_step": flops / 1e9, "fp32_matmul_floor_s": floor, "variants": table1}
        print(f"\nTable 1: 400x300, {flops / 1e9:.1f} GFLOP/step, {ROUNDS}x{STEPS_PER_ROUND} steps per variant; "
              f"fp32 matmul floor {floor:.3f} s/step")
        print(f"{'variant':12} {'median s':>9} {'min-max s':>13} {'GFLOP/s':>8} {'% mm fp32':>9} {'x floor':>7} "
              f"{'RSS MB':>7} {'speed-up':>8}")
        for v, r in table1.items():
            print(f"{v:12} {r['median_s']:9.3f} {r['min_s']:6.3f}-{r['max_s']:6.3f} {r['gflops']:8.0f} "
                  f"{r['pct_fp32_matmul']:8.0f}% {r['x_fp32_matmul_floor']:7.2f} {r['peak_rss_mb']:7.0f} "
                  f"{r['ratio_to_eager']:7.2f}x", flush=True)
        print(f"bf16 vs fp32: {table1['fp32']['median_s'] / table1['bf16']['median_s']:.2f}x; "
              f"xla vs fp32: {table1['fp32']['median_s'] / table1['xla']['median_s']:.2f}x" +
              (f"; nst's conv gradient vs TF's: {table1['fp32_tf_grad']['median_s'] / table1['fp32']['median_s']:.2f}x"
               if ablation else ""))
        mem = run({"kind": "step", "variant": "fp32", "size": (400, 300), "steps": 2, "weights": full_size})
        results["peak_rss_400x300_real_size_file_mb"] = mem["rss"]
        print(f"peak RSS of a 400x300 fp32 run reading a {os.path.getsize(full_size) / 1e6:.0f} MB file "
              f"(as large as the real one): {mem['rss']:.0f} MB  [{time.perf_counter() - t0:.0f} s]", flush=True)

        # Table 2: scaling with the image size.
        table2 = []
        for w, h in SIZES:
            row = {"size": f"{w}x{h}", "pixels": w * h}
            for v in ("eager", "fp32"):
                if (w, h) == (400, 300):
                    row[v] = {k: table1[v][k] for k in ("median_s", "peak_rss_mb")}
                    continue
                r = run({"kind": "step", "variant": v, "size": (w, h), "steps": SCALE_STEPS[v], "weights": weights})
                row[v] = {"median_s": statistics.median(r["times"]), "peak_rss_mb": r["rss"]}
            table2.append(row)
            print(f"  {row['size']}: " + ", ".join(f"{v} {row[v]['median_s']:.2f} s {row[v]['peak_rss_mb']:.0f} MB"
                                                   for v in ("eager", "fp32")) + f"  [{time.perf_counter() - t0:.0f} s]",
                  flush=True)
        results["table2_scaling"] = table2
        base = table2[1]
        print("\nTable 2: s/step (peak RSS MB) by size; 'x px' = time ratio / pixel ratio vs 400x300 (1.00 = linear)")
        print(f"{'size':10} {'eager':>16} {'fp32':>16} {'speed-up':>8} {'fp32 x px':>9}")
        for row in table2:
            lin = (row["fp32"]["median_s"] / base["fp32"]["median_s"]) / (row["pixels"] / base["pixels"])
            row["fp32_time_per_pixel_vs_400x300"] = lin
            cells = " ".join(f"{row[v]['median_s']:7.2f} ({row[v]['peak_rss_mb']:5.0f})" for v in ("eager", "fp32"))
            print(f"{row['size']:10} {cells} {row['eager']['median_s'] / row['fp32']['median_s']:7.2f}x {lin:9.2f}")

        # Final costs after 200 steps: bf16 vs fp32, each result's J also evaluated in fp32.
        fp32, bf16 = (run({"kind": "step", "variant": p, "size": FINAL_SIZE, "steps": FINAL_STEPS - 1,
                           "weights": weights, "final": True}) for p in ("fp32", "bf16"))
        final = {"size": f"{FINAL_SIZE[0]}x{FINAL_SIZE[1]}", "fp32": fp32["final"], "bf16": bf16["final"],
                 "bf16_result_in_fp32": bf16["final_fp32"]}
        final["rel_diff"] = abs(final["bf16"] - final["fp32"]) / final["fp32"]
        final["rel_diff_in_fp32"] = abs(final["bf16_result_in_fp32"] - final["fp32"]) / final["fp32"]
        results["final_costs_200_steps"] = final
        print(f"\nFinal J after {FINAL_STEPS} steps at {final['size']}: fp32 {final['fp32']:.6g}; bf16 "
              f"{final['bf16']:.6g} as computed in bf16 ({100 * final['rel_diff']:.2f}% off), "
              f"{final['bf16_result_in_fp32']:.6g} when its result is evaluated in fp32 "
              f"({100 * final['rel_diff_in_fp32']:.2f}% off)")
    results["wall_s"] = time.perf_counter() - t0
    out = ROOT / "benchmarks" / "results" / "bench.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out} in {results['wall_s']:.0f} s")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(worker(json.loads(sys.argv[2]))))
    elif sys.argv[1:] in ([], ["--ablation"]):
        main(ablation=bool(sys.argv[1:]))
    else:
        sys.exit("usage: python benchmarks/bench.py [--ablation]")
