"""Execute notebooks/walkthrough.ipynb in place on the real ImageNet VGG-16, so the committed file shows real pictures.

    python -m nst.weights.imagenet                # once: pretrained-model/imagenet-vgg-verydeep-16.mat
    python notebooks/execute_walkthrough.py       # 200x150, the homework's 200 Adam steps (a few minutes)

The notebook runs as a user would (nbclient + ipykernel, from notebooks/), with NST_NOTEBOOK_WEIGHTS naming the
VGG-16 file, at 200x150 so the outputs stay small (the file must stay under 1.5 MB; the figures are PNGs), and
its images go to output/walkthrough/. The outputs are kept; the execution counts and the kernel's timing
metadata are too. Stops with a message when the weights file is missing.
"""

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "walkthrough.ipynb"
WEIGHTS = ROOT / "pretrained-model" / "imagenet-vgg-verydeep-16.mat"
SETTINGS = {"NST_NOTEBOOK_WEIGHTS": str(WEIGHTS), "NST_NOTEBOOK_ITERATIONS": "200", "NST_NOTEBOOK_WIDTH": "200",
            "NST_NOTEBOOK_HEIGHT": "150", "NST_NOTEBOOK_SAVE_EVERY": "20",
            "NST_NOTEBOOK_OUTPUT": str(ROOT / "output" / "walkthrough"), "TF_CPP_MIN_LOG_LEVEL": "2"}
LIMIT = 1_500_000  # bytes


def main():
    if not WEIGHTS.is_file():
        sys.exit(f"{WEIGHTS.relative_to(ROOT)} is missing: python -m nst.weights.imagenet")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=1800,
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute(env={**os.environ, **SETTINGS})
    text = nbformat.writes(nb)
    if len(text.encode()) > LIMIT:
        sys.exit(f"the executed notebook is {len(text.encode()):,} bytes, over {LIMIT:,}: not written")
    NOTEBOOK.write_text(text, encoding="utf-8")
    print(f"wrote {NOTEBOOK.relative_to(ROOT)} ({len(text.encode()) // 1024} KB)")


if __name__ == "__main__":
    main()
