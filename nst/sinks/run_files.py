"""The command line's files of a run: `<i>.png` every save_every steps, costs.csv, checkpoint.npz, the result.

A run of one scale writes into its output folder; coarse-to-fine writes each scale but the last into
`<output_dir>/scale<k>_<w>x<h>/` and the last into the output folder; checkpoint.npz (with the scale it belongs
to) is always the output folder's. A stop saves the image it left, the costs and the checkpoint, then raises
RunInterrupted saying where and how to continue.
"""

from pathlib import Path

from nst.engine.events import ScaleFinished, ScaleStarted, Step
from nst.errors import RunInterrupted
from nst.files import prepare_output_dir
from nst.images import save_image
from nst.sinks.checkpoint import CHECKPOINT, save_checkpoint
from nst.sinks.costs_csv import write_costs_csv


def scale_folder(output_dir, schedule, k):
    """Where scale k of `schedule` (a list of nst.engine.driver.Scale) writes its images and costs.csv."""
    if k == len(schedule) - 1:
        return Path(output_dir)
    return Path(output_dir) / f"scale{k + 1}_{schedule[k].width}x{schedule[k].height}"


def run_files(cfg, schedule, resumed=None):
    """A sink writing the files of the run `cfg` (its Config, kept in each checkpoint) over `schedule`.
    resumed: the Checkpoint the run continues, whose history the scale's costs.csv goes on from."""
    out = Path(cfg.output_dir)
    history = []
    iterations = {}

    def on_event(event):
        folder = scale_folder(out, schedule, event.scale)
        if isinstance(event, ScaleStarted):
            prepare_output_dir(folder)
            history[:] = list(resumed.history) if resumed is not None and resumed.scale == event.scale else []
            iterations[event.scale] = event.iterations
        elif isinstance(event, Step):
            history.append(event.costs)
            if event.image is not None and event.iteration % cfg.save_every == 0:
                save_image(folder / f"{event.iteration}.png", event.image)
                write_costs_csv(folder / "costs.csv", history)
            if event.checkpoint is not None:
                save_checkpoint(out, cfg, event.checkpoint)
        elif isinstance(event, ScaleFinished):
            if event.stopped:
                stopped(event, folder, iterations[event.scale])
            save_image(folder / "generated_image.jpg", event.image)
            write_costs_csv(folder / "costs.csv", event.history)
            save_checkpoint(out, cfg, event.checkpoint)

    def stopped(event, folder, total):
        checkpoint = event.checkpoint
        where = f" of scale {event.scale + 1}/{len(schedule)}" if len(schedule) > 1 else ""
        if checkpoint is None:
            if event.scale == 0:
                raise RunInterrupted(f"interrupted before the first step; nothing was saved in {out}")
            raise RunInterrupted(
                f"interrupted before the first step{where}; the scales before it are saved in {out}; "
                f"continue with: nst --resume {out}"
            )
        step = checkpoint.step
        save_image(folder / f"{step}.png", event.image)
        write_costs_csv(folder / "costs.csv", event.history)
        save_checkpoint(out, cfg, checkpoint)
        raise RunInterrupted(
            f"interrupted after step {step} of {total}{where}: saved {folder / f'{step}.png'}, "
            f"{folder / 'costs.csv'} and {out / CHECKPOINT}; continue with: nst --resume {out}"
        )

    return on_event
