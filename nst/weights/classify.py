"""The whole VGG-19 (or VGG-16) as it was trained, classifying a photo into the ImageNet classes.

The file's own preprocessing, the conv layers with max pooling, fc6-fc8 and the softmax (what `nst check-weights` runs, with the kernels as stored and transposed).

Preprocessing is MatConvNet's own for evaluation (`cnn_imagenet_get_batch` with the file's `normalization`, no
augmentation): the image is resized by the factor that brings its height to imageSize(1) + border(1) and its
width to imageSize(2) + border(2) (with keepAspect, the larger of the two factors for both axes, so the shorter
side gets there; output size ceil(factor * size) as MATLAB's imresize), the centre imageSize crop is taken
(offsets floor((size - crop) / 2)) and averageImage is subtracted (a mean pixel, or a whole mean image). With the
current file's imageSize 224 and border 32 that is the documented VGG evaluation: shorter side 256, centre crop
224x224, minus the mean pixel. The resize is Pillow's, with the file's interpolation (bilinear in both official
files), which like MATLAB's imresize widens its filter when shrinking (antialiasing).

The network: conv 3x3 stride 1 with 1 pixel of zero padding (SAME) + bias, ReLU; 2x2 stride-2 max pooling
without padding (VALID; MatConvNet's VGG pools have none); fc6 a convolution over the whole last pooled map
(7x7 at 224, VALID), fc7 and fc8 1x1 convolutions, ReLU after fc6 and fc7 (the training-time dropout layers are
not in the files); softmax over fc8's outputs.

kernel_layout "transposed" swaps the two spatial axes of every kernel, fc6's included: the network of a file
whose kernels were stored (W, H, ...). That network computes exactly what the stored one computes on the photo
mirrored across its diagonal (every operation commutes with transposition), so a network trained on upright
photos recognises them markedly less well through the wrong layout.
"""

import numpy as np
import tensorflow as tf
from PIL import Image

from nst.errors import NstError

RESAMPLING = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "lanczos2": Image.Resampling.LANCZOS,
    "lanczos3": Image.Resampling.LANCZOS,
}


def resize(image, height, width, interpolation="bilinear"):
    """(H, W, 3) float -> (height, width, 3) float32, each channel resampled by Pillow in float ("F") mode."""
    method = RESAMPLING.get(interpolation, Image.Resampling.BILINEAR)
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[:, :, c], dtype=np.float32)).resize((width, height), method)
        )
        for c in range(3)
    ]
    return np.stack(channels, axis=2)


def preprocess(image, normalization):
    """A photo (H, W, 3) in 0..255 -> the network's input (1, h, w, 3) float32 (see the module's docstring)."""
    image = np.asarray(image, dtype=np.float32)
    height, width = image.shape[:2]
    (h, w), (by, bx) = normalization.image_size, normalization.border
    factors = ((h + by) / height, (w + bx) / width)
    if normalization.keep_aspect:
        factors = (max(factors),) * 2
    if any(abs(f - 1) > 1e-4 for f in factors):
        size = (int(np.ceil(factors[0] * height - 1e-9)), int(np.ceil(factors[1] * width - 1e-9)))
        image = resize(image, max(size[0], h), max(size[1], w), normalization.interpolation)
    top, left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
    crop = image[top : top + h, left : left + w] - normalization.average_image
    return crop[None].astype(np.float32)


def class_probabilities(conv_weights, classifier, image, kernel_layout="stored"):
    """Softmax probabilities (classes,) float64 of the preprocessed `image` (1, h, w, 3).

    conv_weights: {conv name: (W, b)} (nst.weights.matconvnet.read_vgg_weights); classifier: nst.weights.matconvnet.Classifier.
    kernel_layout: "stored" or "transposed" (every kernel's two spatial axes swapped, fc6's included).
    """
    if kernel_layout not in ("stored", "transposed"):
        raise NstError(f"unknown kernel layout {kernel_layout!r}: choose stored or transposed")

    def kernel(W):
        W = tf.constant(W)
        return tf.transpose(W, [1, 0, 2, 3]) if kernel_layout == "transposed" else W

    x = tf.constant(image, tf.float32)
    names = list(conv_weights)  # VGG-19's or VGG-16's conv layers, in order
    for k, name in enumerate(names):
        W, b = conv_weights[name]
        x = tf.nn.relu(tf.nn.conv2d(x, kernel(W), strides=1, padding="SAME") + b)
        if k + 1 == len(names) or names[k + 1].split("_")[0] != name.split("_")[0]:  # the block's last conv
            x = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID")
    for k, (W, b) in enumerate(classifier.fc):
        W = kernel(W)
        if x.shape[1:3] != W.shape[:2] and k == 0:
            raise NstError(
                f"fc6 needs a {W.shape[0]}x{W.shape[1]} map but the {image.shape[1]}x{image.shape[2]} "
                f"input gives {x.shape[1]}x{x.shape[2]}"
            )
        x = tf.nn.conv2d(x, W, strides=1, padding="VALID") + b
        if k < 2:
            x = tf.nn.relu(x)
    logits = tf.reshape(x, [-1]).numpy().astype(np.float64)
    e = np.exp(logits - logits.max())
    return e / e.sum()


def top_k(probabilities, descriptions, k=5):
    """The k most probable classes: [(class index, description, probability)], most probable first."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(int(i), descriptions[i], float(probabilities[i])) for i in order]
