"""The digits demo's tasks: class and centre of a handwritten digit on a cluttered canvas
(``digits``, the localiser's), and of every digit on a canvas with one to three (``detection``,
the detector's)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from coordconv.experiments.core.tasks import TaskSpec
from coordconv.experiments.digits.data import CLASSES, DIGIT
from coordconv.experiments.digits.detection import (
    canvas_counts,
    decode_centres,
    map_targets,
    summarise_counts,
)
from coordconv.experiments.digits.localiser import STRIDE

__all__ = ["DETECTION_TASK", "DIGITS_TASK"]

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


def _detection_loss(spec: TaskSpec, output: Tensor, target: Tensor) -> Tensor:
    """Objectness BCE on every cell, and on the cells holding a centre the offset's smooth-L1 (in
    pixels, weighted as the localiser's centre) and the class CE. ``target``: ``(N, K, 3)``."""
    objectness, offsets, classes = map_targets(target, output.shape[-1], STRIDE)
    loss = F.binary_cross_entropy_with_logits(output[:, 0], objectness)
    holds = objectness > 0
    if not holds.any():  # canvases without digits: objectness is all there is to learn
        return loss
    cells = output.permute(0, 2, 3, 1)[holds]  # (P, 3 + CLASSES): the cells holding a centre
    offset_loss = F.smooth_l1_loss(
        cells[:, 1:3] * STRIDE, offsets.permute(0, 2, 3, 1)[holds] * STRIDE
    )
    return loss + CENTRE_WEIGHT * offset_loss + F.cross_entropy(cells[:, 3:], classes[holds])


def _detection_scores(spec: TaskSpec, output: Tensor, target: Tensor) -> dict[str, Tensor]:
    """Per canvas, the decoded detections' tallies against its digits (``canvas_counts``)."""
    each = []
    for out, slots in zip(output.float(), target, strict=True):
        centres, _, cells = decode_centres(out[0], out[1:3], STRIDE)
        classes = out[3:].flatten(1)[:, cells].argmax(dim=0)
        present = slots[:, 2] >= 0
        each.append(
            canvas_counts(
                centres, classes, slots[present, :2], slots[present, 2].long(), len(slots)
            )
        )
    return {k: torch.stack([c[k] for c in each]) for k in each[0]}


# no paper target either: "solved" is 90% F1 at a 2 px radius
DETECTION_TASK = TaskSpec(
    "detection", "f1", 0.9, _detection_loss, _detection_scores, summary=summarise_counts
)
