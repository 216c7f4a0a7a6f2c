"""Atomic file output: write to a temp file beside the target, then rename over it."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temp path in the target's folder (same suffix); on success rename it to `path`.

    On any error the temp file is removed, so nothing half-written is left under either name.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path, text):
    """Write `text` to `path` atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
