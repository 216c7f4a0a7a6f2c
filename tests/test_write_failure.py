"""Write failures: a read-only output folder, a full disk (a real tiny tmpfs), a file-size limit.
Each ends in one clear line; the files written before stay whole; no temp file is left behind."""

import ast
import csv
import resource
import signal
import subprocess
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

import nst
from nst.commands.cli import main
from nst.commands.run import style_transfer
from nst.errors import NstError
from nst.settings import Config
from nst.sinks.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(5)
    iio.imwrite(folder / "photo.png", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    iio.imwrite(folder / "painting.png", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    return folder / "photo.png", folder / "painting.png"


def run_args(small_vgg, pictures, out, iterations=60):
    return [
        str(a)
        for a in (
            "--content",
            pictures[0],
            "--style",
            pictures[1],
            "--weights",
            small_vgg,
            "--width",
            32,
            "--height",
            24,
            "--iterations",
            iterations,
            "--save-every",
            1,
            "--seed",
            0,
            "--output-dir",
            out,
            "--no-progress",
            "--no-download",
        )
    ]


def tmpfs(path, options):
    """Mount a real tmpfs at `path` (needs root and mount rights, else the test is skipped); returns an unmounter."""
    path.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    return lambda: subprocess.run(["umount", "-l", str(path)], check=False)


def assert_outputs_whole(out):
    """Every file in `out` is complete: images decode, costs.csv parses with consecutive steps, the checkpoint
    loads; no temp file is left."""
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.startswith(".")], names
    pngs = [n for n in names if n.endswith(".png")]
    assert pngs, names
    for name in pngs:
        assert iio.imread(out / name).shape == (24, 32, 3)
    with open(out / "costs.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["iteration", "total", "content", "style"]
    assert [int(r[0]) for r in rows[1:]] == list(range(len(rows) - 1)) and len(rows) > 1
    if "checkpoint.npz" in names:
        ckpt, _ = load_checkpoint(out)
        assert ckpt.image.shape == (1, 24, 32, 3)
    return names


def test_read_only_output_folder(small_vgg, pictures, tmp_path, capsys):
    ro = tmp_path / "ro"
    unmount = tmpfs(ro, "ro,size=64k")
    try:
        for out, words in (
            (ro, ["output folder", "is not writable (Read-only file system)", "--output-dir"]),
            (ro / "sub", ["cannot create output folder", "Read-only file system", "--output-dir"]),
        ):
            assert main(run_args(small_vgg, pictures, out)) == 2
            err = capsys.readouterr().err
            assert len(err.strip().splitlines()) == 1 and all(w in err for w in words) and str(out) in err, err
            with pytest.raises(NstError, match="Read-only file system"):
                style_transfer(
                    Config(
                        content=pictures[0],
                        style=pictures[1],
                        weights=small_vgg,
                        width=32,
                        height=24,
                        iterations=2,
                        output_dir=out,
                        progress=False,
                    )
                )
        assert list(ro.iterdir()) == []
    finally:
        unmount()


def test_disk_full_midway(small_vgg, pictures, tmp_path, capsys):
    disk = tmp_path / "disk"
    unmount = tmpfs(disk, "size=96k")
    try:
        assert main(run_args(small_vgg, pictures, disk, iterations=200)) == 2
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "No space left on device" in lines[0] and "cannot write" in lines[0], err
        assert "files written before are intact" in lines[0] and "Traceback" not in err
        names = assert_outputs_whole(disk)
        assert "generated_image.jpg" not in names and len(names) > 3
    finally:
        unmount()


def test_file_size_limit_python_api(small_vgg, pictures, tmp_path):
    """RLIMIT_FSIZE (no mount needed): the 28 kB checkpoint cannot be written, the smaller files before it can."""
    out = tmp_path / "out"
    cfg = Config(
        content=pictures[0],
        style=pictures[1],
        weights=small_vgg,
        width=32,
        height=24,
        iterations=5,
        save_every=1,
        seed=0,
        output_dir=out,
        progress=False,
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16_000, hard))
    try:
        with pytest.raises(NstError) as info:
            style_transfer(cfg)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    message = str(info.value)
    assert "\n" not in message and "checkpoint.npz" in message and "File too large" in message, message
    assert assert_outputs_whole(out) == ["0.png", "costs.csv"]


WRITERS = {"imwrite", "savefig", "write_text", "write_bytes", "savez", "savez_compressed", "save", "dump", "savemat"}


def test_every_output_goes_through_atomic_path():
    """Source check: each call that writes a file in nst/ (imwrite, savefig, savez, write_text, ...) sits inside
    a `with atomic_path(...)` block, or is an allowed exception (testnet writes test files; the weights download
    renames its own .part file after checking it; the weights cache's child process writes a temp file that the
    parent renames after checking it, or deletes, even when the child crashed; the grader's sandbox writes only
    into its own temporary folder, removed after grading; the harness packs .npz bytes in memory)."""
    allowed = {
        "weights/testnet.py",
        "files.py",
        "weights/download.py",
        "weights/cache.py",
        "teaching/sandbox.py",
        "teaching/harness.py",
    }
    offenders = []
    package = Path(nst.__file__).parent
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).as_posix() in allowed:
            continue
        tree = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITERS):
                continue
            ancestor, atomic = node, False
            while ancestor in parents and not atomic:
                ancestor = parents[ancestor]
                atomic = isinstance(ancestor, ast.With) and any(
                    "atomic_path" in ast.unparse(item.context_expr) for item in ancestor.items
                )
            if not atomic:
                offenders.append(f"{path.name}:{node.lineno} {ast.unparse(node.func)}")
    assert offenders == []


def test_atomic_writes_get_an_ordinary_file_mode(tmp_path):
    """A file written atomically is readable by others as any file the user writes (the umask's mode), not left
    private like the temp file it started as (mkstemp's 0600): a teacher's grades.csv, a run's images."""
    import os

    from nst.files import atomic_path, write_text_atomic

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "grades.csv", "a,b\n")
        with atomic_path(tmp_path / "image.png") as tmp:
            tmp.write_bytes(b"png")
        os.umask(0o077)
        write_text_atomic(tmp_path / "private.txt", "x")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"grades.csv": 0o644, "image.png": 0o644, "private.txt": 0o600}
