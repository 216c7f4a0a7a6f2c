"""`nst compare`: a generated image against a reference output, and two runs' cost curves.

    PSNR = 10 log10(255^2 / MSE)                    (tf.image.psnr, max_val 255; inf for identical images)
    SSIM                                            (tf.image.ssim, max_val 255, 11x11 Gaussian window,
                                                     smaller for images under 11 pixels)
    mean |difference| = mean over pixels and channels of |generated - reference|   (0..255)
With the content image C, style image S and VGG-19 weights: J_content, J_style and J = alpha J_content + beta J_style
of each image against C and S (the homework's objective, its layers and weights), so the lower J says which
image solves the problem better. A reference of another size is resized (LANCZOS) to the generated image's size.
"""

import argparse
import math
from pathlib import Path

import numpy as np

from nst.commands.console import run_command
from nst.errors import NstError
from nst.sinks.costs_csv import read_costs_csv
from nst.sinks.report import COSTS_INCHES, image_sheet, save_figure


def _image(value, name):
    """A path or an (H, W, 3) array -> (H, W, 3) float32 in 0..255."""
    from nst.images import read_image

    if isinstance(value, (str, Path)):
        return read_image(value)
    image = np.asarray(value, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise NstError(f"{name} must be an (H, W, 3) image, got shape {image.shape}")
    return image


def image_metrics(a, b):
    """PSNR (dB), SSIM and mean absolute difference of two (H, W, 3) images in 0..255 of the same size."""
    import tensorflow as tf

    x, y = tf.constant(a[None], tf.float32), tf.constant(b[None], tf.float32)
    window = min(11, a.shape[0], a.shape[1])
    return {
        "psnr": float(tf.image.psnr(x, y, max_val=255.0)[0]),
        "ssim": float(tf.image.ssim(x, y, max_val=255.0, filter_size=window)[0]),
        "mean_abs_diff": float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64)))),
    }


def image_costs(images, content, style, weights, cfg=None):
    """{name: (J, J_content, J_style)} of each (H, W, 3) 0..255 image in `images` {name: image} against the
    content and style images (resized to the images' size) with the VGG-19 file `weights`; cfg (nst.settings.Config,
    default the homework's) gives the layers, alpha, beta, pooling."""
    import tensorflow as tf

    from nst.commands.run import load_model, weights_of
    from nst.engine.problem import Problem, objective_at
    from nst.images import reshape_and_normalize_image, resize_image
    from nst.settings import Config
    from nst.weights.download import ensure_weights

    cfg = cfg or Config()
    h, w = next(iter(images.values())).shape[:2]
    model, _ = load_model(
        ensure_weights(Path(weights), allow_download=False, progress=False),
        cfg.pooling,
        cfg.kernel_layout,
        cfg.weights_cache,
    )
    content_image = reshape_and_normalize_image(resize_image(_image(content, "content"), w, h))
    problem = Problem(
        model,
        content_image,
        (_image(style, "style"),),
        weights_of(cfg),
        precision="fp32" if cfg.precision == "auto" else cfg.precision,
    )
    costs = objective_at(problem, w, h).costs
    out = {}
    for name, image in images.items():
        J, Jc, Js = costs(tf.constant(reshape_and_normalize_image(image)))
        out[name] = (float(J), float(Jc), float(Js))
    return out


def plot_comparison(generated, reference, path, metrics):
    """comparison.png: generated | reference | |difference| heat map (mean over channels, 0..max)."""
    diff = np.mean(np.abs(generated.astype(np.float64) - reference.astype(np.float64)), axis=2)
    panels = [
        ("generated", generated),
        ("reference", reference),
        (f"|difference|: mean {metrics['mean_abs_diff']:.3g}, max {diff.max():.3g}", diff),
    ]
    fig = image_sheet(panels, 3)
    fig.suptitle(f"PSNR {metrics['psnr']:.4g} dB, SSIM {metrics['ssim']:.4f}", fontsize=9, y=0.99, x=0.01, ha="left")
    save_figure(fig, path)


def compare_images(generated, reference, content=None, style=None, weights=None, cfg=None, output=None, log=print):
    """Compare `generated` with `reference` (paths or (H, W, 3) 0..255 arrays); returns a dict:

    psnr, ssim, mean_abs_diff, size (w, h), reference_resized_from (w, h) or None, comparison_png (path or None),
    and with content + style + weights: costs {"generated": (J, J_content, J_style), "reference": (...)}.
    Prints a report through `log`. Writes comparison.png to `output` (default: beside `generated` when it is a
    path; none for arrays unless `output` is given).
    """
    given = [content is not None, style is not None, weights is not None]
    if any(given) and not all(given):
        raise NstError("the costs need all three of --content, --style and --weights; give them together or none")
    gen, ref = _image(generated, "generated"), _image(reference, "reference")
    h, w = gen.shape[:2]
    resized_from = None
    if ref.shape[:2] != gen.shape[:2]:
        from nst.images import resize_image

        resized_from = (ref.shape[1], ref.shape[0])
        ref = resize_image(ref, w, h)
        log(f"reference resized from {resized_from[0]}x{resized_from[1]} to {w}x{h} (the generated image's size)")
    metrics = image_metrics(gen, ref)
    identical = math.isinf(metrics["psnr"])
    log(f"PSNR = {metrics['psnr']:.4f} dB" + (" (identical images)" if identical else ""))
    log(f"SSIM = {metrics['ssim']:.6f}")
    log(f"mean |difference| = {metrics['mean_abs_diff']:.4f} (pixel values 0..255)")
    result = dict(metrics, size=(w, h), reference_resized_from=resized_from, comparison_png=None)
    if output is None and isinstance(generated, (str, Path)):
        output = Path(generated).parent / "comparison.png"
    if output is not None:
        plot_comparison(gen, ref, Path(output), metrics)
        result["comparison_png"] = Path(output)
        log(f"wrote {output}")
    if all(given):
        costs = image_costs({"generated": gen, "reference": ref}, content, style, weights, cfg)
        result["costs"] = costs
        log(f"{'':<10} {'J_content':>14} {'J_style':>14} {'J':>14}")
        for name, (J, Jc, Js) in costs.items():
            log(f"{name:<10} {Jc:>14.6g} {Js:>14.6g} {J:>14.6g}")
        (Jg, *_), (Jr, *_) = costs["generated"], costs["reference"]
        verdict = "equal J" if Jg == Jr else ("generated" if Jg < Jr else "reference") + " has the lower J"
        log(f"{verdict} (J = alpha J_content + beta J_style, the homework's objective: lower solves it better)")
    return result


def compare_costs(paths, output=None, log=print):
    """Overlay the cost curves of several costs.csv files in one figure (total solid, content dashed, style
    dotted, log scale), written to `output` (default: costs_comparison.png beside the first file).
    Returns {path: final (iteration, J, J_content, J_style)}."""
    runs = {str(p): read_costs_csv(p) for p in paths}
    output = Path(output) if output is not None else Path(paths[0]).parent / "costs_comparison.png"
    from matplotlib.figure import Figure

    fig = Figure(figsize=COSTS_INCHES, layout="constrained")
    ax = fig.add_subplot()
    for k, (name, rows) in enumerate(runs.items()):
        color = f"C{k}"
        it = [r[0] for r in rows]
        for col, style, what in ((1, "-", "J"), (2, "--", "J_content"), (3, ":", "J_style")):
            ax.plot(it, [r[col] for r in rows], style, color=color, label=f"{what}: {name}")
        log(
            f"{name}: {len(rows)} iterations, final J = {rows[-1][1]:.6g}, J_content = {rows[-1][2]:.6g}, "
            f"J_style = {rows[-1][3]:.6g}"
        )
    ax.set_yscale("log", nonpositive="mask")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost (log scale)")
    ax.set_title("Costs of two runs: J solid, J_content dashed, J_style dotted")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, output)
    log(f"wrote {output}")
    return {name: rows[-1] for name, rows in runs.items()}


def build_compare_parser():
    p = argparse.ArgumentParser(
        prog="nst compare",
        description="Compare a generated image with a reference output: PSNR, SSIM, mean |difference| and "
        "comparison.png; with --content/--style/--weights also J_content, J_style, J of each. "
        "Or overlay two runs' cost curves: nst compare --costs A.csv B.csv.",
    )
    p.add_argument("images", nargs="*", type=Path, metavar="GENERATED REFERENCE", help="the two images")
    p.add_argument("--content", type=Path, help="content image C (for the costs)")
    p.add_argument("--style", type=Path, help="style image S (for the costs)")
    p.add_argument("--weights", type=Path, help="VGG-19 .mat file (for the costs)")
    p.add_argument(
        "--costs", type=Path, nargs="+", metavar="CSV", help="overlay the cost curves of these costs.csv files"
    )
    p.add_argument(
        "--output",
        type=Path,
        help="figure to write (default: comparison.png beside GENERATED, costs_comparison.png beside the first CSV)",
    )
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    return p


def compare_main(argv):
    """`nst compare ...`: exit 0 on success, 2 (one line on stderr) on bad input."""
    args = build_compare_parser().parse_args(argv)

    def command():
        if args.costs:
            if args.images or len(args.costs) < 2:
                raise NstError("nst compare --costs takes two or more costs.csv files and no images")
            compare_costs(args.costs, args.output)
            return
        if len(args.images) != 2:
            raise NstError(
                f"nst compare takes two images, GENERATED REFERENCE, got {len(args.images)}; or --costs A.csv B.csv"
            )
        compare_images(*args.images, content=args.content, style=args.style, weights=args.weights, output=args.output)

    # the cost overlay needs no TensorFlow; images do (PSNR, SSIM, costs)
    return run_command(command, debug=args.debug, tensorflow=not args.costs)
