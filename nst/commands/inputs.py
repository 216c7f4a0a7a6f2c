"""What a run settles and reads before it needs TensorFlow: the configuration, the images, the output, the weights.

Bad input (a missing or unreadable --content, --style or --init, impossible values, a checkpoint that does not
match, an output folder that cannot be made, a weights file that is missing and cannot be had) is found here, so
the command line reports it in one line before the seconds TensorFlow's import takes; a download of the weights
starts here too. Nothing here imports TensorFlow (a test checks).
"""

from typing import NamedTuple

import numpy as np

from nst.commands.resume import resumed_config
from nst.files import check_output_dir
from nst.images import load_image, read_image, reshape_and_normalize_image
from nst.settings import INIT_KEYWORDS, style_paths
from nst.weights.choice import weights_for_run


class Inputs(NamedTuple):
    """The images of a run: content (1, H, W, 3) normalized at the output size; the style files and the
    --init file (or None) as read, (h, w, 3) in 0..255."""

    content: np.ndarray
    style_files: list
    init_file: np.ndarray | None


def prepare_run(cfg, given=None, log=print):
    """(the Config to run, its Inputs, its weights file, why that is not the one asked for or None): settle_config,
    read_inputs, the output folder checked (made by the run once its network is loaded), then the weights file
    chosen (nst.weights.choice.weights_for_run: found, downloaded, or the ImageNet VGG-16 in the VGG-19's place,
    said through `log`). Raises NstError (one line) on bad input."""
    cfg = settle_config(cfg, given)
    inputs = read_inputs(cfg)
    check_output_dir(cfg.output_dir)
    weights, fallback = weights_for_run(cfg.weights, allow_download=cfg.download, progress=cfg.progress, log=log)
    return cfg, inputs, weights, fallback


def settle_config(cfg, given=None):
    """The Config to run: the checkpoint's for --resume (`given`: see resumed_config), checked."""
    if cfg.resume is not None:
        cfg = resumed_config(cfg, given)
    return cfg.check()


def read_inputs(cfg):
    """Read (and check) the content image, the style images and the --init file, in that order."""
    content = reshape_and_normalize_image(load_image(cfg.content, cfg.width, cfg.height, max_pixels=cfg.max_pixels))
    style_files = [read_image(path, max_pixels=cfg.max_pixels) for path in style_paths(cfg.style)]
    init_file = None if cfg.init in INIT_KEYWORDS else read_image(cfg.init, max_pixels=cfg.max_pixels)
    return Inputs(content, style_files, init_file)
