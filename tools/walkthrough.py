"""Execute notebooks/walkthrough.ipynb in place on the real ImageNet VGG-16, so the committed file shows real pictures.

    python -m nst.weights.imagenet                # once: pretrained-model/imagenet-vgg-verydeep-16.mat
    python -m tools walkthrough                   # 200x150, the homework's 200 Adam steps (a few minutes)

The notebook runs as a user would (nbclient + ipykernel, from notebooks/), with NST_NOTEBOOK_WEIGHTS naming the
VGG-16 file, at 200x150, its images in output/walkthrough/. The outputs are kept, with each figure re-encoded
from PNG to JPEG (quality 85, at most 1000 pixels wide) so the file stays under 1.5 MB (as PNGs it is about
3 MB); TensorFlow's native start-up log lines (stderr) are dropped, and paths inside the repository are shown
relative to it. Stops with a message when the weights file is missing.
"""

import base64
import io
import os
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "walkthrough.ipynb"
WEIGHTS = ROOT / "pretrained-model" / "imagenet-vgg-verydeep-16.mat"
SETTINGS = {
    "NST_NOTEBOOK_WEIGHTS": str(WEIGHTS),
    "NST_NOTEBOOK_ITERATIONS": "200",
    "NST_NOTEBOOK_WIDTH": "200",
    "NST_NOTEBOOK_HEIGHT": "150",
    "NST_NOTEBOOK_SAVE_EVERY": "20",
    "NST_NOTEBOOK_OUTPUT": str(ROOT / "output" / "walkthrough"),
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
LIMIT = 1_500_000  # bytes
MAX_WIDTH = 1000


TF_LOG_LINE = re.compile(
    r"^([IWE]\d{4} |WARNING: All log messages before absl|To enable the following instructions|"
    r"rebuild TensorFlow with)"
)


def tidy(nb):
    """Drop stderr outputs made only of TensorFlow's native log lines; repository paths as relative ones."""
    prefix = str(ROOT) + os.sep
    for cell in nb.cells:
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                lines = [line for line in output.text.splitlines() if line.strip()]
                if output.name == "stderr" and all(TF_LOG_LINE.match(line) for line in lines):
                    continue
                output.text = output.text.replace(prefix, "")
            outputs.append(output)
        if "outputs" in cell:
            cell.outputs = outputs


def png_outputs_as_jpeg(nb):
    """Every image/png output of `nb` re-encoded as image/jpeg (white behind transparency), in place."""
    from PIL import Image

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" not in data:
                continue
            image = Image.open(io.BytesIO(base64.b64decode(data.pop("image/png")))).convert("RGBA")
            flat = Image.new("RGB", image.size, "white")
            flat.paste(image, mask=image.getchannel("A"))
            if flat.width > MAX_WIDTH:
                flat = flat.resize((MAX_WIDTH, round(flat.height * MAX_WIDTH / flat.width)), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            flat.save(buffer, format="JPEG", quality=85, optimize=True)
            data["image/jpeg"] = base64.b64encode(buffer.getvalue()).decode("ascii")
            output.get("metadata", {}).pop("image/png", None)


def main(argv=None):
    if argv:
        sys.exit("usage: python -m tools walkthrough")
    if not WEIGHTS.is_file():
        sys.exit(f"{WEIGHTS.relative_to(ROOT)} is missing: python -m nst.weights.imagenet")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, kernel_name="python3", timeout=1800, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute(env={**os.environ, **SETTINGS})
    tidy(nb)
    png_outputs_as_jpeg(nb)
    text = nbformat.writes(nb)
    if len(text.encode()) > LIMIT:
        sys.exit(f"the executed notebook is {len(text.encode()):,} bytes, over {LIMIT:,}: not written")
    NOTEBOOK.write_text(text, encoding="utf-8")
    print(f"wrote {NOTEBOOK.relative_to(ROOT)} ({len(text.encode()) // 1024} KB)")
