"""Read a weights file once, safely: scipy's MAT reader in a child process, the conv weights cached beside the file.

The first time a weights file is used, `python -m nst.weights.cache WEIGHTS OUT` runs as a child process: it reads
WEIGHTS with `scipy.io.loadmat` and checks it (nst.weights.matconvnet.read_vgg_weights, the homework's reader), takes its
MD5 and SHA-256 (in a thread, while loadmat runs) and writes OUT, an .npz without pickles:

    version              () int     CACHE_VERSION
    size, mtime_ns       () int     the weights file's identity (os.stat) when it was read
    sha256, md5          () str     its digests
    layout               () str     "new" or "old" MatConvNet layout
    mean_pixel           (3,)       float32
    conv1_1.W, ...       float32    W (3, 3, C_in, C_out) and b (C_out,) of each conv layer (conv1_1 ... conv5_4 of
                                    VGG-19, or conv1_1 ... conv5_3 of VGG-16), as loadmat gave them

scipy's C code can crash the process (a segmentation fault) on some damaged files; in the child that is a
signal the parent turns into the usual one-line error. OUT is a temp file beside `<weights>.cache.npz`, renamed
to that name by the parent only after the child succeeded and the parent has read it back, so a crash leaves
nothing behind. Later runs read the cache (80 MB of the real file's 510 MB: no classifier, no loadmat, no
hashing) when the file's size and mtime still match it; otherwise, or when the cache is damaged, the file is
read again the first way and the cache rebuilt. An .npz is a zip archive, which NumPy cannot memory-map; reading
the 80 MB takes a fraction of a second and TF then holds the weights, so nothing would be gained by mapping.

When the folder cannot be written (a read-only mount, say), or with `--no-cache` (Config.weights_cache False),
the child writes into a temporary folder that is read and deleted at once: the same safe read, nothing kept.
"""

import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

import numpy as np

import nst
from nst.errors import NstError
from nst.weights.matconvnet import NETWORKS, conv_names, conv_weights_from_mat, file_layout, loadmat_checked

CACHE_VERSION = 1
CACHE_SUFFIX = ".cache.npz"
CRASH_HOOK = "NST_TEST_CRASH_WEIGHTS_READER"
"""Tests only: when this environment variable is set, the child kills itself with SIGSEGV where loadmat would
run (after the parent created the temp file), as scipy's reader does on some damaged files."""


@dataclasses.dataclass(frozen=True)
class WeightsData:
    """What a run needs from a weights file: conv weights {name: (W, b)} float32, the mean pixel (3,), the
    file's SHA-256 and MD5, its MatConvNet layout ("new"/"old") and whether it came from the cache."""

    weights: dict
    mean_pixel: np.ndarray
    sha256: str
    md5: str
    layout: str
    from_cache: bool


def cache_path(weights):
    """`<weights>.cache.npz` beside the weights file."""
    weights = Path(weights)
    return weights.with_name(weights.name + CACHE_SUFFIX)


def read_weights(path, cache=True):
    """The conv weights, mean pixel and digests of MatConvNet VGG file `path` (VGG-19 or VGG-16), read once and safely.

    cache=True: from `<path>.cache.npz` when it matches the file (size, mtime); else read in a child process
    and the cache (re)written beside the file (or nothing kept where the folder cannot be written).
    cache=False: read in a child process, nothing read from or written to the cache.
    Raises NstError (one line) for a file that is missing, unreadable, not VGG-19, or crashes the reader.
    """
    path = Path(path)
    if not path.exists():
        raise NstError(f"weights file {path} does not exist: pass --weights FILE or let nst download it")
    if path.is_dir():
        raise NstError(f"weights file {path} is a directory, not a MatConvNet .mat file: pass --weights FILE")
    target = cache_path(path)
    if cache:
        cached = load_cache(target, path)
        if cached is not None:
            return cached
        try:
            return _read_into_cache(path, target)
        except (OSError, CacheNotWritten):  # a folder that cannot be written, a full disk: read safely, keep nothing
            pass
    try:
        folder = tempfile.TemporaryDirectory(prefix="nst-weights-")
    except OSError as exc:
        raise NstError(
            f"cannot read the weights file {path}: no temporary folder ({exc.strerror or exc}); "
            "set TMPDIR to a writable folder"
        ) from None
    with folder:
        out = Path(folder.name) / target.name
        try:
            _read_in_child(path, out)
        except CacheNotWritten as exc:
            raise NstError(
                f"cannot read the weights file {path}: {exc}; free some disk space or set TMPDIR "
                "to a folder with room for 80 MB"
            ) from None
        return _checked_cache(out, path, identity=False)


def _read_into_cache(path, target):
    """Read `path` in a child process into a temp file beside `target`, check it, rename it to `target`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        os.chmod(tmp, 0o644)  # as readable as the weights file beside it, not mkstemp's 0600
        _read_in_child(path, tmp)
        data = _checked_cache(tmp, path, identity=False)
        os.replace(tmp, target)
        return data
    finally:
        tmp.unlink(missing_ok=True)


def load_cache(cache, weights):
    """WeightsData from `cache` when it is a sound cache of `weights` as the file is now; else None."""
    try:
        return _checked_cache(cache, weights, identity=True)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None


def _checked_cache(cache, weights, identity):
    """Read and check a cache file (raises on anything wrong); identity=True: also its size/mtime vs `weights`."""
    with np.load(cache, allow_pickle=False) as data:
        if int(data["version"]) != CACHE_VERSION:
            raise ValueError("another cache version")
        if identity:
            stat = os.stat(weights)
            if (int(data["size"]), int(data["mtime_ns"])) != (stat.st_size, stat.st_mtime_ns):
                raise ValueError("the weights file has changed")
        weights_dict = {}
        c_in = 3
        network = "VGG-19" if "conv5_4.W" in data.files else "VGG-16"
        for name in conv_names(NETWORKS[network]):
            W, b = data[f"{name}.W"], data[f"{name}.b"]
            if (
                W.dtype != np.float32
                or b.dtype != np.float32
                or W.ndim != 4
                or W.shape[:3] != (3, 3, c_in)
                or b.shape != (W.shape[3],)
                or not (np.all(np.isfinite(W)) and np.all(np.isfinite(b)))
            ):
                raise ValueError(f"{name} damaged")
            weights_dict[name] = (W, b)
            c_in = W.shape[3]
        mean_pixel = data["mean_pixel"]
        if mean_pixel.shape != (3,):
            raise ValueError("mean pixel damaged")
        return WeightsData(
            weights_dict,
            mean_pixel.astype(np.float32),
            str(data["sha256"]),
            str(data["md5"]),
            str(data["layout"]),
            from_cache=identity,
        )


def _read_in_child(weights, out):
    """Run `python -m nst.weights.cache weights out`; a failure or a crash becomes a one-line NstError."""
    env = dict(os.environ)
    package_parent = str(Path(nst.__file__).resolve().parent.parent)  # nst importable in the child as here
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "nst.weights.cache", str(weights), str(out)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if proc.returncode == 0:
        return
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    if proc.returncode == CACHE_NOT_WRITTEN:
        raise CacheNotWritten(lines[-1] if lines else str(out))
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        raise NstError(
            f"the weights file {weights} is damaged: the MAT reader crashed ({name}); delete it and download it again"
        )
    if proc.returncode == 2 and lines:
        raise NstError(lines[-1].removeprefix("nst: error: "))
    reason = lines[-1] if lines else f"exit code {proc.returncode}"
    raise NstError(f"the weights file {weights} could not be read ({reason}): delete it and download it again")


def write_cache(weights, out):
    """The child's work: read `weights` with loadmat (digests in a thread meanwhile) and write the cache `out`."""
    from nst.weights.download import file_digests

    weights = Path(weights)
    stat = os.stat(weights)
    digests = {}
    hasher = threading.Thread(target=lambda: digests.update(zip(("md5", "sha256"), file_digests(weights))))
    hasher.start()
    if os.environ.get(CRASH_HOOK):
        os.kill(os.getpid(), signal.SIGSEGV)
    mat = loadmat_checked(weights)
    conv, mean_pixel = conv_weights_from_mat(mat, weights)
    layout = file_layout(mat)
    del mat
    hasher.join()
    arrays = {f"{name}.{part}": array for name, (W, b) in conv.items() for part, array in (("W", W), ("b", b))}
    try:
        with open(out, "wb") as f:
            np.savez(
                f,
                version=np.array(CACHE_VERSION),
                size=np.array(stat.st_size),
                mtime_ns=np.array(stat.st_mtime_ns),
                sha256=np.array(digests["sha256"]),
                md5=np.array(digests["md5"]),
                layout=np.array(layout),
                mean_pixel=np.asarray(mean_pixel, np.float32),
                **arrays,
            )
    except OSError as exc:
        raise CacheNotWritten(f"cannot write {out} ({exc.strerror or exc})") from None


class CacheNotWritten(Exception):
    """The child read the file but could not write its output (a full disk): exit code CACHE_NOT_WRITTEN."""


CACHE_NOT_WRITTEN = 3


def main(argv=None):
    """`python -m nst.weights.cache WEIGHTS OUT`: exit 0, or 2 with `nst: error: ...` on stderr."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m nst.weights.cache WEIGHTS OUT", file=sys.stderr)
        return 1
    try:
        write_cache(*argv)
    except NstError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    except CacheNotWritten as exc:
        print(exc, file=sys.stderr)
        return CACHE_NOT_WRITTEN
    return 0


if __name__ == "__main__":
    sys.exit(main())
