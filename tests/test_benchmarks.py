"""The benchmarks and tools packages as a house: the performance page is what the committed results make, every
benchmark and tool runs as `python -m PACKAGE NAME`, none reaches into tests/ or sys.path, and the figures the
code quotes agree with the results. No benchmark is run here (timings never are)."""

import ast
import json
import shutil
import subprocess
import sys

import pytest

from benchmarks import report
from benchmarks.common import RESULTS, ROOT
from nst.engine.device import CPU_KINDS

PACKAGES = {"benchmarks": ROOT / "benchmarks", "tools": ROOT / "tools"}


def test_the_performance_page_is_what_the_committed_results_make():
    assert report.PAGE.read_text(encoding="utf-8") == report.render(), (
        "docs/performance.md is stale: run `python -m benchmarks report` and commit it"
    )


def test_a_new_or_changed_result_changes_the_page(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results)
    page = report.render(results)
    (results / "something_new.json").write_text(json.dumps({"command": "python -m benchmarks something_new"}))
    with_new = report.render(results)
    assert with_new != page and "[something_new.json](../benchmarks/results/something_new.json)" in with_new
    picture = json.loads((results / "picture.json").read_text())
    picture["modes"][1]["seconds"] += 10.0
    (results / "picture.json").write_text(json.dumps(picture))
    assert report.render(results) != with_new


def test_conditions_and_machines_are_read_from_a_result():
    assert (
        report.conditions({"load_average_at_start": [1.0, 0.5, 0.2], "runs": [{"load_average": [2.0, 1, 1]}]})
        == "quiet (load 1.0–2.0)"
    )
    assert (
        report.conditions({"modes": [{"load_average": {"before": [1.2, 1, 1], "after": [9.3, 5, 3]}}]})
        == "shared (load 1.2–9.3)"
    )
    assert report.conditions({"rounds": [{"load": 0.7}, {"load": 1.6}]}) == "quiet (load 0.7–1.6)"
    assert report.conditions({"wall_s": 3.0}) == "load not recorded"
    assert report.machine_letter({"avx512_bf16": True, "amx_bf16": False}) == "B"
    assert report.machine_letter({"avx512_bf16": True, "amx_bf16": True}) == "X"
    assert report.machine_letter({"avx512_bf16": False}) == "A"
    assert report.machine_letter("AMD EPYC (Zen 4 class), avx2 avx512f avx512_bf16, no AMX") == "B"


def modules(package):
    return sorted(path for path in PACKAGES[package].glob("*.py"))


@pytest.mark.parametrize("path", modules("benchmarks") + modules("tools"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_script_edits_sys_path_or_imports_the_tests(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not [name for name in imported if name == "tests" or name.startswith("tests.")]
    attributes = {
        f"{node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    }
    assert "sys.path" not in attributes
    assert ast.get_docstring(tree), f"{path.name} says nowhere what it is for"


@pytest.mark.parametrize("package", PACKAGES)
def test_python_m_package_lists_every_script_with_a_main(package):
    expected = sorted(
        path.stem
        for path in modules(package)
        if path.stem != "__main__"
        and any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in ast.parse(path.read_text()).body)
    )
    listing = subprocess.run([sys.executable, "-m", package], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert listing.returncode == 0, listing.stderr
    listed = [line.split()[0] for line in listing.stdout.splitlines()[2:] if line.strip()]
    assert listed == expected and len(listed) >= (10 if package == "benchmarks" else 4)
    unknown = subprocess.run(
        [sys.executable, "-m", package, "no-such-script"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert unknown.returncode == 2 and "usage:" in unknown.stderr and "Traceback" not in unknown.stderr


def test_the_bf16_hint_quotes_the_measured_speed_up():
    """The start-up hint's factor for avx512_bf16 CPUs is the quietest measured bf16 speed-up of the homework's
    Adam step (picture.json: fp32 and bf16 seconds per step on the real network), rounded as it is shown."""
    kind = next(kind for kind in CPU_KINDS if kind.flag == "avx512_bf16")
    pictures = {path.name: json.loads(path.read_text()) for path in RESULTS.glob("picture*.json")}
    name, quiet = report.quietest({n: r for n, r in pictures.items() if report.machine_letter(r["machine"]) == "B"})
    steps = {mode["mode"]: mode["per_step_s"] for mode in quiet["modes"] if "per_step_s" in mode}
    assert kind.bf16_speedup == round(steps["adam-fp32"] / steps["adam-bf16"], 1), name
