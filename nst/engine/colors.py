"""Colour preservation (`--preserve-colors`): the generated image's luminance with the content's chroma.

As Gatys et al. 2016, "Preserving color in neural artistic style transfer": keep the luminance of the generated
image and the chroma of the content, in full-range YCbCr (ITU-R BT.601, as JPEG).

Images are (H, W, 3) or (1, H, W, 3) float RGB in 0..255.
    Y  =       0.299 R    + 0.587 G    + 0.114 B
    Cb = 128 - 0.168736 R - 0.331264 G + 0.5 B
    Cr = 128 + 0.5 R      - 0.418688 G - 0.081312 B
"""

import numpy as np

RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
YCBCR_OFFSET = np.array([0.0, 128.0, 128.0])


def rgb_to_ycbcr(rgb):
    """RGB 0..255 -> YCbCr (same shape), float64."""
    return np.asarray(rgb, dtype=np.float64) @ RGB_TO_YCBCR.T + YCBCR_OFFSET


def ycbcr_to_rgb(ycbcr):
    """YCbCr -> RGB (same shape, not clipped), float64: the exact inverse of rgb_to_ycbcr."""
    return (np.asarray(ycbcr, dtype=np.float64) - YCBCR_OFFSET) @ np.linalg.inv(RGB_TO_YCBCR).T


def preserve_colors(generated, content):
    """RGB with Y of `generated` and Cb, Cr of `content` (same shapes, 0..255), clipped to 0..255, float32."""
    y = rgb_to_ycbcr(generated)[..., :1]
    chroma = rgb_to_ycbcr(content)[..., 1:]
    rgb = ycbcr_to_rgb(np.concatenate([y, chroma], axis=-1))
    return np.clip(rgb, 0, 255).astype(np.float32)
