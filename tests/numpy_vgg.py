"""An independent NumPy (float64) VGG-19 forward pass and homework cost, to check the TF code against."""

import numpy as np

from nst.vgg import CONV_BLOCKS


def conv_same(x, W, b):
    """x (H, W, C_in), W (3, 3, C_in, C_out): stride-1 SAME cross-correlation + bias, as tf.nn.conv2d."""
    h, w, _ = x.shape
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, W.shape[3]))
    for i in range(3):
        for j in range(3):
            out += xp[i : i + h, j : j + w, :] @ W[i, j]
    return out + b


def pool_same(x, kind="avg"):
    """2x2 stride-2 SAME pooling; at odd edges TF averages over the valid pixels only."""
    h, w, c = x.shape
    H, Wd = -(-h // 2), -(-w // 2)
    out = np.zeros((H, Wd, c))
    for y in range(H):
        for z in range(Wd):
            win = x[2 * y : 2 * y + 2, 2 * z : 2 * z + 2, :].reshape(-1, c)
            out[y, z] = win.mean(axis=0) if kind == "avg" else win.max(axis=0)
    return out


def forward(weights, image, pooling="avg", blocks=CONV_BLOCKS):
    """weights: {conv name: (W, b)}; image (1, H, W, 3) -> {layer: (H', W', C) float64}. blocks: the network's
    (block, convs) (VGG-19's by default)."""
    x = np.asarray(image, dtype=np.float64)[0]
    acts = {}
    for block, n in blocks:
        for i in range(1, n + 1):
            W, b = weights[f"conv{block}_{i}"]
            x = np.maximum(conv_same(x, W.astype(np.float64), b.astype(np.float64)), 0)
            acts[f"conv{block}_{i}"] = x
        x = pool_same(x, pooling)
        acts[f"avgpool{block}"] = x
    return acts


def gram(a):
    m = a.reshape(-1, a.shape[-1]).T
    return m @ m.T


def homework_cost(weights, content, style, image, alpha=10.0, beta=40.0, content_layer="conv4_2", style_layers=None):
    """J = alpha J_content + beta J_style for normalized (1, H, W, 3) images, all in float64."""
    from nst.costs import STYLE_LAYERS

    style_layers = STYLE_LAYERS if style_layers is None else style_layers
    C, S, G = forward(weights, content), forward(weights, style), forward(weights, image)
    h, w, c = G[content_layer].shape
    J_content = np.sum((C[content_layer] - G[content_layer]) ** 2) / (4 * h * w * c)
    J_style = 0.0
    for name, coeff in style_layers:
        h, w, c = G[name].shape
        J_style += coeff * np.sum((gram(S[name]) - gram(G[name])) ** 2) / (4 * c**2 * (h * w) ** 2)
    return alpha * J_content + beta * J_style, J_content, J_style


def classify(weights, fc, image, transposed=False):
    """The whole VGG-19 as trained, in float64: image (1, h, w, 3) preprocessed, h and w multiples of 32 ->
    softmax probabilities. Conv SAME + ReLU, 2x2 max pooling (no padding needed at these sizes), fc6 a VALID
    convolution over the whole last map, fc7 and fc8 1x1 (as matrix products), ReLU after fc6 and fc7.
    fc: [(W6, b6), (W7, b7), (W8, b8)]. transposed: every kernel's two spatial axes swapped, fc6's included."""

    def kernel(W):
        W = np.asarray(W, dtype=np.float64)
        return W.transpose(1, 0, 2, 3) if transposed else W

    x = np.asarray(image, dtype=np.float64)[0]
    for block, n in CONV_BLOCKS:
        for i in range(1, n + 1):
            W, b = weights[f"conv{block}_{i}"]
            x = np.maximum(conv_same(x, kernel(W), np.asarray(b, np.float64).reshape(-1)), 0)
        x = pool_same(x, "max")
    (W6, b6), (W7, b7), (W8, b8) = fc
    x = np.maximum(np.einsum("ijc,ijck->k", x, kernel(W6)) + np.reshape(b6, -1), 0)
    x = np.maximum(x @ kernel(W7)[0, 0] + np.reshape(b7, -1), 0)
    logits = x @ kernel(W8)[0, 0] + np.reshape(b8, -1)
    e = np.exp(logits - logits.max())
    return e / e.sum()
