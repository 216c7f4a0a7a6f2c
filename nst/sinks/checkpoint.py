"""Checkpoints for `--resume`: `<output_dir>/checkpoint.npz`, written atomically at every save point and at a stop.

Contents (numpy .npz, no pickles; read with np.load(allow_pickle=False)):
    version      () int        CHECKPOINT_VERSION (1: an older run's, read as scale 0 of an Adam run)
    scale        () int        the scale of coarse-to-fine the state belongs to (0 for a one-scale run)
    step         () int        k: the image and the optimiser's state are those after step k of that scale
    evaluations  () int        cost evaluations spent in the scale (Adam: k + 1)
    image        (1, H, W, 3)  float32, normalized
    m, v         (1, H, W, 3)  float32, Adam's moments (absent for L-BFGS, which continues from the image alone)
    beta1_power, beta2_power  () float32, beta^(k+1) as TF1 keeps them (Adam)
    history      (n, 4)        float64 rows (iteration, J, J_content, J_style) of the scale; n = k (the costs of
                               step k come from the next forward pass) or k + 1
    config       () str        the run's Config as JSON
"""

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np

from nst.engine.events import Checkpoint
from nst.errors import NstError
from nst.files import atomic_path
from nst.settings import Config, parse_style_layers

CHECKPOINT = "checkpoint.npz"
CHECKPOINT_VERSION = 2
PATH_FIELDS = ("content", "style", "weights", "output_dir", "resume")
ADAM_KEYS = ("m", "v", "beta1_power", "beta2_power")


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
            value = (
                parse_style_layers(value)
                if isinstance(value, str)
                else tuple((str(layer), float(weight)) for layer, weight in value)
            )
        elif isinstance(value, list):
            value = tuple(value)
        fields[name] = value
    return Config(**fields)


def save_checkpoint(output_dir, cfg, checkpoint):
    """Write <output_dir>/checkpoint.npz atomically: the Checkpoint (nst.engine.events) of the run `cfg`."""
    arrays = {
        "version": np.array(CHECKPOINT_VERSION),
        "scale": np.array(int(checkpoint.scale)),
        "step": np.array(int(checkpoint.step)),
        "evaluations": np.array(int(checkpoint.evaluations)),
        "image": np.asarray(checkpoint.image, dtype=np.float32),
        "history": np.array([row for row in checkpoint.history], dtype=np.float64).reshape(-1, 4),
        "config": np.array(config_to_json(dataclasses.replace(cfg, resume=None))),
    }
    if checkpoint.adam is not None:
        arrays.update({key: np.asarray(checkpoint.adam[key], dtype=np.float32) for key in ADAM_KEYS})
    path = Path(output_dir) / CHECKPOINT
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def load_checkpoint(output_dir):
    """Read and check <output_dir>/checkpoint.npz -> (Checkpoint, the run's Config). NstError (one line) when
    missing or damaged."""
    path = Path(output_dir) / CHECKPOINT
    if not Path(output_dir).is_dir():
        raise NstError(f"--resume {output_dir}: no such folder; pass the --output-dir of the run to continue")
    if not path.is_file():
        raise NstError(
            f"--resume {output_dir}: there is no {CHECKPOINT} in it (one is written at every save point); "
            "pass the --output-dir of an earlier run, or start a new run"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {key: data[key] for key in data.files}
        checkpoint, cfg = checkpoint_from_arrays(stored)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError, NstError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise NstError(f"checkpoint {path} is damaged ({reason}): delete it and start a new run") from None
    return checkpoint, cfg


def checkpoint_progress(output_dir):
    """(scale, steps done in it, the run's Config) of <output_dir>/checkpoint.npz, its images left unread (a
    print-size checkpoint holds hundreds of MB); NstError (one line) when missing or damaged."""
    path = Path(output_dir) / CHECKPOINT
    try:
        with np.load(path, allow_pickle=False) as data:
            version, history = int(data["version"]), data["history"]
            scale = int(data["scale"]) if version > 1 else 0
            cfg = config_from_json(str(data["config"]))
        if history.ndim != 2 or history.shape[1] != 4:
            raise ValueError(f"history of shape {history.shape}")
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError, NstError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise NstError(f"checkpoint {path} cannot be read ({reason})") from None
    return scale, len(history), cfg


def checkpoint_from_arrays(stored):
    """(Checkpoint, Config) from a checkpoint file's arrays; ValueError / KeyError when they do not fit."""
    version = int(stored["version"])
    if version not in (1, CHECKPOINT_VERSION):
        raise ValueError(f"version {version}, expected {CHECKPOINT_VERSION}")
    image, history = stored["image"], stored["history"]
    if image.ndim != 4 or image.shape[0] != 1 or image.shape[3] != 3:
        raise ValueError(f"image of shape {image.shape}")
    step = int(stored["step"])
    if history.ndim != 2 or history.shape[1] != 4 or len(history) not in (step, step + 1) or step < 0:
        raise ValueError(f"history of shape {history.shape} for step {step}")
    adam = None
    if version == 1 or "m" in stored:
        adam = {key: stored[key] for key in ADAM_KEYS}
        if adam["m"].shape != image.shape or adam["v"].shape != image.shape:
            raise ValueError("Adam moments of another shape than the image")
    scale = int(stored["scale"]) if version > 1 else 0
    evaluations = int(stored["evaluations"]) if version > 1 else step + 1
    if scale < 0 or evaluations < 0:
        raise ValueError(f"scale {scale}, evaluations {evaluations}")
    rows = tuple((int(i), float(J), float(Jc), float(Js)) for i, J, Jc, Js in history)
    cfg = config_from_json(str(stored["config"]))
    return Checkpoint(scale, step, image, adam, rows, evaluations), cfg
