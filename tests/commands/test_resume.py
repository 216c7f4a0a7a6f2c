"""Interruptions (real SIGINT/SIGTERM), checkpoints and --resume: the same result as an uninterrupted run."""

import csv
import os
import shutil
import signal
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pytest

from nst.commands.cli import main
from nst.commands.run import style_transfer
from nst.errors import NstError, RunInterrupted
from nst.settings import PACKAGE_ROOT, Config
from nst.sinks.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:24, 0:32]
    photo = np.stack([x * 8, y * 10, 255 - x * 4], axis=-1).astype(np.uint8)
    iio.imwrite(folder / "photo.png", photo)
    iio.imwrite(folder / "painting.png", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    return folder / "photo.png", folder / "painting.png"


def args(small_vgg, pictures, out, iterations, *extra):
    return [
        str(a)
        for a in (
            "--content",
            pictures[0],
            "--style",
            pictures[1],
            "--weights",
            small_vgg,
            "--width",
            32,
            "--height",
            24,
            "--iterations",
            iterations,
            "--save-every",
            10,
            "--seed",
            3,
            "--output-dir",
            out,
            "--no-progress",
            *extra,
        )
    ]


def costs(path):
    with open(path / "costs.csv") as f:
        return [[float(v) for v in row] for row in list(csv.reader(f))[1:]]


def assert_same_run(a, b):
    """Two output folders hold the same run: costs.csv rows and final state equal within float tolerance."""
    rows_a, rows_b = costs(a), costs(b)
    assert [r[0] for r in rows_a] == [r[0] for r in rows_b]
    np.testing.assert_allclose(rows_a, rows_b, rtol=1e-6)
    (ca, _), (cb, _) = load_checkpoint(a), load_checkpoint(b)
    assert ca.step == cb.step
    np.testing.assert_allclose(ca.image, cb.image, rtol=1e-5, atol=1e-4)
    for key in ("m", "v", "beta1_power", "beta2_power"):
        np.testing.assert_allclose(ca.adam[key], cb.adam[key], rtol=1e-5, atol=1e-4)
    diff = np.abs(iio.imread(a / "generated_image.jpg").astype(int) - iio.imread(b / "generated_image.jpg").astype(int))
    assert diff.max() <= 1


def cfg_of(small_vgg, pictures, out, **options):
    """The Config of `args(small_vgg, pictures, out, 40)` (the runs compared with `straight`)."""
    fields = dict(content=pictures[0], style=pictures[1], weights=small_vgg, width=32, height=24, iterations=40)
    fields.update(save_every=10, seed=3, output_dir=out, progress=False)
    return Config(**{**fields, **options})


@pytest.fixture(scope="module")
def straight_run(small_vgg, pictures, tmp_path_factory):
    """40 steps without interruption (the reference), and its checkpoint.npz as it stood after save point 10 (as
    after a crash at step 20): (output folder, that checkpoint)."""
    out, saved = tmp_path_factory.mktemp("straight"), tmp_path_factory.mktemp("saved") / "checkpoint.npz"

    def log(line):
        if line.startswith("Iteration 20 :"):
            shutil.copy(out / "checkpoint.npz", saved)

    style_transfer(cfg_of(small_vgg, pictures, out), log=log)
    assert load_checkpoint(saved.parent)[0].step == 11
    return out, saved


@pytest.fixture(scope="module")
def straight(straight_run):
    return straight_run[0]


def test_20_steps_then_resume_20_equals_40_straight(small_vgg, pictures, straight, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(args(small_vgg, pictures, out, 20)) == 0
    ckpt, run = load_checkpoint(out)
    assert ckpt.step == 19 and len(ckpt.history) == 20 and run.iterations == 20
    assert main(["--resume", str(out), "--iterations", "40", "--no-progress"]) == 0
    assert f"Done: {out / 'generated_image.jpg'}" in capsys.readouterr().out
    assert_same_run(out, straight)
    assert {"0.png", "10.png", "20.png", "30.png"} <= {p.name for p in out.iterdir()}
    np.testing.assert_array_equal(iio.imread(out / "30.png"), iio.imread(straight / "30.png"))
    # Nothing left to do: a clear error, the run untouched.
    before = (out / "costs.csv").read_bytes()
    assert main(["--resume", str(out), "--no-progress"]) == 2
    assert "already done 40 of its 40 steps" in capsys.readouterr().err
    assert (out / "costs.csv").read_bytes() == before


def test_sigint_in_process_saves_state_and_resumes(small_vgg, pictures, straight, tmp_path):
    """A real SIGINT (sent to this process at the log line of step 20) stops the run after one more step; the
    interrupted run resumes to the straight run's result. (The checkpoint of the save point before it, as after a
    crash, resumes so too: test_resume_alone_takes_the_run_s_settings.)"""
    out = tmp_path / "out"
    cfg = cfg_of(small_vgg, pictures, out)

    def log(line):
        if line.startswith("Iteration 20 :"):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(RunInterrupted) as info:
        style_transfer(cfg, log=log)
    message = str(info.value)
    step = load_checkpoint(out)[0].step
    assert step == 21 and f"interrupted after step {step} of 40" in message and "--resume" in message
    assert str(out / f"{step}.png") in message and (out / f"{step}.png").is_file()
    assert len(costs(out)) == step + 1 and not (out / "generated_image.jpg").exists()

    generated, history = style_transfer(Config(resume=out, progress=False))
    assert len(history) == 40 and generated.shape == (1, 24, 32, 3)
    assert_same_run(out, straight)


def test_sigterm_through_a_real_process_exits_130_then_resume(small_vgg, pictures, tmp_path):
    out, ref = tmp_path / "out", tmp_path / "ref"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(PACKAGE_ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nst", *args(small_vgg, pictures, out, 1_000_000)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.npz").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nst: interrupted after step ") and "Traceback" not in stderr
    step = load_checkpoint(out)[0].step
    assert f"after step {step} of 1000000" in lines[0] and f"nst --resume {out}" in lines[0]
    assert (out / f"{step}.png").is_file() and len(costs(out)) == step + 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    # Resume for 5 more steps == a straight run of step + 6 steps.
    assert main(["--resume", str(out), "--iterations", str(step + 6), "--no-progress"]) == 0
    assert main(args(small_vgg, pictures, ref, step + 6)) == 0
    assert_same_run(out, ref)


def test_resume_errors(small_vgg, pictures, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "checkpoint.npz").write_bytes(np.random.default_rng(0).bytes(3000))
    finished = tmp_path / "finished"
    assert main(args(small_vgg, pictures, finished, 3)) == 0
    capsys.readouterr()
    cases = {
        "missing folder": (["--resume", tmp_path / "nope"], "no such folder"),
        "no checkpoint": (["--resume", empty], "there is no checkpoint.npz"),
        "damaged": (["--resume", damaged], "is damaged"),
        "other settings": (["--resume", finished, "--width", 64], "drop --width"),
    }
    for name, (argv, needle) in cases.items():
        assert main([str(a) for a in argv]) == 2, name
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err, (name, err)
    with pytest.raises(NstError, match="drop --alpha"):
        style_transfer(Config(resume=finished, alpha=1.0))


def test_seed_and_deterministic_give_byte_identical_outputs(small_vgg, pictures, tmp_path):
    from tensorflow.python.framework import config as tf_config

    was_on = tf_config.is_op_determinism_enabled()
    try:
        for name in ("a", "b"):
            assert main(args(small_vgg, pictures, tmp_path / name, 12, "--deterministic")) == 0
    finally:
        if not was_on:
            tf_config.disable_op_determinism()
    for name in ("costs.csv", "0.png", "10.png", "generated_image.jpg"):  # (checkpoint.npz names its folder)
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # Without --deterministic the seed still fixes the noise: the first costs are those of the same start image.
    assert main(args(small_vgg, pictures, tmp_path / "c", 1)) == 0
    assert main(args(small_vgg, pictures, tmp_path / "d", 1, "--seed", "4")) == 0
    same, other = costs(tmp_path / "c")[0], costs(tmp_path / "d")[0]
    assert same == pytest.approx(costs(tmp_path / "a")[0], rel=1e-5) and other != pytest.approx(same, rel=1e-3)


@pytest.fixture(scope="module")
def saved_at_10(straight_run):
    """The checkpoint.npz of the 40-step run as it stood after save point 10 (as after a crash at step 20)."""
    return straight_run[1]


def interrupted_run(saved, folder):
    folder.mkdir()
    shutil.copy(saved, folder)
    return folder


def test_resume_with_the_run_s_own_flags_repeated(small_vgg, pictures, straight, saved_at_10, tmp_path, monkeypatch):
    """The habit: repeat the command and add --resume. Paths compare as absolute paths (a relative --content from
    the pictures' folder is the run's absolute one); --output-dir naming the resumed folder is fine."""
    out = interrupted_run(saved_at_10, tmp_path / "out")
    monkeypatch.chdir(pictures[0].parent)
    argv = args(small_vgg, pictures, out, 40, "--resume", out)
    argv[argv.index("--content") + 1] = pictures[0].name
    assert main(argv) == 0
    assert_same_run(out, straight)


def test_resume_alone_takes_the_run_s_settings(saved_at_10, straight, tmp_path):
    """The checkpoint of save point 10 alone (as after a crash at step 20) resumes to the straight run's result,
    writing the save points after it."""
    out = interrupted_run(saved_at_10, tmp_path / "out")
    assert load_checkpoint(out)[0].step == 11 and len(load_checkpoint(out)[0].history) == 11
    assert main(["--resume", str(out), "--no-progress"]) == 0
    assert_same_run(out, straight)
    assert {"20.png", "30.png"} <= {p.name for p in out.iterdir()}


def test_resume_refuses_each_differing_flag_naming_both_values(small_vgg, pictures, saved_at_10, tmp_path, capsys):
    out = interrupted_run(saved_at_10, tmp_path / "out")
    before = sorted(p.name for p in out.iterdir())
    argv = args(small_vgg, pictures, out, 40, "--resume", out, "--alpha", 1, "--style-layers", "conv1_1:0.5")
    argv[argv.index("--width") + 1] = "80"
    argv[argv.index("--output-dir") + 1] = str(tmp_path / "elsewhere")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for needle in (
        "--width 80 (the run has 32)",
        "--alpha 1.0 (the run has 10.0)",
        "--style-layers conv1_1:0.5 (the run has conv1_1:0.2,conv2_1:0.2,conv3_1:0.2,conv4_1:0.2,conv5_1:0.2)",
        f"--output-dir {tmp_path / 'elsewhere'} (the run is in {out})",
    ):
        assert needle in err, (needle, err)
    assert "--height" not in err and "--content" not in err and "--seed" not in err
    # A flag given explicitly at the default value is still a flag given: 400 is not the run's 32.
    assert main(["--resume", str(out), "--width", "400", "--no-progress"]) == 2
    assert "--width 400 (the run has 32)" in capsys.readouterr().err
    assert main(["--resume", str(out), "--style", str(pictures[0]), "--no-progress"]) == 2
    assert f"--style {pictures[0]} (the run has {pictures[1]})" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before  # nothing written


def test_resume_from_python_compares_fields_that_differ_from_the_defaults(saved_at_10, straight, tmp_path):
    out = interrupted_run(saved_at_10, tmp_path / "out")
    with pytest.raises(NstError, match=r"--height 30 \(the run has 24\)"):
        style_transfer(Config(resume=out, height=30))
    style_transfer(Config(resume=out, width=32, seed=3, progress=False))  # the run's own values
    assert_same_run(out, straight)


def coarse_to_fine_cfg(small_vgg, pictures, out):
    return cfg_of(small_vgg, pictures, out, iterations=20, scales=2)


@pytest.fixture(scope="module")
def coarse_to_fine_straight(small_vgg, pictures, tmp_path_factory):
    """--scales 2 without interruption (the reference of both stops)."""
    out = tmp_path_factory.mktemp("coarse-to-fine")
    style_transfer(coarse_to_fine_cfg(small_vgg, pictures, out))
    return out


@pytest.mark.parametrize("stop_at", ["Iteration 10 :", "Scale 2/2: 32x24"])
def test_coarse_to_fine_stops_and_resumes_to_the_straight_result(
    small_vgg, pictures, coarse_to_fine_straight, tmp_path, stop_at
):
    """--scales 2: a SIGINT in the first scale or as the second begins saves the checkpoint of the scale it is in
    (the output folder's, naming its scale); --resume continues there and ends where a straight run ends."""
    out = tmp_path / "out"
    cfg = coarse_to_fine_cfg(small_vgg, pictures, out)

    def log(line):
        if line.startswith(stop_at):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(RunInterrupted) as info:
        style_transfer(cfg, log=log)
    checkpoint, _ = load_checkpoint(out)
    assert f"nst --resume {out}" in str(info.value)
    assert (checkpoint.scale, "scale 1/2" in str(info.value)) == ((0, True) if stop_at.startswith("It") else (0, False))
    assert not (out / "generated_image.jpg").exists()
    generated, history = style_transfer(Config(resume=out, progress=False))
    assert len(history) == 20 and generated.shape == (1, 24, 32, 3) and load_checkpoint(out)[0].scale == 1
    assert_same_run(out, coarse_to_fine_straight)
    for name in ("costs.csv", "generated_image.jpg"):
        assert (out / "scale1_16x12" / name).is_file()


def test_lbfgs_stops_and_resumes_with_its_evaluations_left(small_vgg, pictures, tmp_path, capsys):
    """L-BFGS: a SIGTERM-like stop saves the image it reached and a checkpoint without Adam's moments; --resume
    starts L-BFGS afresh from that image with the evaluations left and ends within its budget, below the stop."""
    out = tmp_path / "out"
    cfg = Config(
        content=pictures[0],
        style=pictures[1],
        weights=small_vgg,
        width=32,
        height=24,
        iterations=30,
        save_every=5,
        seed=3,
        output_dir=out,
        progress=False,
        optimizer="lbfgs",
    )

    def log(line):
        if line.startswith("Iteration 5 :"):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(RunInterrupted):
        style_transfer(cfg, log=log)
    stopped, _ = load_checkpoint(out)
    assert stopped.adam is None and stopped.step >= 5 and stopped.evaluations < 30
    assert main(["--resume", str(out), "--no-progress"]) == 0
    log_text = capsys.readouterr().out
    final, _ = load_checkpoint(out)
    assert final.evaluations >= 30 and final.history[: len(stopped.history)] == stopped.history
    assert final.history[-1][1] < stopped.history[-1][1] and "L-BFGS:" in log_text
