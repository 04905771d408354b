"""The three toy tasks: each is a loss, per-example scores and the metrics built from them.

Metrics are fractions in [0, 1] (accuracy, IoU) or pixels (``mean_pixel_error``, Euclidean). Each
task names one *target* (the paper's "perfect" result) that runs are judged against.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["TASK_SPECS", "TaskSpec", "get_task"]


@dataclass(frozen=True)
class TaskSpec:
    """A task's loss and metrics; ``target_metric >= target_value`` counts as solved."""

    name: str
    target_metric: str
    target_value: float
    canvas: int = 64

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Mean training loss of a batch (model output in its own units, target in the task's)."""
        if self.name == "classification":
            return F.cross_entropy(output, target)  # softmax over the canvas*canvas pixels
        if self.name == "regression":
            return F.mse_loss(output, self.pixels_to_unit(target))
        return F.binary_cross_entropy_with_logits(output, target)  # per-pixel sigmoid

    def pixels_to_unit(self, centres: Tensor) -> Tensor:
        """Centres in pixels -> the ``[-1, 1]`` scale the regression models predict in."""
        return centres * (2.0 / (self.canvas - 1)) - 1.0

    def unit_to_pixels(self, unit: Tensor) -> Tensor:
        """Inverse of ``pixels_to_unit``."""
        return (unit + 1.0) * ((self.canvas - 1) / 2.0)

    def scores(self, output: Tensor, target: Tensor) -> dict[str, Tensor]:
        """Per-example scores ``(N,)``: what the metrics average and the error maps draw."""
        if self.name == "classification":
            return {"accuracy": (output.argmax(dim=1) == target).float()}
        if self.name == "regression":
            predicted = self.unit_to_pixels(output)
            return {
                "accuracy": (predicted.round() == target).all(dim=1).float(),
                "mean_pixel_error": (predicted - target).norm(dim=1),
            }
        predicted, truth = output > 0, target > 0.5
        intersection = (predicted & truth).flatten(1).sum(1)
        union = (predicted | truth).flatten(1).sum(1)
        return {
            "iou": intersection / union.clamp(min=1),
            "pixel_accuracy": (predicted == truth).flatten(1).float().mean(1),
        }

    def reached(self, metrics: dict[str, float]) -> bool:
        """Whether ``metrics`` meet the task's target (regression also needs < 0.5 px mean error)."""
        solved = metrics[self.target_metric] >= self.target_value - 1e-9
        if self.name == "regression":
            solved = solved and metrics["mean_pixel_error"] < 0.5
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
        metrics.update({k: float(v.mean()) for k, v in scores.items()})
        return metrics, scores


TASK_SPECS = {
    "classification": TaskSpec("classification", "accuracy", 1.0),
    "regression": TaskSpec("regression", "accuracy", 1.0),
    "rendering": TaskSpec("rendering", "iou", 0.99),
}


def get_task(name: str, canvas: int = 64) -> TaskSpec:
    """The task called ``name`` for a ``canvas``-pixel canvas."""
    if name not in TASK_SPECS:
        raise ValueError(f"task must be one of {tuple(TASK_SPECS)}, got {name!r}")
    spec = TASK_SPECS[name]
    return TaskSpec(spec.name, spec.target_metric, spec.target_value, canvas)
