"""`nst.paint`, the run from Python step by step: its events as they come, the command line's files, its result."""

import numpy as np

import nst
from nst.engine.events import ScaleFinished, ScaleStarted, Step
from nst.settings import DEMO_CONTENT, DEMO_STYLE


def test_paint_yields_the_steps_writes_the_files_and_returns_the_result(small_vgg, tmp_path):
    out = tmp_path / "out"
    lines = []
    run = nst.paint(
        DEMO_CONTENT,
        DEMO_STYLE,
        weights=small_vgg,
        width=24,
        height=16,
        iterations=4,
        save_every=2,
        seed=1,
        output_dir=out,
        progress=False,
        log=lines.append,
    )
    events = []
    while True:
        try:
            events.append(next(run))
        except StopIteration as done:
            generated, history = done.value
            break
    assert isinstance(events[0], ScaleStarted) and isinstance(events[-1], ScaleFinished)
    steps = [e for e in events if isinstance(e, Step)]
    assert [s.iteration for s in steps] == [0, 1, 2, 3] and [s.image is not None for s in steps] == [True, False] * 2
    assert history == [s.costs for s in steps] and np.array_equal(generated, events[-1].image)
    assert {"0.png", "2.png", "costs.csv", "generated_image.jpg", "run.json"} <= {p.name for p in out.iterdir()}
    assert lines[-1].startswith("Iteration 2 :")
