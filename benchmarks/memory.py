"""Where a 400x300 run's memory and start-up time go: resident memory and seconds after each stage.

    python -m nst.weights.imagenet      # once: pretrained-model/imagenet-vgg-verydeep-16.mat
    python -m benchmarks memory         # about 2 minutes on 2 cores
    python -m benchmarks memory --size 80x60 --out /tmp/memory.json   # that it runs

One worker process per variant does what a run does, on the real ImageNet VGG-16 with its weights cache warm and
the demo images, and reads its resident set (VmRSS) and the seconds since the process started after each stage,
and its peak (VmHWM) at the end: Python with numpy, scipy and PIL (what nst imports before TensorFlow);
TensorFlow imported (nst.commands.console.import_tensorflow_quietly); the weights read from the cache and the network
built (nst.commands.run.load_model); the content and style targets; the step traced and run once (the first step);
two more steps. Variants: fp32 and bf16 with the input gradient nst chooses here, and each with the other one.
Writes benchmarks/results/memory.json.
"""

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks.common import demo_images, homework_start, machine, parse_size, run_worker, status_mib, write_result


def process_started():
    """When this process started (seconds since the epoch), from /proc: the interpreter's own start-up counts."""
    with open("/proc/self/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as f:
        boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def stage(stages, name, started):
    stages[name] = {"rss_mib": status_mib("VmRSS"), "seconds": time.time() - started}


def worker(job):
    """One run's stages in this process (`job`: precision, input gradient, size); returns their RSS and seconds."""
    precision, gradient, (width, height) = job["precision"], job["gradient"], job["size"]
    import numpy  # noqa: F401 - what nst imports before TensorFlow
    import PIL.Image  # noqa: F401
    import scipy.optimize  # noqa: F401

    started, stages = process_started(), {}
    stage(stages, "python, numpy, scipy, PIL", started)
    from nst.commands.console import import_tensorflow_quietly

    import_tensorflow_quietly()
    stage(stages, "TensorFlow imported", started)
    import tensorflow as tf

    from nst.commands.run import load_model
    from nst.engine.adam import adam_state, make_train_step
    from nst.engine.objective import Weights, objective
    from nst.engine.targets import content_target, style_targets
    from nst.homework import CONTENT_LAYER, LEARNING_RATE, STYLE_LAYERS

    model, _ = load_model(job["weights"])
    stage(stages, "weights read, network built", started)
    content, style = demo_images(width, height)
    a_C = content_target(model, content, CONTENT_LAYER)
    grams = style_targets(model, style, STYLE_LAYERS)
    stage(stages, "targets", started)
    image = tf.Variable(homework_start(content, 1))
    step = make_train_step(
        objective(model, a_C, grams, Weights(), precision, gradient), image, adam_state(image), LEARNING_RATE
    )
    float(step()[0])
    stage(stages, "first step", started)
    for _ in range(2):
        float(step()[0])
    stage(stages, "2 more steps", started)
    return {
        "precision": precision,
        "input_gradient": gradient,
        "stages": stages,
        "peak_mib": status_mib("VmHWM"),
        "load_average": os.getloadavg(),
    }


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks memory", description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="400x300")
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="default: the ImageNet VGG-16 (nst.weights.imagenet, where nst looks for weights)",
    )
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/memory.json")
    args = parser.parse_args(argv)
    from nst.engine.device import input_gradient, read_cpuinfo
    from nst.weights.cache import read_weights
    from nst.weights.imagenet import imagenet_vgg16

    weights = args.weights or imagenet_vgg16()  # found where weights are looked for, else written into $NST_HOME
    read_weights(weights)  # the cache warm
    results = {
        "machine": machine(),
        "command": "python -m benchmarks memory " + " ".join(argv),
        "size": args.size,
        "load_average": os.getloadavg(),
        "runs": [],
    }
    for precision in ("fp32", "bf16"):
        chosen = input_gradient(read_cpuinfo(), precision)
        for gradient in (chosen, {"rotated": "tf", "tf": "rotated"}[chosen]):
            job = {"precision": precision, "gradient": gradient, "size": parse_size(args.size), "weights": str(weights)}
            run = run_worker("memory", job)
            run["chosen_here"] = gradient == chosen
            results["runs"].append(run)
            print(
                f"{precision} {gradient:8} ({'chosen here' if gradient == chosen else 'the other'}): "
                + ", ".join(f"{k} {v['rss_mib']:.0f} MiB at {v['seconds']:.2f} s" for k, v in run["stages"].items())
                + f"; peak {run['peak_mib']:.0f} MiB (load {run['load_average'][0]:.1f})",
                flush=True,
            )
    print(f"wrote {write_result(results, 'memory', args.out)}")
