"""The naive reference for the benchmark: the homework's loss and TF1-Adam step in plain eager TF2.

No tf.function, no graph: every step runs op by op from Python, the whole network to conv5_1 with the
style layers' Grams recomputed from activations each step (the targets are computed once, as in the homework).
"""

import numpy as np
import tensorflow as tf

LAYERS = (
    "conv1_1",
    "conv1_2",
    "pool",
    "conv2_1",
    "conv2_2",
    "pool",
    "conv3_1",
    "conv3_2",
    "conv3_3",
    "conv3_4",
    "pool",
    "conv4_1",
    "conv4_2",
    "conv4_3",
    "conv4_4",
    "pool",
    "conv5_1",
)
STYLE = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def forward(weights, x):
    """{layer: activation} of every conv up to conv5_1; weights: name -> (W, b) numpy float32."""
    acts = {}
    for name in LAYERS:
        if name == "pool":
            x = tf.nn.avg_pool2d(x, 2, 2, "SAME")
        else:
            W, b = weights[name]
            x = tf.nn.relu(tf.nn.conv2d(x, W, 1, "SAME") + b)
            acts[name] = x
    return acts


def gram(a):
    _, h, w, c = a.shape
    A = tf.transpose(tf.reshape(a, [h * w, c]))
    return tf.matmul(A, A, transpose_b=True), h, w, c


def naive_steps(weights, content, style, start, steps, lr=2.0, on_step=None):
    """`steps` Adam steps on the image; returns the list of total costs J before each step."""
    a_C = forward(weights, content)["conv4_2"]
    G_S = {n: gram(a)[0] for n, a in forward(weights, style).items() if n in STYLE}
    x = tf.Variable(start)
    m, v = np.zeros_like(start), np.zeros_like(start)
    out = []
    for t in range(1, steps + 1):
        with tf.GradientTape() as tape:
            acts = forward(weights, x)
            a_G = acts["conv4_2"]
            _, h, w, c = a_G.shape
            J_c = tf.reduce_sum(tf.square(a_C - a_G)) / (4 * h * w * c)
            J_s = 0.0
            for n in STYLE:
                G, h, w, c = gram(acts[n])
                J_s += 0.2 * tf.reduce_sum(tf.square(G_S[n] - G)) / (4 * c**2 * (h * w) ** 2)
            J = 10 * J_c + 40 * J_s
        g = tape.gradient(J, x)
        lr_t = lr * tf.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * tf.square(g)
        x.assign_sub(lr_t * m / (tf.sqrt(v) + 1e-8))
        out.append(float(J))  # the naive loop reads the cost back every step
        if on_step:
            on_step()
    return out
