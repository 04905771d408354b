"""The paper's three toy tasks on Not-so-Clevr as ``TaskSpec``s.

Metrics are fractions in [0, 1] (accuracy, IoU) or pixels (``mean_pixel_error``, Euclidean). Each
task names one *target* (the paper's "perfect" result) that runs are judged against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from coordconv.experiments.core.tasks import TaskSpec

__all__ = ["TASK_SPECS"]


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


TASK_SPECS = {
    "classification": TaskSpec(
        "classification", "accuracy", 1.0, _classification_loss, _classification_scores
    ),
    "regression": TaskSpec(
        "regression",
        "accuracy",
        1.0,
        _regression_loss,
        _regression_scores,
        max_error=("mean_pixel_error", 0.5),
        select_by=("mean_pixel_error", "min"),  # graded, unlike exact-pixel accuracy
    ),
    # the report shows a few rendered squares: the per-pixel probabilities
    "rendering": TaskSpec(
        "rendering", "iou", 0.99, _rendering_loss, _rendering_scores, samples=torch.sigmoid
    ),
}
