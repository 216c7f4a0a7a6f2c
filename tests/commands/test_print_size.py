"""Print sizes from the command line: --tile and --max-memory give the untiled run's numbers, a run stays under
its budget (its peak resident set read from /proc), a tiled run resumes, the plan is logged and in run.json."""

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from test_resume import args, assert_same_run, costs, pictures  # noqa: F401 - the module's fixture

from nst.commands.cli import main
from nst.settings import PACKAGE_ROOT
from nst.sinks.checkpoint import load_checkpoint


def run(small_vgg, pictures, out, iterations, *extra, width=64, height=48):  # noqa: F811
    argv = args(small_vgg, pictures, out, iterations, *extra)
    argv[argv.index("--width") + 1], argv[argv.index("--height") + 1] = str(width), str(height)
    return main(argv)


def test_a_tiled_run_writes_the_untiled_runs_costs(small_vgg, pictures, tmp_path, capsys):  # noqa: F811
    assert run(small_vgg, pictures, tmp_path / "whole", 8) == 0
    assert "in tiles" not in capsys.readouterr().out
    assert run(small_vgg, pictures, tmp_path / "tiled", 8, "--tile", 24) == 0
    log = capsys.readouterr().out
    assert "64x48 in tiles: 1 segment, forward sweep 2x3, backward sweep 2x3" in log
    # the same numbers up to float rounding (the tiles sum the Grams in another order): 8 Adam steps
    np.testing.assert_allclose(costs(tmp_path / "tiled"), costs(tmp_path / "whole"), rtol=1e-5)
    # and the same picture: no seam where tiles meet (rows 16 and 32, columns 24 and 48 at 2x3 tiles of 64x48)
    (tiled, _), (whole, _) = load_checkpoint(tmp_path / "tiled"), load_checkpoint(tmp_path / "whole")
    assert np.max(np.abs(tiled.image - whole.image)) < 1e-3 * np.max(np.abs(whole.image))
    record = json.loads((tmp_path / "tiled" / "run.json").read_text())["memory"]
    assert record["tile"] == 24 and record["scales"][0]["plan"]["forward"] == [[2, 3]]
    whole = json.loads((tmp_path / "whole" / "run.json").read_text())["memory"]
    assert whole["tile"] is None and whole["scales"][0]["plan"] is None


def test_a_tiled_run_resumes(small_vgg, pictures, tmp_path, capsys):  # noqa: F811
    straight, out = tmp_path / "straight", tmp_path / "out"
    assert run(small_vgg, pictures, straight, 12, "--tile", 24) == 0
    assert run(small_vgg, pictures, out, 6, "--tile", 24) == 0
    assert main(["--resume", str(out), "--iterations", "12", "--no-progress"]) == 0
    assert "in tiles" in capsys.readouterr().out  # resumed tiled
    assert_same_run(out, straight)
    # the tiles may change on resume (the numbers do not), as may the budget
    assert (
        main(["--resume", str(out), "--iterations", "14", "--tile", "32", "--max-memory", "4G", "--no-progress"]) == 0
    )


def peak_of(command, env=None):
    """Run `command`; its peak resident set (VmHWM from /proc while it runs) and its exit code and output."""
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=PACKAGE_ROOT
    )
    peak = [0]

    def watch():
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    peak[0] = max(peak[0], next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:")))
            except (OSError, StopIteration):
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    out, _ = proc.communicate(timeout=600)
    watcher.join()
    return peak[0], proc.returncode, out


@pytest.fixture(scope="module")
def real_width_vgg(tmp_path_factory):
    from nst.weights.testnet import REAL_WIDTHS, write_test_vgg

    return write_test_vgg(tmp_path_factory.mktemp("real") / "vgg19-real-widths.mat", widths=REAL_WIDTHS, seed=0)


def test_a_run_that_needs_tiles_stays_under_its_max_memory(real_width_vgg, pictures, tmp_path):  # noqa: F811
    """The real conv widths, coarse to fine: 640x480 whole (about 1.7 GB), then 1280x960, which needs tiles in a
    budget of 2 GB. The peak resident set, read from /proc, stays under the budget: what the first scale held is
    given back, and the second scale's plan leaves room for what is still held (1.77 GB measured; 2.08 GB when
    TensorFlow's pool kept the first scale's working set)."""
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "nst",
        "--content",
        str(pictures[0]),
        "--style",
        str(pictures[1]),
        "--weights",
        str(real_width_vgg),
        "--width",
        "1280",
        "--height",
        "960",
        "--iterations",
        "1",
        "--scales",
        "2",
        "--max-memory",
        "2G",
        "--output-dir",
        str(out),
        "--no-progress",
        "--seed",
        "1",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    peak, code, log = peak_of(command, env)
    assert code == 0, log
    assert "1280x960 in tiles" in log and "640x480 in tiles" not in log
    assert 0.7e9 < peak <= 2.0e9, peak
