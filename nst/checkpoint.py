"""Checkpoints for `--resume`: `<output_dir>/checkpoint.npz`, written atomically at every save point.

Contents (numpy .npz, no pickles; read with np.load(allow_pickle=False)):
    version      () int        CHECKPOINT_VERSION
    step         () int        k: the image and the Adam state are those after step k
    image        (1, H, W, 3)  float32, normalized
    m, v         (1, H, W, 3)  float32, Adam's moments
    beta1_power, beta2_power  () float32, beta^(k+1) as TF1 keeps them
    history      (n, 4)        float64 rows (iteration, J, J_content, J_style); n = k (the costs of step k come
                               from the next forward pass) or k + 1
    config       () str        the run's Config as JSON
"""

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np

from nst.config import Config, parse_style_layers, style_paths
from nst.errors import NstError
from nst.files import atomic_path
from nst.start_image import INIT_KEYWORDS

CHECKPOINT = "checkpoint.npz"
CHECKPOINT_VERSION = 1
PATH_FIELDS = ("content", "style", "weights", "output_dir", "resume")
RESUME_OVERRIDES = ("iterations", "progress", "download", "max_pixels", "weights_cache")
"""Fields a resumed run may change (the others come from the checkpoint and, when given, must equal it)."""


def config_to_json(cfg):
    """Config -> JSON text; input files as absolute paths (so a run resumes from any folder)."""
    fields = dataclasses.asdict(cfg)
    for name in ("content", "style", "weights", "init"):
        value = fields.get(name)
        if isinstance(value, (list, tuple)):
            fields[name] = [str(Path(p).absolute()) for p in value]
        elif value is not None and (name != "init" or Path(value).exists()):
            fields[name] = str(Path(value).absolute())
    return json.dumps(fields, default=str, sort_keys=True)


def config_from_json(text):
    """JSON text from config_to_json -> Config (unknown keys ignored, missing ones default)."""
    stored = json.loads(text)
    names = {field.name for field in dataclasses.fields(Config)}
    fields = {}
    for name, value in stored.items():
        if name not in names:
            continue
        if name in PATH_FIELDS and value is not None:
            value = [Path(p) for p in value] if isinstance(value, list) else Path(value)
        elif name == "style_layers":
            value = tuple((str(layer), float(weight)) for layer, weight in value)
        elif isinstance(value, list):
            value = tuple(value)
        fields[name] = value
    return Config(**fields)


def save_checkpoint(output_dir, cfg, image, state, step, history):
    """Write <output_dir>/checkpoint.npz atomically: `image` and Adam `state` after step `step`, `history`."""
    arrays = {
        "version": np.array(CHECKPOINT_VERSION),
        "step": np.array(int(step)),
        "image": _array(image),
        **{key: _array(state[key]) for key in ("m", "v", "beta1_power", "beta2_power")},
        "history": np.array([row for row in history], dtype=np.float64).reshape(-1, 4),
        "config": np.array(config_to_json(dataclasses.replace(cfg, resume=None))),
    }
    path = Path(output_dir) / CHECKPOINT
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def _array(value):
    """A tf.Variable / tensor / array as a float32 numpy array."""
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float32)


def load_checkpoint(output_dir):
    """Read and check <output_dir>/checkpoint.npz -> dict of the arrays above (config as Config, step as int,
    history as a list of (i, J, J_content, J_style)). NstError (one line) when missing or damaged."""
    path = Path(output_dir) / CHECKPOINT
    if not Path(output_dir).is_dir():
        raise NstError(f"--resume {output_dir}: no such folder; pass the --output-dir of the run to continue")
    if not path.is_file():
        raise NstError(f"--resume {output_dir}: there is no {CHECKPOINT} in it (one is written at every save point); "
                       "pass the --output-dir of an earlier run, or start a new run")
    keys = ("version", "step", "image", "m", "v", "beta1_power", "beta2_power", "history", "config")
    try:
        with np.load(path, allow_pickle=False) as data:
            ckpt = {key: data[key] for key in keys}
        if int(ckpt["version"]) != CHECKPOINT_VERSION:
            raise ValueError(f"version {int(ckpt['version'])}, expected {CHECKPOINT_VERSION}")
        image, history = ckpt["image"], ckpt["history"]
        if image.ndim != 4 or image.shape[0] != 1 or image.shape[3] != 3:
            raise ValueError(f"image of shape {image.shape}")
        if ckpt["m"].shape != image.shape or ckpt["v"].shape != image.shape:
            raise ValueError("Adam moments of another shape than the image")
        step = int(ckpt["step"])
        if history.ndim != 2 or history.shape[1] != 4 or len(history) not in (step, step + 1) or step < 0:
            raise ValueError(f"history of shape {history.shape} for step {step}")
        cfg = config_from_json(str(ckpt["config"]))
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise NstError(f"checkpoint {path} is damaged ({reason}): delete it and start a new run") from None
    ckpt.update(step=step, config=cfg,
                history=[(int(i), float(J), float(Jc), float(Js)) for i, J, Jc, Js in history])
    return ckpt


def resumed_config(cfg, given=None):
    """The Config of `--resume DIR`: the checkpoint's, with output_dir = DIR and the RESUME_OVERRIDES given.

    `given`: the names of the Config fields the user set (the command line's explicit flags); None (from Python):
    the fields that differ from the Config defaults. Repeating the run's own values is fine; a given field whose
    value differs from the run's is refused, NstError naming each flag with both values. Paths compare as
    absolute paths, and `output_dir` may name DIR. NstError too if nothing is left to do."""
    ckpt = load_checkpoint(cfg.resume)
    stored = ckpt["config"]
    defaults = Config()
    if given is None:
        given = {f.name for f in dataclasses.fields(Config) if getattr(cfg, f.name) != getattr(defaults, f.name)}
    folder = Path(cfg.resume)
    differing = []
    for f in dataclasses.fields(Config):
        name = f.name
        if name not in given or name in RESUME_OVERRIDES + ("resume",):
            continue
        run_value = folder if name == "output_dir" else getattr(stored, name)
        if _comparable(name, getattr(cfg, name)) != _comparable(name, run_value):
            differing.append((name, getattr(cfg, name), run_value))
    if differing:
        flags = ", ".join(_flag(name) for name, _, _ in differing)
        details = ", ".join(_difference(*item) for item in differing)
        may_change = ", ".join(_flag(name) for name in RESUME_OVERRIDES)
        raise NstError(f"--resume {cfg.resume} continues the run with its own settings, and these differ from them: "
                       f"{details}; drop {flags} or give the run's values (only {may_change} may change)")
    overrides = {name: getattr(cfg, name) for name in RESUME_OVERRIDES if name in given}
    resumed = dataclasses.replace(stored, output_dir=folder, resume=folder, **overrides)
    if resumed.optimizer != "adam" or resumed.scales != 1:
        raise NstError(f"--resume {cfg.resume}: only Adam runs with --scales 1 can be resumed; start the run again")
    done = len(ckpt["history"])
    if done >= resumed.iterations:
        raise NstError(f"the run in {cfg.resume} has already done {done} of its {resumed.iterations} steps; "
                       f"pass --iterations N with N > {done} to continue it")
    return resumed


def _comparable(name, value):
    """A Config field's value in a form that compares equal when it means the same run (paths absolute, ...)."""
    if value is None:
        return None
    if name == "style":
        return tuple(Path(p).resolve() for p in style_paths(value))
    if name in ("content", "weights", "output_dir") or (name == "init" and str(value) not in INIT_KEYWORDS):
        return Path(value).resolve()
    if name == "style_layers":
        layers = parse_style_layers(value) if isinstance(value, str) else value
        return tuple((str(layer), float(weight)) for layer, weight in layers)
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return value


def _flag(name):
    """The command-line flag of a Config field."""
    return {"progress": "--no-progress", "download": "--no-download"}.get(name, "--" + name.replace("_", "-"))


def _difference(name, value, run_value):
    """`--width 80 (the run has 64)`."""
    if name == "output_dir":
        return f"--output-dir {value} (the run is in {run_value})"
    if isinstance(value, bool):
        given = _flag(name) if value else "--no-" + _flag(name)[2:]
        return f"{given} (the run has it {'on' if run_value else 'off'})"
    return f"{_flag(name)} {_shown(name, value)} (the run has {_shown(name, run_value)})"


def _shown(name, value):
    if value is None:
        return "none" if name != "seed" else "none (a random seed)"
    if name == "style_layers" and not isinstance(value, str):
        return ",".join(f"{layer}:{weight:g}" for layer, weight in value)
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def restore_checkpoint(cfg, image, state):
    """For a resumed run (cfg.resume set): load the checkpoint into the tf.Variables `image` and `state`.

    Returns (first step to run, history so far, pending) where pending = (k, image after k or None) when the
    costs of the checkpoint's step k are still to come (model_nn's bookkeeping). A fresh run: (0, [], None).
    """
    if cfg.resume is None:
        return 0, [], None
    ckpt = load_checkpoint(cfg.resume)
    if tuple(ckpt["image"].shape) != tuple(image.shape):
        raise NstError(f"checkpoint in {cfg.resume} holds a {ckpt['image'].shape[2]}x{ckpt['image'].shape[1]} image, "
                       f"this run is {image.shape[2]}x{image.shape[1]}: resume with the run's own settings")
    image.assign(ckpt["image"])
    for key in ("m", "v", "beta1_power", "beta2_power"):
        state[key].assign(ckpt[key])
    k, history = ckpt["step"], ckpt["history"]
    pending = None
    if len(history) == k:
        pending = (k, ckpt["image"] if k % cfg.save_every == 0 else None)
    return k + 1, history, pending
