"""The run as the command line shows it: a progress bar per scale and the homework's log lines at save points."""

from tqdm import tqdm

from nst.engine.events import ScaleFinished, ScaleStarted, Step
from nst.engine.memory import describe


def progress(log, save_every, show_bar=True):
    """A sink: at each scale of several, `Scale k/N: WxH`; a tqdm bar of the scale's steps with the last costs
    (shown when show_bar); every `save_every` steps the homework's lines "Iteration i :", "total cost = ...",
    "content cost = ...", "style cost = ..." through `log`; at an L-BFGS scale's end its iterations and
    evaluations. A scale evaluated in tiles logs its plan, and the bar shows the tile in progress: the returned
    function's `on_tile(sweep, segment, tile, tiles)` (nst.engine.tiles) sets it."""
    bar = optimizer = None

    def on_event(event):
        nonlocal bar, optimizer
        if isinstance(event, ScaleStarted):
            optimizer = event.optimizer
            if event.scales > 1:
                log(f"Scale {event.scale + 1}/{event.scales}: {event.width}x{event.height}")
            if event.plan is not None:
                log(f"{event.width}x{event.height} in {describe(event.plan)}")
            bar = tqdm(
                total=event.iterations, initial=event.first, unit="step", disable=not show_bar, dynamic_ncols=True
            )
        elif isinstance(event, Step):
            bar.update(1)
            bar.set_postfix(total=f"{event.J:.4g}", content=f"{event.J_content:.4g}", style=f"{event.J_style:.4g}")
            if event.iteration % save_every == 0:
                log(
                    f"Iteration {event.iteration} :\ntotal cost = {event.J}\ncontent cost = {event.J_content}\n"
                    f"style cost = {event.J_style}"
                )
        elif isinstance(event, ScaleFinished):
            bar.close()
            if optimizer == "lbfgs" and not event.stopped:
                log(f"L-BFGS: {len(event.history)} iterations, {event.evaluations} evaluations ({event.reason})")

    def on_tile(sweep, segment, tile, tiles):
        if bar is not None:
            bar.set_postfix_str(f"{sweep} sweep, segment {segment + 1}, tile {tile + 1}/{tiles}")

    on_event.on_tile = on_tile
    return on_event
