"""Running the repository's notebooks in the tests: small and quick, on a generated net, from notebooks/ as a user
would."""

import os

import nbformat
from nbclient import NotebookClient


def execute_small(notebook, out):
    """Execute `notebook` (a path) at 32x24 for 6 steps, saving every 3, with its weights absent (so it writes
    and announces a small generated net) and its pictures in `out`; returns the executed notebook. Raises
    CellExecutionError on any error."""
    settings = {
        "NST_NOTEBOOK_ITERATIONS": "6",
        "NST_NOTEBOOK_WIDTH": "32",
        "NST_NOTEBOOK_HEIGHT": "24",
        "NST_NOTEBOOK_SAVE_EVERY": "3",
        "NST_NOTEBOOK_OUTPUT": str(out),
        "NST_NOTEBOOK_WEIGHTS": str(out.parent / "absent.mat"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(notebook.parent)}}
    )
    client.execute(env={**os.environ, **settings})
    return nb


def stdout(nb):
    """Everything an executed notebook printed on stdout, in cell order."""
    return "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream" and o.name == "stdout"
    )
