"""The settings table: the parser, the messages, the resume rule and the studio's form all come from it, and
every flag a message of a run names is a flag of `nst`."""

import ast
import dataclasses
import re

import pytest

from nst.commands.cli import build_parser, parse_run
from nst.commands.resume import difference
from nst.errors import NstError
from nst.settings import PACKAGE_ROOT, Config, check, settings, studio_settings

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def parser_flags(parser=None):
    return {option for action in (parser or build_parser())._actions for option in action.option_strings}


def test_every_config_field_has_one_flag_and_the_parser_has_them_all():
    table = settings()
    assert list(table) == [field.name for field in dataclasses.fields(Config)]
    flags = [spec.flag for spec in table.values()]
    assert len(set(flags)) == len(flags)
    assert set(flags) | {"--help", "-h", "--debug"} == parser_flags()


def test_the_parser_sets_each_field_from_its_flag_and_knows_which_were_given(tmp_path):
    cfg, given, debug = parse_run(
        [
            "--width",
            "64",
            "--no-cache",
            "--style",
            "a.jpg",
            "b.jpg",
            "--style-layers",
            "conv1_1:0.5,conv2_1",
            "--xla",
            "--debug",
        ]
    )
    assert given == {"width", "weights_cache", "style", "style_layers", "xla"} and debug
    assert (cfg.width, cfg.weights_cache, cfg.xla) == (64, False, True)
    assert [str(p) for p in cfg.style] == ["a.jpg", "b.jpg"]
    assert cfg.style_layers == (("conv1_1", 0.5), ("conv2_1", 1.0))
    assert parse_run([]) == (Config(), set(), False)


BAD_VALUES = {
    "iterations": 0,
    "width": -3,
    "height": 0,
    "noise_ratio": 2.0,
    "learning_rate": 0.0,
    "alpha": -1.0,
    "beta": float("inf"),
    "save_every": 0,
    "seed": -1,
    "content_layer": "conv9_9",
    "style_layers": (("conv1_1", -1.0),),
    "optimizer": "sgd",
    "tv_weight": -1.0,
    "style_blend": (-1.0,),
    "init": "",
    "style_scale": 0.0,
    "pooling": "min",
    "kernel_layout": "sideways",
    "scales": 0,
    "max_pixels": 3,
    "precision": "fp16",
    "max_memory": 10**6,
    "tile": 8,
}


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_a_bad_value_is_one_line_naming_its_own_flag(name):
    with pytest.raises(NstError) as info:
        check(Config(**{name: BAD_VALUES[name]}))
    message = str(info.value)
    assert message.startswith(settings()[name].flag) and "\n" not in message, message


def test_every_field_with_a_check_is_tried_above():
    checked = {name for name, spec in settings().items() if spec.check is not None}
    assert checked == set(BAD_VALUES)


def test_every_flag_a_message_of_a_run_names_exists():
    """The strings of the run's modules (the table, the commands, the sinks, the engine) and the resume messages
    name only flags `nst` has (a flag that drifted, such as a --weights-cache for --no-cache, fails here)."""
    from nst.commands.compare import build_compare_parser

    flags = parser_flags()
    own = {"compare.py": parser_flags(build_compare_parser())}  # a subcommand names its own flags too
    named = set()
    for folder in ("settings.py", "commands", "sinks", "engine", "optimize.py"):
        paths = (
            [PACKAGE_ROOT / "nst" / folder]
            if folder.endswith(".py")
            else sorted((PACKAGE_ROOT / "nst" / folder).glob("*.py"))
        )
        for path in paths:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    named |= {(path.name, flag) for flag in FLAG.findall(node.value)}
    for name, _spec in settings().items():
        value = getattr(Config(), name)
        other = (not value) if isinstance(value, bool) else "x"
        named |= {("resume", flag) for flag in FLAG.findall(difference(name, other, value))}
    unknown = sorted((where, flag) for where, flag in named if flag not in flags | own.get(where, set()))
    assert unknown == []
    assert ("resume", "--no-cache") in named


def test_the_studio_form_is_the_table_s_studio_settings():
    form = studio_settings()
    assert {name for name, spec in settings().items() if spec.studio} == set(form)
    assert form["iterations"] == (int, "--iterations") and form["preserve_colors"] == (bool, "--preserve-colors")
    assert form["alpha"] == (float, "--alpha") and form["optimizer"] == (str, "--optimizer")


def test_a_run_evaluated_in_tiles_is_told_before_tensorflow_starts():
    # the allocator that gives freed memory back is chosen before TensorFlow starts, from the memory model alone
    from nst.settings import Config, evaluated_in_tiles

    assert not evaluated_in_tiles(Config(width=400, height=300, max_memory=2**34))
    assert not evaluated_in_tiles(Config(width=1920, height=1080, max_memory=2**34))
    assert evaluated_in_tiles(Config(width=1920, height=1080, max_memory=3 * 10**9))
    assert evaluated_in_tiles(Config(width=3840, height=2160, max_memory=3 * 10**9))
    assert evaluated_in_tiles(Config(width=400, height=300, max_memory=2**34, tile=128))
