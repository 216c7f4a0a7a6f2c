"""The one driver of a run: Adam or L-BFGS at each scale of coarse-to-fine, yielding events as it goes.

`paint(objective_at, start, schedule)` is a generator of nst.engine.events: ScaleStarted, then a Step per
iteration, then ScaleFinished, for each Scale of the schedule; the next scale starts from the last one's image
resized. It writes no file and prints nothing: sinks do (nst.sinks). It does not know whether an objective is
evaluated whole or in tiles (nst.engine.objective.Objective). A `stop` (threading.Event) set by anyone ends the
run at the next step boundary with a checkpoint; `resume` (a Checkpoint) continues one.
"""

import dataclasses
import time

import numpy as np
import tensorflow as tf

from nst.engine.adam import STATE_KEYS, adam_state, make_train_step, state_arrays
from nst.engine.events import Checkpoint, ScaleFinished, ScaleStarted, Step
from nst.engine.lbfgs import Iteration, lbfgs_iterations
from nst.engine.memory import release
from nst.engine.objective import Abandoned
from nst.homework import ADAM_STEPS, LEARNING_RATE
from nst.images import MEANS, reshape_and_normalize_image, resize_image

LBFGS_HISTORY = 10  # scipy's default number of correction pairs (maxcor)


@dataclasses.dataclass(frozen=True)
class Adam:
    """Adam on the pixels (TF1 semantics, nst.engine.adam): `steps` steps at `learning_rate`; jit_compile: XLA."""

    steps: int = ADAM_STEPS
    learning_rate: float = LEARNING_RATE
    jit_compile: bool = False

    name = "adam"

    @property
    def iterations(self):
        return self.steps


@dataclasses.dataclass(frozen=True)
class LBFGS:
    """scipy's L-BFGS-B on the pixels, bounded: at most `evaluations` cost evaluations, `history` correction pairs."""

    evaluations: int
    history: int = LBFGS_HISTORY

    name = "lbfgs"

    @property
    def iterations(self):
        return self.evaluations


@dataclasses.dataclass(frozen=True)
class Scale:
    """One scale of a run: its size and its optimiser (with its budget)."""

    width: int
    height: int
    optimizer: Adam | LBFGS


def scale_sizes(width, height, scales):
    """Coarse-to-fine sizes [(w, h), ...]: (round(width / 2^(N-1-k)), round(height / 2^(N-1-k))) for
    k = 0 .. N-1; the last is (width, height)."""
    return [
        (max(1, round(width / 2 ** (scales - 1 - k))), max(1, round(height / 2 ** (scales - 1 - k))))
        for k in range(scales)
    ]


def resized_start(image, width, height):
    """The next scale's start: the last scale's image (normalized) clipped to 0..255 and resized to width x height."""
    return reshape_and_normalize_image(resize_image(np.clip(image[0] + MEANS[0], 0, 255), width, height))


FIRST_STEP_SHARE = 0.25
"""The share of the coarser scale's curvature a finer scale's first L-BFGS step takes (see next_curvature)."""


def next_curvature(curvature, pixels, next_pixels):
    """The inverse-Hessian scale to start a finer scale's L-BFGS from: the coarser scale's times the ratio of the
    pixels, times FIRST_STEP_SHARE. A style layer's J_l = |G - G_S|^2 / (4 C^2 P^2) is the same at any size P of
    the image, its Gram G a sum over P positions, so dJ/dF at a position and the Hessian go as 1 / P (the content
    cost's too: 1 / (4 P C)), and their inverse as P. The share: the resized image's error lies in the detail the
    coarser scale could not see, where the curvature is higher; a first step too long costs an evaluation to come
    back, one too short nothing (the second step measures this scale's own curvature). Measured (ImageNet VGG-16,
    200x150 then 400x300): the whole curvature took 3 evaluations to its first iteration, a quarter 2 (the least:
    the start and one step), L-BFGS-B's own first step 5."""
    return FIRST_STEP_SHARE * curvature * next_pixels / pixels


def paint(objective_at, start, schedule, stop=None, wants_image=None, resume=None):
    """Yield the events of a run (nst.engine.events) over `schedule` (a list of Scale) from `start`, the first
    scale's start image (1, H, W, 3), normalized.

    objective_at(width, height) -> the Objective at that size (called as each scale begins, so that its targets
    are made then). wants_image(scale, iteration) -> whether the Step event of that iteration carries its image
    (and a checkpoint); always for the last step before a stop. stop: a threading.Event; set, the run ends after
    the step in progress (the scale's ScaleFinished has stopped=True and no further scale begins). resume: the
    Checkpoint of an earlier run of the same schedule, which continues at its scale and step.
    """
    wants_image = wants_image or (lambda scale, iteration: False)
    image = start
    curvature = None  # (the last L-BFGS scale's inverse-Hessian scale, its pixels)
    for k, scale in enumerate(schedule):
        if resume is not None and k < resume.scale:
            continue
        if k > 0 and (resume is None or k > resume.scale):
            image = resized_start(image, scale.width, scale.height)
        resumed = resume if resume is not None and k == resume.scale else None
        objective = objective_at(scale.width, scale.height)
        if isinstance(scale.optimizer, Adam):
            finished = yield from adam_scale(k, len(schedule), scale, objective, image, stop, wants_image, resumed)
        else:
            first_step = None if curvature is None else next_curvature(*curvature, scale.width * scale.height)
            finished = yield from lbfgs_scale(
                k, len(schedule), scale, objective, image, stop, wants_image, resumed, first_step
            )
        if finished.stopped:
            return
        image = finished.image
        curvature = None if finished.curvature is None else (finished.curvature, scale.width * scale.height)
        objective = finished = None  # this scale's network functions, targets and tiles given back before the next
        release()


def adam_scale(k, scales, scale, objective, start, stop, wants_image, resumed):
    """The Adam steps of one scale (see paint); returns its ScaleFinished after yielding it."""
    adam = scale.optimizer
    image = tf.Variable(start if resumed is None else resumed.image, dtype=tf.float32, name="generated_image")
    state = adam_state(image)
    first, history, pending = 0, [], None
    if resumed is not None:  # the image and state after step resumed.step; its costs maybe still to come
        for key in STATE_KEYS:
            state[key].assign(resumed.adam[key])
        first, history = resumed.step + 1, list(resumed.history)
        if len(history) == resumed.step:
            keep = wants_image(k, resumed.step)
            pending = (resumed.step, resumed.image if keep else None, 0.0)
    train_step = make_train_step(objective, image, state, adam.learning_rate, jit_compile=adam.jit_compile or None)
    yield ScaleStarted(k, scales, scale.width, scale.height, adam.name, adam.steps, first, objective.plan)

    def snapshot(step):
        return Checkpoint(k, step, image.numpy(), state_arrays(state), tuple(history), step + 1)

    def finish(pending, costs, now_step):
        i, saved, seconds = pending
        J, Jc, Js = (float(c) for c in costs)
        history.append((i, J, Jc, Js))
        checkpoint = snapshot(now_step) if saved is not None and now_step != i else None
        return Step(k, i, J, Jc, Js, seconds, i + 1, saved, checkpoint)

    started = time.perf_counter()
    stopped = None  # the last step done when a stop ended the loop early
    known = None  # the costs of the last image, when an evaluation given up for a stop had computed them
    for i in range(first, adam.steps):
        if stop is not None and stop.is_set():
            stopped = i - 1
            break
        t0 = time.perf_counter()
        try:
            costs = train_step()
        except Abandoned as abandoned:  # a stop during a (tiled) evaluation: step i is not taken
            stopped, known = i - 1, abandoned.costs
            break
        if pending is not None:
            yield finish(pending, costs, i)
        pending = (i, image.numpy() if wants_image(k, i) else None, time.perf_counter() - t0)
    if stopped is not None and pending is not None and pending[1] is None:
        pending = (pending[0], image.numpy(), pending[2])  # the image a stop leaves: always shown
    if pending is not None:  # the last image's costs, traced like the steps' (an eager call rounds otherwise in bf16)
        last = (
            tf.function(lambda: objective.costs(image), jit_compile=adam.jit_compile or None)
            if objective.fused
            else (lambda: objective.costs(image))
        )
        yield finish(pending, known if known is not None else last(), pending[0])
    done = (adam.steps if stopped is None else stopped + 1) - first
    seconds = (time.perf_counter() - started) / max(1, done)
    last_step = history[-1][0] if history else -1
    finished = ScaleFinished(
        k,
        image.numpy(),
        tuple(history),
        last_step + 1,
        seconds,
        "stopped" if stopped is not None else "steps done",
        stopped is not None,
        snapshot(last_step) if history else None,
    )
    yield finished
    return finished


def lbfgs_scale(k, scales, scale, objective, start, stop, wants_image, resumed, first_step=None):
    """The L-BFGS iterations of one scale (see paint); returns its ScaleFinished after yielding it. A resumed
    L-BFGS scale starts afresh from the checkpoint's image with the evaluations it has left (L-BFGS-B's history
    is not kept). first_step: the inverse-Hessian scale its first step takes (nst.engine.lbfgs.lbfgs_iterations),
    known from the coarser scale (None: L-BFGS-B's own first step)."""
    lbfgs = scale.optimizer
    history = [] if resumed is None else list(resumed.history)
    spent = 0 if resumed is None else resumed.evaluations
    x0 = start if resumed is None else resumed.image
    budget = max(1, lbfgs.evaluations - spent)
    first = len(history)
    yield ScaleStarted(k, scales, scale.width, scale.height, lbfgs.name, lbfgs.evaluations, first, objective.plan)
    started = time.perf_counter()
    result = None
    for item in lbfgs_iterations(objective.value_and_grad, x0, budget, lbfgs.history, stop, first_step):
        if not isinstance(item, Iteration):
            result = item
            break
        i = len(history)
        J, Jc, Js = item.costs
        history.append((i, J, Jc, Js))
        last_before_stop = stop is not None and stop.is_set()
        keep = wants_image(k, i) or last_before_stop
        image = item.x if keep else None
        checkpoint = Checkpoint(k, i, item.x, None, tuple(history), spent + item.evaluations) if keep else None
        yield Step(k, i, J, Jc, Js, item.seconds, spent + item.evaluations, image, checkpoint)
    generated = result.x
    if not history:  # stopped before the first iteration ended (e.g. converged at once)
        J, Jc, Js = (
            objective.value_and_grad(tf.constant(generated))[:3]
            if objective.fused
            else objective.costs(tf.constant(generated))
        )  # a tiled one: its forward sweep, which a stop does not end
        history.append((0, float(J), float(Jc), float(Js)))
    evaluations = spent + result.evaluations
    seconds = (time.perf_counter() - started) / max(1, len(history) - first)
    stopped = result.reason == "stopped"
    finished = ScaleFinished(
        k,
        generated,
        tuple(history),
        evaluations,
        seconds,
        result.reason,
        stopped,
        Checkpoint(k, history[-1][0], generated, None, tuple(history), evaluations),
        result.curvature,
    )
    yield finished
    return finished
