"""The driver: the events of Adam and L-BFGS runs over scales, a stop and a resume, and no files or printing."""

import threading

import numpy as np
import pytest

from nst.engine.driver import LBFGS, Adam, Scale, paint, resized_start
from nst.engine.events import ScaleFinished, ScaleStarted, Step
from nst.engine.objective import Weights
from nst.engine.problem import Problem, objective_at
from nst.images import reshape_and_normalize_image
from nst.vgg import load_vgg_model

W, H = 24, 16


@pytest.fixture(scope="module")
def problem(small_vgg):
    rng = np.random.default_rng(7)
    content = reshape_and_normalize_image(rng.uniform(0, 255, (H, W, 3)).astype(np.float32))
    style = rng.uniform(0, 255, (20, 30, 3)).astype(np.float32)
    return Problem(load_vgg_model(small_vgg), content, (style,), Weights())


def start_image(problem, width=W, height=H):
    rng = np.random.default_rng(1)
    return (problem.content if width == W else np.zeros((1, height, width, 3), np.float32)) + rng.uniform(
        -20, 20, (1, height, width, 3)
    ).astype(np.float32)


def events_of(problem, schedule, **options):
    return list(
        paint(
            lambda w, h: objective_at(problem, w, h),
            start_image(problem, *schedule[0][:2]),
            [Scale(*s) for s in schedule],
            **options,
        )
    )


def test_two_scales_of_adam_yield_their_events_in_order(problem, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    events = events_of(problem, [(12, 8, Adam(5)), (W, H, Adam(4))], wants_image=lambda k, i: i == 2)
    kinds = [(type(e).__name__, e.scale, getattr(e, "iteration", None)) for e in events]
    assert kinds == (
        [("ScaleStarted", 0, None)]
        + [("Step", 0, i) for i in range(5)]
        + [("ScaleFinished", 0, None)]
        + [("ScaleStarted", 1, None)]
        + [("Step", 1, i) for i in range(4)]
        + [("ScaleFinished", 1, None)]
    )
    started = [e for e in events if isinstance(e, ScaleStarted)]
    assert [(e.width, e.height, e.iterations, e.scales) for e in started] == [(12, 8, 5, 2), (W, H, 4, 2)]
    steps = [e for e in events if isinstance(e, Step)]
    assert [e.image is not None for e in steps] == [i == 2 for i in [0, 1, 2, 3, 4, 0, 1, 2, 3]]
    assert steps[2].image.shape == (1, 8, 12, 3) and steps[7].image.shape == (1, H, W, 3)
    # the checkpoint with a save point's image is the optimiser's state one step on (as the costs come then)
    assert steps[2].checkpoint.step == 3 and len(steps[2].checkpoint.history) == 3
    finished = [e for e in events if isinstance(e, ScaleFinished)]
    assert [len(e.history) for e in finished] == [5, 4] and not any(e.stopped for e in finished)
    assert [row[1] for row in finished[1].history] == [e.J for e in steps[5:]]
    assert finished[1].image.shape == (1, H, W, 3) and finished[1].checkpoint.step == 3
    assert list(tmp_path.iterdir()) == [] and capsys.readouterr() == ("", "")  # no file, no printing


def test_a_stop_ends_the_run_after_the_step_in_progress(problem):
    stop = threading.Event()
    events = []
    for event in paint(
        lambda w, h: objective_at(problem, w, h),
        start_image(problem),
        [Scale(W, H, Adam(10)), Scale(W, H, Adam(10))],
        stop=stop,
    ):
        events.append(event)
        if isinstance(event, Step) and event.iteration == 3:
            stop.set()
    finished = events[-1]
    assert isinstance(finished, ScaleFinished) and finished.stopped and finished.scale == 0
    # step 4 had begun when the Step of 3 came (its costs come from step 4's forward pass); the run ends after it
    assert finished.checkpoint.step == 4 and [row[0] for row in finished.history] == [0, 1, 2, 3, 4]
    assert events[-2].image is not None  # the image a stop leaves is always given
    assert not any(isinstance(e, ScaleStarted) and e.scale == 1 for e in events)


RESUMED_SCHEDULE = [(12, 8, Adam(6)), (W, H, Adam(4))]


@pytest.fixture(scope="module")
def uninterrupted(problem):
    """The events of one run of RESUMED_SCHEDULE, every step's image and checkpoint given (each resume's reference)."""
    return events_of(problem, RESUMED_SCHEDULE, wants_image=lambda k, i: True)


@pytest.mark.parametrize("at", [(0, 2), (0, 5), (1, 1)])
def test_resume_from_any_checkpoint_gives_the_uninterrupted_costs(problem, uninterrupted, at):
    schedule, reference = RESUMED_SCHEDULE, uninterrupted
    costs = [e.costs for e in reference if isinstance(e, Step)]
    scale, step = at
    saved = (
        next(e for e in reference if isinstance(e, Step) and (e.scale, e.iteration) == (scale, step - 1))
        if step < 6 or scale
        else None
    )
    checkpoint = (
        saved.checkpoint
        if saved is not None
        else next(e for e in reference if isinstance(e, ScaleFinished) and e.scale == 0).checkpoint
    )
    resumed = events_of(problem, schedule, resume=checkpoint)
    first = next(e for e in resumed if isinstance(e, ScaleStarted))
    assert (first.scale, first.first) == (checkpoint.scale, checkpoint.step + 1)
    rest = [e.costs for e in resumed if isinstance(e, Step)]
    done = sum(
        1 for e in reference if isinstance(e, Step) and (e.scale, e.iteration) < (checkpoint.scale, checkpoint.step)
    )
    assert rest == costs[done:]  # bit for bit


def test_lbfgs_iterations_stop_and_continue(problem):
    def objective(w, h):
        return objective_at(problem, w, h)

    whole = list(paint(objective, start_image(problem), [Scale(W, H, LBFGS(12))]))
    steps = [e for e in whole if isinstance(e, Step)]
    finished = whole[-1]
    assert finished.evaluations >= 12 and [e.iteration for e in steps] == list(range(len(steps)))
    assert all(b.J <= a.J for a, b in zip(steps, steps[1:]))  # L-BFGS never goes up
    stop = threading.Event()
    part = []
    for event in paint(objective, start_image(problem), [Scale(W, H, LBFGS(12))], stop=stop):
        part.append(event)
        if isinstance(event, Step) and event.iteration == 2:
            stop.set()
    ended = part[-1]
    done = len(ended.history)  # L-BFGS's thread may have finished one more iteration when the stop came
    assert ended.stopped and ended.reason == "stopped" and 3 <= done <= 4 and ended.checkpoint.adam is None
    assert ended.checkpoint.step == done - 1 and part[-2].image is not None
    assert [e.costs for e in part if isinstance(e, Step)] == [e.costs for e in steps[:done]]
    rest = list(paint(objective, start_image(problem), [Scale(W, H, LBFGS(12))], resume=ended.checkpoint))
    assert rest[0].first == done and [e.iteration for e in rest if isinstance(e, Step)][0] == done
    assert rest[-1].evaluations >= 12 and rest[-1].history[:done] == ended.history
    assert rest[-1].history[-1][1] < ended.history[-1][1]


def quadratic(curvature, optimum=0.0):
    """value_and_grad of J(x) = curvature / 2 |x - optimum|^2 (all of it style: J_content 0)."""
    import tensorflow as tf

    def value_and_grad(x):
        d = x - optimum
        J = 0.5 * curvature * tf.reduce_sum(d * d)
        return J, tf.constant(0.0), J, curvature * d

    return value_and_grad


def test_a_known_curvature_makes_the_first_step_the_newton_step():
    # J = c / 2 |x - x*|^2 has the inverse-Hessian scale 1 / c: with it, L-BFGS-B's first trial point is x* itself
    # (one evaluation besides the start's); its own first trial, x0 - g, goes a thousandth of the way
    from nst.engine.lbfgs import Iteration, lbfgs_iterations

    rng = np.random.default_rng(3)
    optimum = rng.uniform(-20, 20, (1, 6, 8, 3)).astype(np.float32)
    x0 = optimum + rng.uniform(-20, 20, optimum.shape).astype(np.float32)
    c = 1e-3
    J0 = 0.5 * c * float(np.sum((x0.astype(np.float64) - optimum) ** 2))

    def first_iteration(first_step):
        return next(i for i in lbfgs_iterations(quadratic(c, optimum), x0, 1, first_step=first_step))

    known = first_iteration(1 / c)
    assert known.evaluations == 2 and known.costs[0] < 1e-6 * J0  # J's own value, not the scaled objective's
    np.testing.assert_allclose(known.x, optimum, atol=1e-3)
    own = first_iteration(None)  # a step of |g|, a thousandth of the way
    assert isinstance(own, Iteration) and own.costs[0] > 0.9 * J0


def test_the_curvature_measured_is_the_inverse_hessian_scale():
    from nst.engine.lbfgs import Result, lbfgs_iterations

    rng = np.random.default_rng(4)
    x0 = rng.uniform(-20, 20, (1, 6, 8, 3)).astype(np.float32)
    for c in (1e-3, 5.0):
        result = list(lbfgs_iterations(quadratic(c), x0, 3))[-1]
        assert isinstance(result, Result) and abs(result.curvature * c - 1) < 1e-3


def test_a_finer_scale_starts_from_the_coarser_scales_curvature():
    # the quadratic whose Hessian goes as 1 / pixels, as the homework's J does: the coarse scale measures its
    # curvature, and the finer scale's first step is FIRST_STEP_SHARE of the way to the optimum, in one evaluation
    from nst.engine.driver import FIRST_STEP_SHARE
    from nst.engine.objective import Objective

    def objective_at(width, height):
        value_and_grad = quadratic(1e3 / (width * height))
        return Objective(lambda x: value_and_grad(x)[:3], value_and_grad)

    rng = np.random.default_rng(5)
    start = rng.uniform(-20, 20, (1, H // 2, W // 2, 3)).astype(np.float32)
    events = list(paint(objective_at, start, [Scale(W // 2, H // 2, LBFGS(3)), Scale(W, H, LBFGS(1))]))
    coarse, fine = [e for e in events if isinstance(e, ScaleFinished)]
    assert abs(coarse.curvature * 1e3 / (W * H / 4) - 1) < 1e-3
    J_start = float(quadratic(1e3 / (W * H))(resized_start(coarse.image, W, H))[0])
    first = next(e for e in events if isinstance(e, Step) and e.scale == 1)
    assert first.evaluations == 2
    assert first.J == pytest.approx((1 - FIRST_STEP_SHARE) ** 2 * J_start, rel=1e-3)
