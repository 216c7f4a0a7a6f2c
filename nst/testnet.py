"""Write small VGG-19 files in MatConvNet's layout, with random weights, for tests, the notebook and benchmarks.

The real file cannot be downloaded everywhere (~510 MB); these files have the same structure (43 layers,
the same names, types and struct fields, `meta.normalization.averageImage` or the old top-level
`normalization`) with few channels, so the loader and the whole pipeline run on them.
"""

import numpy as np
import scipy.io

from nst.matconvnet import CONV_BLOCKS

SMALL_WIDTHS = (4, 6, 8, 8, 8)  # channels of blocks 1..5: tiny and fast
REAL_WIDTHS = (64, 128, 256, 512, 512)  # the real VGG-19
AVERAGE_IMAGE = (123.68, 116.779, 103.939)


def _struct(**fields):
    """A MATLAB struct (1x1 structured array) with the fields in the given order."""
    arr = np.empty((1, 1), dtype=[(name, object) for name in fields])
    for name, value in fields.items():
        arr[0, 0][name] = value
    return arr


def _cell(*items):
    cell = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        cell[0, i] = item
    return cell


def _conv(name, W, b, layout):
    weights = _cell(W, b)
    if layout == "old":  # weights first, as in the older MatConvNet release
        return _struct(weights=weights, pad=np.ones((1, 4)), type="conv", name=name, stride=np.ones((1, 2)))
    return _struct(
        name=name, type="conv", weights=weights, size=np.array([W.shape], dtype=np.float64),
        pad=np.ones((1, 4)), stride=np.ones((1, 2)), precious=False, dilate=1.0, opts=np.empty((0, 0), object),
    )


def _relu(name, layout):
    if layout == "old":
        return _struct(type="relu", name=name)
    return _struct(name=name, type="relu", leak=0.0, precious=False)


def _pool(name, layout):
    if layout == "old":
        return _struct(name=name, stride=np.full((1, 2), 2.0), pad=np.zeros((1, 4)), type="pool",
                       method="max", pool=np.full((1, 2), 2.0))
    return _struct(name=name, type="pool", method="max", pool=np.full((1, 2), 2.0), stride=np.full((1, 2), 2.0),
                   pad=np.zeros((1, 4)), precious=False, opts=np.empty((0, 0), object))


def vgg_layers(widths=SMALL_WIDTHS, seed=0, layout="new", fc_width=8, classes=10):
    """The 43 MatConvNet layer structs of VGG-19 with He-initialised random float32 ("single") weights."""
    rng = np.random.default_rng(seed)

    def weights(k, c_in, c_out):
        W = (rng.standard_normal((k, k, c_in, c_out)) * np.sqrt(2.0 / (k * k * c_in))).astype(np.float32)
        b = (rng.standard_normal((c_out, 1)) * 0.01).astype(np.float32)
        return W, b

    layers = []
    c_in = 3
    for (block, n), width in zip(CONV_BLOCKS, widths):
        for i in range(1, n + 1):
            layers.append(_conv(f"conv{block}_{i}", *weights(3, c_in, width), layout))
            layers.append(_relu(f"relu{block}_{i}", layout))
            c_in = width
        layers.append(_pool(f"pool{block}", layout))
    # The fully connected part (unused by style transfer), as MatConvNet stores it: conv layers named fc*.
    layers.append(_conv("fc6", *weights(7, c_in, fc_width), layout))
    layers.append(_relu("relu6", layout))
    layers.append(_conv("fc7", *weights(1, fc_width, fc_width), layout))
    layers.append(_relu("relu7", layout))
    layers.append(_conv("fc8", *weights(1, fc_width, classes), layout))
    layers.append(_struct(name="prob", type="softmax", precious=False) if layout == "new"
                  else _struct(type="softmax", name="prob"))
    return layers


def write_test_vgg(path, widths=SMALL_WIDTHS, seed=0, layout="new", layers=None):
    """Write a VGG-19 .mat file in MatConvNet's `layout` ("new" or "old") to `path`; returns `path`.

    widths: channels of conv blocks 1..5 (REAL_WIDTHS for the real network's size).
    layers: an explicit list of layer structs (for tests that damage the file); default vgg_layers(...).
    """
    if layers is None:
        layers = vgg_layers(widths, seed=seed, layout=layout)
    cells = _cell(*layers)
    if layout == "old":
        normalization = _struct(averageImage=np.tile(np.array(AVERAGE_IMAGE, np.float32), (224, 224, 1)),
                                keepAspect=True, border=np.zeros((1, 2)), imageSize=np.array([[224, 224, 3]]),
                                interpolation="bilinear")
        content = {"layers": cells, "normalization": normalization, "classes": _struct(name=_cell("a"))}
    else:
        normalization = _struct(imageSize=np.array([[224.0, 224, 3, 10]]),
                                averageImage=np.array(AVERAGE_IMAGE, np.float32).reshape(1, 1, 3),
                                keepAspect=True, border=np.array([[32.0, 32]]), cropSize=np.array([[0.875, 0.875]]),
                                interpolation="bilinear")
        meta = _struct(inputs=_struct(name="input", size=np.array([[224.0, 224, 3, 10]])),
                       classes=_struct(name=_cell("a"), description=_cell("b")), normalization=normalization)
        content = {"layers": cells, "meta": meta}
    scipy.io.savemat(str(path), content, do_compression=False, oned_as="column")
    return path
