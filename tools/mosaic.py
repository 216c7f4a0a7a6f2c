"""Paint images/mosaic.jpg: an original stained-glass style image, warm glass cells in dark lead lines.

Deterministic (fixed seed, no inputs): running it twice writes the same file.
Usage: python -m tools mosaic [OUTPUT]   (default: images/mosaic.jpg)

A second style beside swirls.jpg, as different from it as a style can be: angular cells instead of flowing
strokes, reds, oranges and golds instead of night blues. Cells are the Voronoi regions of jittered seed points
(nearest seed per pixel), each filled with one palette colour shaded by a soft gradient and a little grain;
the boundaries between cells are drawn dark and thick, like lead came, and a large sun of concentric rings
sits in the upper left so the picture has structure at several scales.
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

WIDTH, HEIGHT = 400, 300
SEED = 1910
PALETTE = np.array(
    [
        (178, 34, 34),
        (214, 92, 30),
        (236, 160, 40),
        (244, 208, 88),
        (120, 30, 60),
        (40, 90, 120),
        (30, 120, 90),
        (200, 120, 150),
    ],
    dtype=float,
)
WEIGHTS = np.array([0.22, 0.2, 0.18, 0.12, 0.1, 0.07, 0.06, 0.05])  # mostly warm glass, a few cool cells
SUN = (110.0, 95.0)  # centre of the concentric rings (pixels)


def seeds(rng):
    """Cell centres: a jittered grid, denser (smaller cells) around the sun."""
    points = []
    for y in range(0, HEIGHT + 20, 22):
        for x in range(0, WIDTH + 20, 22):
            points.append((x + rng.uniform(-9, 9), y + rng.uniform(-9, 9)))
    for _ in range(45):
        a, r = rng.uniform(0, 2 * np.pi), 70 * np.sqrt(rng.uniform())
        points.append((SUN[0] + r * np.cos(a), SUN[1] + r * np.sin(a)))
    return np.array(points)


def paint():
    """The picture as a (HEIGHT, WIDTH) RGB PIL image."""
    rng = np.random.default_rng(SEED)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(float)
    centres = seeds(rng)
    d = (xs[..., None] - centres[:, 0]) ** 2 + (ys[..., None] - centres[:, 1]) ** 2
    order = np.sort(d, axis=-1)
    cell = np.argmin(d, axis=-1)
    colours = PALETTE[rng.choice(len(PALETTE), size=len(centres), p=WEIGHTS)]
    rings = np.hypot(xs - SUN[0], ys - SUN[1])
    sun = (rings < 75) & ((rings // 15) % 2 == 0)
    image = colours[cell]
    image[sun] = 0.5 * image[sun] + 0.5 * np.array((250, 215, 90))
    shade = 0.8 + 0.35 * np.sin(xs / 37.0 + ys / 53.0) * np.cos(ys / 41.0)
    image = image * shade[..., None] + rng.normal(0, 6, image.shape)
    lead = np.sqrt(order[..., 1]) - np.sqrt(order[..., 0]) < 2.6  # near the border between two cells
    lead |= (rings < 77) & (np.abs(rings % 15 - 7.5) > 6.0)  # the sun's rings, leaded too
    image[lead] = (28, 20, 24)
    picture = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    return picture.filter(ImageFilter.SMOOTH)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "images" / "mosaic.jpg"
    paint().save(out, quality=92)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")
