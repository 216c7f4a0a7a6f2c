"""The homework's own test inputs and its published expected outputs, for the notebooks (walkthrough, homework).

The inputs are TF1's `tf.random_normal(shape, mean=1, stddev=4)` after `tf.set_random_seed(1)`. In TF1 graph mode
an op without a seed got the op seed graph._last_id: random_normal builds 3 constants (shape, mean, stddev) before
its RandomStandardNormal op, then Mul and Add, so the k-th call (k = 0, 1, ...) in a fresh graph got op seed
3 + 6k (3, 9, ...). TF2's compat graph numbers ops differently, so the seeds are passed explicitly.
"""

import numpy as np

# The homework's graded functions, in its order.
GRADED = ("compute_content_cost", "gram_matrix", "compute_layer_style_cost", "compute_style_cost", "total_cost")
# The homework's "Expected Output" boxes.
EXPECTED = {
    "J_content": 6.76559,
    "GA": [
        [6.42230511, -4.42912197, -2.09668207],
        [-4.42912197, 19.46583748, 19.56387138],
        [-2.09668207, 19.56387138, 20.6864624],
    ],
    "J_style_layer": 9.19028,
    "J": 35.34667875478276,
}
TOLERANCE = 1e-5  # the homework prints 6 significant digits


def homework_random_normals(*shapes):
    """[array of each shape]: the homework's `tf.random_normal(shape, mean=1, stddev=4)` values, in call order,
    as a fresh TF1 graph after `tf.set_random_seed(1)` gave them."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.set_random_seed(1)
        tensors = [
            tf.compat.v1.random_normal(shape, mean=1, stddev=4, seed=3 + 6 * k) for k, shape in enumerate(shapes)
        ]
        with tf.compat.v1.Session(graph=graph) as sess:
            return sess.run(tensors)


def check(name, ours, expected, tolerance=TOLERANCE, labels=("ours", "homework")):
    """Print "name: ours = X  homework = Y  match" (or DIFFERENT) and return whether |ours - expected| <= tolerance
    everywhere; for arrays both are printed, then "name: max |ours - homework| = d  match". `labels` names the two
    sides (the homework notebook says "yours")."""
    mine, theirs = labels
    ours_arr, expected_arr = np.asarray(ours, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    diff = float(np.max(np.abs(ours_arr - expected_arr)))
    ok = diff <= tolerance
    verdict = "match" if ok else "DIFFERENT"
    if ours_arr.ndim == 0:
        print(f"{name}: {mine} = {float(ours_arr)!r}  {theirs} = {float(expected_arr)!r}  {verdict}")
    else:
        print(f"{name} ({mine}):\n{ours_arr}\n{name} ({theirs}):\n{expected_arr}")
        print(f"{name}: max |{mine} - {theirs}| = {diff:.3g}  {verdict}")
    return ok
