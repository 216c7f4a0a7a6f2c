"""Adam with TF1 semantics, the cost and its gradient against NumPy, and the loop's bookkeeping."""

import csv

import numpy as np
import pytest
import tensorflow as tf

from nst.commands.run import weights_of
from nst.engine.objective import objective
from nst.engine.targets import content_target, style_targets
from nst.optimize import adam_state, adam_update, make_train_step, model_nn
from nst.settings import Config
from nst.vgg import load_vgg_model, read_vgg_weights
from tests.numpy_vgg import homework_cost


def test_adam_matches_tf1_adam_optimizer():
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(1, 3, 4, 3)).astype(np.float32)
    grads = [rng.normal(size=x0.shape).astype(np.float32) * s for s in (1.0, 0.1, 3.0, 0.01, 1.0)]
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.Variable(x0)
        g = tf.compat.v1.placeholder(tf.float32, x0.shape)
        opt = tf.compat.v1.train.AdamOptimizer(learning_rate=2.0, beta1=0.9, beta2=0.999, epsilon=1e-8)
        train = opt.apply_gradients([(g, x)])
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            expected = []
            for grad in grads:
                sess.run(train, {g: grad})
                expected.append(sess.run(x))
    var = tf.Variable(x0)
    state = adam_state(var)
    for grad, want in zip(grads, expected):
        adam_update(var, tf.constant(grad), state, 2.0)
        np.testing.assert_allclose(var.numpy(), want, rtol=1e-6, atol=1e-6)


def small_problem(small_vgg, h=16, w=12, dtype=np.float32):
    rng = np.random.default_rng(11)
    content, style, image = (rng.normal(0, 50, (1, h, w, 3)).astype(dtype) for _ in range(3))
    return load_vgg_model(small_vgg), content, style, image


def test_cost_and_gradient_match_numpy(small_vgg):
    # float64 through the TF graph, so finite differences of the NumPy cost are precise.
    model, content, style, image = small_problem(small_vgg, dtype=np.float64)
    cfg = Config()
    costs = objective(
        model,
        content_target(model, content, cfg.content_layer),
        style_targets(model, style, cfg.style_layers),
        weights_of(cfg),
        cfg.precision,
    ).costs
    x = tf.Variable(image)
    with tf.GradientTape() as tape:
        J, Jc, Js = costs(x)
    grad = tape.gradient(J, x).numpy()
    weights, _ = read_vgg_weights(small_vgg)
    J_np, Jc_np, Js_np = homework_cost(weights, content, style, image)
    assert float(J) == pytest.approx(J_np, rel=1e-9)
    assert float(Jc) == pytest.approx(Jc_np, rel=1e-9) and float(Js) == pytest.approx(Js_np, rel=1e-9)
    rng = np.random.default_rng(2)
    h = 1e-3
    for _ in range(4):
        d = rng.normal(size=image.shape)
        numeric = (
            homework_cost(weights, content, style, image + h * d)[0]
            - homework_cost(weights, content, style, image - h * d)[0]
        ) / (2 * h)
        assert float(np.sum(grad * d)) == pytest.approx(numeric, rel=1e-5)


def test_model_nn_costs_fall_and_files(small_vgg, tmp_path):
    model, content, style, image = small_problem(small_vgg)
    cfg = Config(output_dir=tmp_path, iterations=25, save_every=10, progress=False)
    lines = []
    generated, history = model_nn(model, content, style, image, cfg, log=lines.append)
    assert [i for i, *_ in history] == list(range(25))
    assert history[-1][1] < 0.5 * history[0][1]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "0.png",
        "10.png",
        "20.png",
        "checkpoint.npz",
        "costs.csv",
        "generated_image.jpg",
    ]
    assert lines[0].startswith("Iteration 0 :\ntotal cost = ") and len(lines) == 3
    # costs.csv holds the costs after each step, at full precision; they are those of the returned image.
    with open(tmp_path / "costs.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["iteration", "total", "content", "style"]
    assert [float(v) for v in rows[-1][1:]] == [history[-1][1], history[-1][2], history[-1][3]]
    cfg_costs = objective(
        model,
        content_target(model, content, cfg.content_layer),
        style_targets(model, style, cfg.style_layers),
        weights_of(cfg),
        cfg.precision,
    ).costs
    J_final = float(cfg_costs(tf.constant(generated))[0])
    assert J_final == pytest.approx(history[-1][1], rel=1e-5)
    J, Jc, Js = (float(v) for v in history[3][1:])
    assert J == pytest.approx(10 * Jc + 40 * Js, rel=1e-5)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_last_costs_row_comes_from_the_traced_computation_of_the_steps(small_vgg, tmp_path, precision):
    """Every row of costs.csv, the last one too, is what the compiled step computes: the last row equals the costs
    that one more step returns for the same image (an untraced call rounds differently in bf16)."""
    model, content, style, image = small_problem(small_vgg, h=32, w=24)
    cfg = Config(output_dir=tmp_path, iterations=3, save_every=10, progress=False, precision=precision)
    _, history = model_nn(model, content, style, image, cfg, log=lambda line: None)
    goal = objective(
        model,
        content_target(model, content, cfg.content_layer),
        style_targets(model, style, cfg.style_layers),
        weights_of(cfg),
        cfg.precision,
    )
    x = tf.Variable(image)
    step = make_train_step(goal, x, adam_state(x), cfg.learning_rate)
    rows = [[float(v) for v in step()] for _ in range(cfg.iterations + 1)]
    assert [list(row[1:]) for row in history] == rows[1:]
