"""MatConvNet's VGG-19 and VGG-16 `.mat` files, read with `scipy.io.loadmat` and checked (no TensorFlow here).

The network is taken from the file's conv layer names: VGG-19 (`imagenet-vgg-verydeep-19.mat`, 16 conv layers,
the homework's) or VGG-16 (`imagenet-vgg-verydeep-16.mat`, 13: blocks 3 to 5 have three convs, not four).

Two MatConvNet layouts exist and both are accepted, by field names:
  new: top-level `layers` (1x43 cell of structs) and `meta` (`meta.normalization`, `meta.classes`);
  old: top-level `layers`, `normalization` and `classes`, weights in the struct's first field.
A conv struct holds `weights` = 1x2 cell {W (k, k, C_in, C_out) single, b (C_out, 1) single}. The classifier is
stored as conv layers too: fc6 a 7x7 conv over the last pooled map (512 channels -> 4096), fc7 1x1 (4096 -> 4096),
fc8 1x1 (4096 -> 1000 classes), then a softmax; `classes.description` holds the ImageNet class names and
`normalization` the input size, the average image and how images are resized (`imageSize`, `averageImage`,
`border`, `keepAspect`, `interpolation`).

The style-transfer run needs only the conv weights and the mean pixel (`read_vgg_weights`); `nst check-weights`
also reads the classifier (`classifier_from_mat`). This module imports no TensorFlow, so the child process
that reads a weights file the first time (nst.weights.cache) starts quickly.
"""

import dataclasses
from pathlib import Path

import numpy as np
import scipy.io

from nst.errors import NstError

# The convolutional part of each network in order: (block, convs in it); each block ends with a 2x2 pooling.
NETWORKS = {"VGG-19": ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)), "VGG-16": ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))}
CONV_BLOCKS = NETWORKS["VGG-19"]  # the homework's network


def conv_names(blocks):
    """The conv layer names of a network given by its blocks: conv1_1, conv1_2, conv2_1, ..."""
    return tuple(f"conv{block}_{i}" for block, n in blocks for i in range(1, n + 1))


CONV_NAMES = conv_names(CONV_BLOCKS)  # VGG-19's; VGG-16's are a subset of them


def layer_order(conv_layer_names):
    """Every layer key in order for a network's conv layers: each block's convs, then its avgpool."""
    order = []
    for name in conv_layer_names:
        block = int(name.split("_")[0][len("conv") :])
        if order and not order[-1].startswith(f"conv{block}_"):
            order.append(f"avgpool{block - 1}")
        order.append(name)
    return tuple(order) + (f"avgpool{block}",)


LAYER_ORDER = layer_order(CONV_NAMES)  # VGG-19's, the homework's; VGG-16's keys are a subset
FC_NAMES = ("fc6", "fc7", "fc8")
FIX = "use MatConvNet's imagenet-vgg-verydeep-19.mat (or imagenet-vgg-verydeep-16.mat)"


def network_of(names):
    """The network ("VGG-19" or "VGG-16") whose conv layers are `names` (an iterable, in order); None otherwise."""
    names = tuple(names)
    return next((net for net, blocks in NETWORKS.items() if conv_names(blocks) == names), None)


def _network_expected(names):
    """The network a file's conv layer names point to: VGG-19 when any of its fourth convs is there."""
    return "VGG-19" if set(names) & {"conv3_4", "conv4_4", "conv5_4"} else "VGG-16"


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


def loadmat_checked(path):
    """scipy.io.loadmat(path) with every failure as a one-line NstError (missing, a folder, HDF5, unreadable)."""
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
    """Read and check the conv weights of a MatConvNet VGG-19 or VGG-16 file.

    Returns ({conv name: (W float32 (3, 3, C_in, C_out), b float32 (C_out,))} in the network's order (16 layers
    for VGG-19, 13 for VGG-16: network_of(its keys) names it), mean_pixel (3,)).
    Raises NstError with one line saying exactly what is wrong.
    """
    return conv_weights_from_mat(loadmat_checked(path), path)


def file_layout(mat):
    """ "new" (top-level `meta`) or "old" (top-level `normalization`) for a dict returned by scipy.io.loadmat."""
    return "new" if "meta" in mat else "old"


def _check_network(mat, path):
    if "layers" not in mat or not ("meta" in mat or "normalization" in mat):
        raise NstError(
            f"weights file {path} is not a MatConvNet network (no top-level 'layers' with 'meta' or "
            f"'normalization'): {FIX}"
        )


def _layer_fields(mat, path):
    """[(name, type, fields)] of every layer struct in `layers`, in order; NstError when one is unreadable."""
    _check_network(mat, path)
    layers = np.asarray(mat["layers"])
    if layers.dtype != object:
        raise NstError(f"weights file {path}: 'layers' is not a cell array of structs: {FIX}")
    out = []
    for i, cell in enumerate(layers.reshape(-1)):
        try:
            fields = _fields(cell)
            out.append((_string(fields["name"]), _string(fields["type"]), fields))
        except (ValueError, KeyError, TypeError):
            raise NstError(f"weights file {path}: layer {i + 1} has no readable name and type fields: {FIX}") from None
    return out


def _float_pair(name, fields, path):
    """The (W, b) arrays of conv layer `name`, both floating point; NstError otherwise."""
    try:
        W, b = _conv_weights(fields)
        W = np.asarray(W)
        b = np.asarray(b)
        if W.dtype.kind != "f" or b.dtype.kind != "f":
            raise ValueError("weights are not floating point")
    except (ValueError, KeyError, TypeError, StopIteration) as exc:
        raise NstError(f"weights file {path}: layer {name} has no usable weights ({exc}): {FIX}") from None
    if W.ndim in (2, 3):  # MATLAB drops trailing singleton dimensions (C_out = 1, or C_in = C_out = 1)
        W = W.reshape(W.shape + (1,) * (4 - W.ndim))
    return W, b


def conv_weights_from_mat(mat, path):
    """read_vgg_weights for a dict already returned by scipy.io.loadmat (`path` names the file in errors)."""
    _check_network(mat, path)
    try:
        mean_pixel = _mean_pixel(mat)
    except (ValueError, KeyError, TypeError):
        raise NstError(f"weights file {path} has no readable normalization.averageImage: {FIX}") from None
    layers = _layer_fields(mat, path)
    convs = {name: fields for name, kind, fields in layers if kind == "conv" and name in CONV_NAMES}
    order = [name for name, kind, _ in layers if kind == "conv" and name in CONV_NAMES]
    network = _network_expected(order)
    names = conv_names(NETWORKS[network])
    missing = [name for name in names if name not in convs]
    if missing:
        raise NstError(f"weights file {path} lacks {network} layer(s) {', '.join(missing)}: {FIX}")
    if order != list(names):
        raise NstError(f"weights file {path} has the {network} conv layers out of order ({', '.join(order)}): {FIX}")
    out = {}
    c_in = 3
    for name in names:
        W, b = _float_pair(name, convs[name], path)
        if W.ndim != 4 or W.shape[:2] != (3, 3) or W.shape[2] != c_in or b.size != W.shape[3]:
            raise NstError(
                f"weights file {path}: layer {name} has W of shape {W.shape} and b of {b.size} values, "
                f"expected (3, 3, {c_in}, C_out) and C_out values: {FIX}"
            )
        _check_finite(name, W, b, path)
        out[name] = (W.astype(np.float32, copy=False), b.reshape(-1).astype(np.float32, copy=False))
        c_in = W.shape[3]
    return out, mean_pixel


def _check_finite(name, W, b, path):
    if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
        raise NstError(f"weights file {path}: layer {name} holds NaN or Inf weights: the file is damaged, {FIX}")


@dataclasses.dataclass(frozen=True)
class Normalization:
    """How the network wants its input (the file's `normalization`), as MatConvNet's cnn_imagenet_get_batch uses it.

    image_size: (h, w) of the network's input. average_image: (1, 1, 3) mean pixel or (h, w, 3) mean image,
    subtracted from the crop. border: (by, bx) added to image_size for the resize before the crop (0, 0 when
    absent). keep_aspect: resize by one factor (the larger of the two), else each axis to its own size.
    interpolation: MATLAB's imresize method name ("bilinear", "bicubic", ...).
    """

    image_size: tuple
    average_image: np.ndarray
    border: tuple = (0, 0)
    keep_aspect: bool = True
    interpolation: str = "bilinear"


@dataclasses.dataclass(frozen=True)
class Classifier:
    """fc6, fc7, fc8 as MatConvNet stores them (conv kernels), the class names and the input normalization.

    fc: ((W6, b6), (W7, b7), (W8, b8)), W float32 (k, k, C_in, C_out), b float32 (C_out,).
    descriptions: one human-readable name per fc8 output (`classes.description`, else `classes.name`).
    """

    fc: tuple
    descriptions: tuple
    normalization: Normalization


def _normalization(mat):
    """Normalization from meta.normalization (new layout) or normalization (old layout)."""
    norm = _fields(_fields(mat["meta"])["normalization"]) if "meta" in mat else _fields(mat["normalization"])
    size = np.asarray(norm["imageSize"], dtype=np.float64).reshape(-1)
    if size.size < 2 or not np.all(size[:2] >= 1):
        raise ValueError(f"imageSize {size.tolist()}")
    image_size = (int(size[0]), int(size[1]))
    avg = np.asarray(norm["averageImage"], dtype=np.float32)
    if avg.size == 3:
        avg = avg.reshape(1, 1, 3)
    elif avg.ndim != 3 or avg.shape != image_size + (3,):
        raise ValueError(f"averageImage of shape {avg.shape}")
    border = (0, 0)
    if "border" in norm and np.asarray(norm["border"]).size == 2:
        border = tuple(int(v) for v in np.asarray(norm["border"], dtype=np.float64).reshape(2))
    elif "cropSize" in norm and np.asarray(norm["cropSize"]).size == 2:  # crop fraction, e.g. 0.875 = 224 / 256
        crop = np.asarray(norm["cropSize"], dtype=np.float64).reshape(2)
        border = tuple(int(round(s / c - s)) for s, c in zip(image_size, crop))
    keep_aspect = bool(np.asarray(norm["keepAspect"]).reshape(-1)[0]) if "keepAspect" in norm else True
    interpolation = _string(norm["interpolation"]) if "interpolation" in norm else "bilinear"
    return Normalization(image_size, avg, border, keep_aspect, interpolation)


def _class_descriptions(mat):
    """The class names: classes.description (else classes.name) of meta (new layout) or the top level (old)."""
    classes = _fields(_fields(mat["meta"])["classes"]) if "meta" in mat else _fields(mat["classes"])
    cell = classes["description"] if "description" in classes else classes["name"]
    cell = np.asarray(cell)
    if cell.dtype != object:
        raise ValueError("class names are not a cell array of strings")
    return tuple(_string(item) for item in cell.reshape(-1))


def classifier_from_mat(mat, path, conv_weights):
    """The file's classifier (fc6-fc8, class names, normalization), or None when it has no fc layers at all.

    conv_weights: read_vgg_weights' dict (fc6 must fit the last conv's channels). NstError when the classifier is
    there but unusable (a missing fc layer, wrong shapes, NaN, no class names, no normalization).
    """
    layers = _layer_fields(mat, path)
    fcs = {name: fields for name, kind, fields in layers if kind == "conv" and name in FC_NAMES}
    if not fcs:
        return None
    missing = [name for name in FC_NAMES if name not in fcs]
    if missing:
        raise NstError(f"weights file {path} has a classifier without {', '.join(missing)}: the file is damaged, {FIX}")
    try:
        normalization = _normalization(mat)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise NstError(f"weights file {path} has no usable normalization ({exc}): {FIX}") from None
    try:
        descriptions = _class_descriptions(mat)
    except (ValueError, KeyError, TypeError) as exc:
        raise NstError(f"weights file {path} has no readable class names (classes.description: {exc}): {FIX}") from None
    h, w = (s // 32 for s in normalization.image_size)  # five 2x2 max poolings
    c_in = conv_weights[list(conv_weights)[-1]][0].shape[3]
    fc = []
    for name in FC_NAMES:
        W, b = _float_pair(name, fcs[name], path)
        k = (h, w) if name == "fc6" else (1, 1)
        if W.ndim != 4 or W.shape[:2] != k or W.shape[2] != c_in or b.size != W.shape[3]:
            raise NstError(
                f"weights file {path}: layer {name} has W of shape {W.shape} and b of {b.size} values, expected "
                f"({k[0]}, {k[1]}, {c_in}, C_out) and C_out values for a {normalization.image_size[0]}x"
                f"{normalization.image_size[1]} input: {FIX}"
            )
        _check_finite(name, W, b, path)
        fc.append((W.astype(np.float32, copy=False), b.reshape(-1).astype(np.float32, copy=False)))
        c_in = W.shape[3]
    if len(descriptions) != c_in:
        raise NstError(f"weights file {path} names {len(descriptions)} classes for the {c_in} outputs of fc8: {FIX}")
    return Classifier(tuple(fc), descriptions, normalization)
