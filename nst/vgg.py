"""VGG-19 from MatConvNet's `imagenet-vgg-verydeep-19.mat`, as TF constants (the homework's `load_vgg_model`).

The file is read with `scipy.io.loadmat`. Two MatConvNet layouts exist and both are accepted, by field names:
  new: top-level `layers` (1x43 cell of structs) and `meta.normalization.averageImage`;
  old: top-level `layers` and `normalization.averageImage`, weights in the struct's first field.
A conv struct holds `weights` = 1x2 cell {W (3, 3, C_in, C_out) single, b (C_out, 1) single}.

The network is the homework's: conv (stride 1, SAME) + bias, ReLU, 2x2 stride-2 SAME average pooling. Layer
keys: `conv1_1` ... `conv5_4` are post-ReLU activations, `avgpool1` ... `avgpool5` the pooled ones.
"""

import dataclasses
from pathlib import Path

import numpy as np
import scipy.io
import tensorflow as tf

from nst.errors import NstError

# The convolutional part of VGG-19 in order; "pool" marks a 2x2 pooling after the preceding conv.
CONV_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
CONV_NAMES = tuple(f"conv{block}_{i}" for block, n in CONV_BLOCKS for i in range(1, n + 1))
LAYER_ORDER = tuple(
    name for block, n in CONV_BLOCKS for name in [f"conv{block}_{i}" for i in range(1, n + 1)] + [f"avgpool{block}"]
)
POOLINGS = ("avg", "max")
KERNEL_LAYOUTS = ("stored", "transposed")


@dataclasses.dataclass(frozen=True)
class VGG19:
    """VGG-19 conv weights as TF constants. `model(image, layers)` returns the activations dict.

    weights: conv name -> (W (3, 3, C_in, C_out), b (C_out,)) tf.constant float32.
    mean_pixel: (3,) the file's average RGB pixel (for information: the homework subtracts its fixed MEANS).
    pooling: "avg" (the homework's) or "max".
    """

    weights: dict
    mean_pixel: np.ndarray
    pooling: str = "avg"

    def __call__(self, image, layers=None):
        """Activations of `image` (1, H, W, 3), normalized (means subtracted).

        Returns {name: (1, h, w, C)} for every layer up to the deepest one in `layers` (all when None);
        nothing deeper is computed.
        """
        return vgg_activations(self, image, layers)


def vgg_activations(model, image, layers=None):
    """See VGG19.__call__. Computes conv/ReLU/pool only as deep as the deepest requested layer."""
    wanted = set(LAYER_ORDER if layers is None else layers)
    unknown = wanted.difference(LAYER_ORDER)
    if unknown:
        raise NstError(f"unknown VGG-19 layer name(s) {sorted(unknown)}: choose from {', '.join(LAYER_ORDER)}")
    deepest = max(LAYER_ORDER.index(name) for name in wanted)
    out = {}
    x = image
    for name in LAYER_ORDER[: deepest + 1]:
        if name.startswith("conv"):
            W, b = model.weights[name]
            x = tf.nn.relu(tf.nn.bias_add(conv2d_same(x, tf.cast(W, x.dtype)), tf.cast(b, x.dtype)))
        elif model.pooling == "avg":
            x = tf.nn.avg_pool2d(x, ksize=2, strides=2, padding="SAME")
        else:
            x = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME")
        out[name] = x
    return out


def conv2d_same(x, W):
    """y = conv2d(x, W), stride 1, SAME: x (1, H, W, C_in), W (k, k, C_in, C_out) with k odd -> (1, H, W, C_out).

    Its gradient w.r.t. x is computed as a forward convolution of dy with W rotated by 180 degrees and its
    channel axes swapped: dx = conv2d(dy, W[::-1, ::-1].transpose(0, 1, 3, 2)), the same sum as TF's
    Conv2DBackpropInput (exact for stride 1, SAME, odd k), but TF's forward conv kernel runs faster on CPUs
    without native bf16: on an AVX2-only EPYC a step 1.35x faster in float32, and each backward conv 20-30x
    faster in bfloat16; on an EPYC with avx512_bf16 it is level with TF's own (BENCHMARKS.md, "Hardware-dependent
    choices"), so it is used everywhere. W is a constant: no gradient for it.
    """

    @tf.custom_gradient
    def conv(x):
        def grad(dy):
            W_rot = tf.transpose(tf.reverse(W, axis=[0, 1]), [0, 1, 3, 2])
            return tf.nn.conv2d(dy, W_rot, strides=1, padding="SAME")

        return tf.nn.conv2d(x, W, strides=1, padding="SAME"), grad

    return conv(x)


def _fields(struct):
    """A loadmat struct (1x1 structured array) -> dict field name -> value."""
    struct = np.asarray(struct)
    if struct.dtype.names is None or struct.size != 1:
        raise ValueError("not a struct")
    record = struct.reshape(-1)[0]
    return {name: record[name] for name in struct.dtype.names}


def _string(value):
    """A MATLAB char array as loaded by loadmat -> str."""
    value = np.asarray(value)
    if value.dtype.kind != "U" or value.size != 1:
        raise ValueError("not a string")
    return str(value.reshape(-1)[0])


def _conv_weights(fields):
    """The (W, b) pair of a conv struct: field `weights` (or the first field: old layout), or filters/biases."""
    if "filters" in fields and "biases" in fields:
        return fields["filters"], fields["biases"]
    cell = fields["weights"] if "weights" in fields else next(iter(fields.values()))
    cell = np.asarray(cell)
    if cell.dtype != object or cell.size != 2:
        raise ValueError("weights is not a 1x2 cell {W, b}")
    W, b = cell.reshape(-1)
    return W, b


def _mean_pixel(mat):
    """The average RGB pixel from meta.normalization (new layout) or normalization (old layout)."""
    if "meta" in mat:
        norm = _fields(_fields(mat["meta"])["normalization"])
    else:
        norm = _fields(mat["normalization"])
    avg = np.asarray(norm["averageImage"], dtype=np.float64)
    if avg.size == 3:
        return avg.reshape(3).astype(np.float32)
    return avg.reshape(-1, 3).mean(axis=0).astype(np.float32)


def _loadmat(path):
    path = Path(path)
    if not path.exists():
        raise NstError(f"weights file {path} does not exist: pass --weights FILE or let nst download it")
    if path.is_dir():
        raise NstError(f"weights file {path} is a directory, not a MatConvNet .mat file: pass --weights FILE")
    with open(path, "rb") as f:
        head = f.read(128)
    if b"MATLAB 7.3" in head or head.startswith(b"\x89HDF"):
        raise NstError(
            f"weights file {path} is a MATLAB v7.3 (HDF5) file that scipy cannot read: "
            "re-save it in MATLAB with save(..., '-v7') or download imagenet-vgg-verydeep-19.mat again"
        )
    try:
        return scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises many kinds (ValueError, TypeError, OSError, zlib.error, ...)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NstError(
            f"weights file {path} is not a readable MATLAB .mat file ({reason}): "
            "delete it and download imagenet-vgg-verydeep-19.mat again"
        ) from None


def read_vgg_weights(path):
    """Read and check the conv weights of a MatConvNet VGG-19 file.

    Returns ({conv name: (W float32 (3, 3, C_in, C_out), b float32 (C_out,))}, mean_pixel (3,)).
    Raises NstError with one line saying exactly what is wrong.
    """
    mat = _loadmat(path)
    fix = "use MatConvNet's imagenet-vgg-verydeep-19.mat"
    if "layers" not in mat or not ("meta" in mat or "normalization" in mat):
        raise NstError(
            f"weights file {path} is not a MatConvNet network (no top-level 'layers' with 'meta' or "
            f"'normalization'): {fix}"
        )
    try:
        mean_pixel = _mean_pixel(mat)
    except (ValueError, KeyError, TypeError):
        raise NstError(f"weights file {path} has no readable normalization.averageImage: {fix}") from None
    layers = np.asarray(mat["layers"])
    if layers.dtype != object:
        raise NstError(f"weights file {path}: 'layers' is not a cell array of structs: {fix}")
    convs = {}
    order = []
    for i, cell in enumerate(layers.reshape(-1)):
        try:
            fields = _fields(cell)
            name = _string(fields["name"])
            kind = _string(fields["type"])
        except (ValueError, KeyError, TypeError):
            raise NstError(f"weights file {path}: layer {i + 1} has no readable name and type fields: {fix}") from None
        if kind != "conv" or name not in CONV_NAMES:
            continue
        try:
            W, b = _conv_weights(fields)
            W = np.asarray(W)
            b = np.asarray(b)
            if W.dtype.kind != "f" or b.dtype.kind != "f":
                raise ValueError("weights are not floating point")
        except (ValueError, KeyError, TypeError, StopIteration) as exc:
            raise NstError(f"weights file {path}: layer {name} has no usable weights ({exc}): {fix}") from None
        convs[name] = (W, b)
        order.append(name)
    missing = [name for name in CONV_NAMES if name not in convs]
    if missing:
        raise NstError(f"weights file {path} lacks VGG-19 layer(s) {', '.join(missing)}: {fix}")
    if order != list(CONV_NAMES):
        raise NstError(f"weights file {path} has the VGG-19 conv layers out of order ({', '.join(order)}): {fix}")
    out = {}
    c_in = 3
    for name in CONV_NAMES:
        W, b = convs[name]
        if W.ndim == 3:  # MATLAB drops a trailing singleton dimension (C_out = 1)
            W = W[..., None]
        if W.ndim != 4 or W.shape[:2] != (3, 3) or W.shape[2] != c_in or b.size != W.shape[3]:
            raise NstError(
                f"weights file {path}: layer {name} has W of shape {W.shape} and b of {b.size} values, "
                f"expected (3, 3, {c_in}, C_out) and C_out values: {fix}"
            )
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            raise NstError(f"weights file {path}: layer {name} holds NaN or Inf weights: the file is damaged, {fix}")
        out[name] = (W.astype(np.float32, copy=False), b.reshape(-1).astype(np.float32, copy=False))
        c_in = W.shape[3]
    return out, mean_pixel


def load_vgg_model(path, pooling="avg", kernel_layout="stored"):
    """The homework's load_vgg_model: VGG-19 from a MatConvNet .mat file as TF constants.

    pooling: "avg" (the homework's) or "max". kernel_layout: "stored" uses W as stored, (3, 3, C_in, C_out)
    read as (H, W, in, out) like the homework; "transposed" swaps the two spatial axes (MatConvNet documents
    filters as W x H; anishathalye/neural-style transposes).
    """
    if pooling not in POOLINGS:
        raise NstError(f"unknown pooling {pooling!r}: choose avg or max")
    if kernel_layout not in KERNEL_LAYOUTS:
        raise NstError(f"unknown kernel layout {kernel_layout!r}: choose stored or transposed")
    arrays, mean_pixel = read_vgg_weights(path)
    weights = {}
    for name, (W, b) in arrays.items():
        if kernel_layout == "transposed":
            W = np.ascontiguousarray(W.transpose(1, 0, 2, 3))
        weights[name] = (tf.constant(W), tf.constant(b))
    return VGG19(weights=weights, mean_pixel=mean_pixel, pooling=pooling)
