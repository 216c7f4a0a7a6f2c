"""One whole run: images and weights in, `output/` filled (what `python -m nst` does)."""

import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nst.checkpoint import resumed_config
from nst.colors import preserve_colors
from nst.config import style_paths
from nst.errors import NstError
from nst.images import (MEANS, generate_noise_image, load_image, read_image, reshape_and_normalize_image, resize_image,
                        save_image, to_uint8)
from nst.optimize import model_lbfgs, model_nn
from nst.report import image_size, write_report
from nst.vgg import load_vgg_model
from nst.weights import ensure_weights


def prepare_output_dir(path):
    """Create the output folder (and parents); NstError if it is a file or cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NstError(f"output folder {path} is a file: pass --output-dir to a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NstError(f"cannot create output folder {path} ({exc.strerror}): pass --output-dir to a writable folder") from None
    try:  # a real write (permission bits do not stop root; a read-only mount or quota does)
        fd, probe = tempfile.mkstemp(prefix=".nst-write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise NstError(f"output folder {path} is not writable ({exc.strerror}): pass --output-dir to a writable folder") from None
    return path


def style_transfer(cfg, log=tqdm.write):
    """Run neural style transfer as configured; returns (generated image (1, H, W, 3), history).

    With the defaults this is the homework's run. Options (issue 5): several style images blended, style scale,
    --init, pooling, kernel layout, L-BFGS, TV, coarse-to-fine --scales (history is then the last scale's),
    --preserve-colors (applied to the returned image and generated_image.jpg).
    """
    if cfg.resume is not None:  # issue 6: the checkpoint's settings, continued by model_nn
        cfg = resumed_config(cfg)
    cfg.check()
    if cfg.deterministic:
        make_deterministic(cfg.seed)
    content = reshape_and_normalize_image(load_image(cfg.content, cfg.width, cfg.height, max_pixels=cfg.max_pixels))
    style_files = [read_image(path, max_pixels=cfg.max_pixels) for path in style_paths(cfg.style)]
    init_file = None if cfg.init in INIT_KEYWORDS else read_image(cfg.init, max_pixels=cfg.max_pixels)
    prepare_output_dir(cfg.output_dir)
    weights = ensure_weights(Path(cfg.weights), allow_download=cfg.download, progress=cfg.progress)
    model = load_vgg_model(weights, pooling=cfg.pooling, kernel_layout=cfg.kernel_layout)
    run = model_lbfgs if cfg.optimizer == "lbfgs" else model_nn
    generated = history = None
    for k, (width, height) in enumerate(scale_sizes(cfg.width, cfg.height, cfg.scales)):
        full = (width, height) == (cfg.width, cfg.height)
        content_k = content if full else reshape_and_normalize_image(resize_image(content[0] + MEANS[0], width, height))
        styles_k = [reshape_and_normalize_image(resize_image(
            image, max(1, round(width * cfg.style_scale)), max(1, round(height * cfg.style_scale))))
            for image in style_files]
        if generated is None:
            start = initial_image(cfg, content_k, style_files[0], init_file)
        else:
            start = reshape_and_normalize_image(resize_image(np.clip(generated[0] + MEANS[0], 0, 255), width, height))
        scale_cfg = cfg
        if k < cfg.scales - 1:
            scale_cfg = dataclasses.replace(cfg, output_dir=Path(cfg.output_dir) / f"scale{k + 1}_{width}x{height}")
            prepare_output_dir(scale_cfg.output_dir)
        if cfg.scales > 1:
            log(f"Scale {k + 1}/{cfg.scales}: {width}x{height}")
        style_arg = styles_k[0] if len(styles_k) == 1 else styles_k
        started, timing = time.perf_counter(), {}
        extra = {"timing": timing} if run is model_nn else {}
        generated, history = run(model, content_k, style_arg, start, scale_cfg, log=log, **extra)
        seconds_per_iteration = timing.get("seconds_per_iteration", (time.perf_counter() - started) / len(history))
    if cfg.preserve_colors:
        rgb = preserve_colors(np.clip(generated[0] + MEANS[0], 0, 255), content[0] + MEANS[0])
        generated = reshape_and_normalize_image(rgb)
        save_image(Path(cfg.output_dir) / "generated_image.jpg", generated)
    write_report(cfg, history, content[0] + MEANS[0], [resize_image(s, cfg.width, cfg.height) for s in style_files],
                 to_uint8(generated), seconds_per_iteration, weights, image_size(cfg.content),
                 [(s.shape[1], s.shape[0]) for s in style_files])
    return generated, history


# --- issue 5: start image and coarse-to-fine sizes -----------------------------------------------------------

INIT_KEYWORDS = ("noise", "content", "style")


def scale_sizes(width, height, scales):
    """Coarse-to-fine sizes [(w, h), ...]: (round(width / 2^(N-1-k)), round(height / 2^(N-1-k))) for
    k = 0 .. N-1; the last is (width, height)."""
    return [(max(1, round(width / 2 ** (scales - 1 - k))), max(1, round(height / 2 ** (scales - 1 - k))))
            for k in range(scales)]


def initial_image(cfg, content, style_file, init_file=None):
    """The start image (1, H, W, 3), normalized, for cfg.init: "noise" = the homework's
    generate_noise_image(content, noise_ratio, seed); "content" = the content image; "style" = the (first)
    style image `style_file`, else `init_file` (read from the path cfg.init); both (h, w, 3) in 0..255,
    resized to the content's size."""
    if cfg.init == "noise":
        return generate_noise_image(content, cfg.noise_ratio, seed=cfg.seed)
    if cfg.init == "content":
        return np.array(content, dtype=np.float32)
    image = style_file if cfg.init == "style" else init_file
    return reshape_and_normalize_image(resize_image(image, content.shape[2], content.shape[1]))


# --- issue 6: determinism ------------------------------------------------------------------------------------

def make_deterministic(seed):
    """--deterministic: TF op determinism (tf.config.experimental.enable_op_determinism, for the rest of the
    process) and TF's global seed; the initial noise is already fixed by np.random.default_rng(seed)."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    tf.random.set_seed(seed)
