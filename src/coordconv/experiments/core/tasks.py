"""What a task is to the engine: a loss, per-example scores and the metrics built from them.

The studies declare their tasks as ``TaskSpec``s and register them (``core.registry``).
Metrics are fractions in [0, 1] (accuracy, IoU) or pixels (``mean_pixel_error``, Euclidean). Each
task names one *target* (the paper's "perfect" result) that runs are judged against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["TaskSpec"]


@dataclass(frozen=True)
class TaskSpec:
    """One task as data: its loss, its per-example scores, and its target.

    ``target_metric >= target_value`` (and, where set, ``metrics[metric] < bound`` for
    ``max_error = (metric, bound)``)
    counts as solved. ``loss_fn`` and ``score_fn`` receive the spec (for the canvas size).
    """

    name: str
    target_metric: str
    target_value: float
    loss_fn: Callable[[TaskSpec, Tensor, Tensor], Tensor]
    score_fn: Callable[[TaskSpec, Tensor, Tensor], dict[str, Tensor]]
    max_error: tuple[str, float] | None = None  # (metric, bound): also below this to count
    canvas: int = 64
    medians: tuple[str, ...] = ()  # scores whose median is reported too, as `median_<score>`
    # (metric, "max" | "min"): what choices on validation optimise after the target count;
    # None: the target metric, maximised (see `selection`)
    select_by: tuple[str, str] | None = None
    # model outputs -> what the report shows for a few examples (examples.npz); None: no samples
    samples: Callable[[Tensor], Tensor] | None = None
    # per-example scores -> the metrics; None: each score's mean (and the medians). For tasks
    # whose metrics are ratios of totals (a detector's recall over canvases with 1-3 digits)
    summary: Callable[[dict[str, Tensor]], dict[str, float]] | None = None

    def __post_init__(self) -> None:
        if self.select_by is not None and self.select_by[1] not in ("max", "min"):
            raise ValueError(f"select_by mode must be 'max' or 'min', got {self.select_by!r}")

    @property
    def selection(self) -> tuple[str, str]:
        """``(metric, "max" | "min")``: what choices on validation optimise after the target."""
        return self.select_by or (self.target_metric, "max")

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Mean training loss of a batch (model output in its own units, target in the task's)."""
        return self.loss_fn(self, output, target)

    def scores(self, output: Tensor, target: Tensor) -> dict[str, Tensor]:
        """Per-example scores ``(N, ...)``: what the metrics summarise and the error maps draw."""
        return self.score_fn(self, output, target)

    def pixels_to_unit(self, centres: Tensor) -> Tensor:
        """Centres in pixels -> the ``[-1, 1]`` scale the regression models predict in."""
        return centres * (2.0 / (self.canvas - 1)) - 1.0

    def unit_to_pixels(self, unit: Tensor) -> Tensor:
        """Inverse of ``pixels_to_unit``."""
        return (unit + 1.0) * ((self.canvas - 1) / 2.0)

    def reached(self, metrics: dict[str, float]) -> bool:
        """Whether ``metrics`` meet the task's target."""
        solved = metrics[self.target_metric] >= self.target_value - 1e-9
        if self.max_error is not None:
            metric, bound = self.max_error
            solved = solved and metrics[metric] < bound
        return solved

    @torch.no_grad()
    def evaluate(
        self, model: torch.nn.Module, inputs: Tensor, targets: Tensor, batch_size: int = 64
    ) -> tuple[dict[str, float], dict[str, Tensor]]:
        """Mean loss and metrics over a whole set, and the per-example scores, in eval mode."""
        was_training = model.training
        model.eval()
        losses, parts = [], []
        for x, t in zip(inputs.split(batch_size), targets.split(batch_size), strict=True):
            out = model(x)
            losses.append(self.loss(out, t) * len(x))
            parts.append(self.scores(out, t))
        model.train(was_training)
        scores = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        metrics = {"loss": float(torch.stack(losses).sum()) / len(inputs)}
        if self.summary is not None:
            metrics.update(self.summary(scores))
        else:
            metrics.update({k: float(v.mean()) for k, v in scores.items()})
        metrics.update({f"median_{k}": float(scores[k].median()) for k in self.medians})
        return metrics, scores
