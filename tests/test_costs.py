"""The homework's published outputs, and every cost re-computed in NumPy."""

import numpy as np
import pytest

from nst.costs import (
    STYLE_LAYERS,
    compute_content_cost,
    compute_layer_style_cost,
    compute_style_cost,
    gram_matrix,
    total_cost,
)
from nst.teaching.homework_values import homework_random_normals  # the homework's seeded TF1 inputs


def test_published_content_cost():
    a_C, a_G = homework_random_normals([1, 4, 4, 3], [1, 4, 4, 3])
    assert float(compute_content_cost(a_C, a_G)) == pytest.approx(6.76559, abs=1e-5)


def test_published_gram_matrix():
    (A,) = homework_random_normals([3, 2 * 1])
    expected = [
        [6.42230511, -4.42912197, -2.09668207],
        [-4.42912197, 19.46583748, 19.56387138],
        [-2.09668207, 19.56387138, 20.6864624],
    ]
    np.testing.assert_allclose(gram_matrix(A).numpy(), expected, atol=1e-5)


def test_published_layer_style_cost():
    a_S, a_G = homework_random_normals([1, 4, 4, 3], [1, 4, 4, 3])
    assert float(compute_layer_style_cost(a_S, a_G)) == pytest.approx(9.19028, abs=1e-5)


def test_published_total_cost():
    np.random.seed(3)
    J_content = np.random.randn()
    J_style = np.random.randn()
    assert total_cost(J_content, J_style) == pytest.approx(35.34667875478276, abs=1e-12)


# --- NumPy re-computations on random non-square shapes -------------------------------------------------------


def np_content(a_C, a_G):
    _, h, w, c = a_G.shape
    return np.sum((a_C.astype(np.float64) - a_G) ** 2) / (4 * h * w * c)


def np_layer_style(a_S, a_G):
    _, h, w, c = a_G.shape
    S = a_S.astype(np.float64).reshape(h * w, c).T  # (n_C, n_H*n_W)
    G = a_G.astype(np.float64).reshape(h * w, c).T
    return np.sum((S @ S.T - G @ G.T) ** 2) / (4 * c**2 * (h * w) ** 2)


@pytest.mark.parametrize("shape", [(1, 5, 7, 3), (1, 9, 4, 6), (1, 3, 11, 2)])
def test_costs_match_numpy(shape):
    rng = np.random.default_rng(sum(shape))
    a_C, a_G = (rng.normal(1, 4, shape).astype(np.float32) for _ in range(2))
    assert float(compute_content_cost(a_C, a_G)) == pytest.approx(np_content(a_C, a_G), rel=1e-5)
    assert float(compute_layer_style_cost(a_C, a_G)) == pytest.approx(np_layer_style(a_C, a_G), rel=1e-5)
    A = rng.normal(size=(shape[3], shape[1] * shape[2])).astype(np.float32)
    np.testing.assert_allclose(gram_matrix(A).numpy(), A.astype(np.float64) @ A.T, rtol=1e-5, atol=1e-4)


def test_unrolling_is_reshape_then_transpose():
    # A plain reshape to (n_C, n_H*n_W) gives a different (wrong) Gram on non-square activations.
    rng = np.random.default_rng(7)
    a_S, a_G = (rng.normal(size=(1, 3, 5, 4)).astype(np.float32) for _ in range(2))
    right = np_layer_style(a_S, a_G)
    wrong_S, wrong_G = a_S.reshape(4, 15).astype(np.float64), a_G.reshape(4, 15).astype(np.float64)
    wrong = np.sum((wrong_S @ wrong_S.T - wrong_G @ wrong_G.T) ** 2) / (4 * 16 * 15**2)
    assert float(compute_layer_style_cost(a_S, a_G)) == pytest.approx(right, rel=1e-5)
    assert abs(right - wrong) > 1e-3 * right


def test_style_cost_is_weighted_sum_over_layers():
    rng = np.random.default_rng(3)
    shapes = {
        "conv1_1": (1, 8, 6, 3),
        "conv2_1": (1, 4, 3, 5),
        "conv3_1": (1, 2, 2, 7),
        "conv4_1": (1, 1, 2, 4),
        "conv5_1": (1, 1, 1, 6),
    }
    S = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    G = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    expected = sum(w * np_layer_style(S[k], G[k]) for k, w in STYLE_LAYERS)
    assert float(compute_style_cost(S, G)) == pytest.approx(expected, rel=1e-5)
    custom = (("conv2_1", 0.7), ("conv5_1", 0.3))
    expected = 0.7 * np_layer_style(S["conv2_1"], G["conv2_1"]) + 0.3 * np_layer_style(S["conv5_1"], G["conv5_1"])
    assert float(compute_style_cost(S, G, custom)) == pytest.approx(expected, rel=1e-5)
    assert total_cost(2.0, 3.0, alpha=1, beta=2) == 8.0
