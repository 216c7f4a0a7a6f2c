"""The homework's optimisation loop, `model_nn`: Adam on the pixels of the generated image, for given images.

`model_nn` is the engine's driver (nst.engine.driver) at one scale, on images already read and normalized, with
the command line's files and log lines (nst.sinks); `model_lbfgs` is the same with L-BFGS. Adam has TF1
`tf.train.AdamOptimizer` semantics (nst.engine.adam), bit for bit.
"""

from tqdm import tqdm

from nst.commands.interrupt import run_interrupts
from nst.commands.run import drive, resume_point, weights_of
from nst.engine.adam import adam_state, adam_update, make_train_step  # noqa: F401 - the homework's Adam, here too
from nst.engine.driver import LBFGS, Adam, Scale, paint
from nst.engine.objective import objective
from nst.engine.targets import blended_style_targets, content_target, style_activations
from nst.errors import NstError
from nst.sinks.progress import progress
from nst.sinks.run_files import run_files


def model_nn(model, content_image, style_image, input_image, cfg, log=tqdm.write, timing=None, functions=None):
    """The homework's model_nn: `cfg.iterations` Adam steps from `input_image` (all images (1, H, W, 3), normalized).

    After step i with i % cfg.save_every == 0: logs the costs (the homework's wording) and saves
    `<output_dir>/<i>.png`; at the end saves `generated_image.jpg`; `costs.csv` holds every step's costs.
    Returns (generated image (1, H, W, 3) float32, history [(i, J, J_content, J_style) after step i]).
    `timing` (a dict, optional) gets "seconds_per_iteration": the loop's wall time / iterations.
    `functions` (optional): the caller's cost functions by their homework names, e.g. a student's
    {"compute_content_cost": ..., "compute_style_cost": ..., "total_cost": ...}; J is then built by them in
    the compiled step (nst.engine.objective). Without it, nst.costs's. `style_image` may be a list (blended by
    cfg.style_blend). cfg.resume continues the run saved there.
    """
    optimizer = Adam(cfg.iterations, cfg.learning_rate, jit_compile=cfg.xla)
    return run_on_images(model, content_image, style_image, input_image, cfg, optimizer, log, timing, functions)


def model_lbfgs(model, content_image, style_image, input_image, cfg, log=tqdm.write, timing=None, functions=None):
    """model_nn with L-BFGS (scipy's L-BFGS-B, bounded to 0..255) instead of Adam, as Gatys et al.: at most
    cfg.iterations cost evaluations; the same files and log lines (i = iteration), and at the end the numbers of
    iterations and evaluations."""
    return run_on_images(
        model, content_image, style_image, input_image, cfg, LBFGS(cfg.iterations), log, timing, functions
    )


def run_on_images(model, content_image, style_image, input_image, cfg, optimizer, log, timing, functions):
    """One scale of `optimizer` on normalized images with the command line's sinks; see model_nn."""
    styles = list(style_image) if isinstance(style_image, (list, tuple)) else [style_image]
    weights = weights_of(cfg)
    model.check_layers(weights.layers)
    a_C = content_target(model, content_image, cfg.content_layer)
    if functions is not None:
        if len(styles) != 1:
            raise NstError(f"a run with the caller's cost functions takes one style image, got {len(styles)}")
        style_target = style_activations(model, styles[0], cfg.style_layers)
    else:
        style_target = blended_style_targets(model, styles, cfg.style_blend, cfg.style_layers, input_image.shape)
    goal = objective(model, a_C, style_target, weights, cfg.precision, functions=functions)
    schedule = [Scale(input_image.shape[2], input_image.shape[1], optimizer)]
    resumed = resume_point(cfg, schedule)
    # as the homework: log, then save
    sinks = [progress(log, cfg.save_every, cfg.progress), run_files(cfg, schedule, resumed)]
    with run_interrupts() as interrupts:
        events = paint(
            lambda w, h: goal,
            input_image,
            schedule,
            stop=interrupts.stop,
            wants_image=lambda scale, i: i % cfg.save_every == 0,
            resume=resumed,
        )
        for event in drive(events, sinks, interrupts):
            finished = event
    if timing is not None:
        timing["seconds_per_iteration"] = finished.seconds_per_iteration
    return finished.image, list(finished.history)
