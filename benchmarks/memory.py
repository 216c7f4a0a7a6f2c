"""Where a 400x300 run's memory and start-up time go: resident memory and seconds after each stage.

    python -m nst.weights.imagenet      # once: pretrained-model/imagenet-vgg-verydeep-16.mat
    python benchmarks/memory.py         # about 2 minutes on 2 cores

One worker process per variant does what a run does, on the real ImageNet VGG-16 with its weights cache warm and
the demo images, and reads its resident set (VmRSS) and the seconds since the process started after each stage,
and its peak (VmHWM) at the end: Python with numpy, scipy and PIL (what nst imports before TensorFlow);
TensorFlow imported (nst.commands.console.import_tensorflow_quietly); the weights read from the cache and the network
built (nst.commands.run.load_model); the content and style targets; the step traced and run once (the first step);
two more steps. Variants: fp32 and bf16 with the input gradient nst chooses here, and each with the other one.
Writes benchmarks/results/memory.json.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def status_mib(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) / 1024


def process_started():
    """When this process started (seconds since the epoch), from /proc: the interpreter's own start-up counts."""
    with open("/proc/self/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as f:
        boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def stage(stages, name, started):
    stages[name] = {"rss_mib": status_mib("VmRSS"), "seconds": time.time() - started}


def worker(precision, gradient):
    import numpy  # noqa: F401 - what nst imports before TensorFlow
    import PIL.Image  # noqa: F401
    import scipy.optimize  # noqa: F401

    started, stages = process_started(), {}
    stage(stages, "python, numpy, scipy, PIL", started)
    from nst.commands.console import import_tensorflow_quietly

    import_tensorflow_quietly()
    stage(stages, "TensorFlow imported", started)
    import tensorflow as tf

    from demo_problem import demo_images, homework_start
    from nst.settings import Config
    from nst.objective import cost_function
    from nst.optimize import adam_state, make_train_step
    from nst.engine.targets import content_target, style_targets
    from nst.commands.run import load_model
    from nst.weights.imagenet import imagenet_vgg16

    weights = imagenet_vgg16()  # found where weights are looked for, else written into $NST_HOME

    cfg = Config(weights=weights, precision=precision)
    model, _ = load_model(weights, cfg)
    stage(stages, "weights read, network built", started)
    content, style = demo_images(400, 300)
    a_C = content_target(model, content, cfg.content_layer)
    grams = style_targets(model, style, cfg.style_layers)
    stage(stages, "targets", started)
    image = tf.Variable(homework_start(content, 1))
    step = make_train_step(cost_function(model, a_C, grams, cfg, input_gradient=gradient), image, adam_state(image),
                           cfg.learning_rate)
    float(step()[0])
    stage(stages, "first step", started)
    for _ in range(2):
        float(step()[0])
    stage(stages, "2 more steps", started)
    return {"precision": precision, "input_gradient": gradient, "stages": stages, "peak_mib": status_mib("VmHWM"),
            "load_average": os.getloadavg()}


def main():
    from bench import machine
    from nst.engine.device import input_gradient, read_cpuinfo
    from nst.weights.cache import read_weights
    from nst.weights.imagenet import imagenet_vgg16

    weights = imagenet_vgg16()  # found where weights are looked for, else written into $NST_HOME

    read_weights(weights)  # the cache warm
    results = {"machine": machine(), "command": "python benchmarks/memory.py", "load_average": os.getloadavg(),
               "runs": []}
    for precision in ("fp32", "bf16"):
        chosen = input_gradient(read_cpuinfo(), precision)
        for gradient in (chosen, {"rotated": "tf", "tf": "rotated"}[chosen]):
            proc = subprocess.run([sys.executable, __file__, "--worker", precision, gradient], capture_output=True,
                                  text=True, stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                sys.exit(f"worker {precision} {gradient} failed:\n{proc.stderr[-3000:]}")
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            run["chosen_here"] = gradient == chosen
            results["runs"].append(run)
            print(f"{precision} {gradient:8} ({'chosen here' if gradient == chosen else 'the other'}): "
                  + ", ".join(f"{k} {v['rss_mib']:.0f} MiB at {v['seconds']:.2f} s" for k, v in run["stages"].items())
                  + f"; peak {run['peak_mib']:.0f} MiB (load {run['load_average'][0]:.1f})", flush=True)
    out = ROOT / "benchmarks" / "results" / "memory.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3])))
    elif sys.argv[1:]:
        sys.exit("usage: python benchmarks/memory.py")
    else:
        main()
