"""The tasks: each is a loss, per-example scores and the metrics built from them.

The paper's three toy tasks on Not-so-Clevr, and ``digits`` (``experiments.digits``): class and
centre of a handwritten digit on a cluttered canvas.

Metrics are fractions in [0, 1] (accuracy, IoU) or pixels (``mean_pixel_error``, Euclidean). Each
task names one *target* (the paper's "perfect" result) that runs are judged against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from coordconv.experiments.digits import CLASSES, DIGIT

__all__ = ["TASK_SPECS", "TaskSpec", "get_task"]


@dataclass(frozen=True)
class TaskSpec:
    """One task as data: its loss, its per-example scores, and its target.

    ``target_metric >= target_value`` (and, where set, ``mean_pixel_error < max_pixel_error``)
    counts as solved. ``loss_fn`` and ``score_fn`` receive the spec (for the canvas size).
    """

    name: str
    target_metric: str
    target_value: float
    loss_fn: Callable[[TaskSpec, Tensor, Tensor], Tensor]
    score_fn: Callable[[TaskSpec, Tensor, Tensor], dict[str, Tensor]]
    max_pixel_error: float | None = None
    canvas: int = 64
    medians: tuple[str, ...] = ()  # scores whose median is reported too, as `median_<score>`

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Mean training loss of a batch (model output in its own units, target in the task's)."""
        return self.loss_fn(self, output, target)

    def scores(self, output: Tensor, target: Tensor) -> dict[str, Tensor]:
        """Per-example scores ``(N,)``: what the metrics average and the error maps draw."""
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
        if self.max_pixel_error is not None:
            solved = solved and metrics["mean_pixel_error"] < self.max_pixel_error
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
        metrics.update({f"median_{k}": float(scores[k].median()) for k in self.medians})
        return metrics, scores


def _classification_loss(spec: TaskSpec, output: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(output, target)  # softmax over the canvas*canvas pixels


def _classification_scores(spec: TaskSpec, output: Tensor, target: Tensor) -> dict[str, Tensor]:
    return {"accuracy": (output.argmax(dim=1) == target).float()}


def _regression_loss(spec: TaskSpec, output: Tensor, target: Tensor) -> Tensor:
    return F.mse_loss(output, spec.pixels_to_unit(target))


def _regression_scores(spec: TaskSpec, output: Tensor, target: Tensor) -> dict[str, Tensor]:
    predicted = spec.unit_to_pixels(output)
    return {
        "accuracy": (predicted.round() == target).all(dim=1).float(),
        "mean_pixel_error": (predicted - target).norm(dim=1),
    }


def _rendering_loss(spec: TaskSpec, output: Tensor, target: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(output, target)  # per-pixel sigmoid


def _rendering_scores(spec: TaskSpec, output: Tensor, target: Tensor) -> dict[str, Tensor]:
    predicted, truth = output > 0, target > 0.5
    intersection = (predicted & truth).flatten(1).sum(1)
    union = (predicted | truth).flatten(1).sum(1)
    return {
        "iou": intersection / union.clamp(min=1),
        "pixel_accuracy": (predicted == truth).flatten(1).float().mean(1),
    }


CENTRE_WEIGHT = 0.1  # digits loss: weight of the centre's smooth-L1 (pixels) beside the class CE


def _digits_split(spec: TaskSpec, output: Tensor, target: Tensor) -> tuple[Tensor, ...]:
    """Model output ``(N, 12)`` and target ``(N, 3)`` -> logits, predicted and true centres in
    pixels, true classes."""
    centre = spec.unit_to_pixels(output[:, CLASSES:])
    return output[:, :CLASSES], centre, target[:, :2], target[:, 2].long()


def _digits_loss(spec: TaskSpec, output: Tensor, target: Tensor) -> Tensor:
    logits, centre, true_centre, label = _digits_split(spec, output, target)
    return F.cross_entropy(logits, label) + CENTRE_WEIGHT * F.smooth_l1_loss(centre, true_centre)


def _digits_scores(spec: TaskSpec, output: Tensor, target: Tensor) -> dict[str, Tensor]:
    logits, centre, true_centre, label = _digits_split(spec, output, target)
    offset = (centre - true_centre).abs()
    overlap = (DIGIT - offset).clamp(min=0).prod(dim=1)  # two equal boxes, offset apart
    error = offset.norm(dim=1)
    return {
        "class_accuracy": (logits.argmax(dim=1) == label).float(),
        "centre_error": error,
        "within_2px": (error <= 2.0).float(),
        "box_iou": overlap / (2 * DIGIT**2 - overlap),
    }


TASK_SPECS = {
    "classification": TaskSpec(
        "classification", "accuracy", 1.0, _classification_loss, _classification_scores
    ),
    "regression": TaskSpec(
        "regression", "accuracy", 1.0, _regression_loss, _regression_scores, max_pixel_error=0.5
    ),
    "rendering": TaskSpec("rendering", "iou", 0.99, _rendering_loss, _rendering_scores),
    # no paper target: "solved" here is our line, 90% of centres within 2 px
    "digits": TaskSpec(
        "digits", "within_2px", 0.9, _digits_loss, _digits_scores, medians=("centre_error",)
    ),
}


def get_task(name: str, canvas: int = 64) -> TaskSpec:
    """The task called ``name`` for a ``canvas``-pixel canvas."""
    if name not in TASK_SPECS:
        raise ValueError(f"task must be one of {tuple(TASK_SPECS)}, got {name!r}")
    return replace(TASK_SPECS[name], canvas=canvas)
