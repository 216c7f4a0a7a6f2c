"""Where the weights live: the user cache ($NST_HOME) and the homework's pretrained-model/ folders.

A run without --weights uses MatConvNet's VGG-19 file, the homework's network. It is looked for, in this order, in

    ./pretrained-model/              the homework's own place, relative to the current folder
    <checkout>/pretrained-model/     the same folder of the nst checkout being run, when nst runs from one
    $NST_HOME                        the user cache: $NST_HOME if set, else the platform's user cache folder
                                     (~/.cache/nst on Linux, ~/Library/Caches/nst on macOS, %LOCALAPPDATA%\\nst\\Cache)

and, when it is in none of them, downloaded into $NST_HOME (as keras, torch.hub and Hugging Face keep theirs), so
nothing is ever written to the current folder. Which file a run then uses (the ImageNet VGG-16 when the download
fails): nst.weights.choice.
"""

import os
from pathlib import Path

HOME_VARIABLE = "NST_HOME"
VGG19_FILE = "imagenet-vgg-verydeep-19.mat"
VGG16_FILE = "imagenet-vgg-verydeep-16.mat"
HOMEWORK_FOLDER = "pretrained-model"
CHECKOUT = Path(__file__).resolve().parents[2]
"""The folder above the `nst` package: a checkout when it holds pyproject.toml, else site-packages."""


def nst_home(environ=None):
    """The user cache folder for the weights (absolute): $NST_HOME, else the platform's user cache + /nst."""
    env = os.environ if environ is None else environ
    if env.get(HOME_VARIABLE):
        return Path(env[HOME_VARIABLE]).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_cache_dir("nst", appauthor=False)).absolute()


def checkout_root():
    """The nst checkout this code runs from, or None when nst is installed (a wheel in site-packages)."""
    return CHECKOUT if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "nst").is_dir() else None


def weights_folders(environ=None):
    """The folders a default weights file is looked for in, in order, absolute and without repeats."""
    folders = [Path.cwd() / HOMEWORK_FOLDER]
    if checkout_root() is not None:
        folders.append(checkout_root() / HOMEWORK_FOLDER)
    folders.append(nst_home(environ))
    unique = []
    for folder in folders:
        if folder.resolve() not in [f.resolve() for f in unique]:
            unique.append(folder)
    return unique


def find_weights(name=VGG19_FILE, environ=None):
    """The first file called `name` in weights_folders(), or None."""
    for folder in weights_folders(environ):
        if (folder / name).is_file():
            return folder / name
    return None


def default_weights(environ=None):
    """The VGG-19 file a run without --weights uses: where it is found, else where it is downloaded to."""
    return find_weights(VGG19_FILE, environ) or nst_home(environ) / VGG19_FILE


def is_default(path, environ=None):
    """Whether --weights `path` is the default: none given, or the VGG-19 file's place in the user cache (what
    `nst studio` passes on to its runs)."""
    return path is None or Path(path).absolute() == nst_home(environ) / VGG19_FILE
