"""Paint images/swirls.jpg: an original "starry night"-like style image made of oriented brush strokes.

Deterministic (fixed seed, no inputs): running it twice writes the same file.
Usage: python -m tools swirls [OUTPUT]   (default: images/swirls.jpg)

Strokes follow a vector field v(x, y) = gentle wavy drift + sum of Gaussian vortices
(around the stars, the moon and two large sky swirls); each stroke is a short streamline
drawn as a thick line whose colour comes from a palette plus per-stroke jitter, so the
picture has the strong oriented texture that style (Gram-matrix) costs pick up.
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

WIDTH, HEIGHT = 400, 300  # output size (the homework's image size)
SCALE = 2  # paint at 2x, then downsample with LANCZOS for soft anti-aliased strokes
W, H = WIDTH * SCALE, HEIGHT * SCALE
SEED = 1889

# (x, y, radius) in output pixels.
STARS = [(40, 40, 9), (118, 28, 8), (205, 52, 10), (262, 22, 7), (300, 88, 8), (150, 95, 7), (80, 120, 6)]
MOON = (350, 45, 20)
# (x, y, strength, size): positive = counter-clockwise on screen.
VORTICES = [(175, 135, 1.6, 55), (245, 115, -1.4, 40)] + [(x, y, 1.2, r * 3.0) for x, y, r in STARS]
VORTICES += [(MOON[0], MOON[1], -1.3, MOON[2] * 2.6)]
SKY_PALETTE = np.array(
    [(14, 24, 70), (25, 48, 118), (42, 82, 160), (78, 122, 190), (140, 172, 205), (196, 212, 200)], dtype=float
)


def horizon(x):
    """Height (output pixels) of the distant hills' ridge at column x."""
    return 205 + 14 * np.sin(x / 60.0) + 8 * np.sin(x / 23.0 + 1.0)


def cypress_halfwidth(y):
    """Half width (output pixels) of the cypress at row y (0 above its tip)."""
    top = 25.0
    t = np.clip((y - top) / (HEIGHT - top), 0, 1)
    return np.where(y < top, 0.0, 6 + 30 * t**0.8 + 4 * np.sin(y / 9.0))


def sky_field(xs, ys):
    """Unit flow direction (vx, vy) at output coordinates xs, ys (arrays)."""
    vx = 1.0 + 0.0 * xs
    vy = 0.35 * np.sin(xs / 45.0 + ys / 30.0)
    for cx, cy, strength, size in VORTICES:
        dx, dy = xs - cx, ys - cy
        weight = strength * np.exp(-(dx * dx + dy * dy) / (2 * size * size)) * 3.0
        r = np.hypot(dx, dy) + 1e-6
        vx += weight * dy / r
        vy -= weight * dx / r
    norm = np.hypot(vx, vy) + 1e-9
    return vx / norm, vy / norm


def sky_brightness(xs, ys):
    """0..1 brightness of the sky: wavy bands along the flow, brighter near stars and the moon."""
    b = 0.38 + 0.16 * np.sin(xs / 28.0 + 2.2 * np.sin(ys / 34.0)) + 0.12 * np.sin(ys / 17.0 + xs / 90.0)
    for cx, cy, _strength, size in VORTICES[:2]:
        r = np.hypot(xs - cx, ys - cy)
        b += 0.22 * np.cos(r / 7.0) * np.exp(-((r / size) ** 2))
    for cx, cy, rad in STARS + [MOON]:
        b += 0.55 * np.exp(-((np.hypot(xs - cx, ys - cy) / (rad * 3.2)) ** 2))
    return np.clip(b, 0, 1)


def palette(t, colours):
    """Piecewise-linear colour lookup, t in 0..1."""
    t = float(np.clip(t, 0, 1)) * (len(colours) - 1)
    i = min(int(t), len(colours) - 2)
    return colours[i] + (colours[i + 1] - colours[i]) * (t - i)


def jitter(rng, colour, amount):
    return tuple(int(c) for c in np.clip(colour + rng.normal(0, amount, 3), 0, 255))


def streamline(x, y, length, field, step=1.5):
    """Points (painting pixels) of a stroke traced both ways from (x, y) along field (output coords)."""
    points = [(x, y)]
    for direction in (1.0, -1.0):
        px, py = x, y
        for _ in range(length // 2):
            vx, vy = field(np.array(px), np.array(py))
            px, py = px + direction * step * float(vx), py + direction * step * float(vy)
            if direction > 0:
                points.append((px, py))
            else:
                points.insert(0, (px, py))
    return [(px * SCALE, py * SCALE) for px, py in points]


def paint_sky(draw, rng):
    for _ in range(5200):
        x, y = rng.uniform(-5, WIDTH + 5), rng.uniform(-5, 235)
        colour = palette(sky_brightness(x, y) + rng.normal(0, 0.06), SKY_PALETTE)
        width = int(rng.integers(3, 6)) * SCALE
        draw.line(streamline(x, y, int(rng.integers(6, 14)), sky_field), fill=jitter(rng, colour, 9), width=width)


def paint_glow(draw, rng, cx, cy, rad, rings, colours):
    """Concentric rings of short arc strokes (a halo), from the outside in."""
    for k in range(rings, 0, -1):
        r = rad * (1 + 0.55 * k)
        colour = palette(1 - k / (rings + 1), colours)
        for _ in range(int(6 + 2.2 * r)):
            a0 = rng.uniform(0, 2 * np.pi)
            arc = np.linspace(a0, a0 + rng.uniform(0.35, 0.8), 6)
            rr = r + rng.normal(0, 1.2)
            points = [((cx + rr * np.cos(a)) * SCALE, (cy + rr * np.sin(a)) * SCALE) for a in arc]
            draw.line(points, fill=jitter(rng, colour, 10), width=int(rng.integers(2, 4)) * SCALE)


def paint_stars(draw, rng):
    halo = np.array([(70, 110, 170), (150, 180, 190), (225, 225, 170), (250, 240, 150)], dtype=float)
    core = np.array([(245, 225, 90), (255, 245, 170), (255, 255, 225)], dtype=float)
    for cx, cy, rad in STARS:
        paint_glow(draw, rng, cx, cy, rad, 4, halo)
        paint_glow(draw, rng, cx, cy, rad * 0.35, 3, core)
        draw.ellipse(
            [
                (cx - 0.45 * rad) * SCALE,
                (cy - 0.45 * rad) * SCALE,
                (cx + 0.45 * rad) * SCALE,
                (cy + 0.45 * rad) * SCALE,
            ],
            fill=(255, 250, 215),
        )


def paint_moon(draw, rng):
    cx, cy, rad = MOON
    glow = np.array([(60, 95, 160), (150, 160, 140), (225, 195, 100), (245, 215, 110)], dtype=float)
    paint_glow(draw, rng, cx, cy, rad * 0.8, 4, glow)
    box = [(cx - rad) * SCALE, (cy - rad) * SCALE, (cx + rad) * SCALE, (cy + rad) * SCALE]
    draw.ellipse(box, fill=(246, 190, 50))
    nx, ny, nr = cx + 0.42 * rad, cy - 0.22 * rad, 0.82 * rad  # the dark notch that leaves a crescent
    for _ in range(420):  # curved strokes following the disc
        a = rng.uniform(0, 2 * np.pi)
        r = rad * np.sqrt(rng.uniform(0, 0.95))
        x, y = cx + r * np.cos(a), cy + r * np.sin(a)
        dark = np.hypot(x - nx, y - ny) < nr
        colour = np.array((190, 120, 35) if dark else (253, 220, 95), dtype=float)
        t = np.linspace(-0.2, 0.2, 5)
        points = [((cx + r * np.cos(a + s)) * SCALE, (cy + r * np.sin(a + s)) * SCALE) for s in t]
        draw.line(points, fill=jitter(rng, colour, 12), width=2 * SCALE)


def paint_hills(draw, rng):
    colours = np.array([(10, 22, 40), (22, 48, 78), (40, 78, 110), (72, 104, 120)], dtype=float)
    for _ in range(2600):
        x = rng.uniform(-10, WIDTH + 10)
        ridge = float(horizon(x))
        y = rng.uniform(ridge, HEIGHT + 5)
        depth = (y - ridge) / (HEIGHT - ridge + 1e-6)
        colour = palette(0.85 - 0.8 * depth + rng.normal(0, 0.1), colours)
        slope = float(horizon(x + 1) - horizon(x - 1)) / 2 * (1 - depth)
        half = rng.uniform(5, 12)
        points = [((x + s) * SCALE, (y + s * slope + 2 * np.sin(s / 4)) * SCALE) for s in np.linspace(-half, half, 6)]
        draw.line(points, fill=jitter(rng, colour, 7), width=int(rng.integers(2, 5)) * SCALE)
    for _ in range(18):  # a village: dark houses with lit yellow windows
        x = rng.uniform(120, 390)
        y = float(horizon(x)) + rng.uniform(25, 70)
        w, h = rng.uniform(8, 16), rng.uniform(6, 11)
        draw.polygon(
            [
                (x * SCALE, y * SCALE),
                ((x + w) * SCALE, y * SCALE),
                ((x + w) * SCALE, (y - h) * SCALE),
                ((x + w / 2) * SCALE, (y - h - 5) * SCALE),
                (x * SCALE, (y - h) * SCALE),
            ],
            fill=jitter(rng, np.array((28, 40, 62), dtype=float), 6),
        )
        for _ in range(int(rng.integers(1, 3))):
            wx, wy = x + rng.uniform(2, w - 3), y - rng.uniform(2, h - 2)
            draw.rectangle([wx * SCALE, wy * SCALE, (wx + 2) * SCALE, (wy + 2) * SCALE], fill=(245, 205, 80))
    x, y = 255.0, float(horizon(255.0)) + 30  # the church spire
    draw.polygon(
        [((x - 2) * SCALE, y * SCALE), ((x + 2) * SCALE, y * SCALE), (x * SCALE, (y - 40) * SCALE)], fill=(20, 30, 48)
    )


def paint_cypress(draw, rng):
    colours = np.array([(8, 12, 10), (22, 34, 22), (45, 55, 30), (84, 70, 40)], dtype=float)
    centre = 62.0
    for _ in range(2200):
        y = rng.uniform(25, HEIGHT + 5)
        half = float(cypress_halfwidth(np.array(y)))
        if half <= 0:
            continue
        off = rng.uniform(-1, 1)
        x = centre + 7 * np.sin(y / 25.0) + off * half
        colour = palette(0.35 + 0.35 * off * (rng.uniform() > 0.5) + rng.normal(0, 0.12), colours)
        length = rng.uniform(8, 20)
        sway = 0.5 * off + 0.25 * np.sin(y / 12.0)
        points = [((x + sway * s + 1.5 * np.sin(s / 3)) * SCALE, (y - s) * SCALE) for s in np.linspace(0, length, 7)]
        draw.line(points, fill=jitter(rng, colour, 8), width=int(rng.integers(2, 5)) * SCALE)


def paint():
    """The painting as a (HEIGHT, WIDTH) RGB PIL image."""
    rng = np.random.default_rng(SEED)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(float)
    base = SKY_PALETTE[1] + (SKY_PALETTE[2] - SKY_PALETTE[1]) * sky_brightness(xs, ys)[..., None]
    canvas = Image.fromarray(base.astype(np.uint8)).resize((W, H), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(canvas)
    paint_sky(draw, rng)
    paint_moon(draw, rng)
    paint_stars(draw, rng)
    paint_hills(draw, rng)
    paint_cypress(draw, rng)
    canvas = canvas.filter(ImageFilter.SMOOTH)
    return canvas.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "images" / "swirls.jpg"
    paint().save(out, quality=92)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")
