"""The optimisation loop (the homework's `model_nn`): Adam on the pixels of the generated image.

Adam has TF1 `tf.train.AdamOptimizer` semantics (the homework's):
    lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
    m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
    x = x - lr_t * m / (sqrt(v) + epsilon)          (epsilon outside the bias correction)
"""

import csv
import io
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from nst.costs import compute_content_cost, layer_style_cost_from_gram, style_gram, total_cost, total_variation_cost
from nst.checkpoint import restore_checkpoint, save_checkpoint
from nst.errors import RunInterrupted
from nst.files import write_text_atomic
from nst.images import MEANS, save_image
from nst.interrupt import deferred_interrupts
from nst.vgg import LAYER_ORDER

BETA1 = 0.9
BETA2 = 0.999
EPSILON = 1e-8
COSTS_HEADER = ("iteration", "total", "content", "style")


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


def style_targets(model, style_image, style_layers):
    """The style Grams {layer: (n_C, n_C)} of the style image, computed once."""
    acts = model(tf.constant(style_image), [name for name, _ in style_layers])
    return {name: style_gram(acts[name]) for name, _ in style_layers}


def content_target(model, content_image, content_layer):
    """The content activations a_C (1, n_H, n_W, n_C), computed once."""
    return model(tf.constant(content_image), [content_layer])[content_layer]


def cost_function(model, a_C, grams, cfg):
    """image (1, H, W, 3) -> (J, J_content, J_style) for fixed targets a_C and style Grams."""
    layers = [cfg.content_layer] + [name for name, _ in cfg.style_layers]

    compute = compute_dtype(cfg.precision)

    def costs(image):
        if compute == tf.float32:  # the default: the image's own dtype (float32; float64 in the gradient test)
            acts = model(image, layers)
        else:  # --precision bf16 (issue 4): convolutions in bfloat16, Grams and costs in float32
            acts = {name: tf.cast(a, tf.float32) for name, a in model(tf.cast(image, compute), layers).items()}
        J_content = compute_content_cost(a_C, acts[cfg.content_layer])
        J_style = tf.add_n([coeff * layer_style_cost_from_gram(grams[name], acts[name])
                            for name, coeff in cfg.style_layers])
        J = total_cost(J_content, J_style, cfg.alpha, cfg.beta)
        if cfg.tv_weight:  # --tv-weight (issue 5): J += tv_weight * TV(image)
            J = J + cfg.tv_weight * total_variation_cost(image)
        return J, J_content, J_style

    return costs


def compute_dtype(precision):
    """The dtype the VGG convolutions run in: "fp32" -> float32 (the default), "bf16" -> bfloat16 (issue 4)."""
    return {"fp32": tf.float32, "bf16": tf.bfloat16}[precision]


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


def write_costs_csv(path, history):
    """costs.csv: header iteration,total,content,style; one row per step with the costs after it (full precision)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COSTS_HEADER)
    for i, J, Jc, Js in history:
        writer.writerow([i, repr(float(J)), repr(float(Jc)), repr(float(Js))])
    write_text_atomic(path, buf.getvalue())


def model_nn(model, content_image, style_image, input_image, cfg, log=tqdm.write, timing=None):
    """The homework's model_nn: `cfg.iterations` Adam steps from `input_image` (all images (1, H, W, 3), normalized).

    After step i with i % cfg.save_every == 0: logs the costs (the homework's wording) and saves
    `<output_dir>/<i>.png`; at the end saves `generated_image.jpg`; `costs.csv` holds every step's costs.
    Returns (generated image (1, H, W, 3) float32, history [(i, J, J_content, J_style) after step i]).
    `timing` (a dict, optional) gets "seconds_per_iteration": the loop's wall time / iterations.
    """
    out = Path(cfg.output_dir)
    a_C = content_target(model, content_image, cfg.content_layer)
    grams = style_targets_for(model, style_image, cfg, input_image.shape)
    costs = cost_function(model, a_C, grams, cfg)
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
    stopped = None  # Ctrl-C / SIGTERM (issue 6): the last step done when the loop stopped early
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
    if pending is not None:
        J, Jc, Js = costs(image)
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
    the checkpoint, then raise RunInterrupted saying where (issue 6)."""
    if step < 0:
        raise RunInterrupted(f"interrupted before the first step; nothing was saved in {out}")
    save_image(out / f"{step}.png", image)
    write_costs_csv(out / "costs.csv", history)
    save_checkpoint(out, cfg, image, state, step, history)
    hint = f"; continue with: nst --resume {out}" if cfg.scales == 1 else ""
    raise RunInterrupted(f"interrupted after step {step} of {cfg.iterations}: saved {out / f'{step}.png'}, "
                         f"{out / 'costs.csv'} and {out / 'checkpoint.npz'}{hint}")


# --- issue 5: several styles, style scale, L-BFGS -------------------------------------------------------------

def positions(height, width, layer):
    """n_H * n_W of `layer`'s activations for an (height, width) input: each 2x2 SAME pooling before it halves
    the size, rounding up."""
    for name in LAYER_ORDER[: LAYER_ORDER.index(layer)]:
        if name.startswith("avgpool"):
            height, width = -(-height // 2), -(-width // 2)
    return height * width


def blended_style_targets(model, style_images, blend, style_layers, generated_shape):
    """Style Grams {layer: (n_C, n_C)} blended over several style images (jcjohnson/neural-style's blending):

    G_target(l) = sum_k w_k * G_k(l) * M_G(l) / M_k(l),   w = blend / sum(blend)  (equal when blend is None),
    M(l) = n_H n_W of layer l. The factor M_G / M_k makes a style image of another size (--style-scale) give a
    Gram of the generated image's scale; it is 1 (and skipped) for same-size images, so one style image of the
    generated size gives exactly the homework's Gram.
    """
    blend = [1.0] * len(style_images) if blend is None else [float(w) for w in blend]
    weights = [w / sum(blend) for w in blend]
    height, width = generated_shape[1], generated_shape[2]
    total = {}
    for style_image, w in zip(style_images, weights):
        grams = style_targets(model, style_image, style_layers)
        for name, _ in style_layers:
            G = grams[name]
            ratio = positions(height, width, name) / positions(style_image.shape[1], style_image.shape[2], name)
            if ratio != 1.0:
                G = G * ratio
            if w != 1.0:
                G = G * w
            total[name] = G if name not in total else total[name] + G
    return total


def style_targets_for(model, style_image, cfg, generated_shape):
    """The style targets of a run: `style_image` is one normalized image (1, h, w, 3) or a list of them,
    blended by cfg.style_blend (see blended_style_targets)."""
    images = list(style_image) if isinstance(style_image, (list, tuple)) else [style_image]
    return blended_style_targets(model, images, cfg.style_blend, cfg.style_layers, generated_shape)


def pixel_bounds(shape):
    """L-BFGS-B bounds for a normalized image of `shape` (1, H, W, 3): channel c in [-MEANS_c, 255 - MEANS_c],
    so the de-normalised image stays in 0..255. Returns (lower, upper) float64 arrays of `shape`."""
    lower = np.broadcast_to(-MEANS, shape).astype(np.float64)
    return lower, lower + 255.0


def make_value_and_grad(costs):
    """A compiled call image (1, H, W, 3) -> (J, J_content, J_style, dJ/dimage): value and gradient at once."""

    @tf.function
    def value_and_grad(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            J, J_content, J_style = costs(image)
        return J, J_content, J_style, tape.gradient(J, image)

    return value_and_grad


def model_lbfgs(model, content_image, style_image, input_image, cfg, log=tqdm.write):
    """model_nn with L-BFGS (scipy.optimize.minimize, method L-BFGS-B) instead of Adam, as Gatys et al.

    At most cfg.iterations L-BFGS iterations, stopping at the first iteration end after cfg.iterations cost
    evaluations (one evaluation = value + gradient from one TF call); pixels bounded by pixel_bounds. Writes
    what model_nn writes (i = iteration): `<i>.png` when i % cfg.save_every == 0 with the homework's log lines,
    `costs.csv` (costs after each iteration), `generated_image.jpg`; logs the numbers of iterations and
    evaluations at the end. Returns (generated image (1, H, W, 3) float32, history [(i, J, J_content, J_style)]).
    """
    import scipy.optimize

    out = Path(cfg.output_dir)
    a_C = content_target(model, content_image, cfg.content_layer)
    grams = style_targets_for(model, style_image, cfg, input_image.shape)
    value_and_grad = make_value_and_grad(cost_function(model, a_C, grams, cfg))
    shape = tuple(input_image.shape)
    lower, upper = pixel_bounds(shape)
    x0 = np.clip(np.asarray(input_image, dtype=np.float64), lower, upper).ravel()
    last = {"x": None, "costs": None, "evaluations": 0}

    def fun(x):
        J, Jc, Js, grad = value_and_grad(tf.constant(x.reshape(shape), dtype=tf.float32))
        last.update(x=x.copy(), costs=(float(J), float(Jc), float(Js)), evaluations=last["evaluations"] + 1)
        return float(J), grad.numpy().astype(np.float64).ravel()

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

    result = scipy.optimize.minimize(
        fun, x0, jac=True, method="L-BFGS-B", bounds=scipy.optimize.Bounds(lower.ravel(), upper.ravel()), callback=callback,
        options={"maxiter": cfg.iterations, "maxfun": cfg.iterations, "gtol": 0.0},
    )
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
