"""L-BFGS instead of Adam (`--optimizer lbfgs`, as Gatys et al.): scipy's L-BFGS-B on the pixels, bounded to 0..255."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from nst.costs_csv import write_costs_csv
from nst.images import MEANS, save_image
from nst.objective import cost_function, make_value_and_grad
from nst.targets import content_target, style_targets_for


def pixel_bounds(shape):
    """L-BFGS-B bounds for a normalized image of `shape` (1, H, W, 3): channel c in [-MEANS_c, 255 - MEANS_c],
    so the de-normalised image stays in 0..255. Returns (lower, upper) float64 arrays of `shape`."""
    lower = np.broadcast_to(-MEANS, shape).astype(np.float64)
    return lower, lower + 255.0


def model_lbfgs(model, content_image, style_image, input_image, cfg, log=tqdm.write, functions=None, timing=None):
    """model_nn with L-BFGS (scipy.optimize.minimize, method L-BFGS-B) instead of Adam, as Gatys et al.

    At most cfg.iterations L-BFGS iterations, stopping at the first iteration end after cfg.iterations cost
    evaluations (one evaluation = value + gradient from one TF call); pixels bounded by pixel_bounds. Writes
    what model_nn writes (i = iteration): `<i>.png` when i % cfg.save_every == 0 with the homework's log lines,
    `costs.csv` (costs after each iteration), `generated_image.jpg`; logs the numbers of iterations and
    evaluations at the end. `functions`: the caller's cost functions, as for model_nn. Returns (generated image (1, H, W, 3) float32, history [(i, J, J_content, J_style)]).
    `timing` (a dict, optional) gets "seconds_per_evaluation": the optimiser's wall time / evaluations.

    scipy's L-BFGS-B runs with its BLAS (OpenBLAS) on one thread: its vector operations on the image's pixels are
    short, and OpenBLAS's idle threads spin for a while after each, taking a core from the TF evaluation that
    follows (docs/benchmarks/finished-picture.md).
    """
    import scipy.optimize
    from threadpoolctl import threadpool_limits

    out = Path(cfg.output_dir)
    a_C = content_target(model, content_image, cfg.content_layer)
    style_target = style_targets_for(model, style_image, cfg, input_image.shape, functions)
    value_and_grad = make_value_and_grad(cost_function(model, a_C, style_target, cfg, functions))
    shape = tuple(input_image.shape)
    lower, upper = pixel_bounds(shape)
    x0 = np.clip(np.asarray(input_image, dtype=np.float64), lower, upper).ravel()
    last = {"x": None, "costs": None, "evaluations": 0}

    def evaluate(x):
        J, Jc, Js, grad = value_and_grad(tf.constant(x.reshape(shape), dtype=tf.float32))
        return (float(J), float(Jc), float(Js)), grad.numpy().astype(np.float64).ravel()

    def fun(x):
        if last["evaluations"] == 0 and np.array_equal(x, x0):  # computed while scipy set up (below)
            costs, grad = first.result()
        else:
            costs, grad = evaluate(x)
        last.update(x=x.copy(), costs=costs, evaluations=last["evaluations"] + 1)
        return costs[0], grad

    history = []
    bar = tqdm(total=cfg.iterations, unit="step", disable=not cfg.progress, dynamic_ncols=True)

    def callback(intermediate_result):
        x = intermediate_result.x
        if last["x"] is not None and np.array_equal(x, last["x"]):
            J, Jc, Js = last["costs"]
        else:  # the accepted point is normally the last one evaluated; otherwise evaluate it (not counted)
            values = value_and_grad(tf.constant(x.reshape(shape), dtype=tf.float32))
            J, Jc, Js = (float(v) for v in values[:3])
        i = len(history)
        history.append((i, J, Jc, Js))
        bar.update(1)
        bar.set_postfix(total=f"{J:.4g}", content=f"{Jc:.4g}", style=f"{Js:.4g}")
        if i % cfg.save_every == 0:
            log(f"Iteration {i} :\ntotal cost = {J}\ncontent cost = {Jc}\nstyle cost = {Js}")
            save_image(out / f"{i}.png", x.reshape(shape).astype(np.float32))
            write_costs_csv(out / "costs.csv", history)
        if last["evaluations"] >= cfg.iterations:
            raise StopIteration

    blas = threadpool_limits(1, user_api="blas")  # restored below (left at one thread if minimize raises)
    started = time.perf_counter()
    # The first evaluation (at x0) runs while scipy sets up: its bounds are checked and coded in Python loops over
    # every pixel, 0.8 s at 400x300 on a Zen 4 core (docs/benchmarks/finished-picture.md).
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(evaluate, x0)
        result = scipy.optimize.minimize(
            fun, x0, jac=True, method="L-BFGS-B", bounds=scipy.optimize.Bounds(lower.ravel(), upper.ravel()),
            callback=callback, options={"maxiter": cfg.iterations, "maxfun": cfg.iterations, "gtol": 0.0},
        )
    if timing is not None:
        timing["seconds_per_evaluation"] = (time.perf_counter() - started) / max(1, last["evaluations"])
    blas.restore_original_limits()
    bar.close()
    generated = result.x.reshape(shape).astype(np.float32)
    if not history:  # stopped before the first iteration ended (e.g. converged at once)
        J, Jc, Js, _ = value_and_grad(tf.constant(generated))
        history.append((0, float(J), float(Jc), float(Js)))
    reason = "evaluation budget spent" if last["evaluations"] >= cfg.iterations else result.message
    log(f"L-BFGS: {len(history)} iterations, {last['evaluations']} evaluations ({reason})")
    save_image(out / "generated_image.jpg", generated)
    write_costs_csv(out / "costs.csv", history)
    return generated, history
