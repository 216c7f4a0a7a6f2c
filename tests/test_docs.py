"""The documentation runs: every ```bash block of README.md and docs/*.md, in a copy of the repository on a small
generated net; every docs page is linked from README and every relative link resolves.

The convention: a block fenced with the info string exactly `bash` runs with `bash -e`, its working directory a
temporary copy of the repository's top level (images/, notebooks/, benchmarks/, nst/, ...; output/ empty)
whose `pretrained-model/imagenet-vgg-verydeep-19.mat` is a small net from `nst.weights.testnet.write_test_vgg`. Lines
starting with `pip install` are skipped (the environment is installed already; the rest of such a line after
`&&` runs). `python` and `nst` are the environment's, importing the copy's `nst` (so its defaults point into the
copy). A block that cannot run there is fenced `bash notest`, with the reason in the text beside it.
"""

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest

from nst.settings import PACKAGE_ROOT
from nst.weights.testnet import write_test_vgg

REPO = PACKAGE_ROOT
PAGES = sorted((REPO / "docs").glob("*.md"))
BENCHMARK_PAGES = [REPO / "BENCHMARKS.md", *sorted((REPO / "docs" / "benchmarks").glob("*.md"))]
DOCUMENTS = [REPO / "README.md", *PAGES, *BENCHMARK_PAGES]
NOT_COPIED = {".git", ".venv", "venv", "__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".hypothesis"}
EMPTIED = {"output", "pretrained-model"}  # a user's runs and the real weights (510 MB) stay behind


def not_copied(folder, names):
    if Path(folder) in {REPO / name for name in EMPTIED}:
        return names
    return [name for name in names if name in NOT_COPIED or name.endswith((".egg-info", ".pyc"))]


def fenced_blocks(path):
    """[(line number of the opening fence, info string, text)] of every ``` fenced block in a Markdown file."""
    blocks, info, start, body = [], None, 0, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if info is None and stripped.startswith("```"):
            info, start, body = stripped[3:].strip(), number, []
        elif info is not None and stripped == "```":
            blocks.append((start, info, "\n".join(body) + "\n"))
            info = None
        elif info is not None:
            body.append(line)
    assert info is None, f"{path.name}:{start}: a fenced block is never closed"
    return blocks


def runnable(text):
    """A block's script: lines starting with `pip install` dropped, or cut to what follows their first `&&`."""
    lines = []
    for line in text.splitlines():
        if line.lstrip().startswith("pip install"):
            _, sep, rest = line.partition("&&")
            if not sep:
                continue
            line = rest.lstrip()
        lines.append(line)
    return "\n".join(lines) + "\n"


BASH_BLOCKS = [
    pytest.param(path, line, text, id=f"{path.relative_to(REPO)}:{line}")
    for path in DOCUMENTS
    for line, info, text in fenced_blocks(path)
    if info == "bash"
]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The repository's top level as a user has it after cloning, the weights being a small net."""
    top = tmp_path_factory.mktemp("template") / "nst"
    shutil.copytree(REPO, top, ignore=not_copied, symlinks=True)
    for name in EMPTIED:
        (top / name).mkdir(exist_ok=True)
    write_test_vgg(top / "pretrained-model" / "imagenet-vgg-verydeep-19.mat", seed=0)
    return top


def repository_state():
    """(path, size, mtime) of every file of the repository outside .git, the venv and caches."""
    skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
    state = set()
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in skip and not d.endswith(".egg-info")]
        for name in files:
            stat = (Path(root) / name).stat()
            state.add((str(Path(root, name).relative_to(REPO)), stat.st_size, stat.st_mtime_ns))
    return state


def run_block(top, text):
    env = dict(
        os.environ,
        PYTHONPATH=str(top),
        TF_CPP_MIN_LOG_LEVEL="2",
        MPLBACKEND="Agg",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        NST_WEIGHTS_URL="http://127.0.0.1:9/imagenet-vgg-verydeep-19.mat",
    )  # a wrong path fails, never downloads
    return subprocess.run(
        ["bash", "-e", "-c", runnable(text)], cwd=top, env=env, capture_output=True, text=True, timeout=300
    )


def rows(path):
    with open(path) as f:
        return list(csv.reader(f))[1:]


def check_outputs(top, text, stdout):
    """What some blocks must have written (in the copy), beyond exiting 0."""
    out = top / "output"
    commands = [line.split("#")[0].strip() for line in runnable(text).splitlines()]
    if "python -m nst" in commands:  # the quick-start demo: the homework's run
        assert {f"{i}.png" for i in range(0, 200, 20)} <= {p.name for p in out.iterdir()}
        assert iio.imread(out / "generated_image.jpg").shape == (300, 400, 3)
        assert [int(r[0]) for r in rows(out / "costs.csv")] == list(range(200))
        run = json.loads((out / "run.json").read_text())  # the copy's images and small net, not the repository's
        assert run["parameters"]["content"] == str(top.resolve() / "images" / "grace_hopper.jpg")
        assert (
            run["weights"]["sha256"]
            == hashlib.sha256((top / "pretrained-model" / "imagenet-vgg-verydeep-19.mat").read_bytes()).hexdigest()
        )
    if "--resume output" in text:  # the resumed run has all its steps
        assert [int(r[0]) for r in rows(out / "costs.csv")] == list(range(40))
    if "nst compare" in text:
        assert any(p.name == "comparison.png" for p in out.rglob("*"))
        assert "generated has the lower J" in stdout


@pytest.mark.parametrize(("path", "line", "text"), BASH_BLOCKS)
def test_bash_block_runs(path, line, text, template, tmp_path):
    top = tmp_path / "nst"
    shutil.copytree(template, top)
    before = repository_state()
    result = run_block(top, text)
    assert result.returncode == 0, (
        f"{path.name}:{line} failed:\n{text}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
    )
    check_outputs(top, text, result.stdout)
    assert repository_state() == before, "a documented command wrote into the repository instead of the copy"


def test_every_block_is_bash_or_marked_notest():
    """A shell block is either run (`bash`) or says why not (`bash notest`); a typo would silently skip it."""
    shells = [
        (path.name, line, info)
        for path in DOCUMENTS
        for line, info, _ in fenced_blocks(path)
        if info.split()[:1] in (["bash"], ["sh"], ["shell"], ["console"])
    ]
    assert [s for s in shells if s[2] not in ("bash", "bash notest")] == []
    assert len([s for s in shells if s[2] == "bash"]) >= 3


def test_the_quick_start_is_two_commands_and_the_demo_is_run():
    readme = REPO / "README.md"
    section = readme.read_text(encoding="utf-8").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#")[0].strip() for line in section.splitlines() if line.startswith("pip install")]
    assert commands == [
        "pip install -r requirements.txt && python -m nst",
        "pip install -r requirements-dev.txt && python -m pytest",
    ]
    run = [text for path, line, text in (p.values for p in BASH_BLOCKS) if path == readme]
    assert any(runnable(text).split("#")[0].strip() == "python -m nst" for text in run)


def test_runnable_keeps_what_follows_pip_install():
    text = "pip install notebook\npip install -r requirements.txt && python -m nst  # demo\nls output\n"
    assert runnable(text) == "python -m nst  # demo\nls output\n"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path):
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped, spaces as dashes."""
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            names.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return names


def relative_links(path):
    """The links of a Markdown file that are not URLs: (target file, anchor or '')."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        yield (path.parent / file).resolve() if file else path.resolve(), anchor


def test_every_docs_page_is_linked_from_readme():
    linked = {target for target, _ in relative_links(REPO / "README.md")}
    assert PAGES, "docs/ has no pages"
    assert [page.name for page in PAGES if page.resolve() not in linked] == []
    benchmarks = {target for target, _ in relative_links(REPO / "BENCHMARKS.md")}
    assert [page.name for page in BENCHMARK_PAGES[1:] if page.resolve() not in benchmarks] == []


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(path):
    broken = []
    for target, anchor in relative_links(path):
        if not target.exists():
            broken.append(str(target.relative_to(REPO)) if target.is_relative_to(REPO) else str(target))
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{target.name}#{anchor}")
    assert broken == []
