"""The MatConvNet loader on files written here (both layouts), and the network against NumPy."""

import numpy as np
import pytest
import scipy.io

from nst.errors import NstError
from nst.vgg import CONV_NAMES, LAYER_ORDER, load_vgg_model, read_vgg_weights
from nst.weights.testnet import SMALL_WIDTHS, _cell, _struct, vgg_layers, write_test_vgg
from tests.numpy_vgg import conv_same, forward


def expected_shapes(widths=SMALL_WIDTHS):
    shapes, c_in = {}, 3
    for name in CONV_NAMES:
        c_out = widths[int(name[4]) - 1]
        shapes[name] = (3, 3, c_in, c_out)
        c_in = c_out
    return shapes


@pytest.mark.parametrize("layout", ["new", "old"])
def test_reads_both_layouts(tmp_path, layout):
    path = write_test_vgg(tmp_path / f"{layout}.mat", layout=layout, seed=4)
    mat = scipy.io.loadmat(path)
    assert mat["layers"].shape == (1, 43)
    assert ("meta" in mat) == (layout == "new") and ("normalization" in mat) == (layout == "old")
    weights, mean_pixel = read_vgg_weights(path)
    assert list(weights) == list(CONV_NAMES)
    assert {k: W.shape for k, (W, b) in weights.items()} == expected_shapes()
    assert all(b.shape == (W.shape[3],) and W.dtype == np.float32 for W, b in weights.values())
    np.testing.assert_allclose(mean_pixel, [123.68, 116.779, 103.939], rtol=1e-6)
    # The weights are the ones written, whichever field order the layout uses.
    conv1_1 = next(layer for layer in vgg_layers(seed=4, layout=layout) if layer[0, 0]["name"] == "conv1_1")[0, 0]
    np.testing.assert_array_equal(weights["conv1_1"][0], conv1_1["weights"][0, 0])


def test_both_layouts_give_the_same_network(tmp_path):
    image = np.random.default_rng(0).normal(0, 50, (1, 20, 28, 3)).astype(np.float32)
    new = load_vgg_model(write_test_vgg(tmp_path / "n.mat", layout="new", seed=2))(image, ["conv5_1"])
    old = load_vgg_model(write_test_vgg(tmp_path / "o.mat", layout="old", seed=2))(image, ["conv5_1"])
    np.testing.assert_array_equal(new["conv5_1"].numpy(), old["conv5_1"].numpy())


def test_activations_match_numpy(small_vgg):
    weights, _ = read_vgg_weights(small_vgg)
    model = load_vgg_model(small_vgg)
    image = np.random.default_rng(1).normal(0, 60, (1, 13, 18, 3)).astype(np.float32)  # odd sizes: SAME pads
    acts = model(image)
    assert list(acts) == list(LAYER_ORDER)
    W, b = weights["conv1_1"]
    np.testing.assert_allclose(
        acts["conv1_1"].numpy()[0], np.maximum(conv_same(image[0], W, b), 0), rtol=1e-4, atol=1e-3
    )
    reference = forward(weights, image)
    for name in ("avgpool1", "conv3_1", "conv4_2", "avgpool5"):
        assert acts[name].shape[1:] == reference[name].shape
        np.testing.assert_allclose(acts[name].numpy()[0], reference[name], rtol=1e-3, atol=1e-3)


def test_computes_only_as_deep_as_asked(small_vgg):
    model = load_vgg_model(small_vgg)
    acts = model(np.zeros((1, 16, 16, 3), np.float32), ["conv2_1", "conv1_1"])
    assert list(acts) == ["conv1_1", "conv1_2", "avgpool1", "conv2_1"]
    with pytest.raises(NstError, match="unknown VGG layer name"):
        model(np.zeros((1, 16, 16, 3), np.float32), ["conv9_9"])


def test_max_pooling_and_transposed_kernels(small_vgg):
    weights, _ = read_vgg_weights(small_vgg)
    image = np.random.default_rng(5).normal(0, 60, (1, 12, 10, 3)).astype(np.float32)
    max_acts = load_vgg_model(small_vgg, pooling="max")(image, ["conv2_1"])
    np.testing.assert_allclose(
        max_acts["conv2_1"].numpy()[0], forward(weights, image, "max")["conv2_1"], rtol=1e-4, atol=1e-3
    )
    flipped = {k: (W.transpose(1, 0, 2, 3), b) for k, (W, b) in weights.items()}
    t_acts = load_vgg_model(small_vgg, kernel_layout="transposed")(image, ["conv1_2"])
    np.testing.assert_allclose(t_acts["conv1_2"].numpy()[0], forward(flipped, image)["conv1_2"], rtol=1e-4, atol=1e-3)


def damaged(tmp_path, change):
    layers = vgg_layers()
    change(layers)
    return write_test_vgg(tmp_path / "bad.mat", layers=layers)


def set_field(layers, name, field, value):
    for layer in layers:
        if layer[0, 0]["name"] == name:
            layer[0, 0][field] = value


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda L: L.pop(12), "lacks VGG-19 layer(s) conv3_2"),
        (lambda L: set_field(L, "conv3_3", "name", "conv3_x"), "lacks VGG-19 layer(s) conv3_3"),
        (lambda L: L.insert(0, L.pop(5)), "out of order"),
        (
            lambda L: set_field(
                L, "conv2_1", "weights", _cell(np.zeros((3, 3, 5, 6), np.float32), np.zeros((6, 1), np.float32))
            ),
            "layer conv2_1 has W of shape (3, 3, 5, 6)",
        ),
        (
            lambda L: set_field(
                L, "conv1_1", "weights", _cell(np.full((3, 3, 3, 4), np.nan, np.float32), np.zeros((4, 1), np.float32))
            ),
            "NaN or Inf",
        ),
        (lambda L: set_field(L, "conv4_1", "weights", np.zeros((3, 3))), "layer conv4_1 has no usable weights"),
    ],
)
def test_clear_errors_on_wrong_layouts(tmp_path, change, message):
    path = damaged(tmp_path, change)
    with pytest.raises(NstError) as err:
        load_vgg_model(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_clear_errors_on_wrong_files(tmp_path):
    cases = {}
    cases["missing"] = tmp_path / "missing.mat"
    (tmp_path / "text.mat").write_text("hello, not a mat file\n" * 20)
    cases["not a readable MATLAB"] = tmp_path / "text.mat"
    good = write_test_vgg(tmp_path / "good.mat").read_bytes()
    (tmp_path / "cut.mat").write_bytes(good[: len(good) // 2])
    cases["cut"] = tmp_path / "cut.mat"
    scipy.io.savemat(tmp_path / "other.mat", {"x": np.ones(3)})
    cases["not a MatConvNet network"] = tmp_path / "other.mat"
    scipy.io.savemat(tmp_path / "nonorm.mat", {"layers": _cell(_struct(name="conv1_1")), "meta": _struct(a=1)})
    cases["normalization"] = tmp_path / "nonorm.mat"
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: x HDF5 schema 1.00 ."
    (tmp_path / "h5.mat").write_bytes(header + bytes(512))
    cases["v7.3"] = tmp_path / "h5.mat"
    for expected, path in cases.items():
        with pytest.raises(NstError) as err:
            load_vgg_model(path)
        text = str(err.value)
        assert str(path) in text and "\n" not in text, text
        if expected not in ("missing", "cut"):
            assert expected in text, text
