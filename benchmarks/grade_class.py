"""A class of 40 notebooks graded by `nst grade`, several sandboxes at once against one at a time.

    python -m benchmarks grade_class                 # --jobs 1, then --jobs 2 (about 10 minutes on 2 cores)
    python -m benchmarks grade_class --jobs 1 2 4    # other numbers of sandboxes at once
    python -m benchmarks grade_class --jobs 2 --class-size 4 --out /tmp/g.json   # a small class: that it runs

The class (built in a temp dir from nst.teaching.submissions): 16 copies of the instructor notebook (5/5),
12 notebooks with one known mistake each (the mistakes in turn), 4 untouched student notebooks (0/5), and
8 hostile ones: the forger, the saboteur and the hog of the sandbox tests (each with wrong functions) and the
mixed notebook (a cell and a function that never end), twice each. Each setting grades the whole folder with
`python -m nst grade FOLDER --json --timeout 30 --jobs N` in a fresh process; its wall time, the scores (the
same whatever N) and the load average before and after are written to benchmarks/results/grade_class.json.
Wall times on a shared machine are noisy: the load average says how busy it was.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from benchmarks.common import ROOT, machine, write_result

TIMEOUT = 30


def build_class(folder, canary):
    """The 40 notebooks in `folder`: {file name: what it is}."""
    import nbformat

    from nst.teaching.submissions import CORRECT, MISTAKES, NOTEBOOKS, hostile_notebooks, mixed_notebook

    kinds = {}
    instructor = nbformat.read(NOTEBOOKS / "homework.ipynb", as_version=4)
    for k in range(16):
        (folder / f"correct-{k:02d}.ipynb").write_bytes((NOTEBOOKS / "homework.ipynb").read_bytes())
        kinds[f"correct-{k:02d}.ipynb"] = "correct"
    mistakes = list(MISTAKES.items())
    for k in range(12):
        label, (name, source, _) = mistakes[k % len(mistakes)]
        nb = nbformat.from_dict(json.loads(json.dumps(instructor)))
        for cell in nb.cells:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == name:
                cell.source = textwrap.dedent(source).strip()
        nbformat.write(nb, folder / f"mistake-{k:02d}.ipynb")
        kinds[f"mistake-{k:02d}.ipynb"] = f"mistake: {label}"
    for k in range(4):
        (folder / f"student-{k:02d}.ipynb").write_bytes((NOTEBOOKS / "homework-student.ipynb").read_bytes())
        kinds[f"student-{k:02d}.ipynb"] = "student notebook untouched"
    canary.write_text(textwrap.dedent(CORRECT["total_cost"]))
    for k in range(2):
        sub = folder / f"set{k}"
        sub.mkdir()
        for name, path in {**hostile_notebooks(sub, canary), "mixed": mixed_notebook(sub)}.items():
            target = folder / f"hostile-{name}-{k}.ipynb"
            path.rename(target)
            kinds[target.name] = f"hostile: {name}"
        sub.rmdir()
    return kinds


def grade(folder, jobs):
    started = time.perf_counter()
    load = os.getloadavg()
    done = subprocess.run(
        [sys.executable, "-m", "nst", "grade", str(folder), "--json", "--timeout", str(TIMEOUT), "--jobs", str(jobs)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"nst grade --jobs {jobs} failed:\n{done.stderr[-3000:]}")
    grades = [json.loads(line) for line in done.stdout.splitlines()]
    return {
        "jobs": jobs,
        "wall_s": round(wall, 1),
        "load_average_before": load,
        "load_average_after": os.getloadavg(),
        "scores": {Path(g["submission"]).name: g["score"] for g in grades},
        "seconds_per_submission": {Path(g["submission"]).name: g["seconds"] for g in grades},
    }


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks grade_class", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--class-size",
        type=int,
        default=None,
        help="grade only the first N notebooks of the class (by name; default: all 40)",
    )
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/grade_class.json")
    args = parser.parse_args(argv)
    settings = args.jobs
    results = {
        "machine": machine(),
        "command": "python -m benchmarks grade_class " + " ".join(argv),
        "timeout": TIMEOUT,
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        results["class"] = build_class(folder, Path(tmp) / "answers.py")
        if args.class_size is not None:
            for name in sorted(results["class"])[args.class_size :]:
                (folder / name).unlink()
                del results["class"][name]
        results["runs"] = []
        for jobs in settings:
            run = grade(folder, jobs)
            results["runs"].append(run)
            print(
                f"--jobs {jobs}: {run['wall_s']:.1f} s for {len(run['scores'])} notebooks (load average "
                f"{run['load_average_before'][0]:.1f} before, {run['load_average_after'][0]:.1f} after)",
                flush=True,
            )
    first = results["runs"][0]
    for run in results["runs"]:
        assert run["scores"] == first["scores"], "the scores differ with the number of sandboxes"
        run["speedup_over_first"] = round(first["wall_s"] / run["wall_s"], 2)
    full = sum(score == 5 for score in first["scores"].values())
    results["full_marks"] = full
    out = write_result(results, "grade_class", args.out)
    print(f"{full} of {len(first['scores'])} with full marks; wrote {out}")
