"""The files nst ships beside its code: the demo images and the notebooks, in the installed package or the checkout.

A wheel carries the checkout's `images/` as the package `nst.demo_images` and `notebooks/` as `nst.notebooks`
(pyproject.toml maps them); run from a checkout (or an editable install) they are the checkout's own folders.
The studio's page is package data of nst.studio itself.
"""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
NOTEBOOKS = {"homework": "homework.ipynb", "student": "homework-student.ipynb", "walkthrough": "walkthrough.ipynb"}
"""The shipped notebooks: the instructor's homework (solutions in nbgrader's markup), its student version, the
walkthrough (committed with its outputs)."""


def shipped_folder(installed, checkout):
    """`nst/<installed>` in an installed package, else the checkout's `<checkout>` folder."""
    folder = PACKAGE / installed
    return folder if folder.is_dir() else PACKAGE.parent / checkout


def images_folder():
    """The demo images' folder: grace_hopper.jpg, swirls.jpg, chelsea.jpg, mosaic.jpg and their licences."""
    return shipped_folder("demo_images", "images")


def notebooks_folder():
    """The notebooks' folder (NOTEBOOKS)."""
    return shipped_folder("notebooks", "notebooks")


def notebook(name):
    """The path of shipped notebook `name` (a key of NOTEBOOKS)."""
    return notebooks_folder() / NOTEBOOKS[name]


DEMO_CONTENT = images_folder() / "grace_hopper.jpg"
DEMO_STYLE = images_folder() / "swirls.jpg"
