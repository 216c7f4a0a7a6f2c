"""costs.csv, a run's cost history: iteration,total,content,style, one row per step at full precision."""

import csv
import io
from pathlib import Path

from nst.errors import NstError
from nst.files import write_text_atomic

COSTS_HEADER = ("iteration", "total", "content", "style")


def write_costs_csv(path, history):
    """costs.csv: header iteration,total,content,style; one row per step with the costs after it (full precision)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COSTS_HEADER)
    for i, J, Jc, Js in history:
        writer.writerow([i, repr(float(J)), repr(float(Jc)), repr(float(Js))])
    write_text_atomic(path, buf.getvalue())


def read_costs_csv(path):
    """costs.csv -> [(iteration, J, J_content, J_style), ...]; NstError naming the file when it is not one."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = [
                (int(r["iteration"]), float(r["total"]), float(r["content"]), float(r["style"]))
                for r in csv.DictReader(f)
            ]
    except FileNotFoundError:
        raise NstError(f"costs file {path} does not exist; give the costs.csv of a run") from None
    except (OSError, KeyError, TypeError, ValueError, UnicodeDecodeError, csv.Error):
        raise NstError(
            f"costs file {path} is not a costs.csv (header iteration,total,content,style); give the costs.csv of a run"
        ) from None
    if not rows:
        raise NstError(f"costs file {path} holds no rows; give the costs.csv of a finished run")
    return rows
