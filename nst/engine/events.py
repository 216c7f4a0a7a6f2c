"""What the driver yields as a run goes: a scale begins, a step is done (its costs, maybe its image), a scale ends.

And how a run ended (Ended), which the command that ran it tells its sinks last. Sinks (the command line's files
and progress bar, the studio's event log, a notebook's plot) read these and nothing else; a new field here reaches
them all. Images are normalized (1, H, W, 3) float32 arrays (the means subtracted), histories lists of (iteration,
J, J_content, J_style).
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """What continues a run: the optimiser's state after step `step` of scale `scale` (Adam's m, v, beta1^t and
    beta2^t as float32 arrays; None for L-BFGS, which starts afresh from the image), the scale's history so far
    (`step` rows when the costs of `step` are still to come, else `step` + 1) and the cost evaluations spent."""

    scale: int
    step: int
    image: np.ndarray
    adam: dict | None
    history: tuple
    evaluations: int


@dataclasses.dataclass(frozen=True)
class ScaleStarted:
    """Scale `scale` of `scales` (0-based) begins at width x height: `iterations` steps (Adam) or evaluations
    (L-BFGS), from step `first` (0, or where a resumed run continues); `plan`: how its objective is evaluated."""

    scale: int
    scales: int
    width: int
    height: int
    optimizer: str
    iterations: int
    first: int = 0
    plan: dict | None = None


@dataclasses.dataclass(frozen=True)
class Step:
    """Step `iteration` of scale `scale` is done: the costs of the image after it, the seconds it took, the cost
    evaluations so far in this scale. `image` (after the step) when the sink asked for it (wants_image), with
    `checkpoint`, the optimiser's state as it is now (which may be one step further on)."""

    scale: int
    iteration: int
    J: float
    J_content: float
    J_style: float
    seconds: float
    evaluations: int
    image: np.ndarray | None = None
    checkpoint: Checkpoint | None = None

    @property
    def costs(self):
        return (self.iteration, self.J, self.J_content, self.J_style)


@dataclasses.dataclass(frozen=True)
class ScaleFinished:
    """Scale `scale` ended: its last image, its history, the evaluations it spent, the seconds per iteration of
    its loop, why it ended (the budget spent, L-BFGS's own reason, or "stopped"), whether a stop ended it (the run
    then ends here), the checkpoint that continues it, and L-BFGS's curvature at its end (the inverse-Hessian
    scale of its last step, from which the next scale's first step starts; None for Adam)."""

    scale: int
    image: np.ndarray
    history: tuple
    evaluations: int
    seconds_per_iteration: float
    reason: str
    stopped: bool = False
    checkpoint: Checkpoint | None = None
    curvature: float | None = None


@dataclasses.dataclass(frozen=True)
class Tile:
    """A tile of a tiled evaluation done (nst.engine.tiles): `sweep` "forward" or "backward", of segment
    `segment` (0-based), tile `tile` (0-based) of `tiles`. Told by the tiled objective as it goes, between the
    steps of a print-size scale, so that a long step shows progress."""

    sweep: str
    segment: int
    tile: int
    tiles: int


@dataclasses.dataclass(frozen=True)
class Ended:
    """How a run ended, the command's last word to its sinks: `state` "finished", "stopped" (interrupted, its
    state saved: `resumable`) or "failed" (bad input or an error: `message` is the one line shown)."""

    state: str
    message: str
    resumable: bool = False
