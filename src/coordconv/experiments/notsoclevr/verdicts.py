"""Numbers and verdicts of a set of Not-so-Clevr runs: per-cell statistics and the rules that judge
them against the paper.

A pure function of ``result.json`` contents (no plots, no Markdown), shared by the quick and the
fair report.
The rules, each able to say no:

* **CoordConv cells** (the paper: perfect generalisation): a seed counts only when its final
  train *and* test metrics both meet the task's target; the cell is *reproduced* when every seed
  counts, else *not reproduced (k/n)*.
* **Conv baselines with a paper number** (classification: ~86% uniform, ~0% quadrant): a baseline
  that solves the task (uniform) or generalises (quadrant test accuracy >= 5%) contradicts the
  paper whatever its budget; otherwise, below the paper's budget (1000 epochs) the cell is
  *inconclusive (budget: E of 1000 epochs)*, since longer training might change it; at the
  paper's budget it is *reproduced* when the baseline fails as the paper says.
* Every other cell: *n/a* (the paper gives no number).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from coordconv.experiments.core.report import cell_of
from coordconv.experiments.notsoclevr.tasks import TASK_SPECS

__all__ = ["PAPER", "PAPER_EPOCHS", "PRIMARY", "cell_verdict", "summarise"]

# Each task's headline metric (and its target, via TaskSpec.reached).
PRIMARY = {name: spec.target_metric for name, spec in TASK_SPECS.items()}
# What the paper reports (paper.md); absent where it gives no number for the cell.
PAPER: dict[tuple[str, str, str], str] = {
    ("classification", "conv", "uniform"): "~86%",
    ("classification", "conv", "quadrant"): "~0%",
    ("classification", "coordconv", "uniform"): "100%",
    ("classification", "coordconv", "quadrant"): "100%",
    ("regression", "coordconv", "uniform"): "perfect (claim)",
    ("regression", "coordconv", "quadrant"): "perfect (claim)",
    ("rendering", "coordconv", "uniform"): "perfect (claim)",
    ("rendering", "coordconv", "quadrant"): "perfect (claim)",
}
# Epochs per configuration in the official sweeps of the baselines that have a paper number.
PAPER_EPOCHS = {("classification", "conv"): 1000}
QUADRANT_GENERALISES = 0.05  # quadrant test accuracy from which a baseline "generalises"


def _reached(task: str, metrics: dict[str, float]) -> bool:
    return TASK_SPECS[task].reached(metrics)


def cell_verdict(
    task: str,
    model: str,
    split: str,
    trains: list[dict[str, float]],
    tests: list[dict[str, float]],
    epochs: list[int],
) -> str:
    """The verdict on one cell from its seeds' final metrics and planned epochs (rules above)."""
    if (task, model, split) not in PAPER:
        return "n/a"
    n = len(tests)
    if model == "coordconv":
        hits = sum(
            _reached(task, a) and _reached(task, b) for a, b in zip(trains, tests, strict=True)
        )
        return "reproduced" if hits == n else f"not reproduced ({hits}/{n})"
    accuracy = statistics.mean(t["accuracy"] for t in tests)
    if split == "quadrant" and accuracy >= QUADRANT_GENERALISES:
        return f"not reproduced (conv generalises: {100 * accuracy:.1f}%)"
    if split == "uniform" and all(_reached(task, t) for t in tests):
        return "not reproduced (conv solves it)"
    budget = PAPER_EPOCHS[task, model]
    if min(epochs) < budget:
        return f"inconclusive (budget: {min(epochs)} of {budget} epochs)"
    return "reproduced"


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per ``task/model/split``: metrics over seeds, seeds at target, params, times, verdict."""
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        cells[cell_of(run["config"])].append(run)
    summary: dict[str, Any] = {}
    for (task, model, split), group in sorted(cells.items()):
        metric = PRIMARY[task]
        tests = [r["final"]["test"] for r in group]
        trains = [r["final"]["train"] for r in group]
        planned = [r["config"]["epochs"] for r in group]
        entry = {
            "task": task,
            "model": model,
            "split": split,
            "seeds": [r["config"]["seed"] for r in group],
            "finished": all(r.get("finished") for r in group),
            "metric": metric,
            "train": [t[metric] for t in trains],
            "test": [t[metric] for t in tests],
            "test_metrics": tests,
            "reached_target": sum(
                _reached(task, a) and _reached(task, b) for a, b in zip(trains, tests, strict=True)
            ),
            "held_target": sum(bool(r["final"].get("held_target")) for r in group),
            "params": group[0]["params"],
            "time_to_target_s": [r["final"]["time_to_target_s"] for r in group],
            "wall_time_s": [r["wall_time_s"] for r in group],
            "epochs_run": [r["epochs_run"] for r in group],
            "epochs_planned": planned,
            "paper": PAPER.get((task, model, split)),
            "verdict": cell_verdict(task, model, split, trains, tests, planned),
        }
        if task == "regression":
            entry["test_mean_pixel_error"] = [t["mean_pixel_error"] for t in tests]
        summary[f"{task}/{model}/{split}"] = entry
    return summary
