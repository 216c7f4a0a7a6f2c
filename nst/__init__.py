"""nst: the deeplearning.ai "Art Generation with Neural Style Transfer" homework on TensorFlow 2.

Where each homework function lives (the homework's modules, at the top):
    load_vgg_model                      nst.vgg
    compute_content_cost, gram_matrix,
    compute_layer_style_cost,
    compute_style_cost, total_cost      nst.costs
    reshape_and_normalize_image,
    generate_noise_image, save_image    nst.images
    model_nn                            nst.optimize  (L-BFGS instead: model_lbfgs)
    the homework's numbers              nst.homework  (layers, alpha, beta, means, Adam, sizes)

The engine, with no files and no printing (nst.engine): the network, the targets, the objective, Adam and
L-BFGS, and one driver that yields a run's events. Where the events go (nst.sinks): the command line's files and
progress bar, the report, the checkpoint. The commands (nst.commands): `nst` itself (cli, run, inputs, resume,
interrupt, console) and `nst compare`. The settings of a run, one table (nst.settings: Config). Shared: errors,
files (atomic writes, the output folder), shipped (the demo images and notebooks, installed or in a checkout).

One package per product beside them:
    nst.weights   the VGG file: where it lives ($NST_HOME), download and checksums, the ImageNet VGG-16
                  fallback, read once and cached, MatConvNet's layouts, the classifier and `nst check-weights`,
                  small test networks
    nst.teaching  the homework as an exercise: `nst teach`, `nst grade`, its checks and known mistakes, the
                  homework's test values, what the notebooks share, Gradescope's zip, nbgrader's tests
    nst.studio    `nst studio`: the web page and its runs

From Python, `nst.paint(...)` runs a style transfer step by step: `for event in nst.paint("me.jpg",
"starry_night.jpg", iterations=100): ...` (the events of nst.engine.events; a notebook can draw J as it falls).
"""

__version__ = "0.1.0"


def paint(content=None, style=None, **settings):
    """A style transfer run as a generator of its events (nst.engine.events: ScaleStarted, Step, ScaleFinished),
    writing the command line's files into `output_dir` as it goes.

    content, style: image paths (default: the demo's); `settings`: any Config field by name (nst.settings:
    iterations, width, height, optimizer, seed, output_dir, weights, progress, ...; `functions`: your own cost
    functions by their homework names). The run's Ctrl-C (a notebook's interrupt) stops it after the step in
    progress, its state saved. The generator's return value is (generated image, history).
    """
    from nst.commands.run import run_events
    from nst.engine.memory import give_back_freed_memory
    from nst.settings import Config, evaluated_in_tiles

    functions = settings.pop("functions", None)
    log = settings.pop("log", print)
    fields = dict(settings)
    if content is not None:
        fields["content"] = content
    if style is not None:
        fields["style"] = style
    cfg = Config(**fields)
    if evaluated_in_tiles(cfg):
        give_back_freed_memory()  # where TensorFlow has not started yet
    return run_events(cfg, log=log, functions=functions)
