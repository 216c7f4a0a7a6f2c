"""Pictures and run.json of every run, and `nst compare`, on a small generated net."""

import csv
import hashlib
import json
import math

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from nst.commands.cli import main
from nst.commands.compare import compare_images
from nst.homework import ALPHA, BETA
from nst.images import load_image
from nst.settings import DEMO_CONTENT, DEMO_STYLE

W, H = 64, 48


@pytest.fixture(scope="module")
def run(small_vgg, tmp_path_factory):
    """`nst` on the demo images at 64x48, 40 Adam steps, an image every 20: (output folder, weights, seconds)."""
    out = tmp_path_factory.mktemp("run") / "out"
    args = [
        "--weights",
        small_vgg,
        "--width",
        W,
        "--height",
        H,
        "--iterations",
        40,
        "--save-every",
        20,
        "--output-dir",
        out,
        "--seed",
        3,
        "--no-progress",
    ]
    assert main([str(a) for a in args]) == 0
    return out, small_vgg


def png(path):
    """(width, height) and pixels of a PNG file; fails unless it is a valid PNG."""
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.verify()
    with Image.open(path) as img:
        return img.size, np.asarray(img.convert("RGB"), dtype=np.float64)


@pytest.mark.parametrize(
    "name, size",
    [
        ("costs.png", (800, 500)),
        # 3 panels (iterations 0, 20, final) 300 px wide, 300*48/64 + 50 px tall
        ("progress.png", (900, 275)),
        ("summary.png", (900, 275)),
    ],
)  # content | style | generated
def test_pictures_are_png_of_expected_size_and_not_blank(run, name, size):
    got, pixels = png(run[0] / name)
    assert got == size
    assert pixels.var() > 0
    # every image panel holds a picture: no panel column is one flat colour
    for k in range(size[0] // 300 if name != "costs.png" else 0):
        assert pixels[50:, 300 * k : 300 * (k + 1)].var() > 10


def test_run_json(run):
    out, weights = run
    manifest = json.loads((out / "run.json").read_text())
    assert set(manifest) == {
        "created_utc",
        "parameters",
        "image_sizes",
        "versions",
        "device",
        "precision",
        "weights",
        "iterations_run",
        "seconds_per_iteration",
        "final_costs",
        "memory",
    }
    memory = manifest["memory"]  # planned within 80 % of what was available: the whole image, one scale
    assert memory["max_memory"] is None and memory["tile"] is None and 0.6e9 < memory["budget_bytes"]
    assert memory["scales"] == [{"scale": 1, "width": W, "height": H, "plan": None}]
    assert manifest["precision"] == {"requested": "fp32", "used": "fp32", "reason": "requested"}
    p = manifest["parameters"]
    assert (p["width"], p["height"], p["iterations"], p["save_every"], p["seed"]) == (W, H, 40, 20, 3)
    assert (p["alpha"], p["beta"], p["learning_rate"], p["noise_ratio"]) == (ALPHA, BETA, 2.0, 0.6)
    assert p["content_layer"] == "conv4_2" and p["style_layers"] == [[f"conv{i}_1", 0.2] for i in range(1, 6)]
    assert p["content"] == str(DEMO_CONTENT) and p["weights"] == str(weights)
    sizes = manifest["image_sizes"]
    assert sizes["generated"] == [W, H]
    assert sizes["content_file"] == list(Image.open(DEMO_CONTENT).size)
    assert sizes["style_files"] == [list(Image.open(DEMO_STYLE).size)]
    import scipy

    v = manifest["versions"]
    assert (v["tensorflow"], v["numpy"], v["scipy"]) == (tf.__version__, np.__version__, scipy.__version__)
    assert manifest["device"] == tf.zeros(()).device and "device:" in manifest["device"]
    assert manifest["weights"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert manifest["iterations_run"] == 40
    assert 0 < manifest["seconds_per_iteration"] < 30
    rows = list(csv.DictReader(open(out / "costs.csv")))
    final = manifest["final_costs"]
    assert final["iteration"] == 39
    assert [final["total"], final["content"], final["style"]] == [
        float(rows[-1][k]) for k in ("total", "content", "style")
    ]


def test_compare_identical_images(run, capsys):
    out, weights = run
    image = out / "generated_image.jpg"
    result = compare_images(
        image, image, content=DEMO_CONTENT, style=DEMO_STYLE, weights=weights, output=out / "same.png"
    )
    assert math.isinf(result["psnr"]) and result["psnr"] > 0
    assert result["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert result["mean_abs_diff"] == 0.0 and result["reference_resized_from"] is None
    assert result["costs"]["generated"] == result["costs"]["reference"]
    J, Jc, Js = result["costs"]["generated"]
    assert J == pytest.approx(ALPHA * Jc + BETA * Js, rel=1e-5) and J > 0
    text = capsys.readouterr().out
    assert "PSNR = inf dB (identical images)" in text and "equal J" in text
    size, pixels = png(out / "same.png")
    assert size == (900, 275) and pixels.var() > 0


def test_compare_orders_better_and_worse(run, capsys):
    # the image after 40 Adam steps solves the problem better (lower J) than the one after step 0
    out, weights = run
    result = compare_images(
        out / "generated_image.jpg", out / "0.png", content=DEMO_CONTENT, style=DEMO_STYLE, weights=weights
    )
    (J_better, *_), (J_worse, *_) = result["costs"]["generated"], result["costs"]["reference"]
    assert J_better < 0.5 * J_worse
    rows = list(csv.DictReader(open(out / "costs.csv")))  # the same order as the run's own costs
    assert float(rows[-1]["total"]) < float(rows[0]["total"])
    assert J_worse == pytest.approx(float(rows[0]["total"]), rel=0.05)  # 0.png is the image after step 0
    a = load_image(out / "generated_image.jpg", W, H)
    b = load_image(out / "0.png", W, H)
    assert result["mean_abs_diff"] == pytest.approx(np.mean(np.abs(a - b)), rel=1e-6)
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    assert result["psnr"] == pytest.approx(10 * np.log10(255.0**2 / mse), rel=1e-4)
    assert 0 < result["ssim"] < 1
    assert result["comparison_png"] == out / "comparison.png" and png(out / "comparison.png")[0] == (900, 275)
    assert "generated has the lower J" in capsys.readouterr().out


def test_compare_resizes_a_reference_of_another_size(run, tmp_path, capsys):
    out, _ = run
    big = tmp_path / "big.png"
    iio.imwrite(big, np.asarray(Image.open(out / "0.png").resize((128, 96), Image.Resampling.NEAREST)))
    result = compare_images(out / "0.png", big, output=tmp_path / "c.png")
    assert result["reference_resized_from"] == (128, 96) and result["size"] == (W, H)
    assert "reference resized from 128x96 to 64x48" in capsys.readouterr().out
    assert result["psnr"] > 20 and "costs" not in result


def test_compare_command_line(run, tmp_path, capsys):
    out, weights = run
    args = [
        "compare",
        out / "generated_image.jpg",
        out / "0.png",
        "--content",
        DEMO_CONTENT,
        "--style",
        DEMO_STYLE,
        "--weights",
        weights,
        "--output",
        tmp_path / "cmp.png",
    ]
    assert main([str(a) for a in args]) == 0
    text = capsys.readouterr().out
    assert "PSNR = " in text and "SSIM = " in text and "J_content" in text and (tmp_path / "cmp.png").exists()
    other = tmp_path / "costs.csv"
    rows = list(csv.reader(open(out / "costs.csv")))
    other.write_text("\n".join(",".join(r) for r in rows[:21]) + "\n")
    assert main(["compare", "--costs", str(out / "costs.csv"), str(other), "--output", str(tmp_path / "o.png")]) == 0
    text = capsys.readouterr().out
    assert f"{out / 'costs.csv'}: 40 iterations, final J = {float(rows[-1][1]):.6g}" in text
    assert f"{other}: 20 iterations" in text
    size, pixels = png(tmp_path / "o.png")
    assert size == (800, 500) and pixels.var() > 0


def test_compare_bad_input_one_line_exit_2(run, tmp_path, capsys):
    out, weights = run
    notes = tmp_path / "notes.csv"
    notes.write_text("hello\n1,2\n")
    img = str(out / "0.png")
    cases = {
        "one image": (["compare", img], "two images"),
        "missing image": (["compare", img, str(tmp_path / "nope.png")], "nope.png"),
        "costs need all three": (["compare", img, img, "--content", str(DEMO_CONTENT)], "--weights"),
        "missing weights": (
            [
                "compare",
                img,
                img,
                "--content",
                str(DEMO_CONTENT),
                "--style",
                str(DEMO_STYLE),
                "--weights",
                str(tmp_path / "none.mat"),
            ],
            "none.mat",
        ),
        "not a costs.csv": (["compare", "--costs", str(out / "costs.csv"), str(notes)], "notes.csv"),
        "one costs.csv": (["compare", "--costs", str(out / "costs.csv")], "two or more"),
    }
    for name, (argv, needle) in cases.items():
        assert main(argv) == 2, name
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err, (name, err)
