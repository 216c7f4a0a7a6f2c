"""What the notebooks share: their settings and the VGG-19 model they run on.

The settings come from environment variables; the model is the real weights, or a small generated stand-in
announced by a banner when the real file is missing."""

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nst.settings import PACKAGE_ROOT
from nst.weights.download import DEFAULT_WEIGHTS

BANNER = ("**⚠ SMALL GENERATED NETWORK — the pictures below are NOT meaningful.** The real VGG-19 weights "
          "(`pretrained-model/imagenet-vgg-verydeep-19.mat`, 510 MB) are missing, so this notebook runs on a "
          "small VGG-19-shaped net with random weights. Every cost and check still runs; the images will not "
          "look like a painting. `python -m nst` downloads the real file.")
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
    are the homework's run (relative defaults are taken from the repository's top level)."""
    env = os.environ if environ is None else environ
    return NotebookSettings(
        weights=Path(env.get("NST_NOTEBOOK_WEIGHTS", PACKAGE_ROOT / DEFAULT_WEIGHTS)),
        iterations=int(env.get("NST_NOTEBOOK_ITERATIONS", 200)),
        width=int(env.get("NST_NOTEBOOK_WIDTH", 400)),
        height=int(env.get("NST_NOTEBOOK_HEIGHT", 300)),
        save_every=int(env.get("NST_NOTEBOOK_SAVE_EVERY", 20)),
        output=Path(env.get("NST_NOTEBOOK_OUTPUT", PACKAGE_ROOT / default_output)),
    )


def notebook_model(weights):
    """(model, weights file): the VGG-19 (or VGG-16) of `weights`, its network named; when that file is missing,
    a small generated VGG-19 with random weights, announced by a markdown banner and a printed warning."""
    from IPython.display import Markdown, display

    from nst.weights.testnet import write_test_vgg
    from nst.vgg import load_vgg_model

    weights = Path(weights)
    if not weights.is_file():
        weights = write_test_vgg(Path(tempfile.mkdtemp()) / "small-vgg19.mat", seed=0)
        display(Markdown(BANNER))
        print(WARNING)
        return load_vgg_model(weights), weights
    model = load_vgg_model(weights)
    print(f"real weights: {weights.name}, {model.network} ({len(model.weights)} conv layers)")
    return model, weights
