"""Command line: `python -m nst` / `nst`. Bad input ends in one line on stderr and exit code 2.

The run's flags are made from the settings table (nst.settings): each Config field's flag, help, type and
default are written there once. `nst NAME ...` runs a subcommand (SUBCOMMANDS) with a parser of its own.
"""

import argparse
import dataclasses
import signal
import sys
import threading
from pathlib import Path

from nst.settings import GROUPS, Config, settings

SUBCOMMANDS = {
    # name: (module, function taking the arguments after the name and returning the exit code, what it does)
    "compare": (
        "nst.commands.compare",
        "compare_main",
        "a generated image against a reference output, or two cost curves",
    ),
    "studio": ("nst.studio.app", "studio_main", "a local web page to paint a portrait and watch it happen"),
    "teach": ("nst.teaching.student", "teach_main", "the student version of a homework notebook"),
    "grade": ("nst.teaching.grader", "grade_main", "grade homework notebooks, function by function"),
    "check-weights": (
        "nst.weights.check",
        "check_weights_main",
        "prove a VGG-19 (or VGG-16) weights file, settle its kernel layout",
    ),
}
"""`nst NAME ...`: subcommands with parsers of their own; anything else is a style transfer run."""


class OneOrMany(argparse.Action):
    """nargs="+" that stores one value as itself and several as a list (so `--style A.jpg` stays a path)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values[0] if len(values) == 1 else list(values))


def build_parser():
    """The run's parser: one flag per Config field (nst.settings), grouped as GROUPS; only the flags given land in
    the namespace (argparse.SUPPRESS), so the given ones are known without parsing twice."""
    p = argparse.ArgumentParser(
        prog="nst",
        description="Neural style transfer as in the deeplearning.ai homework (Gatys et al. 2015) on TensorFlow 2.\n"
        "With no arguments: the demo (Grace Hopper painted in the style of images/swirls.jpg).",
        epilog="other commands (each has its own --help):\n"
        + "\n".join(f"  nst {name:<14} {what}" for name, (_, _, what) in SUBCOMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    groups = {key: p if title is None else p.add_argument_group(title) for key, title in GROUPS.items()}
    defaults = Config()
    for name, spec in settings().items():
        default = getattr(defaults, name)
        kwargs = {"dest": name, "help": spec.help}
        if isinstance(default, bool):
            kwargs["action"] = "store_false" if default else "store_true"
        else:
            kwargs.update(type=spec.parse or str, metavar=spec.metavar)
            if spec.choices:
                kwargs.update(choices=spec.choices, metavar=None)
            if spec.nargs:
                kwargs.update(nargs=spec.nargs, action=OneOrMany if name == "style" else "store")
            if name != "iterations" and default is not None and "default:" not in spec.help:
                kwargs["help"] = f"{spec.help} (default: {shown_default(default)})"
        groups[spec.group].add_argument(spec.flag, **kwargs)
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    return p


def shown_default(value):
    """A default as --help shows it."""
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return ",".join(f"{layer}:{weight:g}" for layer, weight in value)
    return value


def parse_run(argv):
    """(Config, the names of the fields given on the command line, --debug) from the run's arguments."""
    given = vars(build_parser().parse_args(argv))
    debug = given.pop("debug", False)
    return Config(**given), set(given), debug


def config_from_args(args):
    """A Config from a namespace of build_parser (the fields given; the others default)."""
    names = {field.name for field in dataclasses.fields(Config)}
    return Config(**{name: value for name, value in vars(args).items() if name in names})


def run_subcommand(name, argv):
    """Import and run subcommand `name` with `argv`; returns its exit code."""
    import importlib

    module, function, _ = SUBCOMMANDS[name]
    return getattr(importlib.import_module(module), function)(argv)


def main(argv=None, models=None, on_event=None):
    """`nst ...`; returns the exit code. `models`: a dict kept between runs in one process (the studio's painter:
    the network is built once, see nst.commands.run.load_model). `on_event`: a function of each of the run's
    events (nst.engine.events) and, last, of how it ended, an nst.engine.events.Ended (the studio's event log)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in SUBCOMMANDS:
        return run_subcommand(argv[0], argv[1:])
    from nst.commands.console import run_command
    from nst.commands.interrupt import raise_keyboard_interrupt
    from nst.engine.events import Ended
    from nst.errors import NstError, RunInterrupted

    tell = on_event or (lambda event: None)
    try:
        cfg, given, debug = parse_run(argv)
    except NstError as exc:  # a value Config cannot even hold (--style-layers conv1_1:lots)
        if "--debug" in argv:
            raise
        print(f"nst: error: {exc}", file=sys.stderr)
        tell(Ended("failed", str(exc)))
        return 2

    out = Path(cfg.resume if cfg.resume is not None else cfg.output_dir)
    installed = threading.current_thread() is threading.main_thread()
    if installed:  # SIGTERM ends like Ctrl-C: saved state, exit 130
        previous = signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    prepared = []

    def prepare():  # bad input is reported (and the weights downloaded) before TensorFlow's import
        from tqdm import tqdm

        from nst.commands.inputs import prepare_run

        prepared.append(prepare_run(cfg, given, log=tqdm.write))

    def run():
        from nst.engine.memory import give_back_freed_memory
        from nst.settings import evaluated_in_tiles

        if evaluated_in_tiles(prepared[0][0]):  # before TensorFlow starts, which is when it takes effect
            give_back_freed_memory()
        import tensorflow as tf

        from nst.commands.run import style_transfer

        try:
            style_transfer(cfg, prepared=prepared[0], models=models, on_event=on_event)
        except (MemoryError, tf.errors.ResourceExhaustedError):
            raise NstError("not enough memory for a run at this size: pass a smaller --width and --height") from None

    try:

        def failed(message):
            tell(Ended("failed", message))

        code = run_command(prepare, debug=debug, tensorflow=False, on_error=failed) or run_command(
            run, debug=debug, on_error=failed
        )
        if code:
            return 2
    except RunInterrupted as exc:
        print(f"nst: {exc}", file=sys.stderr)
        tell(Ended("stopped", str(exc), resumable=True))
        return 130
    except KeyboardInterrupt:
        if debug:
            raise
        if (out / "checkpoint.npz").is_file():
            message = f"interrupted; what was saved so far is in {out}"
        else:
            message = "interrupted before the first step; nothing was saved"
        print(f"nst: {message}", file=sys.stderr)
        tell(Ended("stopped", message, resumable=(out / "checkpoint.npz").is_file()))
        return 130
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    print(f"Done: {out / 'generated_image.jpg'}")
    tell(Ended("finished", f"Done: {out / 'generated_image.jpg'}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
