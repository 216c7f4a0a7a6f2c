"""Start-up of a 400x300 run on a weights file as large as the real one: time to the first Adam step, peak memory.

    python benchmarks/startup.py                  # 2 rounds of the 4 variants, interleaved (about 8 minutes here)
    python benchmarks/startup.py --uncompressed   # the weights file written without compression

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

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = ("before", "first", "later", "no-cache")
SIZE = (400, 300)


def worker(job):
    """One run's start-up in this process; returns a dict of seconds and the peak RSS in MiB."""
    from nst.commands.console import import_tensorflow_quietly

    import_tensorflow_quietly()
    t_tf, cpu_tf = time.perf_counter(), cpu_seconds()
    import tensorflow as tf

    from bench import peak_rss_mb, problem
    from nst.settings import Config
    from nst.objective import cost_function
    from nst.optimize import adam_state, make_train_step
    from nst.engine.targets import content_target, style_targets

    variant, weights = job["variant"], Path(job["weights"])
    cfg = Config(weights=weights, weights_cache=variant != "no-cache")
    out = {}
    if variant == "before":
        from nst.vgg import load_vgg_model

        model = load_vgg_model(weights)
    else:
        from nst.commands.run import load_model

        model, _ = load_model(weights, cfg)
    t_model = time.perf_counter()
    content, style, start = problem(*SIZE)
    a_C = content_target(model, content, cfg.content_layer)
    grams = style_targets(model, style, cfg.style_layers)
    costs = cost_function(model, a_C, grams, cfg)
    image = tf.Variable(start)
    train_step = make_train_step(costs, image, adam_state(image), cfg.learning_rate)
    float(train_step()[0])
    t_first, cpu_first = time.perf_counter(), cpu_seconds()
    float(train_step()[0])
    t_second = time.perf_counter()
    out.update(tf_import_s=t_tf - T0, model_s=t_model - t_tf, after_tf_to_first_step_s=t_first - t_tf,
               start_to_first_step_s=t_first - T0, second_step_s=t_second - t_first, peak_rss_mib=peak_rss_mb(),
               cpu_after_tf_to_first_step_s=cpu_first - cpu_tf, cpu_tf_import_s=cpu_tf)
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
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"worker {job} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - started
    return result


def main(rounds, compress):
    from bench import machine
    from nst.weights.testnet import REAL_WIDTHS, vgg_layers, write_test_vgg
    from nst.weights.cache import cache_path

    results = {"machine": machine(), "compressed_file": compress,
               "command": f"python benchmarks/startup.py --rounds {rounds}" + " --uncompressed" * (not compress),
               "load_average_at_start": os.getloadavg()}
    runs = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        layers = vgg_layers(REAL_WIDTHS, seed=0, fc_width=4096, classes=1000)
        weights = write_test_vgg(Path(tmp) / "imagenet-vgg-verydeep-19.mat", layers=layers, compress=compress)
        del layers
        results["weights_file_mb"] = weights.stat().st_size / 1e6
        print(f"wrote {weights.stat().st_size / 1e6:.0f} MB  [{time.perf_counter() - T0:.0f} s]", flush=True)
        for r in range(rounds):
            for v in VARIANTS:
                if v == "first":
                    cache_path(weights).unlink(missing_ok=True)
                if v == "later" and not cache_path(weights).exists():
                    run({"variant": "first", "weights": str(weights)})  # make the cache (not counted)
                res = run({"variant": v, "weights": str(weights)})
                res["round"] = r + 1
                runs[v].append(res)
                print(f"  round {r + 1} {v:9}: TF import {res['tf_import_s']:5.2f} s, model {res['model_s']:5.2f} s, "
                      f"first step {res['after_tf_to_first_step_s']:5.2f} s after TF "
                      f"(CPU {res['cpu_after_tf_to_first_step_s']:5.2f} s; {res['start_to_first_step_s']:5.2f} s from start), 2nd step {res['second_step_s']:4.2f} s, "
                      f"peak RSS {res['peak_rss_mib']:5.0f} MiB" + (f", SHA-256 {res['sha256_s']:.2f} s"
                                                                    if "sha256_s" in res else "")
                      + f"  [{time.perf_counter() - T0:.0f} s]", flush=True)
        results["cache_mb"] = cache_path(weights).stat().st_size / 1e6 if cache_path(weights).exists() else None
    results["runs"] = runs
    keys = ("tf_import_s", "model_s", "after_tf_to_first_step_s", "start_to_first_step_s", "second_step_s",
            "peak_rss_mib", "cpu_after_tf_to_first_step_s")
    results["median"] = {v: {k: statistics.median(r[k] for r in runs[v]) for k in keys} for v in VARIANTS}
    results["load_average_at_end"] = os.getloadavg()
    print(f"\nmedians over {rounds} rounds (400x300, fp32; load average {results['load_average_at_start'][0]:.1f} "
          f"at start, {results['load_average_at_end'][0]:.1f} at end)")
    print(f"{'variant':9} {'TF import':>9} {'model':>7} {'1st step after TF':>17} {'CPU s':>6} {'from start':>10} "
          f"{'2nd step':>8} {'peak RSS':>9}")
    for v, m in results["median"].items():
        print(f"{v:9} {m['tf_import_s']:8.2f}s {m['model_s']:6.2f}s {m['after_tf_to_first_step_s']:16.2f}s "
              f"{m['cpu_after_tf_to_first_step_s']:6.2f} {m['start_to_first_step_s']:9.2f}s {m['second_step_s']:7.2f}s "
              f"{m['peak_rss_mib']:6.0f} MiB")
    out = ROOT / "benchmarks" / "results" / "startup.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out} in {time.perf_counter() - T0:.0f} s")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(worker(json.loads(sys.argv[2]))))
    else:
        import argparse

        parser = argparse.ArgumentParser(description="start-up of a 400x300 run: time to the first step, peak RSS")
        parser.add_argument("--rounds", type=int, default=2)
        parser.add_argument("--uncompressed", action="store_true",
                            help="write the weights file uncompressed (the real one is zlib-compressed, as -v7 saves)")
        args = parser.parse_args()
        main(args.rounds, compress=not args.uncompressed)
