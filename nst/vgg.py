"""The homework's `load_vgg_model`: VGG-19 from MatConvNet's `imagenet-vgg-verydeep-19.mat`, as TF constants.

The file is read with `scipy.io.loadmat` and checked by nst.weights.matconvnet (`read_vgg_weights`, re-exported
here); both MatConvNet layouts are accepted. A conv struct holds W (3, 3, C_in, C_out) and b (C_out, 1), single.
MatConvNet's VGG-16 file (`imagenet-vgg-verydeep-16.mat`) loads the same way: the network is the file's.

The network is the homework's (nst.engine.network): conv (stride 1, SAME) + bias, ReLU, 2x2 stride-2 SAME average
pooling. Layer keys: `conv1_1` ... `conv5_4` (VGG-16: ... `conv5_3`) are post-ReLU activations, `avgpool1` ...
`avgpool5` the pooled ones.
"""

from nst.engine.network import KERNEL_LAYOUTS, POOLINGS, VGG, build_vgg, check_choices  # noqa: F401 - the network
from nst.weights.matconvnet import CONV_BLOCKS, CONV_NAMES, LAYER_ORDER, read_vgg_weights  # noqa: F401


def load_vgg_model(path, pooling="avg", kernel_layout="stored"):
    """The homework's load_vgg_model: VGG-19 (or VGG-16) from a MatConvNet .mat file as TF constants.

    pooling: "avg" (the homework's) or "max". kernel_layout: "stored" uses W as stored, (3, 3, C_in, C_out)
    read as (H, W, in, out) like the homework; "transposed" swaps the two spatial axes (MatConvNet documents
    filters as W x H; anishathalye/neural-style transposes).
    """
    check_choices(pooling, kernel_layout)  # before the file is read
    arrays, mean_pixel = read_vgg_weights(path)
    return build_vgg(arrays, mean_pixel, pooling=pooling, kernel_layout=kernel_layout)
