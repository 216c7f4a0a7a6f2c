"""Performance options: the bf16 and XLA steps agree with fp32 on a small net; the step is traced once.

No timings here: speed is measured by the benchmarks (BENCHMARKS.md)."""

import numpy as np
import pytest
import tensorflow as tf

from nst.commands.cli import build_parser, config_from_args
from nst.commands.run import weights_of
from nst.engine.network import conv2d_same
from nst.engine.objective import objective
from nst.engine.targets import content_target, style_targets
from nst.errors import NstError
from nst.optimize import adam_state, make_train_step
from nst.settings import Config
from nst.vgg import load_vgg_model


def run_steps(small_vgg, steps=8, **options):
    rng = np.random.default_rng(5)
    content, style, start = (rng.normal(0, 50, (1, 32, 24, 3)).astype(np.float32) for _ in range(3))
    model = load_vgg_model(small_vgg)
    cfg = Config(**options)
    goal = objective(
        model,
        content_target(model, content, cfg.content_layer),
        style_targets(model, style, cfg.style_layers),
        weights_of(cfg),
        cfg.precision,
    )
    image = tf.Variable(start)
    step = make_train_step(goal, image, adam_state(image), cfg.learning_rate, jit_compile=cfg.xla or None)
    history = [[float(v) for v in step()] for _ in range(steps)]
    return np.array(history), image.numpy(), step


def test_fp32_step_traces_once_and_costs_fall(small_vgg):
    history, _, step = run_steps(small_vgg, steps=8)
    assert step.experimental_get_tracing_count() == 1
    assert history[-1, 0] < history[0, 0]
    np.testing.assert_allclose(history[:, 0], 10 * history[:, 1] + 40 * history[:, 2], rtol=1e-5)


def test_xla_step_matches_fp32(small_vgg):
    ref, ref_image, _ = run_steps(small_vgg)
    xla, xla_image, step = run_steps(small_vgg, xla=True)
    assert step.experimental_get_tracing_count() == 1
    np.testing.assert_allclose(xla, ref, rtol=1e-4)
    np.testing.assert_allclose(xla_image, ref_image, rtol=1e-4, atol=1e-3)


def test_bf16_step_costs_close_to_fp32(small_vgg):
    ref, _, _ = run_steps(small_vgg)
    bf16, _, step = run_steps(small_vgg, precision="bf16")
    assert step.experimental_get_tracing_count() == 1
    assert not np.allclose(bf16, ref, rtol=1e-7)  # it really ran in lower precision
    np.testing.assert_allclose(bf16[:, 0], ref[:, 0], rtol=0.05)
    assert bf16[-1, 0] < bf16[0, 0]


def test_performance_flags_map_onto_config():
    cfg = config_from_args(build_parser().parse_args(["--precision", "bf16", "--xla"]))
    assert (cfg.precision, cfg.xla) == ("bf16", True)
    cfg = config_from_args(build_parser().parse_args([]))
    assert (cfg.precision, cfg.xla) == ("fp32", False)
    with pytest.raises(NstError, match="--precision"):
        Config(precision="fp16").check()


@pytest.mark.parametrize("shape", [(1, 7, 5, 3, 4), (1, 6, 9, 8, 2), (1, 1, 4, 2, 5)])
def test_conv_input_gradient_by_rotated_kernel_equals_tf_gradient(shape):
    """conv2d_same's custom gradient (forward conv, kernel rotated 180 degrees, channels swapped) is the same
    sum as TF's own Conv2DBackpropInput: compared in float64 for odd shapes, with a non-symmetric kernel."""
    n, h, w, c_in, c_out = shape
    rng = np.random.default_rng(sum(shape))
    x = tf.constant(rng.standard_normal((n, h, w, c_in)))
    W = tf.constant(rng.standard_normal((3, 3, c_in, c_out)))
    dy = tf.constant(rng.standard_normal((n, h, w, c_out)))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = conv2d_same(x, W)
        theirs = tf.nn.conv2d(x, W, strides=1, padding="SAME")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    g_ours = tape.gradient(ours, x, output_gradients=dy).numpy()
    g_theirs = tape.gradient(theirs, x, output_gradients=dy).numpy()
    np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-12, atol=1e-12)
    # and in NumPy: dx[i, j, c] = sum_{a, b, o} dy[i - a + 1, j - b + 1, o] W[a, b, c, o]
    pad = np.pad(dy.numpy()[0], ((1, 1), (1, 1), (0, 0)))
    ref = sum(
        np.einsum("ijo,co->ijc", pad[2 - a : 2 - a + h, 2 - b : 2 - b + w], W.numpy()[a, b])
        for a in range(3)
        for b in range(3)
    )
    np.testing.assert_allclose(g_ours[0], ref, rtol=1e-12, atol=1e-12)
