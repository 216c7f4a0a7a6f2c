"""VGG-19 from MatConvNet's `imagenet-vgg-verydeep-19.mat`, as TF constants (the homework's `load_vgg_model`).

The file is read with `scipy.io.loadmat` and checked by nst.weights.matconvnet (`read_vgg_weights`, re-exported here);
both MatConvNet layouts are accepted. A conv struct holds W (3, 3, C_in, C_out) and b (C_out, 1), single.
MatConvNet's VGG-16 file (`imagenet-vgg-verydeep-16.mat`) loads the same way: the network is the file's.

The network is the homework's: conv (stride 1, SAME) + bias, ReLU, 2x2 stride-2 SAME average pooling. Layer
keys: `conv1_1` ... `conv5_4` (VGG-16: ... `conv5_3`) are post-ReLU activations, `avgpool1` ... `avgpool5` the
pooled ones.
"""

import dataclasses
import functools

import numpy as np
import tensorflow as tf

from nst.config import KERNEL_LAYOUTS, POOLINGS  # noqa: F401 - the choices, here too
from nst.errors import NstError
from nst.weights.matconvnet import (CONV_BLOCKS, CONV_NAMES, LAYER_ORDER, layer_order,  # noqa: F401 - the loader's
                                    network_of, read_vgg_weights)

INPUT_GRADIENTS = ("rotated", "tf")  # a conv's gradient w.r.t. its input: see conv2d_same; chosen per CPU kind (nst.device)


@dataclasses.dataclass(frozen=True)
class VGG:
    """VGG-19 (or VGG-16) conv weights as TF constants. `model(image, layers)` returns the activations dict.

    weights: conv name -> (W (3, 3, C_in, C_out), b (C_out,)) tf.constant float32, in the network's order.
    mean_pixel: (3,) the file's average RGB pixel (for information: the homework subtracts its fixed MEANS).
    pooling: "avg" (the homework's) or "max".
    kernels: the conv kernels in each dtype used and their rotated copies, made once (layer_kernels), outside
    any traced function, so that a compiled step does not cast or rotate them again at every call.
    """

    weights: dict
    mean_pixel: np.ndarray
    pooling: str = "avg"
    kernels: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

    def __call__(self, image, layers=None, input_gradient="rotated"):
        """Activations of `image` (1, H, W, 3), normalized (means subtracted), computed in the image's dtype.

        Returns {name: (1, h, w, C)} for every layer up to the deepest one in `layers` (all when None);
        nothing deeper is computed. input_gradient: how a gradient w.r.t. the image computes each conv's
        input gradient, "rotated" (conv2d_same) or "tf" (TF's own Conv2DBackpropInput).
        """
        return vgg_activations(self, image, layers, input_gradient)

    @property
    def network(self):
        """"VGG-19" or "VGG-16": the network of the weights file."""
        return network_of(self.weights) or f"a VGG with {len(self.weights)} conv layers"

    @property
    def layer_order(self):
        return layer_order(self.weights)

    def check_layers(self, layers):
        """NstError (one line) naming the layers the network has when one of `layers` is not among them."""
        unknown = sorted(set(layers).difference(self.layer_order))
        if unknown:
            known = [name for name in unknown if name in LAYER_ORDER]
            what = f"the {self.network} of this weights file has no layer" if known else "unknown VGG layer name"
            raise NstError(f"{what}(s) {', '.join(unknown)}: it has {', '.join(self.layer_order)}")


def vgg_activations(model, image, layers=None, input_gradient="rotated"):
    """See VGG.__call__. Computes conv/ReLU/pool only as deep as the deepest requested layer."""
    if input_gradient not in INPUT_GRADIENTS:
        raise NstError(f"unknown conv input gradient {input_gradient!r}: choose {' or '.join(INPUT_GRADIENTS)}")
    order = model.layer_order
    wanted = set(order if layers is None else layers)
    model.check_layers(wanted)
    deepest = max(order.index(name) for name in wanted)
    out = {}
    x = image
    for name in order[: deepest + 1]:
        if name.startswith("conv"):
            W, b = layer_kernels(model, name, x.dtype)
            if input_gradient == "tf":
                y = tf.nn.conv2d(x, W, strides=1, padding="SAME")
            else:
                y = conv2d_same(x, W, functools.partial(layer_rotated_kernel, model, name, x.dtype))
            x = tf.nn.relu(tf.nn.bias_add(y, b))
        elif model.pooling == "avg":
            x = tf.nn.avg_pool2d(x, ksize=2, strides=2, padding="SAME")
        else:
            x = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME")
        out[name] = x
    return out


def layer_kernels(model, name, dtype):
    """(W, b) of conv layer `name` in `dtype`, made once per model (model.kernels) and always eagerly
    (tf.init_scope), so that a traced step captures them as constants instead of casting them at every call."""
    key = (name, dtype)
    if key not in model.kernels:
        with tf.init_scope():
            model.kernels[key] = tuple(tf.cast(array, dtype) for array in model.weights[name])
    return model.kernels[key]


def layer_rotated_kernel(model, name, dtype):
    """rotated_kernel of conv layer `name`'s W in `dtype`, made once per model, eagerly, and only when a gradient
    asks for it (the targets, computed without one, never do)."""
    key = (name, dtype, "rotated")
    if key not in model.kernels:
        W, _ = layer_kernels(model, name, dtype)
        with tf.init_scope():
            model.kernels[key] = rotated_kernel(W)
    return model.kernels[key]


def rotated_kernel(W):
    """W (k, k, C_in, C_out) rotated by 180 degrees with its channel axes swapped: (k, k, C_out, C_in)."""
    return tf.transpose(tf.reverse(W, axis=[0, 1]), [0, 1, 3, 2])


def conv2d_same(x, W, rotated=None):
    """y = conv2d(x, W), stride 1, SAME: x (1, H, W, C_in), W (k, k, C_in, C_out) with k odd -> (1, H, W, C_out).

    Its gradient w.r.t. x is computed as a forward convolution of dy with W rotated by 180 degrees and its
    channel axes swapped: dx = conv2d(dy, rotated_kernel(W)), the same sum as TF's Conv2DBackpropInput (exact
    for stride 1, SAME, odd k). `rotated`: a function giving that kernel made in advance (called when the
    gradient is built); without it the gradient rotates W itself. Which of the two gradients is faster depends on
    the CPU (on an AVX2-only EPYC this one made a step 1.35x faster in float32 and each backward conv 20-30x
    faster in bfloat16); nst.device.input_gradient chooses per CPU kind (docs/benchmarks/choices.md). W is a
    constant: no gradient for it.
    """

    @tf.custom_gradient
    def conv(x):
        def grad(dy):
            return tf.nn.conv2d(dy, rotated_kernel(W) if rotated is None else rotated(), strides=1, padding="SAME")

        return tf.nn.conv2d(x, W, strides=1, padding="SAME"), grad

    return conv(x)


def load_vgg_model(path, pooling="avg", kernel_layout="stored"):
    """The homework's load_vgg_model: VGG-19 (or VGG-16) from a MatConvNet .mat file as TF constants.

    pooling: "avg" (the homework's) or "max". kernel_layout: "stored" uses W as stored, (3, 3, C_in, C_out)
    read as (H, W, in, out) like the homework; "transposed" swaps the two spatial axes (MatConvNet documents
    filters as W x H; anishathalye/neural-style transposes).
    """
    _check_choices(pooling, kernel_layout)
    arrays, mean_pixel = read_vgg_weights(path)
    return build_vgg(arrays, mean_pixel, pooling=pooling, kernel_layout=kernel_layout)


def build_vgg(arrays, mean_pixel, pooling="avg", kernel_layout="stored"):
    """VGG from read_vgg_weights' arrays ({conv name: (W, b)}, mean pixel): TF constants, kernels as stored
    or with the two spatial axes swapped (see load_vgg_model)."""
    _check_choices(pooling, kernel_layout)
    weights = {}
    for name, (W, b) in arrays.items():
        if kernel_layout == "transposed":
            W = np.ascontiguousarray(W.transpose(1, 0, 2, 3))
        weights[name] = (tf.constant(W), tf.constant(b))
    return VGG(weights=weights, mean_pixel=mean_pixel, pooling=pooling)


def _check_choices(pooling, kernel_layout):
    if pooling not in POOLINGS:
        raise NstError(f"unknown pooling {pooling!r}: choose avg or max")
    if kernel_layout not in KERNEL_LAYOUTS:
        raise NstError(f"unknown kernel layout {kernel_layout!r}: choose stored or transposed")
