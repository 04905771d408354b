"""Numbers and verdicts of a set of Not-so-Clevr runs: per-cell statistics and the rules that judge
them against the paper.

A pure function of ``result.json`` contents (no plots, no Markdown), shared by the quick and the
fair report.
The rules, each able to say no:

* **CoordConv cells** (the paper: perfect generalisation): a seed counts only when its final
  train *and* test metrics both meet the task's target; the cell is *reproduced* when every seed
  counts, else *not reproduced (k/n)*.
* **Baselines** (:func:`baseline_verdict`, the same rule in the quick and the fair report): the
  paper's claim is that convolution *cannot learn* the transform, so a baseline is judged on
  train and test together, per seed (:func:`seed_outcome`):

  - *solves*: train and test at the task's target;
  - *nearly solves*: train within ``FIT_MARGIN`` of the target and test within ``NEAR_MARGIN``;
  - *fails to generalise*: train within ``FIT_MARGIN`` of the target ("fits its training
    data"), test more than ``GAP_MARGIN`` below train — the paper's failure;
  - *falls short*: train at the target, test short of it by more than ``NEAR_MARGIN`` but
    within ``GAP_MARGIN`` of train: it learned the map and generalises, not exactly;
  - *underfits*: anything else (train short of the target by more than ``FIT_MARGIN``, or
    train and test short alike): the budget did not buy a fit, which says nothing of the claim.

  The cell: every seed solves or nearly solves -> *contradicted*; every seed fails to
  generalise -> *supported: fails to generalise*; every seed underfits -> *inconclusive:
  underfits at B*; every seed falls short -> *inconclusive: falls short at B*; otherwise
  *mixed*. Each names its budget ``B`` and the train and test
  metrics. In the quick report the conv cells with a paper number get this rule at their epoch
  budget; every other cell there is *n/a* (the paper gives no number).

Margins (absolute, on metrics in [0, 1]; fixed before the ladder's runs): ``FIT_MARGIN`` 0.10,
``NEAR_MARGIN`` 0.01, ``GAP_MARGIN`` 0.10.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from coordconv.experiments.core.report import cell_of
from coordconv.experiments.notsoclevr.tasks import TASK_SPECS

__all__ = [
    "FIT_MARGIN",
    "GAP_MARGIN",
    "NEAR_MARGIN",
    "PAPER",
    "PRIMARY",
    "baseline_verdict",
    "cell_verdict",
    "seed_outcome",
    "summarise",
]

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
FIT_MARGIN = 0.10  # train within this of the target: the baseline fits its training data
NEAR_MARGIN = 0.01  # test within this of the target (train fits): it nearly solves the task
GAP_MARGIN = 0.10  # test this far below train (train fits): it fails to generalise
OUTCOMES = ("solves", "nearly solves", "fails to generalise", "falls short", "underfits")


def _reached(task: str, metrics: dict[str, float]) -> bool:
    return TASK_SPECS[task].reached(metrics)


def seed_outcome(task: str, train: dict[str, float], test: dict[str, float]) -> str:
    """One seed of a baseline: one of :data:`OUTCOMES` (rules in the module doc)."""
    spec = TASK_SPECS[task]
    if spec.reached(train) and spec.reached(test):
        return "solves"
    metric, target = spec.target_metric, spec.target_value
    if train[metric] < target - FIT_MARGIN:
        return "underfits"
    if test[metric] >= target - NEAR_MARGIN:
        return "nearly solves"
    if test[metric] < train[metric] - GAP_MARGIN:
        return "fails to generalise"
    return "falls short" if spec.reached(train) else "underfits"


def _span(metric: str, values: list[float]) -> str:
    """``"95.0%-100.0%"`` (or one value when they all show the same)."""
    low, high = (
        f"{v:.3f}" if metric == "iou" else f"{100 * v:.1f}%" for v in (min(values), max(values))
    )
    return low if low == high else f"{low}-{high}"


def baseline_verdict(
    task: str, trains: list[dict[str, float]], tests: list[dict[str, float]], budget: str
) -> str:
    """The claim "convolution cannot learn it" on one baseline cell, from its seeds' final train
    and test metrics, at ``budget`` (e.g. ``"5 CPU-min"``, ``"12 epochs"``)."""
    if not tests:
        return "no final runs"
    metric = TASK_SPECS[task].target_metric
    outcomes = [seed_outcome(task, a, b) for a, b in zip(trains, tests, strict=True)]
    n = len(outcomes)
    numbers = (
        f"train {_span(metric, [t[metric] for t in trains])}, "
        f"test {_span(metric, [t[metric] for t in tests])}"
    )
    solved = outcomes.count("solves")
    if solved == n:
        return f"contradicted at {budget}: the baseline solves it ({n}/{n}; {numbers})"
    if set(outcomes) <= {"solves", "nearly solves"}:
        return (
            f"contradicted at {budget}: the baseline nearly solves it "
            f"(test within {NEAR_MARGIN:g} of the target; {solved}/{n} at it; {numbers})"
        )
    if set(outcomes) == {"fails to generalise"}:
        return f"supported at {budget}: fails to generalise ({numbers})"
    if set(outcomes) == {"underfits"}:
        return f"inconclusive: underfits at {budget} ({numbers})"
    if set(outcomes) == {"falls short"}:
        return (
            f"inconclusive: falls short at {budget}: fits train, test short of the target by "
            f"{NEAR_MARGIN:g}-{GAP_MARGIN:g} ({numbers})"
        )
    counts = ", ".join(f"{outcomes.count(o)} {o}" for o in OUTCOMES if o in outcomes)
    return f"mixed at {budget}: {counts} ({numbers})"


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
    budget = (
        f"{min(epochs)} epochs"
        if min(epochs) == max(epochs)
        else f"{min(epochs)}-{max(epochs)} epochs"
    )
    return baseline_verdict(task, trains, tests, budget)


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
