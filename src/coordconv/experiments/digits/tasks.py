"""The digits demo's task: class and centre of a handwritten digit on a cluttered canvas."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from coordconv.experiments.core.tasks import TaskSpec
from coordconv.experiments.digits.data import CLASSES, DIGIT

__all__ = ["DIGITS_TASK"]

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


# no paper target: "solved" here is our line, 90% of centres within 2 px
DIGITS_TASK = TaskSpec(
    "digits", "within_2px", 0.9, _digits_loss, _digits_scores, medians=("centre_error",)
)
