"""`nst check-weights`: the file's identity, the top-5 of the whole network with the kernels as stored and
transposed (checked against NumPy), the verdict on the kernel layout and the exit code.

Planted classifier: conv1_1's first filter is a horizontal-edge detector (+1 above, -1 below the centre, on all
three colours); every later conv passes channel 0 on unchanged; fc6 averages channel 0 over the inner 5x5 of the
7x7 map (the outer ring would see the zero padding at the image's borders); fc7 passes it on; fc8 wires it to
class PLANTED with weight SCALE. On horizontal stripes the stored layout sees edges everywhere (logit ~ 7.6,
p ~ 0.996); transposed, the filter looks for vertical edges, finds none, and all ten logits are 0 (p = 0.1 each).
"""

import imageio.v3 as iio
import numpy as np
import pytest
import scipy.io

from nst.commands.cli import main
from nst.weights.cache import CRASH_HOOK
from nst.weights.check import CLOSE, layout_verdict
from nst.weights.matconvnet import classifier_from_mat, conv_weights_from_mat
from nst.weights.testnet import SMALL_WIDTHS, class_descriptions, network_layers, random_weights, write_test_vgg
from tests import numpy_vgg

PLANTED, SCALE, CLASSES = 3, 0.01, 10
DESCRIPTIONS = tuple("horizontal stripes" if i == PLANTED else f"test class {i}" for i in range(CLASSES))


def planted_weights(widths=SMALL_WIDTHS, fc_width=8):
    conv, c_in = [], 3
    for (_block, n), width in zip(((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)), widths):
        for _ in range(n):
            W, b = np.zeros((3, 3, c_in, width), np.float32), np.zeros((width, 1), np.float32)
            if not conv:
                W[0, 1, :, 0], W[2, 1, :, 0] = 1.0, -1.0  # (row above) - (row below): horizontal edges
            else:
                W[1, 1, 0, 0] = 1.0
            conv.append((W, b))
            c_in = width
    W6 = np.zeros((7, 7, c_in, fc_width), np.float32)
    W6[1:6, 1:6, 0, 0] = 1 / 25
    W7 = np.zeros((1, 1, fc_width, fc_width), np.float32)
    W7[0, 0, 0, 0] = 1.0
    W8 = np.zeros((1, 1, fc_width, CLASSES), np.float32)
    W8[0, 0, 0, PLANTED] = SCALE
    fc = [
        (W6, np.zeros((fc_width, 1), np.float32)),
        (W7, np.zeros((fc_width, 1), np.float32)),
        (W8, np.zeros((CLASSES, 1), np.float32)),
    ]
    return conv, fc


def transposed(weights):
    return [(np.ascontiguousarray(W.transpose(1, 0, 2, 3)), b) for W, b in weights]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("check")
    conv, fc = planted_weights()
    write_test_vgg(d / "planted.mat", layers=network_layers(conv, fc), descriptions=DESCRIPTIONS)
    write_test_vgg(
        d / "planted-transposed.mat", layers=network_layers(transposed(conv), transposed(fc)), descriptions=DESCRIPTIONS
    )
    write_test_vgg(d / "random.mat", seed=21)
    stripes = np.where((np.arange(256) // 8) % 2 == 0, 255, 0).astype(np.uint8)
    horizontal = np.repeat(np.repeat(stripes[:, None], 256, axis=1)[..., None], 3, axis=2)
    iio.imwrite(d / "horizontal.png", horizontal)
    checkerboard = np.where(((np.arange(256)[:, None] // 8) + (np.arange(256)[None, :] // 8)) % 2 == 0, 255, 0)
    iio.imwrite(d / "checkerboard.png", np.repeat(checkerboard[..., None], 3, axis=2).astype(np.uint8))
    rng = np.random.default_rng(8)
    iio.imwrite(d / "photo.png", rng.integers(0, 256, (200, 260, 3), dtype=np.uint8))
    return d


def run(capsys, *args):
    code = main(["check-weights", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def top5(lines, image, layout):
    """The five (probability, description) rows printed under "<image>, kernels <layout>:"."""
    start = lines.index(f"{image}, kernels {'as stored' if layout == 'stored' else 'transposed'}:")
    rows = []
    for line in lines[start + 1 : start + 6]:
        rank, p, rest = line.split(maxsplit=2)
        rows.append((float(p), rest.rsplit("  (class ", 1)[0]))
    return rows


def test_output_on_a_generated_file_matches_numpy(files, capsys):
    path, photo = files / "random.mat", files / "photo.png"
    code, lines, err = run(capsys, "--weights", path, "--no-download", photo)
    assert code == 0 and err == ""
    assert lines[0] == f"weights: {path}"
    assert (
        lines[1].startswith(f"  {path.stat().st_size} bytes, MD5 ")
        and "not one of the two official VGG-19 files" in lines[2]
    )
    assert lines[3] == "  layout: MatConvNet's current layout (layers + meta)"
    assert lines[4] == "  network: VGG-19, 16 conv layers"
    assert lines[5].startswith("  classifier: fc6 7x7x8 -> 8, fc7 1x1x8 -> 8, fc8 1x1x8 -> 10 classes; input 224x224")
    mat = scipy.io.loadmat(str(path))
    weights, _ = conv_weights_from_mat(mat, path)
    classifier = classifier_from_mat(mat, path, weights)
    from nst.images import read_image
    from nst.weights.classify import preprocess

    x = preprocess(read_image(photo), classifier.normalization)
    top1 = {}
    for layout in ("stored", "transposed"):
        reference = numpy_vgg.classify(weights, classifier.fc, x, transposed=layout == "transposed")
        order = np.argsort(-reference)[:5]
        printed = top5(lines, photo, layout)
        assert [d for _, d in printed] == [class_descriptions(10)[i] for i in order]
        np.testing.assert_allclose([p for p, _ in printed], reference[order], atol=1.5e-4)
        top1[layout] = reference[order[0]]
    verdict = lines[-2]
    expected = layout_verdict([top1["stored"]], [top1["transposed"]])[0]
    assert verdict.startswith(f"verdict: {expected}") and f"{top1['stored']:.3f} with the kernels as stored" in verdict
    assert f"{top1['transposed']:.3f} transposed, over 1 image;" in verdict and "less than 0.10" in verdict


def test_planted_stored_layout(files, capsys):
    code, lines, _ = run(capsys, "--weights", files / "planted.mat", "--no-download", files / "horizontal.png")
    assert code == 0
    stored, flipped = (
        top5(lines, files / "horizontal.png", "stored"),
        top5(lines, files / "horizontal.png", "transposed"),
    )
    assert stored[0][1] == "horizontal stripes" and stored[0][0] > 0.99
    assert all(abs(p - 0.1) < 1e-4 for p, _ in flipped)  # nothing seen: ten equal logits
    assert lines[-2].startswith(
        "verdict: stored - the network was trained with the kernels as stored (mean top-1 "
        f"probability {stored[0][0]:.3f} with the kernels as stored, 0.100 transposed"
    )
    assert lines[-1].startswith("--kernel-layout stored, the homework's and nst's default")


def test_planted_transposed_layout(files, capsys):
    """The mirror case: the same network stored with its kernels transposed, and two photos."""
    code, lines, _ = run(
        capsys,
        "--weights",
        files / "planted-transposed.mat",
        "--no-download",
        files / "horizontal.png",
        files / "checkerboard.png",
    )
    assert code == 0
    assert top5(lines, files / "horizontal.png", "transposed")[0][1] == "horizontal stripes"
    assert top5(lines, files / "horizontal.png", "stored")[0][0] == pytest.approx(0.1, abs=1e-4)
    board = top5(lines, files / "checkerboard.png", "stored")[0][0]
    assert board == top5(lines, files / "checkerboard.png", "transposed")[0][0] > 0.99
    assert lines[-2].startswith(
        "verdict: transposed - the network was trained with the kernels transposed (mean "
        f"top-1 probability {(0.1 + board) / 2:.3f} with the kernels as stored"
    )
    assert "over 2 images" in lines[-2] and lines[-1].startswith(
        "This network was trained with transposed kernels: --kernel-layout transposed"
    )


def test_planted_undecided(files, capsys):
    """A checkerboard is its own transpose: both layouts see the same edges, equally sure."""
    code, lines, _ = run(capsys, "--weights", files / "planted.mat", "--no-download", files / "checkerboard.png")
    assert code == 0 and lines[-2].startswith("verdict: undecided (mean top-1 probability")
    assert lines[-1].startswith("Give more photos")


def test_verdict_close_means_less_than_a_tenth():
    assert CLOSE == 0.10
    assert layout_verdict([0.55], [0.46])[0] == "undecided"  # 0.09 apart
    assert layout_verdict([0.56], [0.45])[0] == "stored"  # 0.11 apart
    assert layout_verdict([0.45], [0.56])[0] == "transposed"
    assert layout_verdict([0.9, 0.2], [0.3, 0.3]) == ("stored", pytest.approx(0.55), pytest.approx(0.3))
    assert layout_verdict([0.9, 0.1], [0.5, 0.45])[0] == "undecided"  # means 0.5 and 0.475


def test_file_without_classifier_is_usable(tmp_path, capsys, files):
    conv, _ = random_weights(seed=2)
    path = write_test_vgg(tmp_path / "conv-only.mat", layers=network_layers(conv, []))
    code, lines, err = run(capsys, "--weights", path, "--no-download", files / "photo.png")
    assert code == 0 and err == "" and "no classifier (fc6-fc8) in this file" in lines[-1]


def test_unusable_files_and_images_exit_2(tmp_path, capsys, files, monkeypatch):
    conv, fc = random_weights(seed=3)
    fc[1][0][0, 0, 0, 0] = np.nan
    nan = write_test_vgg(tmp_path / "nan-fc7.mat", layers=network_layers(conv, fc))
    conv, fc = random_weights(seed=3, classes=12)
    names = write_test_vgg(tmp_path / "names.mat", layers=network_layers(conv, fc), descriptions=class_descriptions(10))
    crash = write_test_vgg(tmp_path / "crash.mat", seed=4)
    cases = [
        ((nan, files / "photo.png"), ["nan-fc7.mat", "fc7 holds NaN or Inf"]),
        ((names, files / "photo.png"), ["names.mat", "names 10 classes for the 12 outputs of fc8"]),
        ((files / "random.mat", tmp_path / "missing.jpg"), ["missing.jpg", "does not exist"]),
        ((tmp_path / "none.mat", files / "photo.png"), ["none.mat", "does not exist"]),
        ((crash, files / "photo.png"), ["crash.mat", "the MAT reader crashed (SIGSEGV)"]),
    ]
    for (weights, image), words in cases:
        if weights == crash:
            monkeypatch.setenv(CRASH_HOOK, "1")
        code, lines, err = run(capsys, "--weights", weights, "--no-download", image)
        assert code == 2 and err.count("\n") == 1 and err.startswith("nst: error: "), err
        assert all(w in err for w in words), err
    assert sorted(p.name for p in tmp_path.iterdir() if "crash" in p.name) == ["crash.mat"]
