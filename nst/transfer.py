"""One whole run: images and weights in, `output/` filled (what `python -m nst` does).

`style_transfer` reads as its steps: settle the configuration, read the inputs, load the model (the weights
file read once and safely, nst.weights.cache), optimise (once, or coarse to fine once per scale), write the
outputs.
"""

import dataclasses
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nst.colors import preserve_colors
from nst.files import prepare_output_dir
from nst.cost_functions import check_functions
from nst.images import MEANS, reshape_and_normalize_image, resize_image, save_image, to_uint8
from nst.inputs import prepare_run
from nst.interrupt import run_interrupts
from nst.lbfgs import model_lbfgs
from nst.optimize import model_nn
from nst.report import image_size, write_report
from nst.start_image import initial_image
from nst.vgg import build_vgg
from nst.weights.cache import read_weights
from nst.weights.choice import weights_for_run


def style_transfer(cfg, log=tqdm.write, functions=None, given=None, prepared=None, models=None):
    """Run neural style transfer as configured; returns (generated image (1, H, W, 3), history).

    With the defaults this is the homework's run. Options beyond the homework: several style images blended,
    style scale, --init, pooling, kernel layout, L-BFGS, TV, coarse-to-fine --scales (history is then the last
    scale's), --preserve-colors (applied to the returned image and generated_image.jpg).
    `functions`: the caller's cost functions by their homework names (see model_nn); default nst.costs's.
    `given`: with --resume, the Config fields the user set (the command line's flags; see resumed_config).
    `prepared`: (cfg, inputs) from nst.inputs.prepare_run(cfg, given) when the caller has settled them already
    (the command line does, before importing TensorFlow); `cfg` and `given` are then not used.
    `models`: a dict the caller keeps between runs (the studio's painter), see load_model.
    Ctrl-C/SIGTERM: at once before the first step, at the next step during the loop, ignored after the last
    step (the outputs are written: the run finishes); nst.interrupt.
    """
    if functions is not None:
        functions = check_functions(functions)
    cfg, inputs = prepare_run(cfg, given) if prepared is None else prepared
    if cfg.deterministic:
        make_deterministic(cfg.seed)
    cfg, precision = settle_device(cfg, log)
    weights, fallback = weights_for_run(cfg.weights, allow_download=cfg.download, progress=cfg.progress, log=log)
    model, weights_sha256 = load_model(weights, cfg, models)
    prepare_output_dir(cfg.output_dir)  # made only now: a run that fails before leaves no empty folder
    log(f"Network: {model.network}, {len(model.weights)} conv layers ({weights.name})")
    with run_interrupts():
        generated, history, seconds_per_iteration = optimise(model, inputs, cfg, log, functions)
        if cfg.preserve_colors:
            generated = keep_content_colors(generated, inputs.content, cfg.output_dir)
        write_report(cfg, history, inputs.content[0] + MEANS[0],
                     [resize_image(s, cfg.width, cfg.height) for s in inputs.style_files],
                     to_uint8(generated), seconds_per_iteration, weights, image_size(cfg.content),
                     [(s.shape[1], s.shape[0]) for s in inputs.style_files], weights_sha256, precision=precision,
                     network=model.network, fallback=fallback)
    return generated, history


def load_model(weights, cfg, models=None):
    """The VGG-19 (or VGG-16) of the run and the weights file's SHA-256: the file read once and safely
    (nst.weights.cache: scipy's loadmat in a child process, the conv weights cached beside the file unless
    cfg.weights_cache is off). A content or style layer the file's network lacks is a one-line NstError.

    `models` (a dict kept between runs, or None): the last model built is kept in it and reused while the weights
    file (path, size, mtime), the pooling and the kernel layout are the same."""
    models = {} if models is None else models
    stat = Path(weights).stat() if Path(weights).is_file() else None
    key = (str(Path(weights).absolute()), stat and (stat.st_size, stat.st_mtime_ns), cfg.pooling, cfg.kernel_layout)
    if key not in models:
        data = read_weights(weights, cache=cfg.weights_cache)
        models.clear()
        models[key] = build_vgg(data.weights, data.mean_pixel, pooling=cfg.pooling,
                                kernel_layout=cfg.kernel_layout), data.sha256
    model, sha256 = models[key]
    model.check_layers([cfg.content_layer] + [name for name, _ in cfg.style_layers])
    return model, sha256


def settle_device(cfg, log):
    """GPU memory growth on (where TF still allows it), the device line logged, --precision auto resolved.

    Returns (the Config with `precision` fp32 or bf16, run.json's record {"requested", "used", "reason"}).
    Logs one more line when auto chose, or when the hardware suggests another precision (nst.device).
    """
    import tensorflow as tf

    from nst.device import choose_precision, device_line, enable_memory_growth, hardware, precision_hint

    enable_memory_growth(tf, tf.config.list_physical_devices("GPU"))
    cpuinfo, gpus, cores = hardware()
    log(device_line(cpuinfo, gpus, cores))
    precision = choose_precision(cfg.precision, cpuinfo, gpus)
    if precision["requested"] == "auto":
        log(f"Precision: {precision['used']} (--precision auto: {precision['reason']})")
    hint = precision_hint(precision, cpuinfo, gpus)
    if hint is not None:
        log(hint)
    return dataclasses.replace(cfg, precision=precision["used"]), precision


def optimise(model, inputs, cfg, log, functions=None):
    """Adam (model_nn) or L-BFGS at each size of scale_sizes, each scale starting from the last one's result
    upsampled. Returns (generated image, the last scale's history, its seconds per iteration)."""
    run = model_lbfgs if cfg.optimizer == "lbfgs" else model_nn
    generated = history = None
    for k, (width, height) in enumerate(scale_sizes(cfg.width, cfg.height, cfg.scales)):
        full = (width, height) == (cfg.width, cfg.height)
        content = inputs.content if full else reshape_and_normalize_image(
            resize_image(inputs.content[0] + MEANS[0], width, height))
        styles = [reshape_and_normalize_image(resize_image(
            image, max(1, round(width * cfg.style_scale)), max(1, round(height * cfg.style_scale))))
            for image in inputs.style_files]
        if generated is None:
            start = initial_image(cfg, content, inputs.style_files[0], inputs.init_file)
        else:
            start = reshape_and_normalize_image(resize_image(np.clip(generated[0] + MEANS[0], 0, 255), width, height))
        scale_cfg = cfg
        if k < cfg.scales - 1:
            scale_cfg = dataclasses.replace(cfg, output_dir=Path(cfg.output_dir) / f"scale{k + 1}_{width}x{height}")
            prepare_output_dir(scale_cfg.output_dir)
        if cfg.scales > 1:
            log(f"Scale {k + 1}/{cfg.scales}: {width}x{height}")
        style_arg = styles[0] if len(styles) == 1 else styles
        started, timing = time.perf_counter(), {}
        extra = {"timing": timing} if run is model_nn else {}
        generated, history = run(model, content, style_arg, start, scale_cfg, log=log, functions=functions, **extra)
        seconds_per_iteration = timing.get("seconds_per_iteration", (time.perf_counter() - started) / len(history))
    return generated, history, seconds_per_iteration


def keep_content_colors(generated, content, output_dir):
    """--preserve-colors: the result's luminance with the content's chroma; rewrites generated_image.jpg."""
    rgb = preserve_colors(np.clip(generated[0] + MEANS[0], 0, 255), content[0] + MEANS[0])
    generated = reshape_and_normalize_image(rgb)
    save_image(Path(output_dir) / "generated_image.jpg", generated)
    return generated


def scale_sizes(width, height, scales):
    """Coarse-to-fine sizes [(w, h), ...]: (round(width / 2^(N-1-k)), round(height / 2^(N-1-k))) for
    k = 0 .. N-1; the last is (width, height)."""
    return [(max(1, round(width / 2 ** (scales - 1 - k))), max(1, round(height / 2 ** (scales - 1 - k))))
            for k in range(scales)]


def make_deterministic(seed):
    """--deterministic: TF op determinism (tf.config.experimental.enable_op_determinism, for the rest of the
    process) and TF's global seed; the initial noise is already fixed by np.random.default_rng(seed)."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    tf.random.set_seed(seed)
