"""The student version of a homework notebook (`nst teach student`): every solution region replaced by a stub.

As nbgrader's ClearSolutions does: in code cells, the lines from one containing `BEGIN SOLUTION` (e.g.
`### BEGIN SOLUTION`) to one containing `END SOLUTION` become `# YOUR CODE HERE` and `raise NotImplementedError()`,
indented as the BEGIN line; code outputs and execution counts are cleared; everything else (other cells, metadata,
nbgrader's cell metadata) is kept. Same input, same bytes.
"""

import argparse
import copy
from pathlib import Path

from nst.errors import NstError

BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"  # nbgrader's delimiters: a line containing one is a marker
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")


def clear_solutions(source, where="the cell"):
    """(source with each solution region replaced by STUB, number of regions). NstError for a BEGIN inside a
    region, an END outside one, or a region left open; `where` names the cell in the message."""
    out, indent, begun, regions = [], None, 0, 0
    lines = source.split("\n")
    for number, line in enumerate(lines, 1):
        if BEGIN in line:
            if indent is not None:
                raise NstError(
                    f"{where}, line {number}: BEGIN SOLUTION inside the solution region begun on line {begun}"
                )
            indent, begun = line[: len(line) - len(line.lstrip())], number
            out.extend(indent + stub for stub in STUB)
        elif END in line:
            if indent is None:
                raise NstError(f"{where}, line {number}: END SOLUTION without a BEGIN SOLUTION before it")
            indent, regions = None, regions + 1
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise NstError(f"{where}, line {begun}: BEGIN SOLUTION without an END SOLUTION after it")
    return "\n".join(out), regions


def student_notebook(nb):
    """(the student version of notebook `nb` (a copy), number of solution regions replaced)."""
    student = copy.deepcopy(nb)
    total = 0
    for index, cell in enumerate(student.cells):
        where = f"cell {index + 1}" + (f" ({cell.id})" if "id" in cell else "")
        if cell.cell_type != "code":
            if BEGIN in cell.source or END in cell.source:
                raise NstError(
                    f"{where} is a {cell.cell_type} cell with a solution marker: only code cells hold solution regions"
                )
            continue
        cell.source, regions = clear_solutions(cell.source, where)
        total += regions
        cell.outputs = []
        cell.execution_count = None
    return student, total


def read_notebook(path):
    """The notebook at `path` (nbformat v4, valid); NstError (one line) when it is missing or not a notebook.

    Cells of an nbformat 4.5+ file without an id get "cell-<position>" (nbformat would make up random ones, and
    the student version would differ from run to run)."""
    import json

    import nbformat

    path = Path(path)
    if not path.is_file():
        raise NstError(f"{path}: no such file" if not path.exists() else f"{path} is not a file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("nbformat") == 4 and data.get("nbformat_minor", 0) >= 5:
            for position, cell in enumerate(data.get("cells", []), 1):
                if isinstance(cell, dict) and "id" not in cell:
                    cell["id"] = f"cell-{position}"
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
        return nb
    except Exception as exc:  # JSON, decoding, version and schema errors, of many types
        reason = " ".join(str(getattr(exc, "message", None) or exc).split())[:120] or type(exc).__name__
        raise NstError(f"{path} is not a Jupyter notebook ({reason})") from None


def notebook_text(nb):
    """The notebook as nbformat writes it to a file (sorted keys, indent 1, a final newline)."""
    import nbformat

    return nbformat.writes(nb) + "\n"


def write_student_version(instructor, output):
    """Write the student version of notebook `instructor` to `output` atomically; returns the number of regions."""
    from nst.files import atomic_path

    instructor, output = Path(instructor), Path(output)
    nb = read_notebook(instructor)
    student, regions = student_notebook(nb)
    if regions == 0:
        raise NstError(f"{instructor} has no solution region (### BEGIN SOLUTION ... ### END SOLUTION in a code cell)")
    if output.exists() and output.resolve() == instructor.resolve():
        raise NstError(f"-o {output} is the instructor notebook itself: write the student version to another file")
    if not output.parent.is_dir():
        raise NstError(f"cannot write {output}: folder {output.parent} does not exist")
    with atomic_path(output) as tmp:
        tmp.write_bytes(notebook_text(student).encode("utf-8"))
    return regions


def build_teach_parser():
    p = argparse.ArgumentParser(
        prog="nst teach",
        description="Teaching kit: the student version of a homework "
        "notebook, the notebooks nst ships, a Gradescope autograder.",
    )
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = commands.add_parser(
        "student",
        help="write the student version: solution regions replaced, outputs cleared",
        description="Write the student version of INSTRUCTOR.ipynb: every region between "
        "'### BEGIN SOLUTION' and '### END SOLUTION' replaced by '# YOUR CODE HERE' and "
        "'raise NotImplementedError()', outputs cleared, everything else kept (as nbgrader).",
    )
    s.add_argument("instructor", type=Path, metavar="INSTRUCTOR.ipynb", help="the notebook with the solutions")
    s.add_argument(
        "-o", "--output", type=Path, required=True, metavar="STUDENT.ipynb", help="where to write the student version"
    )
    s.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    add_kit_commands(commands)
    return p


def add_kit_commands(commands):
    """`nst teach notebook` (a shipped notebook copied out) and `nst teach autograder` (Gradescope's zip)."""
    from nst.shipped import NOTEBOOKS
    from nst.teaching.autograder import VISIBILITIES, AutograderSettings

    n = commands.add_parser(
        "notebook",
        help="write one of the notebooks nst ships (installed nst has no checkout)",
        description="Write a copy of a notebook nst ships: homework (the instructor's, with "
        "the solutions), student (its student version, to hand out) or walkthrough (the homework "
        "step by step, with its pictures). An existing file is never overwritten.",
    )
    n.add_argument("name", choices=sorted(NOTEBOOKS), help="which notebook")
    n.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.ipynb", help="where to write it")
    n.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    d = AutograderSettings()
    a = commands.add_parser(
        "autograder",
        help="write a Gradescope autograder.zip that grades with nst grade",
        description="Write a Gradescope autograder zip: setup.sh and run_autograder at its root, "
        "this nst as a wheel, a README with the settings it needs. Upload it as the "
        "assignment's autograder; each submission's notebook is graded by `nst grade` and "
        "results.json is always written.",
    )
    a.add_argument("-o", "--output", type=Path, required=True, metavar="ZIP", help="where to write the zip")
    a.add_argument(
        "--notebook",
        default=d.notebook,
        metavar="NAME.ipynb",
        help="the notebook graded when a student submits several (default: %(default)s)",
    )
    a.add_argument(
        "--timeout",
        type=float,
        default=d.timeout,
        metavar="SECONDS",
        help="nst grade --timeout for each submission (default: %(default)g)",
    )
    a.add_argument("--memory", default=d.memory, metavar="SIZE", help="nst grade --memory (default: %(default)s)")
    for name, what in (
        ("visibility", "the whole result"),
        ("stdout-visibility", "the autograder's output"),
        ("test-visibility", "each function's test"),
    ):
        a.add_argument(
            f"--{name}",
            choices=VISIBILITIES,
            default=getattr(d, name.replace("-", "_")),
            help=f"Gradescope's visibility of {what} (default: %(default)s)",
        )
    a.add_argument(
        "--wheel",
        type=Path,
        metavar="FILE",
        help="the nst wheel to put in the zip (default: built from this checkout, or packed from the installed nst)",
    )
    a.add_argument("--debug", action="store_true", help="show the full traceback on errors")


def write_shipped_notebook(name, output):
    """Copy shipped notebook `name` to `output` (atomically); NstError when `output` exists or cannot be written."""
    from nst.files import atomic_path
    from nst.shipped import notebook

    output = Path(output)
    if output.exists():
        raise NstError(
            f"{output} exists: nst teach notebook never overwrites a file (yours may hold work); "
            "choose another name or delete it first"
        )
    if not output.parent.is_dir():
        raise NstError(f"cannot write {output}: folder {output.parent} does not exist")
    with atomic_path(output) as tmp:
        tmp.write_bytes(notebook(name).read_bytes())


def teach_main(argv):
    """`nst teach student|notebook|autograder ...`: exit 0, or 2 with one line on bad input."""
    from nst.commands.console import run_command

    args = build_teach_parser().parse_args(argv)

    def command():
        if args.command == "notebook":
            write_shipped_notebook(args.name, args.output)
            print(f"wrote {args.output}: nst's {args.name} notebook")
        elif args.command == "autograder":
            from nst.teaching.autograder import SETTINGS_FILE, AutograderSettings, build_autograder

            settings = AutograderSettings(
                args.notebook, args.timeout, args.memory, args.visibility, args.stdout_visibility, args.test_visibility
            )
            wheel = build_autograder(args.output, settings, args.wheel)
            print(
                f"wrote {args.output}: setup.sh, run_autograder, {wheel}, {SETTINGS_FILE} and README.md; upload it "
                "as the assignment's autograder and read its README.md for the memory and time it needs"
            )
        else:
            regions = write_student_version(args.instructor, args.output)
            print(f"wrote {args.output}: {regions} solution region(s) replaced, outputs cleared")

    return run_command(command, debug=args.debug, tensorflow=False)
