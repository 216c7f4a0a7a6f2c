"""What the notebooks share: their settings and the VGG-19 model they run on.

The settings come from environment variables; the model is the real weights, or a small generated stand-in
announced by a banner when the real file is missing."""

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nst.weights.locate import VGG16_FILE, checkout_root, default_weights, find_weights

BANNER = (
    "**⚠ SMALL GENERATED NETWORK — the pictures below are NOT meaningful.** The real VGG-19 weights "
    "(`imagenet-vgg-verydeep-19.mat`, 510 MB, in `pretrained-model/` or nst's cache) are missing, so this "
    "notebook runs on a small VGG-19-shaped net with random weights. Every cost and check still runs; the "
    "images will not look like a painting. `python -m nst` downloads the real file (or, where it cannot, "
    "writes the ImageNet VGG-16 that this notebook then uses)."
)
WARNING = "WARNING: small generated network with random weights: the pictures are not meaningful"


@dataclass(frozen=True)
class NotebookSettings:
    """A notebook's run: VGG-19 file, Adam steps, image size, save interval, output folder."""

    weights: Path
    iterations: int
    width: int
    height: int
    save_every: int
    output: Path


def notebook_settings(default_output, environ=None):
    """The settings from NST_NOTEBOOK_WEIGHTS, _ITERATIONS, _WIDTH, _HEIGHT, _SAVE_EVERY, _OUTPUT; the defaults
    are the homework's run: the VGG-19 file where a run finds it (nst.weights.locate), else the ImageNet VGG-16
    found there, the output folder in the checkout's top level (installed: in the current folder). While nbgrader
    runs the notebook (NBGRADER_EXECUTION set) the run is 2 steps at 40x30, within nbgrader's 30 s per cell."""
    env = os.environ if environ is None else environ
    top = checkout_root() or Path.cwd()
    quick = bool(env.get("NBGRADER_EXECUTION"))  # nbgrader validating or grading: the run in seconds, not minutes
    return NotebookSettings(
        weights=Path(env["NST_NOTEBOOK_WEIGHTS"]) if env.get("NST_NOTEBOOK_WEIGHTS") else notebook_weights(environ),
        iterations=int(env.get("NST_NOTEBOOK_ITERATIONS", 2 if quick else 200)),
        width=int(env.get("NST_NOTEBOOK_WIDTH", 40 if quick else 400)),
        height=int(env.get("NST_NOTEBOOK_HEIGHT", 30 if quick else 300)),
        save_every=int(env.get("NST_NOTEBOOK_SAVE_EVERY", 1 if quick else 20)),
        output=Path(env.get("NST_NOTEBOOK_OUTPUT", top / default_output)),
    )


def notebook_weights(environ=None):
    """The VGG-19 file where a run finds it, else the ImageNet VGG-16 found in the same folders (written by a run
    that fell back to it, or `python -m nst.weights.imagenet`), else where the VGG-19 would be (missing)."""
    vgg19 = default_weights(environ)
    return vgg19 if vgg19.is_file() else find_weights(VGG16_FILE, environ) or vgg19


def notebook_model(weights):
    """(model, weights file): the VGG-19 (or VGG-16) of `weights`, its network named; when that file is missing,
    a small generated VGG-19 with random weights, announced by a markdown banner and a printed warning."""
    from IPython.display import Markdown, display

    from nst.vgg import load_vgg_model
    from nst.weights.testnet import write_test_vgg

    weights = Path(weights)
    if not weights.is_file():
        weights = write_test_vgg(Path(tempfile.mkdtemp()) / "small-vgg19.mat", seed=0)
        display(Markdown(BANNER))
        print(WARNING)
        return load_vgg_model(weights), weights
    model = load_vgg_model(weights)
    print(f"real weights: {weights.name}, {model.network} ({len(model.weights)} conv layers)")
    return model, weights
