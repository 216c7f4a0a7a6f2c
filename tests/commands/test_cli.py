"""The program as a user runs it: `nst` end to end on a small generated net, and bad input.

The runs call the command line's main() in this process (its arguments, exit code, output and files are the
program's); `python -m nst` in a process of its own is run by README's quick start (tests/test_docs.py) and by
the bad-input and interruption tests (here, tests/commands/test_bad_input.py, test_resume.py)."""

import csv
import json
import os
import socket
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from nst.commands.cli import build_parser, main
from nst.settings import PACKAGE_ROOT
from nst.weights.cache import read_weights

FLAGS = [
    "--content",
    "--style",
    "--weights",
    "--output-dir",
    "--iterations",
    "--width",
    "--height",
    "--noise-ratio",
    "--learning-rate",
    "--alpha",
    "--beta",
    "--save-every",
    "--seed",
    "--no-download",
]


def nst(*args):
    """`nst ARGS...` in this process: its exit code."""
    return main([str(a) for a in args])


def run_nst(*args, cwd=None, env=None):

    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(PACKAGE_ROOT), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "nst", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """A 64x48 'photo' (smooth shapes) and a 'painting' (stripes) as PNG files."""
    folder = tmp_path_factory.mktemp("pictures")
    y, x = np.mgrid[0:48, 0:64]
    photo = np.stack([x * 4, y * 5, 255 - x * 2], axis=-1) * ((x - 32) ** 2 + (y - 24) ** 2 < 300)[..., None]
    painting = np.stack(
        [128 + 127 * np.sin(x / 2.0 + y / 3.0), 128 + 127 * np.cos(y / 1.5), 128 + 127 * np.sin((x - y) / 4.0)], axis=-1
    )
    iio.imwrite(folder / "photo.png", photo.clip(0, 255).astype(np.uint8))
    iio.imwrite(folder / "painting.png", painting.clip(0, 255).astype(np.uint8))
    return folder / "photo.png", folder / "painting.png"


def test_help_lists_every_flag():
    text = build_parser().format_help()
    assert all(flag in text for flag in FLAGS)


def test_help_lists_the_other_commands_and_each_runs_its_own_help(capsys):
    text = build_parser().format_help()
    for name in ("compare", "studio", "teach", "grade", "check-weights"):
        assert f"nst {name} " in text
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0 and f"nst {name}" in capsys.readouterr().out


def test_end_to_end_on_small_net(small_vgg, pictures, tmp_path, capsys):
    out = tmp_path / "out"
    code = nst(
        "--weights",
        small_vgg,
        "--content",
        pictures[0],
        "--style",
        pictures[1],
        "--width",
        64,
        "--height",
        48,
        "--iterations",
        40,
        "--output-dir",
        out,
        "--seed",
        1,
    )
    result = capsys.readouterr()
    assert code == 0, result.err
    assert sorted(p.name for p in out.iterdir()) == [
        "0.png",
        "20.png",
        "checkpoint.npz",
        "costs.csv",
        "costs.png",
        "generated_image.jpg",
        "progress.png",
        "run.json",
        "summary.png",
    ]
    assert iio.imread(out / "0.png").shape == (48, 64, 3)
    assert iio.imread(out / "generated_image.jpg").shape == (48, 64, 3)
    rows = list(csv.DictReader(open(out / "costs.csv")))
    assert [int(r["iteration"]) for r in rows] == list(range(40))
    totals = [float(r["total"]) for r in rows]
    assert totals[-1] < 0.5 * totals[0] and totals[-1] < totals[20] < totals[0]
    for i in (0, 20):  # the homework's log lines, with the costs written to costs.csv
        assert f"Iteration {i} :\ntotal cost = {float(rows[i]['total'])}\n" in result.out
    assert "Traceback" not in result.err


def dead_url():
    """A URL on this machine that nobody answers: MatConvNet's site as this machine sees it."""
    with socket.socket() as s:  # a port on this machine that nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/vgg.mat"


def test_without_the_vgg19_the_demo_paints_with_the_imagenet_vgg16(tmp_path, imagenet_vgg16, monkeypatch, capsys):
    """The README's first command where MatConvNet's site cannot be reached: one line says so, the demo is painted
    with the ImageNet VGG-16 (run.json says why), and the current folder gets only the output."""
    home = tmp_path / "home"  # an empty cache, and the VGG-19's download fails
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("NST_WEIGHTS_URL", dead_url())
    monkeypatch.setenv("NST_HOME", str(home))
    code = nst(
        "--iterations",
        1,
        "--width",
        40,
        "--height",
        30,
        "--seed",
        0,
        "--no-progress",
    )
    result = capsys.readouterr()
    assert code == 0, result.err
    said = [line for line in result.out.splitlines() if "instead of the homework's VGG-19" in line]
    assert len(said) == 1 and str(home) in said[0] and "127.0.0.1" in said[0], result.out
    assert "Traceback" not in result.err
    run = json.loads((work / "output" / "run.json").read_text())
    # found in the checkout's pretrained-model/ (where the tests keep it; a wheel converts it into $NST_HOME:
    # tests/test_wheel.py)
    assert run["weights"]["network"] == "VGG-16" and run["weights"]["path"] == str(imagenet_vgg16)
    assert run["weights"]["fallback"].startswith("VGG-19 not available (no download from http://127.0.0.1:")
    assert run["weights"]["sha256"] == read_weights(imagenet_vgg16).sha256
    assert sorted(p.name for p in work.iterdir()) == ["output"] and list(home.iterdir()) == []


def test_an_explicit_missing_weights_file_is_not_replaced(tmp_path):
    """--weights FILE is used as given: when it is missing it is an error naming its absolute path, never the
    VGG-16 in its place."""
    work = tmp_path / "work"
    work.mkdir()
    result = run_nst(
        "--weights",
        "mine/imagenet-vgg-verydeep-19.mat",
        "--iterations",
        1,
        cwd=work,
        env={"NST_WEIGHTS_URL": dead_url(), "NST_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert str(work / "mine" / "imagenet-vgg-verydeep-19.mat") in result.stderr
    assert "VGG-16" not in result.stdout + result.stderr


def bad_input_cases(tmp_path, small_vgg, pictures):
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture\n")
    corrupt = tmp_path / "corrupt.mat"
    corrupt.write_bytes(np.random.default_rng(0).bytes(5000))
    base = [
        "--content",
        pictures[0],
        "--style",
        pictures[1],
        "--weights",
        small_vgg,
        "--width",
        16,
        "--height",
        12,
        "--iterations",
        1,
        "--output-dir",
        tmp_path / "out",
        "--no-progress",
    ]
    return {
        "missing content": (base + ["--content", tmp_path / "nope.jpg"], "nope.jpg"),
        "content not an image": (base + ["--content", text], "notes.jpg"),
        "missing weights": (base + ["--weights", tmp_path / "none.mat", "--no-download"], "none.mat"),
        "corrupt weights": (base + ["--weights", corrupt], "corrupt.mat"),
        "zero iterations": (base + ["--iterations", 0], "--iterations"),
        "negative learning rate": (base + ["--learning-rate", -1], "--learning-rate"),
    }


def test_bad_input_one_line_exit_2(tmp_path, small_vgg, pictures, capsys):
    for name, (args, needle) in bad_input_cases(tmp_path, small_vgg, pictures).items():
        code = main([str(a) for a in args])
        err = capsys.readouterr().err
        assert code == 2, name
        assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err, (name, err)
    assert not (tmp_path / "out" / "generated_image.jpg").exists()


def test_bad_input_through_a_real_process(tmp_path, pictures):
    result = run_nst("--content", tmp_path / "missing.png", "--style", pictures[1], "--no-download")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "missing.png" in result.stderr
