"""Output files: atomic writes (a temp file beside the target, renamed over it) into a checked output folder."""

import contextlib
import os
import tempfile
from pathlib import Path

from nst.errors import NstError


def write_error(path, error):
    """The one-line NstError for an OSError while writing `path` (disk full, read-only folder, ...)."""
    reason = error.strerror or " ".join(str(error).split()) or type(error).__name__
    return NstError(
        f"cannot write {path} ({reason}): free some disk space or pass --output-dir to a writable folder; "
        "the files written before are intact"
    )


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temp path in the target's folder (same suffix); on success rename it to `path`.

    On any error the temp file is removed, so nothing half-written is left under either name; an OSError
    (disk full, read-only or missing folder) becomes a one-line NstError naming `path`.
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())  # an ordinary file's mode, not mkstemp's private 0600
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise


def current_umask():
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path, text):
    """Write `text` to `path` atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def check_output_dir(path):
    """NstError when the output folder could not be made or written: it is a file, or it (or, while it does not
    exist yet, the nearest folder above it) cannot be written. Creates nothing."""
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise NstError(f"output folder {path} is a file: pass --output-dir to a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise NstError(f"cannot create output folder {path}: {existing} is a file; pass --output-dir to a folder")
    try:  # a real write (permission bits do not stop root; a read-only mount or quota does)
        fd, probe = tempfile.mkstemp(prefix=".nst-write-test.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        if existing == path:
            raise NstError(
                f"output folder {path} is not writable ({exc.strerror}): pass --output-dir to a writable folder"
            ) from None
        raise NstError(
            f"cannot create output folder {path}: {existing} is not writable ({exc.strerror}); pass "
            "--output-dir to a writable folder"
        ) from None
    return path


def prepare_output_dir(path):
    """Create the output folder (and parents); NstError if it is a file or cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NstError(f"output folder {path} is a file: pass --output-dir to a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NstError(
            f"cannot create output folder {path} ({exc.strerror}): pass --output-dir to a writable folder"
        ) from None
    try:  # a real write (permission bits do not stop root; a read-only mount or quota does)
        fd, probe = tempfile.mkstemp(prefix=".nst-write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise NstError(
            f"output folder {path} is not writable ({exc.strerror}): pass --output-dir to a writable folder"
        ) from None
    return path
