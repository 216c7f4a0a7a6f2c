"""The VGG network's forward pass: conv (stride 1, SAME) + bias, ReLU, 2x2 stride-2 SAME pooling, as the homework.

A `VGG` holds the conv weights of a MatConvNet VGG-19 (or VGG-16) file as float32 TF constants, the file's mean
pixel and the pooling. `model(image, layers)` gives the activations {layer: (1, h, w, C)} computed in the image's
dtype. A step that is traced again and again uses `Kernels`, the weights cast (and rotated for the input gradient)
once, eagerly, so that the traced function captures them as constants. Layer keys: `conv1_1` ... `conv5_4`
(VGG-16: ... `conv5_3`) are post-ReLU activations, `avgpool1` ... `avgpool5` the pooled ones.
"""

import contextlib
import dataclasses

import numpy as np
import tensorflow as tf

from nst.errors import NstError
from nst.weights.matconvnet import LAYER_ORDER, layer_order, network_of

INPUT_GRADIENTS = ("rotated", "tf")  # a conv's gradient w.r.t. its input: see conv2d_same; chosen per CPU kind
POOLINGS = ("avg", "max")
KERNEL_LAYOUTS = ("stored", "transposed")


@dataclasses.dataclass(frozen=True)
class VGG:
    """VGG-19 (or VGG-16) conv weights as TF constants. `model(image, layers)` returns the activations dict.

    weights: conv name -> (W (3, 3, C_in, C_out), b (C_out,)) tf.constant float32, in the network's order.
    mean_pixel: (3,) the file's average RGB pixel (for information: the homework subtracts its fixed means).
    pooling: "avg" (the homework's) or "max".
    """

    weights: dict
    mean_pixel: np.ndarray
    pooling: str = "avg"

    def __call__(self, image, layers=None, input_gradient="rotated"):
        """Activations of `image` (1, H, W, 3), normalized (means subtracted), computed in the image's dtype.

        Returns {name: (1, h, w, C)} for every layer up to the deepest one in `layers` (all when None); nothing
        deeper is computed. input_gradient: how a gradient w.r.t. the image computes each conv's input gradient,
        "rotated" (conv2d_same) or "tf" (TF's own Conv2DBackpropInput). The kernels are cast to the image's dtype
        at each call: a step traced many times takes `kernels(model, dtype, input_gradient)` made once instead.
        """
        return activations(self, kernels(self, image.dtype, input_gradient, layers, eager=False), image, layers)

    @property
    def network(self):
        """ "VGG-19" or "VGG-16": the network of the weights file."""
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


@dataclasses.dataclass(frozen=True)
class Kernels:
    """One network's conv kernels in one dtype: {name: (W, b)}, and W rotated for the input gradient
    ({name: rotated W}, empty when the gradient is TF's own)."""

    dtype: tf.DType
    input_gradient: str
    weights: dict
    rotated: dict


def kernels(model, dtype=tf.float32, input_gradient="rotated", layers=None, eager=True):
    """The kernels of the conv layers up to the deepest of `layers` (all when None), in `dtype`. eager=True makes
    them outside any traced function (tf.init_scope), once, with W rotated for the input gradient when that is
    "rotated": a traced step then captures them as constants instead of casting (and rotating) them at every call.
    eager=False casts in place (a single call)."""
    if input_gradient not in INPUT_GRADIENTS:
        raise NstError(f"unknown conv input gradient {input_gradient!r}: choose {' or '.join(INPUT_GRADIENTS)}")
    if layers is not None:
        model.check_layers(layers)
    order = model.layer_order
    needed = order if layers is None else order[: max(order.index(name) for name in layers) + 1]
    with tf.init_scope() if eager else contextlib.nullcontext():
        cast = {
            name: tuple(tf.cast(array, dtype) for array in model.weights[name])
            for name in needed
            if name in model.weights
        }
        rotate = eager and input_gradient == "rotated"
        rotated = {name: rotated_kernel(W) for name, (W, _) in cast.items()} if rotate else {}
    return Kernels(tf.as_dtype(dtype), input_gradient, cast, rotated)


def activations(model, kernels, image, layers=None):
    """See VGG.__call__: conv/ReLU/pool with `kernels` (Kernels), only as deep as the deepest requested layer."""
    order = model.layer_order
    wanted = set(order if layers is None else layers)
    model.check_layers(wanted)
    deepest = max(order.index(name) for name in wanted)
    out = {}
    x = image
    for name in order[: deepest + 1]:
        if name.startswith("conv"):
            W, b = kernels.weights[name]
            if kernels.input_gradient == "tf":
                y = tf.nn.conv2d(x, W, strides=1, padding="SAME")
            else:
                y = conv2d_same(x, W, kernels.rotated.get(name))
            x = tf.nn.relu(tf.nn.bias_add(y, b))
        elif model.pooling == "avg":
            x = tf.nn.avg_pool2d(x, ksize=2, strides=2, padding="SAME")
        else:
            x = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME")
        out[name] = x
    return out


def rotated_kernel(W):
    """W (k, k, C_in, C_out) rotated by 180 degrees with its channel axes swapped: (k, k, C_out, C_in)."""
    return tf.transpose(tf.reverse(W, axis=[0, 1]), [0, 1, 3, 2])


def conv2d_same(x, W, rotated=None):
    """y = conv2d(x, W), stride 1, SAME: x (1, H, W, C_in), W (k, k, C_in, C_out) with k odd -> (1, H, W, C_out).

    Its gradient w.r.t. x is computed as a forward convolution of dy with W rotated by 180 degrees and its
    channel axes swapped: dx = conv2d(dy, rotated_kernel(W)), the same sum as TF's Conv2DBackpropInput (exact
    for stride 1, SAME, odd k). `rotated`: that kernel made in advance; without it the gradient rotates W itself.
    Which of the two gradients is faster depends on the CPU (docs/benchmarks/choices.md);
    nst.engine.device.input_gradient chooses per CPU kind. W is a constant: no gradient for it.
    """

    @tf.custom_gradient
    def conv(x):
        def grad(dy):
            return tf.nn.conv2d(dy, rotated_kernel(W) if rotated is None else rotated, strides=1, padding="SAME")

        return tf.nn.conv2d(x, W, strides=1, padding="SAME"), grad

    return conv(x)


def build_vgg(arrays, mean_pixel, pooling="avg", kernel_layout="stored"):
    """VGG from read_vgg_weights' arrays ({conv name: (W, b)}, mean pixel): TF constants, kernels as stored
    or with the two spatial axes swapped ("transposed": MatConvNet documents filters as W x H;
    anishathalye/neural-style transposes)."""
    check_choices(pooling, kernel_layout)
    weights = {}
    for name, (W, b) in arrays.items():
        if kernel_layout == "transposed":
            W = np.ascontiguousarray(W.transpose(1, 0, 2, 3))
        weights[name] = (tf.constant(W), tf.constant(b))
    return VGG(weights=weights, mean_pixel=mean_pixel, pooling=pooling)


def check_choices(pooling, kernel_layout):
    """NstError (one line) for a pooling or kernel layout the network does not know."""
    if pooling not in POOLINGS:
        raise NstError(f"unknown pooling {pooling!r}: choose avg or max")
    if kernel_layout not in KERNEL_LAYOUTS:
        raise NstError(f"unknown kernel layout {kernel_layout!r}: choose stored or transposed")
