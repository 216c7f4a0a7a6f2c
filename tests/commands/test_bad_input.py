"""The bad-input matrix: every case through the CLI (`nst.commands.cli.main`) and the Python API
(`style_transfer(Config(...))`): exit code 2 / NstError, one line naming the file and the fix, no traceback,
nothing written. Odd but valid images (grey, RGBA, palette, 16-bit) are accepted and converted."""

import struct
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from nst.commands.cli import main
from nst.commands.run import style_transfer
from nst.errors import NstError
from nst.settings import Config
from nst.weights.testnet import _cell, vgg_layers, write_test_vgg
from tests.test_images import _png_rgb16


def png_header(path, width, height):
    """A PNG whose header says width x height (8-bit RGB) and whose pixel data is a few bytes: only a reader
    that checks the size before decoding (and before allocating width*height*3 bytes) can refuse it cleanly."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )
    return path


def damaged_vgg(path, layer, **change):
    """The small VGG file with one field of `layer` changed."""
    layers = vgg_layers()
    for struct_ in layers:
        if struct_[0, 0]["name"] == layer:
            for field, value in change.items():
                struct_[0, 0][field] = value
    return write_test_vgg(path, layers=layers)


@pytest.fixture(scope="module")
def files(tmp_path_factory, small_vgg):
    d = tmp_path_factory.mktemp("bad")
    y, x = np.mgrid[0:24, 0:32]
    rgb = np.stack([x * 8, y * 10, 255 - x * 4], axis=-1).astype(np.uint8)
    iio.imwrite(d / "photo.png", rgb)
    iio.imwrite(d / "painting.png", np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8))
    (d / "folder.jpg").mkdir()
    (d / "notes.jpg").write_text("not a picture, just notes\n")
    iio.imwrite(d / "photo.jpg", rgb, quality=90)
    jpeg = (d / "photo.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    Image.new("RGB", (1, 1)).save(d / "one_pixel.png")
    png_header(d / "huge.png", 10_000, 10_000)
    Image.fromarray(rgb[..., 0]).save(d / "grey.png")
    Image.fromarray(np.dstack([rgb, np.full((24, 32), 128, np.uint8)])).save(d / "rgba.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(d / "palette.png")
    Image.fromarray((x * 2000 + y * 10).astype(np.uint16)).save(d / "grey16.png")
    _png_rgb16(d / "rgb16.png", rgb.astype(np.uint16) * 257)
    good = small_vgg.read_bytes()
    (d / "truncated.mat").write_bytes(good[: len(good) // 2])
    (d / "random.mat").write_bytes(np.random.default_rng(0).bytes(20_000))
    (d / "v73.mat").write_bytes(
        b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan 1 HDF5 schema 1.00 ."
        + bytes(512 - 84)
        + b"\x89HDF\r\n\x1a\n"
        + bytes(2000)
    )
    damaged_vgg(d / "names.mat", "conv3_1", name="conv3_x")
    damaged_vgg(
        d / "shapes.mat", "conv2_1", weights=_cell(np.zeros((3, 3, 5, 6), np.float32), np.zeros((6, 1), np.float32))
    )
    W, b = (np.asarray(a) for a in vgg_layers()[0][0, 0]["weights"][0])
    for name, bad in (("nan", np.nan), ("inf", np.inf)):
        broken = W.copy()
        broken[1, 1, 0, 0] = bad
        damaged_vgg(d / f"{name}.mat", "conv1_1", weights=_cell(broken, b))
    (d / "afile").write_text("a file where a folder should be\n")
    return d


def base(files, small_vgg, out):
    return dict(
        content=files / "photo.png",
        style=files / "painting.png",
        weights=small_vgg,
        width=32,
        height=24,
        iterations=1,
        save_every=1,
        output_dir=out,
        progress=False,
        download=False,
    )


# id: (Config overrides (paths relative to the `files` folder), words the one-line message must hold)
BAD = {
    "content missing": (dict(content="missing.jpg"), ["missing.jpg", "does not exist", "check the path"]),
    "content is a directory": (dict(content="folder.jpg"), ["folder.jpg", "is a directory", "image file inside"]),
    "content text named .jpg": (dict(content="notes.jpg"), ["notes.jpg", "not a readable image", "use a valid"]),
    "content truncated JPEG": (dict(content="truncated.jpg"), ["truncated.jpg", "not a readable image"]),
    "content 1x1": (dict(content="one_pixel.png"), ["one_pixel.png", "1x1", "at least 2x2"]),
    "content 10000x10000": (dict(content="huge.png"), ["huge.png", "10000x10000", "--max-pixels 100000000"]),
    "style 10000x10000": (dict(style="huge.png"), ["huge.png", "10000x10000", "--max-pixels 100000000"]),
    "style text named .jpg": (dict(style="notes.jpg"), ["notes.jpg", "not a readable image"]),
    "content over --max-pixels": (dict(max_pixels=700), ["photo.png", "768 pixels", "--max-pixels 768"]),
    "weights missing": (dict(weights="none.mat"), ["none.mat", "does not exist", "--weights"]),
    "weights is a directory": (dict(weights="folder.jpg"), ["folder.jpg", "not a file", "--weights"]),
    "weights truncated": (dict(weights="truncated.mat"), ["truncated.mat", "download"]),
    "weights random bytes": (dict(weights="random.mat"), ["random.mat", "not a readable MATLAB", "download"]),
    "weights MATLAB v7.3": (dict(weights="v73.mat"), ["v73.mat", "v7.3 (HDF5)", "-v7", "download"]),
    "weights wrong layer names": (
        dict(weights="names.mat"),
        ["names.mat", "lacks VGG-19 layer(s) conv3_1", "imagenet-vgg-verydeep-19.mat"],
    ),
    "weights wrong shapes": (
        dict(weights="shapes.mat"),
        ["shapes.mat", "conv2_1", "(3, 3, 5, 6)", "imagenet-vgg-verydeep-19.mat"],
    ),
    "weights NaN": (dict(weights="nan.mat"), ["nan.mat", "conv1_1", "NaN or Inf"]),
    "weights Inf": (dict(weights="inf.mat"), ["inf.mat", "conv1_1", "NaN or Inf"]),
    "zero iterations": (dict(iterations=0), ["--iterations", "at least 1", "0"]),
    "negative iterations": (dict(iterations=-5), ["--iterations", "at least 1", "-5"]),
    "zero width": (dict(width=0), ["--width", "at least 1"]),
    "negative height": (dict(height=-24), ["--height", "at least 1", "-24"]),
    "zero learning rate": (dict(learning_rate=0.0), ["--learning-rate", "positive"]),
    "negative learning rate": (dict(learning_rate=-2.0), ["--learning-rate", "positive"]),
    "NaN learning rate": (dict(learning_rate=float("nan")), ["--learning-rate"]),
    "infinite learning rate": (dict(learning_rate=float("inf")), ["--learning-rate", "finite"]),
    "zero save-every": (dict(save_every=0), ["--save-every", "at least 1"]),
    "negative seed": (dict(seed=-1), ["--seed", "at least 0", "-1"]),
    "a size no memory holds": (
        dict(width=100_000, height=100_000),
        ["--width 100000 --height 100000", "needs at least", "of memory", "smaller size"],
    ),
    "a budget no plan fits": (
        dict(width=3840, height=2160, max_memory="1G"),
        ["--width 3840 --height 2160 needs at least", "--max-memory 1 GB", "pass --max-memory"],
    ),
    "L-BFGS at 4K in 3 GB": (
        dict(width=3840, height=2160, max_memory="3G", optimizer="lbfgs"),
        ["with --optimizer lbfgs needs at least", "--max-memory 3 GB"],
    ),
    "a max-memory that is not a size": (dict(max_memory="lots"), ["--max-memory", "a size like 3G", "'lots'"]),
    "a max-memory below TensorFlow's own": (dict(max_memory="50M"), ["--max-memory", "at least 0.1 GB", "0.05 GB"]),
    "a tile below the network's stride": (dict(tile=8), ["--tile", "at least 16", "8"]),
    # the small test net at 1080p: one 1920-pixel tile needs about 1.4 GB, the whole image 1.36, tiles of 480 1.2
    "a tile too big for the budget": (
        dict(width=1920, height=1080, tile=1920, max_memory="1.3G"),
        ["--tile 1920 needs about", "--max-memory 1.3 GB", "smaller --tile"],
    ),
    "zero max-pixels": (dict(max_pixels=0), ["--max-pixels", "at least 4"]),
    "negative noise ratio": (dict(noise_ratio=-0.1), ["--noise-ratio", "between 0 and 1"]),
    "deterministic without seed": (dict(deterministic=True), ["--deterministic", "--seed"]),
    "output dir is a file": (dict(output_dir="afile"), ["afile", "is a file", "--output-dir"]),
    "output dir inside a file": (
        dict(output_dir="afile/out"),
        ["afile/out", "cannot create output folder", "--output-dir"],
    ),
}
PATH_KEYS = ("content", "style", "weights", "output_dir")


def config_for(files, small_vgg, out, overrides):
    fields = base(files, small_vgg, out)
    fields.update({k: files / v if k in PATH_KEYS else v for k, v in overrides.items()})
    return fields


def argv_for(fields):
    argv = []
    for name, value in fields.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv += (
                {"progress": ["--no-progress"], "download": ["--no-download"]}.get(name, [flag])
                if value != Config.__dataclass_fields__[name].default
                else []
            )
        else:
            argv += [flag, str(value)]
    return argv


def written_files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_cli(case, files, small_vgg, tmp_path, capsys):
    overrides, words = BAD[case]
    out = tmp_path / "out"
    code = main(argv_for(config_for(files, small_vgg, out, overrides)))
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("nst: error: "), captured.err
    assert all(word in lines[0] for word in words), lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert written_files(out) == []  # nothing half-written


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_python_api(case, files, small_vgg, tmp_path):
    overrides, words = BAD[case]
    out = tmp_path / "out"
    with pytest.raises(NstError) as info:
        style_transfer(Config(**config_for(files, small_vgg, out, overrides)))
    message = str(info.value)
    assert "\n" not in message and all(word in message for word in words), message
    assert written_files(out) == []


def test_debug_shows_the_traceback(files, small_vgg, tmp_path):
    fields = config_for(files, small_vgg, tmp_path / "out", dict(content="notes.jpg"))
    with pytest.raises(NstError, match="notes.jpg"):
        main(argv_for(fields) + ["--debug"])


def test_max_pixels_flag_lets_a_large_image_through(files, small_vgg, tmp_path):
    fields = config_for(files, small_vgg, tmp_path / "out", dict(max_pixels=768))
    assert main(argv_for(fields)) == 0


ODD_IMAGES = ["grey.png", "rgba.png", "palette.png", "grey16.png", "rgb16.png"]


@pytest.mark.parametrize("name", ODD_IMAGES)
def test_odd_images_are_accepted(name, files, small_vgg, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(argv_for(config_for(files, small_vgg, out, dict(content=name, style=name)))) == 0
    assert capsys.readouterr().err == ""
    assert iio.imread(out / "generated_image.jpg").shape == (24, 32, 3)


def test_odd_images_are_accepted_by_the_python_api(files, small_vgg, tmp_path):
    """One run through the Python API reads every odd image: one as the content, all of them as the styles."""
    fields = config_for(files, small_vgg, tmp_path / "api", dict(content=ODD_IMAGES[0]))
    generated, history = style_transfer(Config(**{**fields, "style": [files / name for name in ODD_IMAGES]}))
    assert generated.shape == (1, 24, 32, 3) and np.isfinite(history[0][1])
    assert iio.imread(tmp_path / "api" / "generated_image.jpg").shape == (24, 32, 3)


BEFORE_TENSORFLOW = [
    case
    for case, (overrides, _) in BAD.items()
    if "weights" not in overrides or case in ("weights missing", "weights is a directory")
]
"""The cases found before TensorFlow is imported: all but a weights file's contents (read after it)."""


def test_bad_input_is_reported_before_tensorflow_is_imported(files, small_vgg, tmp_path):
    """The CLI (a fresh process, as `python -m nst` is) gives the one-line error and exit code 2 for every case but
    a weights file's bad contents with TensorFlow never imported: `tensorflow` is not in sys.modules after any of them.
    Then, in the same process, TensorFlow imported as nst does imports no Keras, and tf.keras still works."""
    import json
    import subprocess
    import sys

    argvs = [argv_for(config_for(files, small_vgg, tmp_path / case, BAD[case][0])) for case in BEFORE_TENSORFLOW]
    script = (
        "import contextlib, io, json, sys\nfrom nst.commands.cli import main\nresults = []\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stderr(err):\n"
        "        code = main(argv)\n"
        "    results.append([code, err.getvalue(), 'tensorflow' in sys.modules])\n"
        "from nst.commands.console import import_tensorflow_quietly\n"
        "import_tensorflow_quietly()\n"
        "import tensorflow as tf\n"
        "keras = ['keras' in sys.modules, tf.keras.layers.Dense(2)(tf.ones((1, 3))).shape == (1, 2)]\n"
        "print(json.dumps([results, keras]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(argvs)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    results, keras = json.loads(proc.stdout.strip().splitlines()[-1])
    assert keras == [False, True]  # not imported with TensorFlow, importable after it
    for case, (code, err, tensorflow) in zip(BEFORE_TENSORFLOW, results):
        assert code == 2 and err.startswith("nst: error: ") and len(err.strip().splitlines()) == 1, (case, err)
        assert all(word in err for word in BAD[case][1]), (case, err)
        assert not tensorflow, f"{case}: TensorFlow was imported before the error was reported"
