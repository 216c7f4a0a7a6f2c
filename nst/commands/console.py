"""What every `nst` command shares: TensorFlow imported without start-up noise, bad input as one line and exit 2."""

import importlib.abc
import os
import sys

from nst.errors import NstError


def import_tensorflow_quietly():
    """Import TensorFlow and initialise its devices (GPU memory growth on first) with stderr muted at the
    file-descriptor level.

    TF's C++ start-up lines (absl, CUDA probing) ignore TF_CPP_MIN_LOG_LEVEL; muting them keeps an error
    message the one line on stderr. A failing import is re-raised after stderr is restored. Keras is not
    imported with it (SkipKerasImport).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    skip_keras = SkipKerasImport()
    sys.meta_path.insert(0, skip_keras)
    try:
        import tensorflow as tf

        from nst.engine.device import enable_memory_growth

        enable_memory_growth(tf, tf.config.list_physical_devices("GPU"))  # before the first tensor
        tf.constant(0.0).numpy()
    finally:
        sys.meta_path.remove(skip_keras)
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class SkipKerasImport(importlib.abc.MetaPathFinder):
    """While TensorFlow imports: refuse `keras.src.optimizers`, which TF's __init__ imports at its end (in a
    try/except ImportError) only to register Keras's optimizers for SavedModels. That import pulls in all of Keras
    and matplotlib.pyplot, CPU time and memory a run never uses (measured: docs/benchmarks/startup.md). Taken
    off sys.meta_path after the import: `tf.keras` and `import keras` work as usual later."""

    def find_spec(self, name, path=None, target=None):
        if name == "keras.src.optimizers":
            raise ImportError("not imported with TensorFlow by nst")
        return None


def run_command(command, debug=False, tensorflow=True, on_error=None):
    """Run `command()` as a subcommand's body: returns its exit code (None counts as 0); an NstError is printed
    as `nst: error: ...` on stderr (and its message given to `on_error`) and gives 2 (with debug=True it is
    raised, traceback and all). With tensorflow=True (and not debug) TensorFlow is imported quietly first."""
    try:
        if tensorflow and not debug:
            import_tensorflow_quietly()
        code = command()
    except NstError as exc:
        if debug:
            raise
        print(f"nst: error: {exc}", file=sys.stderr)
        if on_error is not None:
            on_error(str(exc))
        return 2
    return 0 if code is None else code
