"""Command line: `python -m nst` / `nst`. Bad input ends in one line on stderr and exit code 2."""

import argparse
import dataclasses
import signal
import sys
import threading
from pathlib import Path

from nst.config import LBFGS_EVALUATIONS, PRECISIONS, Config

DEFAULTS = Config()


def build_parser():
    p = argparse.ArgumentParser(
        prog="nst",
        description="Neural style transfer as in the deeplearning.ai homework (Gatys et al. 2015) on TensorFlow 2.\n"
        "With no arguments: the demo (Grace Hopper painted in the style of images/swirls.jpg).",
        epilog="other commands (each has its own --help):\n" + "\n".join(
            f"  nst {name:<14} {what}" for name, (_, _, what) in SUBCOMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--content", type=Path, default=DEFAULTS.content, help="content image (default: %(default)s)")
    p.add_argument("--style", type=Path, nargs="+", action=OneOrMany, default=DEFAULTS.style,
                   help="style image, or several blended by --style-blend (default: %(default)s)")
    p.add_argument("--weights", type=Path, default=DEFAULTS.weights,
                   help="MatConvNet imagenet-vgg-verydeep-19.mat, or its VGG-16 (imagenet-vgg-verydeep-16.mat) (default: "
                   "imagenet-vgg-verydeep-19.mat in ./pretrained-model/ or $NST_HOME, else downloaded into $NST_HOME; "
                   "when it cannot be, the ImageNet VGG-16 of nst[imagenet])")
    p.add_argument("--output-dir", type=Path, default=DEFAULTS.output_dir, help="where images and costs.csv go (default: %(default)s)")
    p.add_argument("--iterations", type=int, default=None,
                   help=f"Adam steps (default: {DEFAULTS.iterations}); with --optimizer lbfgs its budget of cost "
                   f"evaluations (default: {LBFGS_EVALUATIONS}, where its picture is the homework's)")
    p.add_argument("--width", type=int, default=DEFAULTS.width, help="image width in pixels (default: %(default)s)")
    p.add_argument("--height", type=int, default=DEFAULTS.height, help="image height in pixels (default: %(default)s)")
    p.add_argument("--noise-ratio", type=float, default=DEFAULTS.noise_ratio,
                   help="share of U(-20, 20) noise in the initial image (default: %(default)s)")
    p.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate, help="Adam learning rate (default: %(default)s)")
    p.add_argument("--alpha", type=float, default=DEFAULTS.alpha, help="content weight (default: %(default)s)")
    p.add_argument("--beta", type=float, default=DEFAULTS.beta, help="style weight (default: %(default)s)")
    p.add_argument("--save-every", type=int, default=DEFAULTS.save_every,
                   help="save an image and log the costs every N steps (default: %(default)s)")
    p.add_argument("--seed", type=int, default=None, help="seed for the initial noise (default: random)")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="never download the VGG-19 weights (without them: the ImageNet VGG-16 fallback, or an error)")
    p.add_argument("--no-cache", dest="weights_cache", action="store_false",
                   help="read the whole weights file every run (in a child process), keep no <weights>.cache.npz")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    add_gatys_options(p)
    add_robustness_options(p)
    add_performance_options(p)
    return p


def add_performance_options(p):
    """Performance: bf16 convolutions and XLA (see BENCHMARKS.md); fp32 without XLA stays the default."""
    g = p.add_argument_group("performance")
    g.add_argument("--precision", choices=PRECISIONS, default=DEFAULTS.precision,
                   help="fp32 (default, the homework's numbers); bf16: VGG convolutions in bfloat16 (fast on "
                   "CPUs with AMX/AVX-512-BF16 and on GPUs from compute capability 8.0), Grams, costs and Adam in "
                   "float32; auto: bf16 where the hardware computes it natively, else fp32")
    g.add_argument("--xla", action=argparse.BooleanOptionalAction, default=DEFAULTS.xla,
                   help="compile the step with XLA (jit_compile) (default: off)")


def add_robustness_options(p):
    """Limits, resuming and reproducibility: image size limit, resuming an interrupted run, reproducible runs."""
    g = p.add_argument_group("limits, resuming and reproducibility")
    g.add_argument("--max-pixels", type=int, default=DEFAULTS.max_pixels, metavar="N",
                   help="refuse image files with more than N pixels (width x height), checked from the header "
                   "before decoding (default: %(default)s)")
    g.add_argument("--resume", type=Path, default=None, metavar="OUTPUT_DIR",
                   help="continue the run saved in OUTPUT_DIR (its checkpoint.npz, written at every save point and "
                   "on Ctrl-C) with its own settings: repeat the run's command and add --resume OUTPUT_DIR; a flag "
                   "whose value differs from the run's is refused; --iterations N may extend it")
    g.add_argument("--deterministic", action="store_true",
                   help="with --seed N: TF op determinism, so two runs write byte-identical images and costs.csv")


class OneOrMany(argparse.Action):
    """nargs="+" that stores one value as itself and several as a list (so `--style A.jpg` stays a path)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values[0] if len(values) == 1 else list(values))


def add_gatys_options(p):
    """Options beyond the homework: those of anishathalye/ and jcjohnson/neural-style; every default is the homework's."""
    g = p.add_argument_group("beyond the homework (all off by default)")
    g.add_argument("--optimizer", choices=("adam", "lbfgs"), default=DEFAULTS.optimizer,
                   help="adam (the homework's) or lbfgs: scipy L-BFGS-B, --iterations = max iterations and "
                   f"cost evaluations, {LBFGS_EVALUATIONS} unless given (default: %(default)s)")
    g.add_argument("--tv-weight", type=float, default=DEFAULTS.tv_weight,
                   help="weight of the total-variation smoothing cost added to J (default: %(default)s)")
    g.add_argument("--style-blend", type=float, nargs="+", default=DEFAULTS.style_blend, metavar="W",
                   help="one weight per --style image; their Grams are blended by weight (default: equal)")
    g.add_argument("--preserve-colors", action="store_true",
                   help="keep the content's colours: the result's luminance with the content's chroma (YCbCr)")
    g.add_argument("--init", default=DEFAULTS.init, metavar="noise|content|style|PATH",
                   help="start image: noise (the homework's noisy content), content, style or an image file "
                   "(default: %(default)s)")
    g.add_argument("--style-scale", type=float, default=DEFAULTS.style_scale, metavar="S",
                   help="resize the style image(s) by S before their Grams are taken (default: %(default)s)")
    g.add_argument("--pooling", choices=("avg", "max"), default=DEFAULTS.pooling,
                   help="VGG pooling (default: %(default)s, the homework's)")
    g.add_argument("--kernel-layout", choices=("stored", "transposed"), default=DEFAULTS.kernel_layout,
                   help="use the .mat filters as stored (H x W, the homework) or transposed (W x H, as "
                   "anishathalye/neural-style) (default: %(default)s)")
    g.add_argument("--content-layer", default=DEFAULTS.content_layer, metavar="LAYER",
                   help="content layer (default: %(default)s)")
    g.add_argument("--style-layers", default=DEFAULTS.style_layers, metavar="L:W,...",
                   help="style layers and weights, e.g. conv1_1:0.2,conv2_1:0.2 (default: conv1_1..conv5_1 at 0.2)")
    g.add_argument("--scales", type=int, default=DEFAULTS.scales, metavar="N",
                   help="coarse-to-fine: optimise at 1/2^(N-1), ..., 1/2, 1 of the size, each result upsampled "
                   "as the next start; --iterations per scale (default: %(default)s)")


def config_from_args(args):
    """A Config from parsed arguments: every argument whose dest is a Config field sets that field (no
    --iterations: the optimiser's default, nst.config.default_iterations)."""
    names = {field.name for field in dataclasses.fields(Config)}
    return Config(**{name: value for name, value in vars(args).items() if name in names})


def given_fields(argv, args):
    """The Config fields set on the command line `argv` (parsed as `args`), as opposed to left at their defaults:
    `--resume` compares exactly these with the run it continues. (argparse sets a default only where the
    namespace has no value yet, so a namespace preset to a marker keeps the marker where no flag was given.)"""
    unset = object()
    parsed = build_parser().parse_args(argv, argparse.Namespace(**{name: unset for name in vars(args)}))
    names = {field.name for field in dataclasses.fields(Config)}
    return {name for name, value in vars(parsed).items() if value is not unset} & names


SUBCOMMANDS = {
    # name: (module, function taking the arguments after the name and returning the exit code, what it does)
    "compare": ("nst.compare", "compare_main", "a generated image against a reference output, or two cost curves"),
    "studio": ("nst.studio.app", "studio_main", "a local web page to paint a portrait and watch it happen"),
    "teach": ("nst.teaching.student", "teach_main", "the student version of a homework notebook"),
    "grade": ("nst.teaching.grader", "grade_main", "grade homework notebooks, function by function"),
    "check-weights": ("nst.weights.check", "check_weights_main", "prove a VGG-19 (or VGG-16) weights file, settle its kernel layout"),
}
"""`nst NAME ...`: subcommands with parsers of their own; anything else is a style transfer run."""


def run_subcommand(name, argv):
    """Import and run subcommand `name` with `argv`; returns its exit code."""
    import importlib

    module, function, _ = SUBCOMMANDS[name]
    return getattr(importlib.import_module(module), function)(argv)


def main(argv=None, models=None):
    """`nst ...`; returns the exit code. `models`: a dict kept between runs in one process (the studio's painter:
    the network is built once, see nst.transfer.load_model)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in SUBCOMMANDS:
        return run_subcommand(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    from nst.console import run_command
    from nst.errors import RunInterrupted
    from nst.interrupt import raise_keyboard_interrupt

    cfg = config_from_args(args)
    given = given_fields(argv, args) if cfg.resume is not None else None
    out = Path(cfg.resume if cfg.resume is not None else cfg.output_dir)
    installed = threading.current_thread() is threading.main_thread()
    if installed:  # SIGTERM ends like Ctrl-C: saved state, exit 130
        previous = signal.signal(signal.SIGTERM, raise_keyboard_interrupt)

    prepared = []

    def prepare():  # bad input is reported before TensorFlow's import
        from nst.inputs import prepare_run

        prepared.append(prepare_run(cfg, given))

    def run():
        import tensorflow as tf

        from nst.errors import NstError
        from nst.transfer import style_transfer

        try:
            style_transfer(cfg, prepared=prepared[0], models=models)
        except (MemoryError, tf.errors.ResourceExhaustedError):
            raise NstError("not enough memory for a run at this size: pass a smaller --width and --height") from None

    try:
        if run_command(prepare, debug=args.debug, tensorflow=False) or run_command(run, debug=args.debug):
            return 2
    except RunInterrupted as exc:
        print(f"nst: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        if args.debug:
            raise
        if (out / "checkpoint.npz").is_file():
            print(f"nst: interrupted; what was saved so far is in {out}", file=sys.stderr)
        else:
            print("nst: interrupted before the first step; nothing was saved", file=sys.stderr)
        return 130
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    print(f"Done: {out / 'generated_image.jpg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
