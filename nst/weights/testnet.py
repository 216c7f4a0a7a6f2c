"""Write small VGG-19 (or VGG-16) files in MatConvNet's layout, with random weights, for tests, notebooks, benchmarks.

The real file cannot be downloaded everywhere (~510 MB); these files have the same structure (43 layers,
the same names, types and struct fields, the classifier fc6-fc8 as convs, `meta.normalization` and
`meta.classes` or the old top-level `normalization` and `classes`) with few channels, so the loader, the
whole-network classifier and the whole pipeline run on them.
"""

import numpy as np
import scipy.io

from nst.weights.matconvnet import NETWORKS

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


def _conv(name, W, b, layout, pad=1):
    weights = _cell(W, b)
    if layout == "old":  # weights first, as in the older MatConvNet release
        return _struct(weights=weights, pad=np.full((1, 4), float(pad)), type="conv", name=name, stride=np.ones((1, 2)))
    return _struct(
        name=name,
        type="conv",
        weights=weights,
        size=np.array([W.shape], dtype=np.float64),
        pad=np.full((1, 4), float(pad)),
        stride=np.ones((1, 2)),
        precious=False,
        dilate=1.0,
        opts=np.empty((0, 0), object),
    )


def _relu(name, layout):
    if layout == "old":
        return _struct(type="relu", name=name)
    return _struct(name=name, type="relu", leak=0.0, precious=False)


def _pool(name, layout):
    if layout == "old":
        return _struct(
            name=name,
            stride=np.full((1, 2), 2.0),
            pad=np.zeros((1, 4)),
            type="pool",
            method="max",
            pool=np.full((1, 2), 2.0),
        )
    return _struct(
        name=name,
        type="pool",
        method="max",
        pool=np.full((1, 2), 2.0),
        stride=np.full((1, 2), 2.0),
        pad=np.zeros((1, 4)),
        precious=False,
        opts=np.empty((0, 0), object),
    )


def random_weights(widths=SMALL_WIDTHS, seed=0, fc_width=8, classes=10, image_size=224, network="VGG-19"):
    """He-initialised random float32 ("single") weights: ([(W, b)] of conv1_1 ... conv5_4 (VGG-16: conv5_3),
    [(W, b)] of fc6-fc8).

    W (k, k, C_in, C_out), b (C_out, 1) as MatConvNet stores them; fc6 is a (image_size / 32)-square conv over the
    last pooled map (7x7 at 224), fc7 and fc8 are 1x1 (fc_width -> fc_width -> classes).
    """
    rng = np.random.default_rng(seed)

    def weights(k, c_in, c_out):
        W = (rng.standard_normal((k, k, c_in, c_out)) * np.sqrt(2.0 / (k * k * c_in))).astype(np.float32)
        b = (rng.standard_normal((c_out, 1)) * 0.01).astype(np.float32)
        return W, b

    conv = []
    c_in = 3
    for (_block, n), width in zip(NETWORKS[network], widths):
        for _ in range(n):
            conv.append(weights(3, c_in, width))
            c_in = width
    fc = [weights(image_size // 32, c_in, fc_width), weights(1, fc_width, fc_width), weights(1, fc_width, classes)]
    return conv, fc


def network_layers(conv, fc, layout="new", network="VGG-19"):
    """The MatConvNet layer structs of VGG-19 (43) or VGG-16 (37) holding the given weights (see random_weights
    for the shapes); fc empty: the conv layers and poolings alone (a file without a classifier)."""
    layers = []
    convs = iter(conv)
    for block, n in NETWORKS[network]:
        for i in range(1, n + 1):
            layers.append(_conv(f"conv{block}_{i}", *next(convs), layout))
            layers.append(_relu(f"relu{block}_{i}", layout))
        layers.append(_pool(f"pool{block}", layout))
    if not fc:
        return layers
    # The classifier, as MatConvNet stores it: conv layers named fc* (no padding), then a softmax.
    for k, (W, b) in zip((6, 7, 8), fc):
        layers.append(_conv(f"fc{k}", W, b, layout, pad=0))
        if k < 8:
            layers.append(_relu(f"relu{k}", layout))
    layers.append(
        _struct(name="prob", type="softmax", precious=False)
        if layout == "new"
        else _struct(type="softmax", name="prob")
    )
    return layers


def vgg_layers(widths=SMALL_WIDTHS, seed=0, layout="new", fc_width=8, classes=10, image_size=224, network="VGG-19"):
    """The MatConvNet layer structs of VGG-19 (or VGG-16) with He-initialised random float32 ("single") weights."""
    return network_layers(
        *random_weights(widths, seed, fc_width, classes, image_size, network), layout=layout, network=network
    )


def class_descriptions(classes):
    """Stand-in ImageNet class names for a test file: "test class 0", "test class 1", ..."""
    return tuple(f"test class {i}" for i in range(classes))


def _fc8_outputs(layers):
    """The number of fc8 outputs in `layers` (None when there is no readable fc8)."""
    for layer in layers:
        try:
            if layer[0, 0]["name"] == "fc8":
                return int(np.asarray(layer[0, 0]["weights"][0, 0]).shape[3])
        except (IndexError, KeyError, TypeError, ValueError):
            return None
    return None


def write_test_vgg(
    path,
    widths=SMALL_WIDTHS,
    seed=0,
    layout="new",
    layers=None,
    image_size=224,
    descriptions=None,
    compress=False,
    network="VGG-19",
):
    """Write a VGG-19 (or VGG-16: network="VGG-16") .mat file in MatConvNet's `layout` ("new" or "old") to `path`;
    returns `path`.

    widths: channels of conv blocks 1..5 (REAL_WIDTHS for the real network's size).
    layers: an explicit list of layer structs (for tests that damage the file, or planted weights); default
    vgg_layers(widths, seed, layout, image_size=image_size). image_size: the square input size written to
    `normalization.imageSize` (fc6 must fit it: image_size / 32). descriptions: the class names (default
    class_descriptions(number of fc8 outputs)). The normalization is the real file's: the mean pixel
    (123.68, 116.779, 103.939), keepAspect, bilinear, border 32 (new layout; a 256 resize before the 224 crop)
    or 0 (old layout, whose averageImage is a whole image). compress: zlib-compress the variables, as MATLAB's
    save -v7 does (the real 510 MB file is compressed; loadmat then spends most of its time decompressing).
    """
    if layers is None:
        layers = vgg_layers(widths, seed=seed, layout=layout, image_size=image_size, network=network)
    if descriptions is None:
        descriptions = class_descriptions(_fc8_outputs(layers) or 1)
    names = _cell(*[f"n{i:08d}" for i in range(len(descriptions))])
    descriptions = _cell(*descriptions)
    cells = _cell(*layers)
    size = np.array([[image_size, image_size, 3]], dtype=np.float64)
    if layout == "old":
        normalization = _struct(
            averageImage=np.tile(np.array(AVERAGE_IMAGE, np.float32), (image_size, image_size, 1)),
            keepAspect=True,
            border=np.zeros((1, 2)),
            imageSize=size,
            interpolation="bilinear",
        )
        content = {
            "layers": cells,
            "normalization": normalization,
            "classes": _struct(name=names, description=descriptions),
        }
    else:
        border = round(32 * image_size / 224)
        normalization = _struct(
            imageSize=size,
            averageImage=np.array(AVERAGE_IMAGE, np.float32).reshape(1, 1, 3),
            keepAspect=True,
            border=np.array([[border, border]], dtype=np.float64),
            cropSize=np.array([[image_size / (image_size + border)] * 2]),
            interpolation="bilinear",
        )
        meta = _struct(
            inputs=_struct(name="input", size=np.array([[image_size, image_size, 3, 10]], dtype=np.float64)),
            classes=_struct(name=names, description=descriptions),
            normalization=normalization,
        )
        content = {"layers": cells, "meta": meta}
    scipy.io.savemat(str(path), content, do_compression=compress, oned_as="column")
    return path
