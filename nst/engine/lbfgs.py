"""L-BFGS on the pixels (`--optimizer lbfgs`, as Gatys et al.): scipy's L-BFGS-B, bounded to 0..255, as iterations.

scipy drives L-BFGS-B through callbacks; `lbfgs_iterations` runs it in a thread of its own and hands each finished
iteration to the caller as it comes, so the driver reads Adam and L-BFGS alike: one iteration at a time, a stop
checked between them. scipy's BLAS runs on one thread meanwhile: its vector operations on the pixels are short,
and OpenBLAS's idle threads spin for a while after each, taking a core from the TF evaluation that follows
(docs/benchmarks/finished-picture.md).
"""

import dataclasses
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf

from nst.engine.objective import Abandoned
from nst.homework import MEANS_RGB


@dataclasses.dataclass(frozen=True)
class Iteration:
    """One finished L-BFGS iteration: its number (from 0), the point x (1, H, W, 3) float32, (J, J_content,
    J_style) there, the evaluations so far and the seconds since the previous iteration."""

    iteration: int
    x: np.ndarray
    costs: tuple
    evaluations: int
    seconds: float


@dataclasses.dataclass(frozen=True)
class Result:
    """How the run ended: the final point, the evaluations spent, why it stopped, and the curvature it ended with:
    the inverse-Hessian scale s'y / y'y of its last pair of accepted points (None before two iterations)."""

    x: np.ndarray
    evaluations: int
    reason: str
    curvature: float | None = None


def pixel_bounds(shape):
    """L-BFGS-B bounds for a normalized image of `shape` (1, H, W, 3): channel c in [-mean_c, 255 - mean_c],
    so the de-normalised image stays in 0..255. Returns (lower, upper) float64 arrays of `shape`."""
    lower = np.broadcast_to(-np.asarray(MEANS_RGB, dtype=np.float32).reshape(1, 1, 1, 3), shape).astype(np.float64)
    return lower, lower + 255.0


def lbfgs_iterations(value_and_grad, x0, evaluations, history=10, stop=None, first_step=None):
    """Yield an Iteration after each L-BFGS-B iteration from `x0` (1, H, W, 3), then one Result.

    value_and_grad: image tensor -> (J, J_content, J_style, gradient). At most `evaluations` iterations, ending at
    the first iteration end after `evaluations` cost evaluations (one evaluation = value + gradient from one call);
    pixels bounded by pixel_bounds; `history` correction pairs (scipy's maxcor). `stop` (a threading.Event): set,
    the run ends at the next iteration end. Closing the generator early ends the run too.

    first_step: the inverse-Hessian scale to start from (a curvature known already, say the coarser scale's).
    L-BFGS-B's first trial point is x0 - g projected on the bounds (the identity as its first Hessian): with J in
    the tens of millions that jump lands far off and its line search spends evaluations coming back. Minimizing
    first_step * J instead makes that trial the quasi-Newton step x0 - first_step * g; every later iteration is the
    same for any positive factor (its Hessian estimate and line search conditions scale with J). None: J as it is.
    """
    import scipy.optimize
    from threadpoolctl import threadpool_limits

    shape = tuple(x0.shape)
    lower, upper = pixel_bounds(shape)
    start = np.clip(np.asarray(x0, dtype=np.float64), lower, upper).ravel()
    handoff = queue.Queue(maxsize=2)
    abandoned = threading.Event()
    last = {"x": None, "costs": None, "evaluations": 0, "iterations": 0, "time": time.perf_counter()}
    factor = float(first_step) if first_step is not None and np.isfinite(first_step) and first_step > 0 else 1.0
    curve = {"x": None, "grad": None, "gamma": None}  # the last accepted point, its gradient, and s'y / y'y

    def evaluate(x):
        J, Jc, Js, grad = value_and_grad(tf.constant(x.reshape(shape), dtype=tf.float32))
        return (float(J), float(Jc), float(Js)), grad.numpy().astype(np.float64).ravel()

    def fun(x):
        if last["evaluations"] == 0 and np.array_equal(x, start):  # computed while scipy set up (below)
            costs, grad = first.result()
            note_curvature(x, grad)  # the start: the first step makes the first pair
        else:
            costs, grad = evaluate(x)
        last.update(x=x.copy(), grad=grad, costs=costs, evaluations=last["evaluations"] + 1)
        return (costs[0], grad) if factor == 1.0 else (factor * costs[0], factor * grad)

    def callback(intermediate_result):
        x = intermediate_result.x
        if last["x"] is not None and np.array_equal(x, last["x"]):
            costs, grad = last["costs"], last["grad"]
        else:  # the accepted point is normally the last one evaluated; otherwise evaluate it (not counted)
            costs, grad = evaluate(x)
        note_curvature(x, grad)
        now = time.perf_counter()
        last["accepted"] = x.copy()
        item = Iteration(
            last["iterations"], x.reshape(shape).astype(np.float32), costs, last["evaluations"], now - last["time"]
        )
        last.update(iterations=last["iterations"] + 1, time=now)
        hand(item)
        if last["evaluations"] >= evaluations or (stop is not None and stop.is_set()) or abandoned.is_set():
            raise StopIteration

    def note_curvature(x, grad):
        # float32 copies: a step's scale needs no more, and they cost a quarter of the optimiser's own arrays
        x32, g32 = x.astype(np.float32), grad.astype(np.float32)
        if curve["x"] is not None:
            s, y = x32 - curve["x"], g32 - curve["grad"]
            sy, yy = float(s @ y), float(y @ y)
            if sy > 0 and yy > 0:
                curve["gamma"] = sy / yy
        curve.update(x=x32, grad=g32)

    def hand(item):
        while not abandoned.is_set():
            try:
                handoff.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def run():
        try:
            with threadpool_limits(1, user_api="blas"):
                result = scipy.optimize.minimize(
                    fun,
                    start,
                    jac=True,
                    method="L-BFGS-B",
                    bounds=scipy.optimize.Bounds(lower.ravel(), upper.ravel()),
                    callback=callback,
                    options={"maxiter": evaluations, "maxfun": evaluations, "gtol": 0.0, "maxcor": history},
                )
            if last["evaluations"] >= evaluations:
                reason = "evaluation budget spent"
            elif stop is not None and stop.is_set():
                reason = "stopped"
            else:
                reason = str(result.message)
            hand(Result(result.x.reshape(shape).astype(np.float32), last["evaluations"], reason, curve["gamma"]))
        except Abandoned:  # a stop during a (tiled) evaluation: the run ends at the last iteration's point
            x = last.get("accepted", start)
            hand(Result(x.reshape(shape).astype(np.float32), last["evaluations"], "stopped", curve["gamma"]))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            hand(exc)

    # The first evaluation (at x0) runs while scipy sets up: its bounds are checked and coded in Python loops over
    # every pixel, as long as an evaluation or so at 400x300 (measured: docs/benchmarks/finished-picture.md).
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(evaluate, start)
        worker = threading.Thread(target=run, name="lbfgs", daemon=True)
        worker.start()
        try:
            while True:
                item = handoff.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Result):
                    break
        finally:
            abandoned.set()
        worker.join()
