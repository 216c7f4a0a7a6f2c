"""Pictures and manifest of a run, written beside its images (atomically):

    costs.png     total, content and style cost against iteration, log scale      800 x 500 px
    progress.png  every saved <i>.png and the final image, titled "iteration i, J = ..."
    summary.png   content | style | generated
    run.json      parameters, image sizes, package versions, device, precision (requested, used, why), weights
                  SHA-256, s/iteration, final costs

Figures are matplotlib `Figure`s drawn on the Agg canvas (no pyplot, no display, no global backend change).
Sheets use panels PANEL_INCHES wide at DPI, each image panel (PANEL_INCHES * h / w + TITLE_INCHES) tall.
"""

import dataclasses
import datetime
import hashlib
import json
import math
import platform
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nst.files import atomic_path, write_text_atomic

DPI = 100
COSTS_INCHES = (8.0, 5.0)
PANEL_INCHES = 3.0
TITLE_INCHES = 0.5
PROGRESS_COLUMNS = 5
REPORT_FILES = ("costs.png", "progress.png", "summary.png", "run.json")


def save_figure(fig, path):
    """Write a Figure to `path` as PNG at DPI, atomically (temp file + rename)."""
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def as_rgb_uint8(image):
    """(H, W, 3) 0..255 float or uint8 -> (H, W, 3) uint8 (clipped, rounded)."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return np.clip(np.rint(np.nan_to_num(image.astype(np.float64))), 0, 255).astype(np.uint8)


def panel_image(image, longest=2 * round(PANEL_INCHES * DPI)):
    """An image as a panel shows it: (H, W, 3) uint8 with its longer side at most `longest` pixels (twice the
    panel's), so that a print-size run's sheets hold thumbnails, not copies of the whole picture."""
    image = np.asarray(image)
    if np.ndim(image) == 2 or max(image.shape[:2]) <= longest:
        return image
    from PIL import Image

    h, w = image.shape[:2]
    scale = longest / max(h, w)
    small = Image.fromarray(as_rgb_uint8(image)).resize(
        (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS
    )
    return np.asarray(small)


def image_sheet(panels, columns):
    """A Figure with one image per panel: panels = [(title, (H, W, 3) image or (H, W) heat map), ...], `columns` a
    row.

    Size: (PANEL_INCHES * columns) x (rows * (PANEL_INCHES * h / w + TITLE_INCHES)) inches, h/w of the first image.
    """
    rows = math.ceil(len(panels) / columns)
    panels = [(title, panel_image(image)) for title, image in panels]
    h, w = np.asarray(panels[0][1]).shape[:2]
    panel_h = PANEL_INCHES * h / w + TITLE_INCHES
    fig = Figure(figsize=(PANEL_INCHES * columns, rows * panel_h))
    for k, (title, image) in enumerate(panels):
        r, c = divmod(k, columns)
        # axes in figure fractions: the image fills the panel's width, the title sits in its top TITLE_INCHES
        ax = fig.add_axes([c / columns, 1 - (r + 1) / rows, 1 / columns, (panel_h - TITLE_INCHES) / panel_h / rows])
        if np.ndim(image) == 2:  # a heat map (e.g. |difference|), 0..max, dark = small
            ax.imshow(
                image,
                cmap="magma",
                vmin=0,
                vmax=max(float(np.max(image)), 1e-12),
                interpolation="nearest",
                aspect="auto",
            )
        else:
            ax.imshow(as_rgb_uint8(image), interpolation="nearest", aspect="auto")
        ax.set_axis_off()
        ax.set_title(title, fontsize=9)
    return fig


def plot_costs(history, path, title="Costs"):
    """costs.png: J, J_content, J_style of `history` [(i, J, Jc, Js), ...] against iteration, log y axis."""
    it = [row[0] for row in history]
    fig = Figure(figsize=COSTS_INCHES, layout="constrained")
    ax = fig.add_subplot()
    for col, label in ((1, "total J"), (2, "content J_content"), (3, "style J_style")):
        ax.plot(it, [row[col] for row in history], label=label, marker="." if len(it) < 30 else None)
    ax.set_yscale("log", nonpositive="mask")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost (log scale)")
    J = history[-1][1]
    ax.set_title(f"{title}: final J = {J:.4g} after {len(history)} iterations")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def saved_iterations(output_dir, history, save_every):
    """[(i, J, path)] for every history row with i % save_every == 0 whose `<output_dir>/<i>.png` exists."""
    out = Path(output_dir)
    return [
        (row[0], row[1], out / f"{row[0]}.png")
        for row in history
        if row[0] % save_every == 0 and (out / f"{row[0]}.png").exists()
    ]


def plot_progress(output_dir, history, save_every, generated, path):
    """progress.png: every saved `<i>.png` titled "iteration i, J = ..." and the final image (generated,
    (H, W, 3) 0..255), PROGRESS_COLUMNS per row."""
    import imageio.v3 as iio

    panels = [
        (f"iteration {i}, J = {J:.4g}", panel_image(iio.imread(p)[..., :3]))
        for i, J, p in saved_iterations(output_dir, history, save_every)
    ]
    panels.append((f"final, J = {history[-1][1]:.4g}", generated))
    save_figure(image_sheet(panels, min(PROGRESS_COLUMNS, len(panels))), path)


def plot_summary(content, styles, generated, path):
    """summary.png: content | style(s) | generated, each (H, W, 3) 0..255; styles one image or a list."""
    styles = styles if isinstance(styles, (list, tuple)) else [styles]
    panels = [("content", content)]
    panels += [(f"style {k + 1}" if len(styles) > 1 else "style", s) for k, s in enumerate(styles)]
    panels.append(("generated", generated))
    save_figure(image_sheet(panels, len(panels)), path)


def sha256_of(path, chunk=1 << 20):
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def package_versions():
    """{python, nst, tensorflow, numpy, scipy, matplotlib}: version strings."""
    import matplotlib
    import scipy
    import tensorflow as tf

    import nst

    return {
        "python": platform.python_version(),
        "nst": nst.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "matplotlib": matplotlib.__version__,
    }


def tf_device():
    """The device TF places ops on by default here, e.g. "/job:localhost/replica:0/task:0/device:CPU:0"."""
    import tensorflow as tf

    return tf.zeros(()).device


def jsonable(value):
    """Config values as JSON: Paths as strings, tuples as lists (recursively)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def run_manifest(
    cfg,
    history,
    seconds_per_iteration,
    weights_path,
    content_size,
    style_sizes,
    weights_sha256=None,
    precision=None,
    network="VGG-19",
    fallback=None,
):
    """The run.json dict. content_size / style_sizes: (width, height) of the image files as read.
    weights_sha256: the weights file's SHA-256 when known (from the weights cache); else the file is hashed.
    network: the weights file's network ("VGG-19" or "VGG-16"); fallback: why it is not the VGG-19 asked for, or None
    (nst.weights.choice.weights_for_run).
    precision: {"requested", "used", "reason"} (nst.engine.device.choose_precision), by default cfg.precision as
    requested."""
    J, Jc, Js = history[-1][1:4]
    if precision is None:
        precision = {"requested": cfg.precision, "used": cfg.precision, "reason": "requested"}
    return {
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "parameters": {f.name: jsonable(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)},
        "image_sizes": {
            "generated": [cfg.width, cfg.height],
            "content_file": list(content_size),
            "style_files": [list(s) for s in style_sizes],
        },
        "versions": package_versions(),
        "device": tf_device(),
        "precision": precision,
        "weights": {
            "path": str(weights_path),
            "sha256": weights_sha256 or sha256_of(weights_path),
            "network": network,
            "fallback": fallback,
        },
        "iterations_run": len(history),
        "seconds_per_iteration": seconds_per_iteration,
        "final_costs": {"iteration": history[-1][0], "total": J, "content": Jc, "style": Js},
    }


def write_report(
    cfg,
    history,
    content,
    styles,
    generated,
    seconds_per_iteration,
    weights_path,
    content_size,
    style_sizes,
    weights_sha256=None,
    precision=None,
    network="VGG-19",
    fallback=None,
    memory=None,
):
    """Write costs.png, progress.png, summary.png and run.json into cfg.output_dir; returns their paths.

    content, styles, generated: (H, W, 3) images in 0..255 (styles: a list). history: [(i, J, Jc, Js), ...].
    memory: run.json's "memory" record (the budget and each scale's tile plan), when the run has one.
    """
    out = Path(cfg.output_dir)
    plot_costs(history, out / "costs.png")
    plot_progress(out, history, cfg.save_every, generated, out / "progress.png")
    plot_summary(content, styles, generated, out / "summary.png")
    manifest = run_manifest(
        cfg,
        history,
        seconds_per_iteration,
        weights_path,
        content_size,
        style_sizes,
        weights_sha256,
        precision,
        network,
        fallback,
    )
    if memory is not None:
        manifest["memory"] = memory
    write_text_atomic(out / "run.json", json.dumps(manifest, indent=2) + "\n")
    return [out / name for name in REPORT_FILES]


def image_size(path):
    """(width, height) of an image file, from its header."""
    from PIL import Image

    with Image.open(path) as img:
        return img.size
