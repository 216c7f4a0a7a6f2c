"""Atomic file output: write to a temp file beside the target, then rename over it."""

import contextlib
import os
import tempfile
from pathlib import Path

from nst.errors import NstError


def write_error(path, error):
    """The one-line NstError for an OSError while writing `path` (disk full, read-only folder, ...)."""
    reason = error.strerror or " ".join(str(error).split()) or type(error).__name__
    return NstError(f"cannot write {path} ({reason}): free some disk space or pass --output-dir to a writable folder; "
                    "the files written before are intact")


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
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise


def write_text_atomic(path, text):
    """Write `text` to `path` atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
