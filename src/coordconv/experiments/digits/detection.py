"""Building blocks of the digits detector (issue: "does CoordConv help a detector?"): targets of a
CenterNet-style head, their decoding, matching predictions to digits, the scores, and the rule
that compares two variants over seeds. Pure functions on tensors; not yet wired into a study.

A head on a stride-``s`` map predicts, per cell, an objectness logit and the sub-cell offset
``(dx, dy)`` in ``[0, 1)`` of a digit centre in that cell. Two 16 px digit boxes that do not
overlap have centres at least 16 px apart along some axis, so at stride <= 16 no cell holds two
centres.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "Comparison",
    "compare_variants",
    "decode_centres",
    "detection_scores",
    "heatmap_targets",
    "match_centres",
]


def heatmap_targets(centres: Tensor, size: int, stride: int) -> tuple[Tensor, Tensor]:
    """``(K, 2)`` centres ``(x, y)`` in pixels -> ``(objectness (size, size), offsets (2, size,
    size))``: 1 at each centre's cell, its sub-cell offset there (0 elsewhere)."""
    objectness = torch.zeros(size, size)
    offsets = torch.zeros(2, size, size)
    scaled = centres / stride
    cells = scaled.floor().long()
    if ((cells < 0) | (cells >= size)).any():
        raise ValueError(f"a centre lies outside the {size}x{size} map at stride {stride}")
    if len({tuple(c) for c in cells.tolist()}) < len(cells):
        raise ValueError("two centres share a cell: the digits overlap or the stride is too big")
    for (cx, cy), offset in zip(cells.tolist(), (scaled - cells).unbind(0), strict=True):
        objectness[cy, cx] = 1.0
        offsets[:, cy, cx] = offset
    return objectness, offsets


def decode_centres(
    objectness: Tensor, offsets: Tensor, stride: int, threshold: float = 0.5
) -> tuple[Tensor, Tensor]:
    """A head's ``objectness`` logits ``(S, S)`` and ``offsets`` ``(2, S, S)`` -> the centres
    ``(M, 2)`` in pixels of the cells whose probability exceeds ``threshold``, and those
    probabilities ``(M,)``, most confident first."""
    probability = torch.sigmoid(objectness)
    cy, cx = (probability > threshold).nonzero(as_tuple=True)
    centres = torch.stack([cx + offsets[0, cy, cx], cy + offsets[1, cy, cx]], dim=1) * stride
    scores = probability[cy, cx]
    order = scores.argsort(descending=True)
    return centres[order], scores[order]


def match_centres(predicted: Tensor, true: Tensor, radius: float) -> list[tuple[int, int]]:
    """Pairs ``(predicted index, true index)``, each used once, closest pairs first, at most
    ``radius`` px apart (greedy: exact for the handful of digits a canvas holds)."""
    if len(predicted) == 0 or len(true) == 0:
        return []
    distances = torch.cdist(predicted.float(), true.float())
    pairs, used_p, used_t = [], set(), set()
    for flat in distances.flatten().argsort().tolist():
        p, t = divmod(flat, len(true))
        if distances[p, t] > radius:
            break
        if p not in used_p and t not in used_t:
            pairs.append((p, t))
            used_p.add(p)
            used_t.add(t)
    return pairs


def detection_scores(
    canvases: list[tuple[Tensor, Tensor, Tensor, Tensor]], radius: float = 2.0
) -> dict[str, float]:
    """Scores over canvases of ``(predicted centres, predicted classes, true centres, true
    classes)``: mean centre error of matched digits (px), share of digits matched within
    ``radius`` (recall), share of predictions matched (precision), class accuracy of the
    matched digits."""
    errors: list[float] = []
    correct = predicted_total = true_total = 0
    for pred_xy, pred_cls, true_xy, true_cls in canvases:
        pairs = match_centres(pred_xy, true_xy, radius)
        predicted_total += len(pred_xy)
        true_total += len(true_xy)
        for p, t in pairs:
            errors.append(float(torch.linalg.vector_norm(pred_xy[p] - true_xy[t])))
            correct += int(pred_cls[p] == true_cls[t])
    matched = len(errors)
    return {
        "centre_error": statistics.fmean(errors) if errors else math.nan,
        "recall": matched / true_total if true_total else math.nan,
        "precision": matched / predicted_total if predicted_total else math.nan,
        "class_accuracy": correct / matched if matched else math.nan,
    }


@dataclass(frozen=True)
class Comparison:
    """A variant against the plain net over seeds: mean difference, its 95% interval, verdict."""

    difference: float
    low: float
    high: float
    verdict: str


# two-sided 97.5% quantiles of Student's t for 1-30 degrees of freedom
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
_T975 += [2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086]
_T975 += [2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def compare_variants(
    plain: list[float], variant: list[float], margin: float, lower_is_better: bool = True
) -> Comparison:
    """Welch's 95% interval on ``mean(variant) - mean(plain)`` (independent seeds) and the
    verdict: *better* / *worse* when the interval excludes 0 on that side, *equivalent within
    ±margin* when it lies inside ``(-margin, margin)`` (the margin fixed before the runs), else
    *inconclusive*."""
    if len(plain) < 2 or len(variant) < 2:
        raise ValueError("each side needs at least 2 seeds for an interval")
    mp, mv = statistics.fmean(plain), statistics.fmean(variant)
    vp, vv = statistics.variance(plain) / len(plain), statistics.variance(variant) / len(variant)
    se = math.sqrt(vp + vv)
    dof = float(len(plain) + len(variant) - 2)  # Welch-Satterthwaite, where it is defined
    if se > 0:
        dof = (vp + vv) ** 2 / (vp**2 / (len(plain) - 1) + vv**2 / (len(variant) - 1))
    t = _T975[min(max(int(dof), 1), len(_T975)) - 1]
    diff = mv - mp
    low, high = diff - t * se, diff + t * se
    good = high < 0 if lower_is_better else low > 0
    bad = low > 0 if lower_is_better else high < 0
    if good:
        verdict = "better"
    elif bad:
        verdict = "worse"
    elif -margin < low and high < margin:
        verdict = f"equivalent within ±{margin:g}"
    else:
        verdict = "inconclusive"
    return Comparison(diff, low, high, verdict)
