"""What the benchmarks share: the machine's description, worker processes, the benchmark nets and images, fixed
targets with J evaluated in fp32, and Adam and L-BFGS run as a run runs them, to a target J.

Nets: "random" is VGG-19 with the real conv widths and random weights (nst.weights.testnet), "imagenet" the real
ImageNet VGG-16 (nst.weights.imagenet). Images: the demo's (images/grace_hopper.jpg, images/swirls.jpg) with the
homework's noisy start of a seed, or uniform noise (noise_images: the problem the first bf16 figures used).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


# --- the machine and its processes ------------------------------------------------------------------------------


def machine():
    """The CPU (model, cores, the flags that matter), Python, TensorFlow and the GPUs, for a result's record."""
    import platform

    import tensorflow as tf

    from nst.engine.device import cpu_flags, cpu_model, native_bf16, read_cpuinfo, usable_cores

    cpuinfo = read_cpuinfo()
    flags = cpu_flags(cpuinfo)
    return {
        "cpu": cpu_model(cpuinfo) or "?",
        "cores": usable_cores(),
        "flags": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags],
        "amx_bf16": "amx_bf16" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "native_bf16": native_bf16(cpuinfo, []),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "gpus": len(tf.config.list_physical_devices("GPU")),
    }


def describe(info):
    """One line for the log: the machine() record."""
    return (
        f"machine: {info['cpu']}, {info['cores']} cores, flags {' '.join(info['flags'])}; TF {info['tensorflow']}, "
        f"GPUs {info['gpus']}; load {os.getloadavg()[0]:.1f}"
    )


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


def status_mib(key):
    """A /proc/self/status figure (VmRSS, VmHWM) in MiB. For the peak, VmHWM and not getrusage's ru_maxrss: Linux
    carries that across exec, so a worker would report its parent's peak."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) / 1024


def peak_rss_mb():
    """This process's peak resident set (VmHWM), MiB."""
    return status_mib("VmHWM")


def run_worker(name, job, cwd=ROOT, env=None, python=sys.executable):
    """`python -m benchmarks NAME --worker JOB` in a process of its own (its own threads and peak RSS): the
    module's worker(job), parsed from its last stdout line. A failed worker ends the benchmark with its stderr."""
    proc = subprocess.run(
        [python, "-m", "benchmarks", name, "--worker", json.dumps(job)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        sys.exit(f"worker {name} {job} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# `python -m nst ARGS` with the process's peak RSS (VmHWM) printed to stderr as it exits
PEAK = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('VmHWM', next(l.split()[1] for l in open('/proc/self/status') "
    "if l.startswith('VmHWM')), file=sys.stderr))\n"
    "sys.argv = ['nst'] + sys.argv[1:]\n"
    "runpy.run_module('nst', run_name='__main__', alter_sys=True)\n"
)


def nst_command(args, cwd=ROOT, env=None, python=sys.executable):
    """`python -m nst ARGS --output-dir TMP` from the start of its process to its end: {"command", "wall_s",
    "peak_rss_mib", "last_costs": costs.csv's last row (iteration, J, J_content, J_style)}. A failed command ends
    the benchmark with its stderr."""
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        proc = subprocess.run(
            [python, "-c", PEAK, *args, "--output-dir", out],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"nst {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
        last = (Path(out) / "costs.csv").read_text().strip().splitlines()[-1].split(",")
    peak = int(proc.stderr.strip().splitlines()[-1].split()[1]) / 1024
    return {
        "command": "python -m nst " + " ".join(args),
        "wall_s": seconds,
        "peak_rss_mib": peak,
        "last_costs": [int(last[0])] + [float(v) for v in last[1:4]],
    }


def write_result(results, name, out=None):
    """Write `results` as benchmarks/results/NAME.json (or to `out`); returns the path."""
    path = Path(out) if out is not None else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def size_and_count(args, default_size, default_count, usage):
    """A benchmark's command line `[WIDTHxHEIGHT [N]]` -> (width, height, N); exits with `usage` when it is not."""
    try:
        width, height = (int(v) for v in (args[0] if args else default_size).split("x"))
        count = int(args[1]) if len(args) > 1 else default_count
        if len(args) > 2 or min(width, height, count) < 1:
            raise ValueError
    except ValueError:
        sys.exit(usage)
    return width, height, count


def parse_size(text):
    """ "400x300" -> (400, 300)."""
    width, height = (int(v) for v in text.split("x"))
    return width, height


# --- nets and images ----------------------------------------------------------------------------------------------


def real_net(seed=0):
    """The benchmark net: VGG-19 with the real conv widths and random weights (nst.weights.testnet), loaded."""
    from nst.vgg import load_vgg_model
    from nst.weights.testnet import REAL_WIDTHS, write_test_vgg

    with tempfile.TemporaryDirectory() as tmp:
        return load_vgg_model(write_test_vgg(Path(tmp) / "vgg19-real-conv.mat", widths=REAL_WIDTHS, seed=seed))


def imagenet_net():
    """The real ImageNet VGG-16 (nst.weights.imagenet: pretrained-model/imagenet-vgg-verydeep-16.mat, built
    once), loaded as a run loads it (average pooling, kernels as stored)."""
    from nst.vgg import load_vgg_model
    from nst.weights.imagenet import imagenet_vgg16

    return load_vgg_model(imagenet_vgg16())


NETWORKS = {"random": real_net, "imagenet": imagenet_net}
NETWORK_LABELS = {"random": "random-weight VGG-19 (real conv widths)", "imagenet": "real ImageNet VGG-16"}


def demo_images(width, height, content=None, style=None):
    """The content and style (default the demo's: images/grace_hopper.jpg, images/swirls.jpg) at width x height,
    normalized (1, H, W, 3), as a run reads them."""
    from nst.images import load_image, reshape_and_normalize_image
    from nst.settings import DEMO_CONTENT, DEMO_STYLE

    return tuple(
        reshape_and_normalize_image(load_image(path, width, height))
        for path in (content or DEMO_CONTENT, style or DEMO_STYLE)
    )


def homework_start(content, seed):
    """The homework's start image for `seed`: noise U(-20, 20) blended 0.6 with the content."""
    from nst.homework import NOISE_RATIO
    from nst.images import generate_noise_image

    return generate_noise_image(content, NOISE_RATIO, seed=seed)


def noise_images(width, height):
    """Uniform noise as content and style, and a start image blended from it (seed 0): (content, style, start),
    each (1, H, W, 3) float32. On these J falls 3,000-fold in 200 steps (the first bf16 figures' problem)."""
    import numpy as np

    rng = np.random.default_rng(0)
    content, style = (rng.uniform(-120, 130, (1, height, width, 3)).astype(np.float32) for _ in range(2))
    start = (0.6 * rng.uniform(-20, 20, content.shape) + 0.4 * content).astype(np.float32)
    return content, style, start


class Problem:
    """Fixed targets of two images at one size on one net (the demo's by default, or `images` = (content, style)
    already normalized); `objective(precision)` is the engine's Objective in that precision (nst.engine.objective),
    `J_fp32(image)` evaluates an image in fp32 (the objective every mode is judged by)."""

    def __init__(self, model, width, height, content=None, style=None, images=None):
        from nst.engine.targets import content_target, style_targets
        from nst.homework import CONTENT_LAYER, STYLE_LAYERS

        self.model, self.width, self.height = model, width, height
        self.content, self.style = images if images is not None else demo_images(width, height, content, style)
        self.a_C = content_target(model, self.content, CONTENT_LAYER)
        self.grams = style_targets(model, self.style, STYLE_LAYERS)
        self._fp32 = self.objective("fp32").costs

    def objective(self, precision, input_gradient=None):
        """J of the homework's weights in `precision` ("fp32" or "bf16"); input_gradient: "rotated", "tf" or None
        (this CPU's choice, as a run makes it)."""
        from nst.engine.objective import Weights, objective

        return objective(self.model, self.a_C, self.grams, Weights(), precision, input_gradient)

    def J_fp32(self, image):
        import tensorflow as tf

        return float(self._fp32(tf.convert_to_tensor(image, tf.float32))[0])


# --- the optimisers, as a run runs them ---------------------------------------------------------------------------


def adam_steps(objective, start, steps, on_step=None, jit_compile=None):
    """Up to `steps` homework Adam steps (TF1 Adam, lr 2.0) from `start` on `objective`; returns the image
    variable. on_step(i, image) after each step (i from 1), e.g. to time or evaluate; a true result stops."""
    import tensorflow as tf

    from nst.engine.adam import adam_state, make_train_step
    from nst.homework import LEARNING_RATE

    image = tf.Variable(start)
    step = make_train_step(objective, image, adam_state(image), LEARNING_RATE, jit_compile=jit_compile)
    for i in range(1, steps + 1):
        float(step()[0])  # read back as the driver does
        if on_step is not None and on_step(i, image):
            break
    return image


class Clock:
    """Wall time of the optimiser alone: `pause()` ... `resume()` around the fp32 checks."""

    def __init__(self):
        self.spent, self.since = 0.0, None

    def pause(self):
        if self.since is not None:
            self.spent += time.perf_counter() - self.since
            self.since = None

    def resume(self):
        self.since = time.perf_counter()

    def seconds(self):
        return self.spent


def adam_until(problem, precision, start, target, max_steps, check, clock):
    """Adam from `start` until J (in fp32) <= target (checked every `check` steps and at the end) or max_steps.
    Returns (steps, J in fp32 at the end, image)."""
    state = {"steps": 0, "J": None, "at": None}

    def on_step(i, image):
        state["steps"] = i
        if target is None or i % check:
            return False
        clock.pause()
        state["J"], state["at"] = problem.J_fp32(image), i
        clock.resume()
        return state["J"] <= target

    clock.resume()
    image = adam_steps(problem.objective(precision), start, max_steps, on_step)
    clock.pause()
    if state["at"] != state["steps"]:
        state["J"] = problem.J_fp32(image)
    return state["steps"], state["J"], image.numpy()


def lbfgs_until(problem, precision, start, target, max_evaluations, clock, on_iteration=None):
    """scipy's L-BFGS-B with `--optimizer lbfgs`'s settings (pixels bounded by nst.engine.lbfgs.pixel_bounds, gtol 0,
    10 correction pairs, scipy's BLAS on one thread) from `start` until J (in fp32) of an iteration's point <= target
    or max_evaluations; the checks run synchronously in scipy's callback, their time not counted. on_iteration(
    iteration, evaluations, J in fp32) after each iteration. Returns (evaluations, J in fp32, image)."""
    import numpy as np
    import scipy.optimize
    import tensorflow as tf
    from threadpoolctl import threadpool_limits

    from nst.engine.lbfgs import pixel_bounds

    clock.resume()
    value_and_grad = problem.objective(precision).value_and_grad
    shape = tuple(start.shape)
    lower, upper = pixel_bounds(shape)
    state = {"evaluations": 0, "J": None, "x": None, "J_own": None, "iterations": 0}

    def fun(x):
        J, _, _, grad = value_and_grad(tf.constant(x.reshape(shape), dtype=tf.float32))
        state.update(evaluations=state["evaluations"] + 1, x=x.copy(), J_own=float(J))
        return float(J), grad.numpy().astype(np.float64).ravel()

    def callback(intermediate_result):
        clock.pause()
        x = intermediate_result.x
        same = precision == "fp32" and state["x"] is not None and np.array_equal(x, state["x"])
        state["J"] = state["J_own"] if same else problem.J_fp32(x.reshape(shape))
        if on_iteration is not None:
            on_iteration(state["iterations"], state["evaluations"], state["J"])
        state["iterations"] += 1
        clock.resume()
        if (target is not None and state["J"] <= target) or state["evaluations"] >= max_evaluations:
            raise StopIteration

    x0 = np.clip(np.asarray(start, dtype=np.float64), lower, upper).ravel()
    with threadpool_limits(1, user_api="blas"):
        result = scipy.optimize.minimize(
            fun,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=scipy.optimize.Bounds(lower.ravel(), upper.ravel()),
            callback=callback,
            options={"maxiter": max_evaluations, "maxfun": max_evaluations, "gtol": 0.0},
        )
    clock.pause()
    image = result.x.reshape(shape).astype(np.float32)
    return state["evaluations"], problem.J_fp32(image), image
