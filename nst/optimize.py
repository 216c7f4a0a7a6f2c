"""The optimisation loop (the homework's `model_nn`): Adam on the pixels of the generated image.

Adam has TF1 `tf.train.AdamOptimizer` semantics (the homework's):
    lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
    m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
    x = x - lr_t * m / (sqrt(v) + epsilon)          (epsilon outside the bias correction)
"""

import time
from pathlib import Path

import tensorflow as tf
from tqdm import tqdm

from nst.checkpoint import restore_checkpoint, save_checkpoint
from nst.costs_csv import write_costs_csv
from nst.errors import RunInterrupted
from nst.images import save_image
from nst.interrupt import deferred_interrupts
from nst.objective import cost_function
from nst.targets import content_target, style_targets_for

BETA1 = 0.9
BETA2 = 0.999
EPSILON = 1e-8


def adam_state(image):
    """Fresh Adam slots for `image` as tf.Variables: m, v (zeros like image) and beta1^t, beta2^t (TF1 keeps
    these powers as variables, multiplied by beta after each step; they start at beta1 and beta2)."""
    return {
        "m": tf.Variable(tf.zeros_like(image), trainable=False, name="adam_m"),
        "v": tf.Variable(tf.zeros_like(image), trainable=False, name="adam_v"),
        "beta1_power": tf.Variable(BETA1, dtype=tf.float32, trainable=False, name="beta1_power"),
        "beta2_power": tf.Variable(BETA2, dtype=tf.float32, trainable=False, name="beta2_power"),
    }


def adam_update(var, grad, state, learning_rate, beta1=BETA1, beta2=BETA2, epsilon=EPSILON):
    """One TF1-AdamOptimizer update of `var` in place (see the module docstring for the equations).

    Computed in float32 in the order of TF1's ApplyAdam kernel, with beta^t accumulated by multiplication as
    TF1 does, so the result equals tf.compat.v1.train.AdamOptimizer bit for bit.
    """
    one, beta1, beta2 = tf.constant(1.0), tf.constant(beta1), tf.constant(beta2)
    b1_power, b2_power = state["beta1_power"], state["beta2_power"]
    lr_t = learning_rate * tf.sqrt(one - b2_power) / (one - b1_power)
    m = state["m"].assign_add((grad - state["m"]) * (one - beta1))
    v = state["v"].assign_add((tf.square(grad) - state["v"]) * (one - beta2))
    updated = var.assign_sub(m * lr_t / (tf.sqrt(v) + epsilon))
    b1_power.assign(b1_power * beta1)
    b2_power.assign(b2_power * beta2)
    return updated


def make_train_step(costs, image, state, learning_rate, jit_compile=None):
    """A compiled step: costs of the current image, gradient, one Adam update. Returns (J, Jc, Js) before it.

    Traced once (no arguments: image and Adam state are variables); jit_compile=True compiles it with XLA.
    """

    @tf.function(jit_compile=jit_compile)
    def train_step():
        with tf.GradientTape() as tape:
            J, J_content, J_style = costs(image)
        grad = tape.gradient(J, image)
        adam_update(image, grad, state, learning_rate)
        return J, J_content, J_style

    return train_step


def model_nn(model, content_image, style_image, input_image, cfg, log=tqdm.write, timing=None, functions=None):
    """The homework's model_nn: `cfg.iterations` Adam steps from `input_image` (all images (1, H, W, 3), normalized).

    After step i with i % cfg.save_every == 0: logs the costs (the homework's wording) and saves
    `<output_dir>/<i>.png`; at the end saves `generated_image.jpg`; `costs.csv` holds every step's costs.
    Returns (generated image (1, H, W, 3) float32, history [(i, J, J_content, J_style) after step i]).
    `timing` (a dict, optional) gets "seconds_per_iteration": the loop's wall time / iterations.
    `functions` (optional): the caller's cost functions by their homework names, e.g. a student's
    {"compute_content_cost": ..., "compute_style_cost": ..., "total_cost": ...}; J is then built by them in
    the compiled step (see nst.cost_functions). Without it, nst.costs's.
    """
    out = Path(cfg.output_dir)
    a_C = content_target(model, content_image, cfg.content_layer)
    style_target = style_targets_for(model, style_image, cfg, input_image.shape, functions)
    costs = cost_function(model, a_C, style_target, cfg, functions)
    image = tf.Variable(input_image, dtype=tf.float32, name="generated_image")
    state = adam_state(image)
    train_step = make_train_step(costs, image, state, cfg.learning_rate, jit_compile=cfg.xla or None)

    # (i, image after step i or None): its costs come from the next step's forward pass. --resume: from the checkpoint
    first, history, pending = restore_checkpoint(cfg, image, state)
    bar = tqdm(total=cfg.iterations, initial=first, unit="step", disable=not cfg.progress, dynamic_ncols=True)

    def finish(i, saved, J, Jc, Js):
        history.append((i, float(J), float(Jc), float(Js)))
        bar.set_postfix(total=f"{float(J):.4g}", content=f"{float(Jc):.4g}", style=f"{float(Js):.4g}")
        if saved is not None:
            log(f"Iteration {i} :\ntotal cost = {float(J)}\ncontent cost = {float(Jc)}\nstyle cost = {float(Js)}")
            save_image(out / f"{i}.png", saved)
            write_costs_csv(out / "costs.csv", history)

    started = time.perf_counter()
    stopped = None  # Ctrl-C / SIGTERM: the last step done when the loop stopped early
    with deferred_interrupts() as interrupted:
        for i in range(first, cfg.iterations):
            if interrupted():
                stopped = i - 1
                break
            J, Jc, Js = train_step()
            if pending is not None:
                finish(*pending, J, Jc, Js)
                if pending[1] is not None:  # a save point: the state after step i, for --resume
                    save_checkpoint(out, cfg, image.numpy(), state, i, history)
            bar.update(1)
            pending = (i, image.numpy() if i % cfg.save_every == 0 else None)
    if pending is not None:  # the last image's costs, traced like the steps' (an eager call rounds otherwise in bf16)
        J, Jc, Js = tf.function(lambda: costs(image), jit_compile=cfg.xla or None)()
        finish(*pending, J, Jc, Js)
    bar.close()
    if timing is not None:
        steps = (cfg.iterations if stopped is None else stopped + 1) - first
        timing["seconds_per_iteration"] = (time.perf_counter() - started) / max(1, steps)
    generated = image.numpy()
    if stopped is not None:
        save_interrupted(out, cfg, generated, state, stopped, history)
    save_image(out / "generated_image.jpg", generated)
    write_costs_csv(out / "costs.csv", history)
    save_checkpoint(out, cfg, generated, state, history[-1][0], history)
    return generated, history


def save_interrupted(out, cfg, image, state, step, history):
    """After Ctrl-C/SIGTERM stopped the loop after `step` (-1: before any): save `<step>.png`, costs.csv and
    the checkpoint, then raise RunInterrupted saying where."""
    if step < 0:
        raise RunInterrupted(f"interrupted before the first step; nothing was saved in {out}")
    save_image(out / f"{step}.png", image)
    write_costs_csv(out / "costs.csv", history)
    save_checkpoint(out, cfg, image, state, step, history)
    hint = f"; continue with: nst --resume {out}" if cfg.scales == 1 else ""
    raise RunInterrupted(f"interrupted after step {step} of {cfg.iterations}: saved {out / f'{step}.png'}, "
                         f"{out / 'costs.csv'} and {out / 'checkpoint.npz'}{hint}")
