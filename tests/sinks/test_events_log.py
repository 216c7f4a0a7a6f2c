"""events.jsonl: a real run's events written and read back; a damaged or hostile log is one ValueError."""

import json
import os

import pytest

from nst.commands.cli import main
from nst.sinks.events_log import EVENTS, MAX_BYTES, events_log, read_events


def test_a_run_writes_its_events_and_they_read_back(small_vgg, tmp_path):
    from nst.settings import DEMO_CONTENT, DEMO_STYLE

    out = tmp_path / "run"
    out.mkdir()
    sink = events_log(out)
    code = main(
        [
            "--content",
            str(DEMO_CONTENT),
            "--style",
            str(DEMO_STYLE),
            "--weights",
            str(small_vgg),
            "--width",
            "24",
            "--height",
            "16",
            "--iterations",
            "6",
            "--save-every",
            "5",
            "--seed",
            "1",
            "--output-dir",
            str(out),
            "--no-progress",
        ],
        on_event=sink,
    )
    assert code == 0
    records = read_events(out)
    assert [r["event"] for r in records] == ["started"] + ["step"] * 6 + ["scale_finished", "ended"]
    assert records[0] == {
        "event": "started",
        "scale": 0,
        "scales": 1,
        "width": 24,
        "height": 16,
        "optimizer": "adam",
        "iterations": 6,
        "first": 0,
    }
    steps = records[1:7]
    assert [s["iteration"] for s in steps] == list(range(6)) and [s["image"] for s in steps] == [
        "0.png",
        None,
        None,
        None,
        None,
        "5.png",
    ]
    costs = [line.split(",") for line in (out / "costs.csv").read_text().splitlines()[1:]]
    assert [[s["iteration"], s["J"], s["content"], s["style"]] for s in steps] == [
        [int(c[0]), float(c[1]), float(c[2]), float(c[3])] for c in costs
    ]
    assert records[-1] == {
        "event": "ended",
        "state": "finished",
        "message": f"Done: {out / 'generated_image.jpg'}",
        "resumable": False,
    }
    assert oct(os.stat(out / EVENTS).st_mode & 0o777) == "0o600"


def test_a_tiled_run_logs_its_tiles_between_the_steps(small_vgg, tmp_path):
    """--tile 16 at 64x48: every step's two sweeps go tile by tile; each tile done is an event (tile_seconds=0),
    and a sweep's last tile is logged even when the log takes at most one a second."""
    from nst.settings import DEMO_CONTENT, DEMO_STYLE

    logs = {}
    for name, seconds in (("every", 0.0), ("throttled", 3600.0)):
        out = tmp_path / name
        out.mkdir()
        argv = [
            "--content",
            str(DEMO_CONTENT),
            "--style",
            str(DEMO_STYLE),
            "--weights",
            str(small_vgg),
            "--width",
            "64",
            "--height",
            "48",
            "--iterations",
            "2",
            "--seed",
            "1",
            "--tile",
            "16",
            "--output-dir",
            str(out),
            "--no-progress",
        ]
        assert main(argv, on_event=events_log(out, tile_seconds=seconds)) == 0
        logs[name] = read_events(out)
    every, throttled = logs["every"], logs["throttled"]
    kinds = [r["event"] for r in every]
    first_step, second_step = (i for i, kind in enumerate(kinds) if kind == "step")
    # before the first step both sweeps; before the last only a forward sweep (its J; no update follows)
    for (start, stop), sweeps in (((0, first_step), {"forward", "backward"}), ((first_step, second_step), {"forward"})):
        tiles = [r for r in every[start:stop] if r["event"] == "tile"]
        assert {r["sweep"] for r in tiles} == sweeps and {r["tiles"] for r in tiles} == {12}
        assert [r["tile"] for r in tiles] == list(range(12)) * (len(tiles) // 12)  # 3x4 tiles, in order, whole
    every_tile = [r for r in every if r["event"] == "tile"]
    assert [r for r in throttled if r["event"] == "tile"] == every_tile[:1] + [
        r for r in every_tile[1:] if r["tile"] == r["tiles"] - 1
    ]  # the first, then sweeps' ends
    same = [r for r in every if r["event"] != "tile"], [r for r in throttled if r["event"] != "tile"]
    assert [r["J"] for r in same[0] if r["event"] == "step"] == [r["J"] for r in same[1] if r["event"] == "step"]


def test_a_failed_run_says_why_in_its_last_event(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    assert main(["--content", str(tmp_path / "missing.jpg"), "--output-dir", str(out)], on_event=events_log(out)) == 2
    (record,) = read_events(out)
    assert record["event"] == "ended" and record["state"] == "failed" and "missing.jpg" in record["message"]


HOSTILE = {
    "deep nesting": b"[" * 200_000 + b"]" * 200_000 + b"\n",
    "a long line": b'{"event": "ended", "state": "failed", "message": "' + b"x" * 5000 + b'", "resumable": false}\n',
    "not JSON": b"hello\n",
    "a list": b"[1, 2]\n",
    "an unknown key": b'{"event": "ended", "state": "failed", "message": "m", "resumable": false, "x": 1}\n',
    "a cost as text": b'{"event": "step", "scale": 0, "iteration": 0, "J": "1", "content": 1, "style": 1, '
    b'"seconds": 1, "evaluations": 1, "image": null}\n',
    "NaN": b'{"event": "step", "scale": 0, "iteration": 0, "J": NaN, "content": 1, "style": 1, "seconds": 1, '
    b'"evaluations": 1, "image": null}\n',
    "a path as image": b'{"event": "step", "scale": 0, "iteration": 0, "J": 1, "content": 1, "style": 1, '
    b'"seconds": 1, "evaluations": 1, "image": "../../etc/passwd.png"}\n',
    "a tile of another sweep": b'{"event": "tile", "sweep": "sideways", "segment": 0, "tile": 0, "tiles": 1}\n',
    "a huge count": b'{"event": "scale_finished", "scale": 0, "evaluations": 1e400, "reason": "r", "stopped": true}\n',
    "a boolean count": b'{"event": "started", "scale": true, "scales": 1, "width": 1, "height": 1, '
    b'"optimizer": "adam", "iterations": 1, "first": 0}\n',
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_line_is_one_value_error(tmp_path, case):
    (tmp_path / EVENTS).write_bytes(HOSTILE[case])
    with pytest.raises(ValueError, match=EVENTS):
        read_events(tmp_path)


def test_a_fifo_a_symlink_and_a_huge_log_are_refused_without_blocking(tmp_path):
    fifo, link, huge = (tmp_path / name for name in ("fifo", "link", "huge"))
    for folder in (fifo, link, huge):
        folder.mkdir()
    os.mkfifo(fifo / EVENTS)  # opened without O_NONBLOCK, this would wait for a writer forever
    (link / EVENTS).symlink_to(tmp_path / "elsewhere")
    with open(huge / EVENTS, "wb") as f:
        f.truncate(MAX_BYTES + 1)
    for folder, needle in ((fifo, "not a file"), (link, "cannot be read"), (huge, "larger than")):
        with pytest.raises(ValueError, match=needle):
            read_events(folder)


def test_a_line_being_written_is_not_yet_an_event(tmp_path):
    whole = json.dumps({"event": "ended", "state": "stopped", "message": "m", "resumable": True})
    (tmp_path / EVENTS).write_text(whole + "\n" + whole[:10])
    assert len(read_events(tmp_path)) == 1
    assert read_events(tmp_path / "none") == []
