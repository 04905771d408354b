"""The digits detector's parts: targets of a CenterNet-style head, their decoding, matching
predictions to digits, the scores, and the rule that compares two variants over seeds. Pure
functions on tensors (the engine's task is ``tasks.DETECTION_TASK``).

A head on a stride-``s`` map predicts, per cell, an objectness logit and the sub-cell offset
``(dx, dy)`` in ``[0, 1)`` of a digit centre in that cell. Two 16 px digit boxes that do not
overlap have centres at least 16 px apart along some axis, so at stride <= 16 no cell holds two
centres.

Scores match predictions to digits greedily, closest first: within ``RADIUS`` (2 px) for recall,
precision and class accuracy, within ``LOOSE`` (8 px, half a digit) for the centre error, each
digit's error capped at ``LOOSE`` (a missed digit counts 8 px), so that a digit found a few
pixels off, or not at all, counts in the error rather than vanishing from it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "Comparison",
    "canvas_counts",
    "compare_variants",
    "decode_centres",
    "detection_scores",
    "heatmap_targets",
    "map_targets",
    "match_centres",
    "summarise_counts",
]

RADIUS = 2.0  # px: a digit is found when a prediction lies this close (recall, precision)
LOOSE = 8.0  # px (half a digit): matches at this radius give the centre error
NMS = 8.0  # px: a detection this close to a more confident one is dropped (digits lie >= 16 apart)


def map_targets(targets: Tensor, size: int, stride: int) -> tuple[Tensor, Tensor, Tensor]:
    """Slots ``(N, K, 3)`` ``(x, y, class)`` (class -1: empty) -> per-cell targets on a
    ``size`` x ``size`` map: objectness ``(N, size, size)`` (1 at each centre's cell), sub-cell
    offsets ``(N, 2, size, size)`` in ``[0, 1)`` and classes ``(N, size, size)`` (-1 elsewhere)."""
    n = targets.shape[0]
    objectness = targets.new_zeros(n, size, size)
    offsets = targets.new_zeros(n, 2, size, size)
    classes = torch.full((n, size, size), -1, dtype=torch.int64, device=targets.device)
    canvas, slot = (targets[..., 2] >= 0).nonzero(as_tuple=True)
    scaled = targets[canvas, slot, :2] / stride
    cells = scaled.floor().long().clamp(0, size - 1)
    cx, cy = cells.unbind(1)
    objectness[canvas, cy, cx] = 1.0
    offsets[canvas, :, cy, cx] = scaled - cells
    classes[canvas, cy, cx] = targets[canvas, slot, 2].long()
    return objectness, offsets, classes


def heatmap_targets(centres: Tensor, size: int, stride: int) -> tuple[Tensor, Tensor]:
    """One canvas's ``(K, 2)`` centres ``(x, y)`` in pixels -> ``(objectness (size, size),
    offsets (2, size, size))`` as :func:`map_targets` makes them, checked: every centre on the
    map, no two in one cell."""
    scaled = centres / stride
    cells = scaled.floor().long()
    if ((cells < 0) | (cells >= size)).any():
        raise ValueError(f"a centre lies outside the {size}x{size} map at stride {stride}")
    if len({tuple(c) for c in cells.tolist()}) < len(cells):
        raise ValueError("two centres share a cell: the digits overlap or the stride is too big")
    slots = torch.cat([centres, centres.new_zeros(len(centres), 1)], dim=1)[None]
    objectness, offsets, _ = map_targets(slots, size, stride)
    return objectness[0], offsets[0]


def decode_centres(
    objectness: Tensor,
    offsets: Tensor,
    stride: int,
    threshold: float = 0.5,
    nms: float = NMS,
) -> tuple[Tensor, Tensor, Tensor]:
    """A head's ``objectness`` logits ``(S, S)`` and ``offsets`` ``(2, S, S)`` -> the centres
    ``(M, 2)`` in pixels of the cells whose probability exceeds ``threshold``, those
    probabilities ``(M,)`` and the cells' flat indices ``(M,)`` (``row * S + column``), most
    confident first; a detection within ``nms`` px of a more confident one is dropped."""
    probability = torch.sigmoid(objectness)
    cy, cx = (probability > threshold).nonzero(as_tuple=True)
    centres = torch.stack([cx + offsets[0, cy, cx], cy + offsets[1, cy, cx]], dim=1) * stride
    scores = probability[cy, cx]
    order = scores.argsort(descending=True)
    centres, scores, cells = centres[order], scores[order], (cy * objectness.shape[1] + cx)[order]
    kept: list[int] = []
    for i in range(len(centres)):
        if all(float(torch.linalg.vector_norm(centres[i] - centres[j])) > nms for j in kept):
            kept.append(i)
    index = torch.tensor(kept, dtype=torch.int64)
    return centres[index], scores[index], cells[index]


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


def canvas_counts(
    pred_xy: Tensor, pred_cls: Tensor, true_xy: Tensor, true_cls: Tensor, slots: int
) -> dict[str, Tensor]:
    """One canvas's tallies: digits, predictions, digits found within ``RADIUS`` (``hits``) and
    of those with the right class (``correct``), digits matched within ``LOOSE`` (``located``),
    and the summed centre error (``error_sum``: a located digit's distance, ``LOOSE`` for one
    not located); per slot (``(slots,)``, NaN past the digits) the hit (0 / 1) and that error."""
    hits = match_centres(pred_xy, true_xy, RADIUS)
    located = match_centres(pred_xy, true_xy, LOOSE)
    slot_hit = torch.full((slots,), math.nan)
    slot_hit[: len(true_xy)] = 0.0
    slot_error = torch.full((slots,), math.nan)
    slot_error[: len(true_xy)] = LOOSE
    for _, t in hits:
        slot_hit[t] = 1.0
    for p, t in located:
        slot_error[t] = torch.linalg.vector_norm(pred_xy[p] - true_xy[t])
    counts = {
        "digits": len(true_xy),
        "predicted": len(pred_xy),
        "hits": len(hits),
        "correct": sum(int(pred_cls[p] == true_cls[t]) for p, t in hits),
        "located": len(located),
        "error_sum": float(slot_error.nan_to_num().sum()),
    }
    return {
        **{k: torch.tensor(float(v)) for k, v in counts.items()},
        "slot_hit": slot_hit,
        "slot_error": slot_error,
    }


def _ratio(top: float, bottom: float) -> float:
    """``top / bottom``, 0 for nothing over nothing (no predictions: precision 0, as sklearn's
    ``zero_division=0``)."""
    return top / bottom if bottom else 0.0


def summarise_counts(counts: dict[str, Tensor]) -> dict[str, float]:
    """Tallies over canvases (:func:`canvas_counts`, stacked) -> the detector's metrics:
    ``recall`` (digits found within ``RADIUS``), ``precision`` (predictions that found one),
    their harmonic mean ``f1``, ``centre_error`` (mean px over the digits, each capped at
    ``LOOSE``: a missed digit counts ``LOOSE``), ``located`` (share of digits within ``LOOSE``),
    ``class_accuracy`` (of the found digits)."""
    total = {k: float(counts[k].sum()) for k in counts if counts[k].dim() == 1}
    recall = _ratio(total["hits"], total["digits"])
    precision = _ratio(total["hits"], total["predicted"])
    return {
        "f1": _ratio(2 * recall * precision, recall + precision),
        "recall": recall,
        "precision": precision,
        "centre_error": _ratio(total["error_sum"], total["digits"]),
        "located": _ratio(total["located"], total["digits"]),
        "class_accuracy": _ratio(total["correct"], total["hits"]),
    }


def detection_scores(canvases: list[tuple[Tensor, Tensor, Tensor, Tensor]]) -> dict[str, float]:
    """:func:`summarise_counts` over canvases of ``(predicted centres, predicted classes, true
    centres, true classes)``."""
    slots = max((len(c[2]) for c in canvases), default=0)
    each = [canvas_counts(*canvas, slots=slots) for canvas in canvases]
    return summarise_counts({k: torch.stack([c[k] for c in each]) for k in each[0]})


@dataclass(frozen=True)
class Comparison:
    """A variant against the plain net over seeds: mean difference, its 95% interval, verdict."""

    difference: float
    low: float
    high: float
    verdict: str


# 0.975 quantiles of Student's t (two-sided 95%) for 1-30 degrees of freedom
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
_T975 += [2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086]
_T975 += [2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def compare_variants(
    plain: list[float],
    variant: list[float],
    margin: float,
    lower_is_better: bool = True,
    paired: bool = False,
) -> Comparison:
    """The 95% interval on ``mean(variant) - mean(plain)`` and the verdict: *better* / *worse*
    when the interval excludes 0 on that side, *equivalent within ±margin* when it lies inside
    ``(-margin, margin)`` (the margin fixed before the runs), else *inconclusive*.

    ``paired``: the i-th values of both lists come from the same seed (same initial weights,
    batch order and canvases), and the interval is Student's on the per-seed differences
    (``n - 1`` degrees of freedom); otherwise Welch's for independent samples."""
    if len(plain) < 2 or len(variant) < 2:
        raise ValueError("each side needs at least 2 seeds for an interval")
    if paired:
        if len(plain) != len(variant):
            raise ValueError("a paired comparison needs one value per seed on each side")
        differences = [v - p for p, v in zip(plain, variant, strict=True)]
        diff = statistics.fmean(differences)
        se = statistics.stdev(differences) / math.sqrt(len(differences))
        dof = float(len(differences) - 1)
    else:
        mp, mv = statistics.fmean(plain), statistics.fmean(variant)
        vp = statistics.variance(plain) / len(plain)
        vv = statistics.variance(variant) / len(variant)
        se = math.sqrt(vp + vv)
        dof = float(len(plain) + len(variant) - 2)  # Welch-Satterthwaite, where it is defined
        if se > 0:
            dof = (vp + vv) ** 2 / (vp**2 / (len(plain) - 1) + vv**2 / (len(variant) - 1))
        diff = mv - mp
    t = _T975[min(max(int(dof), 1), len(_T975)) - 1]
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
