"""`--resume DIR`: the run a checkpoint continues, with the settings it may change, and whether it can go on.

A resumed run has the settings of the run it continues (the checkpoint's Config); of the settings a user gives,
those whose Setting says resume="may change" (nst.settings) replace the run's, the others must equal the run's.
"""

import dataclasses
from pathlib import Path

from nst.errors import NstError
from nst.settings import INIT_KEYWORDS, Config, parse_style_layers, scale_iterations, settings, style_paths
from nst.sinks.checkpoint import checkpoint_progress, load_checkpoint


def resumed_config(cfg, given=None):
    """The Config of `--resume DIR` (cfg.resume): the checkpoint's, with output_dir = DIR and the settings that may
    change set from `cfg`.

    `given`: the names of the Config fields the user set (the command line's flags); None (from Python): the
    fields that differ from the Config defaults. Repeating the run's own values is fine; a given setting whose
    value differs from the run's is refused, NstError naming each flag with both values. Paths compare as
    absolute paths, and `output_dir` may name DIR. NstError too if nothing is left to do."""
    checkpoint, stored = load_checkpoint(cfg.resume)
    table = settings()
    defaults = Config()
    if given is None:
        given = {name for name in table if getattr(cfg, name) != getattr(defaults, name)}
    folder = Path(cfg.resume)
    differing = []
    for name, spec in table.items():
        if name not in given or spec.resume != "same":
            continue
        run_value = folder if name == "output_dir" else getattr(stored, name)
        if comparable(name, getattr(cfg, name)) != comparable(name, run_value):
            differing.append((name, getattr(cfg, name), run_value))
    may_change = [name for name, spec in table.items() if spec.resume == "may change"]
    if differing:
        flags = ", ".join(table[name].flag for name, _, _ in differing)
        details = ", ".join(difference(*item) for item in differing)
        raise NstError(
            f"--resume {cfg.resume} continues the run with its own settings, and these differ from them: "
            f"{details}; drop {flags} or give the run's values (only "
            f"{', '.join(table[name].flag for name in may_change)} may change)"
        )
    overrides = {name: getattr(cfg, name) for name in may_change if name in given}
    resumed = dataclasses.replace(stored, output_dir=folder, resume=folder, **overrides)
    left = work_left(checkpoint.scale, len(checkpoint.history), resumed)
    if left is not None:
        raise NstError(f"the run in {cfg.resume} {left}")
    return resumed


def work_left(scale, done, cfg):
    """None when the run `cfg` has steps left after `done` steps of scale `scale`; else why not ("has already done
    40 of its 40 steps; pass --iterations N with N > 40 to continue it")."""
    budgets = scale_iterations(cfg)
    if scale >= len(budgets) - 1 and done >= budgets[-1]:
        what = "steps" if cfg.optimizer == "adam" else "iterations"
        if len(budgets) > 1 and cfg.scales is None:
            return (
                f"has already done {done} of the {budgets[-1]} {what} of its last scale; pass a larger "
                f"--iterations (now {cfg.iterations}) to continue it"
            )
        return (
            f"has already done {done} of its {cfg.iterations} {what}; pass --iterations N with N > {done} "
            "to continue it"
        )
    return None


def resume_refusal(folder):
    """None when the run in `folder` can be resumed (a checkpoint with steps left); else why not, one line."""
    try:
        scale, done, cfg = checkpoint_progress(folder)
    except NstError as exc:
        return str(exc)
    left = work_left(scale, done, cfg)
    return None if left is None else f"the run {left}"


def comparable(name, value):
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


def difference(name, value, run_value):
    """`--width 80 (the run has 64)`: a given setting against the run's, in words."""
    spec = settings()[name]
    if name == "output_dir":
        return f"--output-dir {value} (the run is in {run_value})"
    if isinstance(value, bool):
        default = Config.__dataclass_fields__[name].default
        return f"{spec.flag} (the run was without it)" if value != default else f"no {spec.flag} (the run had it)"
    return f"{spec.flag} {shown(name, value)} (the run has {shown(name, run_value)})"


def shown(name, value):
    if value is None:
        return "none" if name != "seed" else "none (a random seed)"
    if name == "style_layers" and not isinstance(value, str):
        return ",".join(f"{layer}:{weight:g}" for layer, weight in value)
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)
