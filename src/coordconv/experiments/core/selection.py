"""One rule for every choice made on validation: recipe candidates and sweep trials alike.

A candidate is scored on validation by one run (a sweep trial) or by several seeds (a recipe
candidate). The best has, in order: the most seeds at the task's target, then the best mean
selection metric (``TaskSpec.selection``), then the lowest mean validation loss; exact ties go to the
candidate given first. The loss breaks ties the metrics cannot see: two configurations at 100%
validation accuracy can sit at losses of 0.004 and 1.19, and only the first is far from the edge.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from coordconv.experiments.core.registry import get_task

__all__ = ["LEGACY_RULE", "RULE", "RULES", "select", "select_trial", "selection_key"]

Candidate = TypeVar("Candidate")


def _lower_is_better(task: str, val: dict[str, float]) -> float:
    """The task's selection metric, signed so that smaller is better."""
    metric, mode = get_task(task).selection
    return -val[metric] if mode == "max" else val[metric]


def selection_key(task: str, vals: Sequence[dict[str, float]]) -> tuple[float, float, float]:
    """The sort key (smaller is better) of a candidate's validation metrics, one dict per seed:
    ``(-seeds at target, -+mean metric, mean loss)``."""
    if not vals:
        raise ValueError("a candidate needs at least one validation result")
    at_target = sum(get_task(task).reached(v) for v in vals)
    return (
        -float(at_target),
        statistics.fmean(_lower_is_better(task, v) for v in vals),
        statistics.fmean(v["loss"] for v in vals),
    )


def select(
    candidates: Sequence[Candidate],
    task: str,
    vals: Callable[[Candidate], Sequence[dict[str, float]]],
) -> Candidate:
    """The best of ``candidates`` under :func:`selection_key` (ties: the first given);
    ``vals(candidate)`` gives its validation metrics, one dict per seed."""
    if not candidates:
        raise ValueError("nothing to select from: no candidate finished an evaluation")
    return min(candidates, key=lambda c: selection_key(task, vals(c)))


# How a sweep chose, as recorded in its sweep.json (``selection_rule``): sweeps made before the
# key existed took the best validation metric, ties to the trial with less training time.
RULE = "target-metric-loss"
LEGACY_RULE = "metric-then-cheaper"
RULES = {
    RULE: "at the target on validation, then the best validation metric, then the lowest "
    "validation loss",
    LEGACY_RULE: "the best validation metric, ties to the trial with less training time "
    "(the rule of sweeps made before 2026-12-01)",
}


def select_trial(trials: Sequence[dict[str, Any]], task: str, rule: str = RULE) -> dict[str, Any]:
    """The sweep trial the rule selects (each trial holds its final ``val`` metrics); ties go
    to the trial that started first. ``rule=LEGACY_RULE`` replays how older sweeps chose, so
    their reports stay true to the selection they made."""
    if not trials:
        raise ValueError("no trial finished an epoch: raise the budget or --max-trials")
    if rule == LEGACY_RULE:
        return min(trials, key=lambda t: (_lower_is_better(task, t["val"]), t["train_time_s"]))
    if rule != RULE:
        raise ValueError(f"unknown selection rule {rule!r}; known: {sorted(RULES)}")
    return select(trials, task, lambda trial: [trial["val"]])
