"""The start image of a run (`--init`): the homework's noisy content, the content, a style image or a file."""

import numpy as np

from nst.images import generate_noise_image, reshape_and_normalize_image, resize_image

INIT_KEYWORDS = ("noise", "content", "style")


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
