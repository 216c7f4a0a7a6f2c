"""The start image of a run (`--init`): the homework's noisy content, the content, a style image or a file."""

import numpy as np

from nst.homework import NOISE_RATIO
from nst.images import generate_noise_image, reshape_and_normalize_image, resize_image

INIT_KEYWORDS = ("noise", "content", "style")


def initial_image(init, content, style_file, init_file=None, noise_ratio=NOISE_RATIO, seed=None):
    """The start image (1, H, W, 3), normalized, for `init`: "noise" = the homework's
    generate_noise_image(content, noise_ratio, seed); "content" = the content image; "style" = the (first)
    style image `style_file`, else `init_file` (the image at the path `init`); both (h, w, 3) in 0..255,
    resized to the content's size."""
    if init == "noise":
        return generate_noise_image(content, noise_ratio, seed=seed)
    if init == "content":
        return np.array(content, dtype=np.float32)
    image = style_file if init == "style" else init_file
    return reshape_and_normalize_image(resize_image(image, content.shape[2], content.shape[1]))
