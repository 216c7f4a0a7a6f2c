"""Reading a weights file once and safely: scipy's MAT reader in a child process, the conv weights cached beside the
file (`<weights>.cache.npz`), reused while the file's size and mtime match, rebuilt when they do not or when the
cache is damaged; a reader crash (SIGSEGV) is a one-line error with nothing left half-written."""

import hashlib
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from nst.commands.cli import main
from nst.errors import NstError
from nst.settings import Config
from nst.vgg import CONV_NAMES, read_vgg_weights
from nst.weights.cache import CACHE_SUFFIX, CRASH_HOOK, cache_path, load_cache, read_weights
from nst.weights.testnet import write_test_vgg
from tests.test_write_failure import tmpfs


def same_as_loadmat(data, path):
    """`data` holds exactly what the homework's reader (scipy.io.loadmat in this process) returns, and the
    file's real digests."""
    weights, mean_pixel = read_vgg_weights(path)
    assert list(data.weights) == list(CONV_NAMES)
    for name in CONV_NAMES:
        for ours, theirs in zip(data.weights[name], weights[name]):
            assert ours.dtype == theirs.dtype == np.float32 and np.array_equal(ours, theirs)
    assert np.array_equal(data.mean_pixel, mean_pixel)
    content = path.read_bytes()
    assert data.sha256 == hashlib.sha256(content).hexdigest() and data.md5 == hashlib.md5(content).hexdigest()


def leftovers(folder):
    """Hidden or partial files in `folder` (temp files of an atomic write)."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".part")]


@pytest.mark.parametrize("layout", ["new", "old"])
def test_written_once_then_reused(tmp_path, monkeypatch, layout):
    path = write_test_vgg(tmp_path / "vgg.mat", seed=3, layout=layout)
    first = read_weights(path)
    assert not first.from_cache and first.layout == layout
    same_as_loadmat(first, path)
    cache = cache_path(path)
    assert cache.name == "vgg.mat" + CACHE_SUFFIX and cache.is_file() and leftovers(tmp_path) == []
    with np.load(cache, allow_pickle=False) as data:  # no pickles: every entry loads with allow_pickle=False
        entries = {key: data[key] for key in data.files}
    assert entries["size"] == path.stat().st_size and entries["mtime_ns"] == path.stat().st_mtime_ns
    assert set(entries) == {"version", "size", "mtime_ns", "sha256", "md5", "layout", "mean_pixel"} | {
        f"{name}.{part}" for name in CONV_NAMES for part in "Wb"
    }
    stamp = cache.stat().st_mtime_ns
    monkeypatch.setenv(CRASH_HOOK, "1")  # a child reader would now crash: the second read must not start one
    second = read_weights(path)
    assert second.from_cache and cache.stat().st_mtime_ns == stamp
    same_as_loadmat(second, path)


def test_changed_file_invalidates_the_cache(tmp_path):
    path = write_test_vgg(tmp_path / "vgg.mat", seed=1)
    read_weights(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # same bytes, another time
    assert load_cache(cache_path(path), path) is None
    data = read_weights(path)
    assert not data.from_cache and read_weights(path).from_cache
    write_test_vgg(path, seed=2, widths=(4, 6, 8, 8, 10))  # another file (another size) under the same name
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # even with the cached mtime
    assert path.stat().st_size != stat.st_size
    changed = read_weights(path)
    assert not changed.from_cache and changed.weights["conv5_1"][0].shape == (3, 3, 8, 10)
    same_as_loadmat(changed, path)
    assert read_weights(path).from_cache


@pytest.mark.parametrize("damage", ["truncated", "flipped bytes", "empty", "not a zip", "wrong shapes", "NaN"])
def test_damaged_cache_is_ignored_and_rebuilt(tmp_path, damage):
    path = write_test_vgg(tmp_path / "vgg.mat", seed=5)
    read_weights(path)
    cache = cache_path(path)
    data = bytearray(cache.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped bytes":  # inside conv3_1's weights: the zip CRC no longer matches
        start = data.find(b"conv3_1.W.npy") + 200
        data[start : start + 8] = bytes(255 - v for v in data[start : start + 8])
    elif damage == "empty":
        data = b""
    elif damage == "not a zip":
        data = b"hello" * 100
    if damage in ("wrong shapes", "NaN"):  # a sound .npz with wrong content
        with np.load(cache, allow_pickle=False) as npz:
            entries = {key: npz[key] for key in npz.files}
        if damage == "wrong shapes":
            entries["conv2_1.W"] = entries["conv2_1.W"][:, :, :2]
        else:
            entries["conv1_1.b"][0] = np.nan
        with open(cache, "wb") as f:
            np.savez(f, **entries)
    else:
        cache.write_bytes(bytes(data))
    assert load_cache(cache, path) is None
    rebuilt = read_weights(path)
    assert not rebuilt.from_cache
    same_as_loadmat(rebuilt, path)
    assert load_cache(cache, path) is not None and leftovers(tmp_path) == []


def test_reader_crash_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    """The child reader killed by SIGSEGV (as scipy's C code does on some damaged files): NstError / exit 2 with
    one line, no cache, no temp file; the same file reads fine once the crash is gone."""
    path = write_test_vgg(tmp_path / "vgg.mat", seed=6)
    monkeypatch.setenv(CRASH_HOOK, "1")
    for cache in (True, False):
        with pytest.raises(NstError) as err:
            read_weights(path, cache=cache)
        text = str(err.value)
        assert "\n" not in text and str(path) in text, text
        assert "damaged: the MAT reader crashed (SIGSEGV)" in text and "download it again" in text, text
        assert sorted(p.name for p in tmp_path.iterdir()) == ["vgg.mat"]
    args = ["--weights", str(path), "--output-dir", str(tmp_path / "out"), "--no-download", "--iterations", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nst: error: the weights file") and "SIGSEGV" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vgg.mat"]  # not even an empty output folder
    monkeypatch.delenv(CRASH_HOOK)
    same_as_loadmat(read_weights(path), path)


def test_child_reports_the_readers_own_errors(tmp_path):
    """A file the reader refuses: the child's one-line NstError reaches the caller unchanged."""
    (tmp_path / "random.mat").write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(NstError) as err:
        read_weights(tmp_path / "random.mat")
    assert str(err.value).startswith(f"weights file {tmp_path / 'random.mat'} is not a readable MATLAB .mat file")
    assert "\n" not in str(err.value) and sorted(p.name for p in tmp_path.iterdir()) == ["random.mat"]


def test_read_only_folder_reads_without_a_cache(tmp_path):
    folder = tmp_path / "ro"
    unmount = tmpfs(folder, "size=1m")
    try:
        path = write_test_vgg(folder / "vgg.mat", seed=7)
        remount = subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True)
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remount.stderr.decode().strip()}")
        for _ in range(2):
            data = read_weights(path)
            assert not data.from_cache
            same_as_loadmat(data, path)
        assert sorted(p.name for p in folder.iterdir()) == ["vgg.mat"]
    finally:
        unmount()


def test_no_cache_option(tmp_path, small_vgg):
    """--no-cache / Config(weights_cache=False): a whole run reads the file in a child and writes no cache."""
    import imageio.v3 as iio

    from nst.commands.cli import build_parser, config_from_args
    from nst.commands.run import style_transfer

    assert config_from_args(build_parser().parse_args(["--no-cache"])).weights_cache is False
    assert Config().weights_cache is True
    path = tmp_path / "vgg.mat"
    path.write_bytes(small_vgg.read_bytes())
    rng = np.random.default_rng(0)
    iio.imwrite(tmp_path / "c.png", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    cfg = Config(
        content=tmp_path / "c.png",
        style=tmp_path / "c.png",
        weights=path,
        width=16,
        height=12,
        iterations=1,
        output_dir=tmp_path / "out",
        progress=False,
        download=False,
        weights_cache=False,
    )
    style_transfer(cfg)
    assert not cache_path(path).exists() and leftovers(tmp_path) == []
    import json

    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["weights"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["parameters"]["weights_cache"] is False


def test_child_runs_without_tensorflow(tmp_path):
    """The child imports the reader, not TensorFlow (which would cost seconds on every first read)."""
    code = "import sys, nst.weights.cache; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# A real damaged file: the small test file (write_test_vgg(seed=0), whose bytes after the 128-byte header are
# fixed) with byte 53697 set to 59. scipy 1.17.1's reader crashes on it in about two runs of three, and raises
# ZeroDivisionError otherwise (it reads memory it has not set): SIGSEGV on AMD EPYCs, SIGBUS seen on an Intel Xeon,
# so any fatal signal is accepted. Found by flipping random bytes.
CRASHING_BYTE, CRASHING_VALUE = 53697, 59
BASE_SHA256 = "81651ebc70e49c2a5a5152df488f396ec68262e2e8e5aee3739e3583f367c6d3"


def test_a_file_that_really_crashes_scipy(tmp_path):
    """Whichever way scipy fails on it (a segfault or an exception), every read is one NstError line and leaves
    nothing behind; in this process the same read would have killed the test run when it segfaults."""
    path = write_test_vgg(tmp_path / "vgg.mat", seed=0)
    data = bytearray(path.read_bytes())
    if hashlib.sha256(bytes(data[128:])).hexdigest() != BASE_SHA256:
        pytest.skip("scipy.io.savemat writes this file differently here: the known crashing byte does not apply")
    data[CRASHING_BYTE] = CRASHING_VALUE
    path.write_bytes(bytes(data))
    for _ in range(3):
        with pytest.raises(NstError) as err:
            read_weights(path)
        text = str(err.value)
        assert "\n" not in text and str(path) in text and "download" in text, text
        assert (
            re.search(r"the MAT reader crashed \(SIG[A-Z]+\)", text) or "is not a readable MATLAB .mat file" in text
        ), text
        assert sorted(p.name for p in tmp_path.iterdir()) == ["vgg.mat"]
