"""The whole VGG-19 (conv + max pooling + fc6-fc8 + softmax) against a NumPy float64 forward pass, kernels as stored
and transposed, on small generated files with a classifier and class names; the network's own preprocessing
(resize so the shorter side is imageSize + border, centre crop, minus the average image)."""

import numpy as np
import pytest
import scipy.io

from nst.weights.classify import class_probabilities, preprocess, top_k
from nst.weights.matconvnet import Normalization, classifier_from_mat, conv_weights_from_mat
from nst.weights.testnet import AVERAGE_IMAGE, class_descriptions, write_test_vgg
from tests import numpy_vgg

MEAN = np.array(AVERAGE_IMAGE, np.float32).reshape(1, 1, 3)


def read(path):
    mat = scipy.io.loadmat(str(path))
    weights, _ = conv_weights_from_mat(mat, path)
    return weights, classifier_from_mat(mat, path, weights)


@pytest.mark.parametrize("layout", ["new", "old"])
def test_whole_network_against_numpy(tmp_path, layout):
    path = write_test_vgg(tmp_path / "vgg.mat", seed=11, layout=layout)
    weights, classifier = read(path)
    assert [W.shape for W, _ in classifier.fc] == [(7, 7, 8, 8), (1, 1, 8, 8), (1, 1, 8, 10)]
    assert classifier.descriptions == class_descriptions(10) and classifier.normalization.image_size == (224, 224)
    rng = np.random.default_rng(3)
    photo = rng.uniform(0, 255, (240, 300, 3)).astype(np.float32)
    x = preprocess(photo, classifier.normalization)
    assert x.shape == (1, 224, 224, 3)
    for transposed in (False, True):
        ours = class_probabilities(weights, classifier, x, "transposed" if transposed else "stored")
        reference = numpy_vgg.classify(weights, classifier.fc, x, transposed=transposed)
        assert ours.shape == (10,) and abs(ours.sum() - 1) < 1e-9
        np.testing.assert_allclose(ours, reference, rtol=2e-4, atol=1e-6)
        assert [i for i, _, _ in top_k(ours, classifier.descriptions)] == list(np.argsort(-reference)[:5])
    stored = class_probabilities(weights, classifier, x, "stored")
    transposed = class_probabilities(weights, classifier, x, "transposed")
    assert np.abs(stored - transposed).max() > 1e-3  # the two layouts are different networks
    # Transposed kernels = the stored network on the input mirrored across its diagonal.
    np.testing.assert_allclose(
        transposed, class_probabilities(weights, classifier, x.transpose(0, 2, 1, 3)), rtol=1e-3, atol=1e-7
    )


def test_top_k():
    p = np.array([0.1, 0.5, 0.05, 0.3, 0.05])
    assert top_k(p, ("a", "b", "c", "d", "e"), 3) == [(1, "b", 0.5), (3, "d", 0.3), (0, "a", 0.1)]


def test_preprocess_square_image_is_only_cropped():
    """256x256 with imageSize 224 and border 32: no resize, the centre 224x224, minus the mean pixel, exactly."""
    photo = np.random.default_rng(0).uniform(0, 255, (256, 256, 3)).astype(np.float32)
    norm = Normalization((224, 224), MEAN, border=(32, 32))
    np.testing.assert_array_equal(preprocess(photo, norm)[0], photo[16:240, 16:240] - MEAN)


def test_preprocess_resizes_the_shorter_side_and_crops_the_centre():
    """300x400 (h x w): the shorter side to 256 (width ceil(400 * 256 / 300) = 342), the centre 224x224. On ramps
    (value = row, value = column) the crop's centre pixel shows the original's centre; constant colour stays."""
    y, x = np.mgrid[0:300, 0:400].astype(np.float32)
    photo = np.stack([y, x, np.full_like(x, 77.0)], axis=-1)
    norm = Normalization((224, 224), np.zeros((1, 1, 3), np.float32), border=(32, 32))
    out = preprocess(photo, norm)[0]
    assert out.shape == (224, 224, 3)
    scale = 300 / 256
    assert abs(out[112, 112, 0] - 149.5) < 1.5 and abs(out[112, 112, 1] - 199.5) < 1.5
    # the crop spans 224 resized pixels = 224 * 300 / 256 original ones, centred
    assert abs((out[-1, 112, 0] - out[0, 112, 0]) - 223 * scale) < 2
    assert abs((out[112, -1, 1] - out[112, 0, 1]) - 223 * scale) < 2
    np.testing.assert_allclose(out[..., 2], 77.0, atol=1e-3)


def test_preprocess_without_keep_aspect_and_with_a_mean_image():
    """keepAspect false: each axis to 256, then the crop; an old-layout average image is subtracted per pixel."""
    rng = np.random.default_rng(1)
    average = rng.uniform(90, 140, (224, 224, 3)).astype(np.float32)
    photo = np.full((300, 500, 3), 200.0, np.float32)
    out = preprocess(photo, Normalization((224, 224), average, border=(32, 32), keep_aspect=False))[0]
    np.testing.assert_allclose(out, 200.0 - average, atol=1e-3)
    out = preprocess(photo[:224, :224], Normalization((224, 224), average))[0]  # border 0: used as it is
    np.testing.assert_array_equal(out, 200.0 - average)
