"""Start-up of a 400x300 run on a weights file as large as the real one: time to the first Adam step, peak memory.

    python -m benchmarks startup                  # 2 rounds of the 4 variants, interleaved (about 8 minutes here)
    python -m benchmarks startup --uncompressed   # the weights file written without compression
    python -m benchmarks startup --quick --rounds 1 --out /tmp/startup.json   # a small file, 100x75: that it runs

Writes a VGG-19 file with random weights in MatConvNet's layout as large as the real one (conv layers at full
width, fc6 25088x4096, fc7 4096x4096, fc8 4096x1000: 575 MB uncompressed; zlib-compressed by default, as MATLAB's
save -v7 wrote the real 510 MB file) into a temp dir, then runs each variant in its own
worker process (its own peak RSS, VmHWM), round by round:
    before    the weights read in the process with scipy.io.loadmat (load_vgg_model), as every run did before the
              weights cache; the SHA-256 that run.json then took by hashing the file is timed apart
    first     the first run on a file: loadmat in a child process, the cache written (the cache is deleted before)
    later     a later run: the conv weights from <weights>.cache.npz
    no-cache  --no-cache: loadmat in a child process every run, nothing kept
Each worker: import TensorFlow (as the CLI does, nst.commands.console.import_tensorflow_quietly), load the model as
nst.commands.run does, compute the content and style targets, trace the step and run it twice. Times are wall clock
from the worker's first line; "after TF" = from the end of the TF import to the end of the first step, also as CPU
seconds (all threads, the reader child's included), which a shared machine inflates less than wall time. Prints
a table and writes benchmarks/results/startup.json.
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

from benchmarks.common import ROOT, machine, noise_images, peak_rss_mb, write_result

T0 = time.perf_counter()  # when this module is imported: a worker's start (python -m benchmarks startup --worker)
VARIANTS = ("before", "first", "later", "no-cache")
SIZE = (400, 300)


def worker(job):
    """One run's start-up in this process; returns a dict of seconds and the peak RSS in MiB."""
    from nst.commands.console import import_tensorflow_quietly

    import_tensorflow_quietly()
    t_tf, cpu_tf = time.perf_counter(), cpu_seconds()
    import tensorflow as tf

    from nst.engine.adam import adam_state, make_train_step
    from nst.engine.objective import objective
    from nst.engine.targets import content_target, style_targets
    from nst.homework import CONTENT_LAYER, LEARNING_RATE, STYLE_LAYERS

    variant, weights = job["variant"], Path(job["weights"])
    out = {}
    if variant == "before":
        from nst.vgg import load_vgg_model

        model = load_vgg_model(weights)
    else:
        from nst.commands.run import load_model

        model, _ = load_model(weights, cache=variant != "no-cache")
    t_model = time.perf_counter()
    content, style, start = noise_images(*job["size"])
    a_C = content_target(model, content, CONTENT_LAYER)
    grams = style_targets(model, style, STYLE_LAYERS)
    image = tf.Variable(start)
    train_step = make_train_step(objective(model, a_C, grams), image, adam_state(image), LEARNING_RATE)
    float(train_step()[0])
    t_first, cpu_first = time.perf_counter(), cpu_seconds()
    float(train_step()[0])
    t_second = time.perf_counter()
    out.update(
        tf_import_s=t_tf - T0,
        model_s=t_model - t_tf,
        after_tf_to_first_step_s=t_first - t_tf,
        start_to_first_step_s=t_first - T0,
        second_step_s=t_second - t_first,
        peak_rss_mib=peak_rss_mb(),
        cpu_after_tf_to_first_step_s=cpu_first - cpu_tf,
        cpu_tf_import_s=cpu_tf,
    )
    if variant == "before":  # run.json hashed the whole file at the end of every run
        from nst.sinks.report import sha256_of

        sha256_of(weights)
        out["sha256_s"] = time.perf_counter() - t_second
    return out


def cpu_seconds():
    """CPU time (user + system, all threads) of this process and its finished children (the weights reader)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(job):
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "startup", "--worker", json.dumps(job)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        sys.exit(f"worker {job} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - started
    return result


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks startup", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--uncompressed",
        action="store_true",
        help="write the weights file uncompressed (the real one is zlib-compressed, as -v7 saves)",
    )
    parser.add_argument("--quick", action="store_true", help="a small file (fc layers 256 wide) and 100x75")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/startup.json")
    args = parser.parse_args(argv)
    rounds, compress = args.rounds, not args.uncompressed
    size = (100, 75) if args.quick else SIZE
    from nst.weights.cache import cache_path
    from nst.weights.testnet import REAL_WIDTHS, vgg_layers, write_test_vgg

    results = {
        "machine": machine(),
        "compressed_file": compress,
        "size": f"{size[0]}x{size[1]}",
        "command": "python -m benchmarks startup " + " ".join(argv),
        "load_average_at_start": os.getloadavg(),
    }
    runs = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        layers = vgg_layers(REAL_WIDTHS, seed=0, fc_width=256 if args.quick else 4096, classes=1000)
        weights = write_test_vgg(Path(tmp) / "imagenet-vgg-verydeep-19.mat", layers=layers, compress=compress)
        del layers
        results["weights_file_mb"] = weights.stat().st_size / 1e6
        print(f"wrote {weights.stat().st_size / 1e6:.0f} MB  [{time.perf_counter() - T0:.0f} s]", flush=True)
        for r in range(rounds):
            for v in VARIANTS:
                if v == "first":
                    cache_path(weights).unlink(missing_ok=True)
                if v == "later" and not cache_path(weights).exists():
                    run({"variant": "first", "weights": str(weights), "size": size})  # make the cache (not counted)
                res = run({"variant": v, "weights": str(weights), "size": size})
                res["round"] = r + 1
                runs[v].append(res)
                print(
                    f"  round {r + 1} {v:9}: TF import {res['tf_import_s']:5.2f} s, model {res['model_s']:5.2f} s, "
                    f"first step {res['after_tf_to_first_step_s']:5.2f} s after TF "
                    f"(CPU {res['cpu_after_tf_to_first_step_s']:5.2f} s; {res['start_to_first_step_s']:5.2f} s from "
                    f"start), 2nd step {res['second_step_s']:4.2f} s, "
                    f"peak RSS {res['peak_rss_mib']:5.0f} MiB"
                    + (f", SHA-256 {res['sha256_s']:.2f} s" if "sha256_s" in res else "")
                    + f"  [{time.perf_counter() - T0:.0f} s]",
                    flush=True,
                )
        results["cache_mb"] = cache_path(weights).stat().st_size / 1e6 if cache_path(weights).exists() else None
    results["runs"] = runs
    keys = (
        "tf_import_s",
        "model_s",
        "after_tf_to_first_step_s",
        "start_to_first_step_s",
        "second_step_s",
        "peak_rss_mib",
        "cpu_after_tf_to_first_step_s",
    )
    results["median"] = {v: {k: statistics.median(r[k] for r in runs[v]) for k in keys} for v in VARIANTS}
    results["load_average_at_end"] = os.getloadavg()
    print(
        f"\nmedians over {rounds} rounds ({size[0]}x{size[1]}, fp32; load average "
        f"{results['load_average_at_start'][0]:.1f} "
        f"at start, {results['load_average_at_end'][0]:.1f} at end)"
    )
    print(
        f"{'variant':9} {'TF import':>9} {'model':>7} {'1st step after TF':>17} {'CPU s':>6} {'from start':>10} "
        f"{'2nd step':>8} {'peak RSS':>9}"
    )
    for v, m in results["median"].items():
        print(
            f"{v:9} {m['tf_import_s']:8.2f}s {m['model_s']:6.2f}s {m['after_tf_to_first_step_s']:16.2f}s "
            f"{m['cpu_after_tf_to_first_step_s']:6.2f} {m['start_to_first_step_s']:9.2f}s {m['second_step_s']:7.2f}s "
            f"{m['peak_rss_mib']:6.0f} MiB"
        )
    out = write_result(results, "startup", args.out)
    print(f"wrote {out} in {time.perf_counter() - T0:.0f} s")
