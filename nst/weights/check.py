"""`nst check-weights`: proves a VGG-19 (or VGG-16) weights file and tells which kernel layout its network was trained with.

    nst check-weights [--weights FILE] [IMAGE ...]        (default: the default weights file, images/grace_hopper.jpg)

1. The file: its size, MD5 and SHA-256, whether it is one of the two official files (nst.weights.download.official_file)
   and its MatConvNet layout. It is read once and safely first (nst.weights.cache: loadmat in a child process,
   so a damaged file ends in one line instead of a crash); only then is it read whole in this process for the
   classifier (fc6-fc8, class names, normalization), which a run never needs.
2. The whole VGG-19 (nst.weights.classify) on each image, preprocessed the network's own way, once with the kernels as
   stored and once transposed: the top-5 classes with their probabilities, names from the file.
3. The verdict: the layout with the higher mean top-1 probability over the images, or "undecided" when the two
   means differ by less than CLOSE (0.10, i.e. ten percentage points).

Exit 0 when the file is usable (its conv layers are sound; a file without any classifier is reported, not
refused), 2 with one line when it is not (unreadable, not VGG-19, a damaged classifier, an unreadable image).
"""

import argparse
from pathlib import Path

import numpy as np

from nst.commands.console import run_command
from nst.settings import DEMO_CONTENT
from nst.weights.download import official_file

CLOSE = 0.10
"""Mean top-1 probabilities closer than this (absolute difference) leave the layout undecided."""
LAYOUT_NAMES = {
    "new": "MatConvNet's current layout (layers + meta)",
    "old": "MatConvNet's older layout (layers + normalization + classes)",
}


def layout_verdict(stored_top1, transposed_top1, close=CLOSE):
    """("stored" | "transposed" | "undecided", mean stored top-1, mean transposed top-1) over the images."""
    stored, transposed = float(np.mean(stored_top1)), float(np.mean(transposed_top1))
    if abs(stored - transposed) < close:
        return "undecided", stored, transposed
    return ("stored" if stored > transposed else "transposed"), stored, transposed


def verdict_line(verdict, stored, transposed, count):
    """The one-line verdict with its numbers."""
    numbers = (
        f"mean top-1 probability {stored:.3f} with the kernels as stored, {transposed:.3f} transposed, over "
        f"{count} image{'s' if count != 1 else ''}; undecided when they differ by less than {CLOSE:.2f}"
    )
    if verdict == "undecided":
        return f"verdict: undecided ({numbers})"
    return f"verdict: {verdict} - the network was trained with the kernels {'as stored' if verdict == 'stored' else 'transposed'} ({numbers})"


def advice(verdict):
    """What the user should do after the verdict."""
    if verdict == "stored":
        return "--kernel-layout stored, the homework's and nst's default, is the layout this network was trained with."
    if verdict == "transposed":
        return (
            "This network was trained with transposed kernels: --kernel-layout transposed gives it the filters "
            "it learned (the default stays stored, the homework's choice, for the homework's numbers); "
            "see docs/check-weights.md."
        )
    return "Give more photos (nst check-weights --weights FILE photo1.jpg photo2.jpg ...) to settle it."


def describe_file(path, data):
    """Lines about the file: path, size, digests, official or not, layout, network."""
    from nst.weights.matconvnet import network_of

    what = official_file(data.md5, data.sha256)
    lines = [
        f"weights: {path}",
        f"  {Path(path).stat().st_size} bytes, MD5 {data.md5}, SHA-256 {data.sha256}",
        f"  {what if what else 'not one of the two official VGG-19 files (a re-saved or converted copy may still be sound: the classification below tells)'}",
        f"  layout: {LAYOUT_NAMES.get(data.layout, data.layout)}",
        f"  network: {network_of(data.weights)}, {len(data.weights)} conv layers",
    ]
    return lines


def check_weights(weights, images, cache=True, allow_download=True, out=print):
    """Run the whole check, printing with `out`; returns the verdict ("stored", "transposed", "undecided") or
    None when the file has no classifier. NstError (one line) when the file or an image is unusable."""
    from nst.images import read_image
    from nst.weights.cache import read_weights
    from nst.weights.choice import weights_for_run
    from nst.weights.classify import class_probabilities, preprocess, top_k
    from nst.weights.matconvnet import classifier_from_mat, loadmat_checked

    path, _ = weights_for_run(weights, allow_download=allow_download, log=out)
    pictures = [read_image(image) for image in images]  # bad images fail before the long read
    data = read_weights(path, cache=cache)  # the safe read: a file that crashes scipy stops here
    for line in describe_file(path, data):
        out(line)
    mat = loadmat_checked(path)
    classifier = classifier_from_mat(mat, path, data.weights)
    del mat
    if classifier is None:
        out(
            "  no classifier (fc6-fc8) in this file: the kernel layout cannot be checked; the conv layers, all a "
            "style transfer uses, are sound"
        )
        return None
    fc_shapes = ", ".join(
        f"{name} {W.shape[0]}x{W.shape[1]}x{W.shape[2]} -> {W.shape[3]}"
        for name, (W, _) in zip(("fc6", "fc7", "fc8"), classifier.fc)
    )
    norm = classifier.normalization
    out(
        f"  classifier: {fc_shapes} classes; input {norm.image_size[0]}x{norm.image_size[1]}, border "
        f"{norm.border[0]}x{norm.border[1]}, keepAspect {str(norm.keep_aspect).lower()}, {norm.interpolation}"
    )
    top1 = {"stored": [], "transposed": []}
    for image, picture in zip(images, pictures):
        x = preprocess(picture, norm)
        for layout in ("stored", "transposed"):
            probabilities = class_probabilities(data.weights, classifier, x, kernel_layout=layout)
            best = top_k(probabilities, classifier.descriptions, 5)
            top1[layout].append(best[0][2])
            out(f"{image}, kernels {'as stored' if layout == 'stored' else 'transposed'}:")
            for rank, (index, description, p) in enumerate(best, 1):
                out(f"  {rank}. {p:.4f}  {description}  (class {index + 1})")
    verdict, stored, transposed = layout_verdict(top1["stored"], top1["transposed"])
    out(verdict_line(verdict, stored, transposed, len(images)))
    out(advice(verdict))
    return verdict


def build_check_parser():
    p = argparse.ArgumentParser(
        prog="nst check-weights",
        description="Check a MatConvNet VGG-19 weights file: official or not, its layout, and the whole network "
        "classifying photos with the kernels as stored and transposed, for a verdict on the kernel layout.",
    )
    p.add_argument(
        "images",
        nargs="*",
        type=Path,
        default=[DEMO_CONTENT],
        metavar="IMAGE",
        help="photos to classify (default: the demo's grace_hopper.jpg)",
    )
    p.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="MatConvNet imagenet-vgg-verydeep-19.mat (default: the one a run uses, in ./pretrained-model/ "
        "or $NST_HOME, downloaded when missing; when it cannot be, the ImageNet VGG-16 of nst[imagenet])",
    )
    p.add_argument("--no-download", dest="download", action="store_false", help="never download the VGG-19 weights")
    p.add_argument("--no-cache", dest="cache", action="store_false", help="do not read or write <weights>.cache.npz")
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    return p


def check_weights_main(argv):
    """`nst check-weights ...`: exit 0 when the file is usable, 2 (one line on stderr) when it is not."""
    args = build_check_parser().parse_args(argv)
    images = args.images or [DEMO_CONTENT]

    def command():
        check_weights(args.weights, images, cache=args.cache, allow_download=args.download)

    return run_command(command, debug=args.debug)
