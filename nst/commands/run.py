"""One whole run as the command line makes it: a Config in, the engine driven, its events to the sinks, output/ filled.

`style_transfer` reads as its steps: settle the configuration and read the inputs (nst.commands.inputs), settle
the device, load the model (the weights file read once and safely, nst.weights.cache), resolve the Config into
the engine's values (a Problem, a schedule of scales, a start image, the checkpoint to continue), drive the
engine (nst.engine.driver.paint) with its events going to the sinks (the files, the progress, the caller's own),
then write the report.
"""

import dataclasses
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nst.commands.inputs import prepare_run
from nst.commands.interrupt import run_interrupts
from nst.engine.colors import preserve_colors
from nst.engine.driver import LBFGS, Adam, Scale, paint, scale_sizes
from nst.engine.events import ScaleFinished, ScaleStarted, Tile
from nst.engine.objective import Weights, check_functions
from nst.engine.problem import Problem, content_at, objective_at
from nst.engine.start import initial_image
from nst.errors import NstError
from nst.images import MEANS, reshape_and_normalize_image, resize_image, save_image, to_uint8
from nst.settings import scale_count, scale_iterations
from nst.sinks.checkpoint import load_checkpoint
from nst.sinks.progress import progress
from nst.sinks.report import image_size, write_report
from nst.sinks.run_files import run_files
from nst.weights.cache import read_weights


def style_transfer(cfg, log=tqdm.write, functions=None, given=None, prepared=None, models=None, on_event=None):
    """Run neural style transfer as configured; returns (generated image (1, H, W, 3), history).

    With the defaults this is the homework's run. Options beyond the homework: several style images blended,
    style scale, --init, pooling, kernel layout, L-BFGS, TV, coarse-to-fine --scales (history is then the last
    scale's), --preserve-colors (applied to the returned image and generated_image.jpg).
    `functions`: the caller's cost functions by their homework names (nst.engine.objective); default nst.costs's.
    `given`: with --resume, the Config fields the user set (the command line's flags; see resumed_config).
    `prepared`: what nst.commands.inputs.prepare_run(cfg, given, log) returns, when the caller has settled it
    already (the command line does, before importing TensorFlow); `cfg` and `given` are then not used.
    `models`: a dict the caller keeps between runs (the studio's painter), see load_model.
    `on_event`: a function of each event of the run (nst.engine.events), besides the files and the progress.
    Ctrl-C/SIGTERM: at once before the first step, at the next step during the loop, ignored after the last
    step (the outputs are written: the run finishes); nst.commands.interrupt.
    """
    on_tile = None if on_event is None else (lambda *tile: on_event(Tile(*tile)))
    events = run_events(cfg, log, functions, given, prepared, models, on_tile)
    while True:
        try:
            event = next(events)
        except StopIteration as done:
            return done.value
        if on_event is not None:
            on_event(event)


def run_events(cfg, log=tqdm.write, functions=None, given=None, prepared=None, models=None, on_tile=None):
    """The run of style_transfer as a generator of its events (nst.engine.events), the files and the progress
    written as they come; its return value is (generated image, history). Closing it early ends the run there.
    `on_tile(sweep, segment, tile, tiles)`: told of each tile done when a scale is evaluated in tiles (besides the
    progress bar), between the events."""
    if functions is not None:
        functions = check_functions(functions)
    cfg, inputs, weights, fallback = prepare_run(cfg, given, log) if prepared is None else prepared
    if cfg.deterministic:
        make_deterministic(cfg.seed)
    precision = settle_device(cfg.precision, log)
    cfg = dataclasses.replace(cfg, precision=precision["used"])  # what the run computes in, as its files say
    model, weights_sha256 = load_model(weights, cfg.pooling, cfg.kernel_layout, cfg.weights_cache, models)
    model.check_layers([cfg.content_layer] + [name for name, _ in cfg.style_layers])
    log(f"Network: {model.network}, {len(model.weights)} conv layers ({weights.name})")
    shown = progress(log, cfg.save_every, cfg.progress)
    budget = budget_of(cfg)
    problem = Problem(
        model,
        inputs.content,
        tuple(inputs.style_files),
        weights_of(cfg),
        None if cfg.style_blend is None else tuple(cfg.style_blend),
        cfg.style_scale,
        cfg.precision,
        functions=functions,
        max_memory=budget,
        tile=cfg.tile,
        on_tile=shown.on_tile if on_tile is None else both(shown.on_tile, on_tile),
    )
    schedule = schedule_of(cfg)
    resumed = resume_point(cfg, schedule)
    first = schedule[0]
    start = initial_image(
        cfg.init,
        content_at(problem, first.width, first.height),
        inputs.style_files[0],
        inputs.init_file,
        cfg.noise_ratio,
        cfg.seed,
    )
    plans = []  # each scale's tile plan (None: whole), for run.json

    def keep_plan(event):
        if isinstance(event, ScaleStarted):
            plans.append({"scale": event.scale + 1, "width": event.width, "height": event.height, "plan": event.plan})

    sinks = [shown, run_files(cfg, schedule, resumed), keep_plan]  # as the homework: log, then save
    with run_interrupts() as interrupts:
        events = paint(
            lambda w, h: objective_at(problem, w, h, cfg.optimizer, stop=interrupts.stop),
            start,
            schedule,
            stop=interrupts.stop,
            wants_image=lambda scale, i: i % cfg.save_every == 0,
            resume=resumed,
        )
        finished = yield from drive(events, sinks, interrupts)
        generated, history = finished.image, list(finished.history)
        if cfg.preserve_colors:
            generated = keep_content_colors(generated, inputs.content, cfg.output_dir)
        write_report(
            cfg,
            history,
            inputs.content[0] + MEANS[0],
            [summary_style(s, cfg.width, cfg.height) for s in inputs.style_files],
            to_uint8(generated),
            finished.seconds_per_iteration,
            weights,
            image_size(cfg.content),
            [(s.shape[1], s.shape[0]) for s in inputs.style_files],
            weights_sha256,
            precision=precision,
            network=model.network,
            fallback=fallback,
            memory=memory_record(cfg, budget, plans),
        )
    return generated, history


def summary_style(style, width, height, longest=600):
    """A style image as summary.png shows it: resized to the output's shape, its longer side at most `longest`
    pixels (a print-size run's would otherwise be a whole-size copy)."""
    scale = min(1.0, longest / max(width, height))
    return resize_image(style, max(1, round(width * scale)), max(1, round(height * scale)))


def both(first, second):
    """A function calling `first` then `second` with its arguments."""

    def call(*args):
        first(*args)
        second(*args)

    return call


def budget_of(cfg):
    """The run's memory budget in bytes: --max-memory, else 80 percent of what is available to it now
    (nst.engine.memory.default_budget), settled once so that every scale plans within the same budget."""
    from nst.engine.memory import default_budget

    return cfg.max_memory if cfg.max_memory is not None else default_budget()


def memory_record(cfg, budget, plans):
    """run.json's "memory": the budget the run planned within (bytes; --max-memory, or the default share of what
    was available when it started), --tile, and each scale's plan (null: the whole image at once)."""
    return {"budget_bytes": budget, "max_memory": cfg.max_memory, "tile": cfg.tile, "scales": plans}


def drive(events, sinks, interrupts):
    """Every event of `events` (the driver's) to every sink in turn, then yielded on; returns the last
    ScaleFinished. From the first scale on, a signal only asks the driver to stop (interrupts.deferring)."""
    finished = None
    for event in events:
        if isinstance(event, ScaleStarted):
            interrupts.deferring = True
        for sink in sinks:
            sink(event)
        if isinstance(event, ScaleFinished):
            finished = event
        yield event
    return finished


def weights_of(cfg):
    """The objective's Weights (nst.engine.objective) of the run `cfg`."""
    return Weights(cfg.content_layer, tuple(cfg.style_layers), cfg.alpha, cfg.beta, cfg.tv_weight)


def schedule_of(cfg):
    """The scales of the run `cfg`: coarse to fine (--scales, or the automatic schedule of a print size), each
    with the run's optimiser and its budget (nst.settings.scale_iterations)."""

    def optimizer(iterations):
        return (
            LBFGS(iterations) if cfg.optimizer == "lbfgs" else Adam(iterations, cfg.learning_rate, jit_compile=cfg.xla)
        )

    sizes = scale_sizes(cfg.width, cfg.height, scale_count(cfg))
    return [Scale(w, h, optimizer(n)) for (w, h), n in zip(sizes, scale_iterations(cfg))]


def resume_point(cfg, schedule):
    """The Checkpoint a resumed run continues (None for a new run); NstError when it does not fit the schedule."""
    if cfg.resume is None:
        return None
    checkpoint, _ = load_checkpoint(cfg.resume)
    if checkpoint.scale >= len(schedule):
        raise NstError(
            f"checkpoint in {cfg.resume} is of scale {checkpoint.scale + 1}, this run has "
            f"{len(schedule)}: resume with the run's own settings"
        )
    scale = schedule[checkpoint.scale]
    height, width = checkpoint.image.shape[1:3]
    if (width, height) != (scale.width, scale.height):
        raise NstError(
            f"checkpoint in {cfg.resume} holds a {width}x{height} image, this run is "
            f"{scale.width}x{scale.height}: resume with the run's own settings"
        )
    if checkpoint.adam is None and isinstance(scale.optimizer, Adam):
        raise NstError(f"checkpoint in {cfg.resume} is an L-BFGS run's: resume with the run's own settings")
    return checkpoint


def load_model(weights, pooling="avg", kernel_layout="stored", cache=True, models=None):
    """The VGG-19 (or VGG-16) of a run and the weights file's SHA-256: the file read once and safely
    (nst.weights.cache: scipy's loadmat in a child process, the conv weights cached beside the file unless `cache`
    is off).

    `models` (a dict kept between runs, or None): the last model built is kept in it and reused while the weights
    file (path, size, mtime), the pooling and the kernel layout are the same."""
    from nst.engine.network import build_vgg

    models = {} if models is None else models
    stat = Path(weights).stat() if Path(weights).is_file() else None
    key = (str(Path(weights).absolute()), stat and (stat.st_size, stat.st_mtime_ns), pooling, kernel_layout)
    if key not in models:
        data = read_weights(weights, cache=cache)
        models.clear()
        model = build_vgg(data.weights, data.mean_pixel, pooling=pooling, kernel_layout=kernel_layout)
        models[key] = model, data.sha256
    return models[key]


def settle_device(requested, log):
    """GPU memory growth on (where TF still allows it), the device line logged, --precision auto resolved.

    Returns run.json's record {"requested", "used" (fp32 or bf16), "reason"}. Logs one more line when auto
    chose, or when the hardware suggests another precision (nst.engine.device).
    """
    import tensorflow as tf

    from nst.engine.device import choose_precision, device_line, enable_memory_growth, hardware, precision_hint

    enable_memory_growth(tf, tf.config.list_physical_devices("GPU"))
    cpuinfo, gpus, cores = hardware()
    log(device_line(cpuinfo, gpus, cores))
    precision = choose_precision(requested, cpuinfo, gpus)
    if precision["requested"] == "auto":
        log(f"Precision: {precision['used']} (--precision auto: {precision['reason']})")
    hint = precision_hint(precision, cpuinfo, gpus)
    if hint is not None:
        log(hint)
    return precision


def keep_content_colors(generated, content, output_dir):
    """--preserve-colors: the result's luminance with the content's chroma; rewrites generated_image.jpg."""
    rgb = preserve_colors(np.clip(generated[0] + MEANS[0], 0, 255), content[0] + MEANS[0])
    generated = reshape_and_normalize_image(rgb)
    save_image(Path(output_dir) / "generated_image.jpg", generated)
    return generated


def make_deterministic(seed):
    """--deterministic: TF op determinism (tf.config.experimental.enable_op_determinism, for the rest of the
    process) and TF's global seed; the initial noise is already fixed by np.random.default_rng(seed)."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    tf.random.set_seed(seed)
