"""Findings tables from committed per-run records (``seed_sweep.py --records``), and the recipe
choice between candidates by the one selection rule.

    python benchmarks/count_table.py docs/counts/fresh-120-129.json            # a count table
    python benchmarks/count_table.py --choose docs/counts/tune-*-recipe.json docs/counts/tune-*-offset.json

A table row per cell (task, split, held-out quadrant): seeds whose train *and* judged metrics
(test for counts, val for tuning) meet the task's target after the last epoch, the judged target
metric (worst / median), time to target (train and test; counts only) and training time. ``--choose`` pools each candidate
file's runs per task and applies ``selection.select`` (files in the order given: ties go to
the first).
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from coordconv.experiments.core.io import read_json
from coordconv.experiments.core.registry import get_task
from coordconv.experiments.core.selection import select, selection_key


def load(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """``(judged part, runs)`` of a record file (a list, or ``{"runs": [...]}``)."""
    data = read_json(path)
    runs = data["runs"] if isinstance(data, dict) else data
    judged = data.get("judged", "test") if isinstance(data, dict) else "test"
    return judged, runs


def cell_name(run: dict[str, Any]) -> str:
    where = f"quadrant {run['quadrant']}" if run["split"] == "quadrant" else run["split"]
    return f"{run['task']} / {where}"


def _range(values: list[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f} s" if values else "—"


def table(judged: str, runs: list[dict[str, Any]]) -> str:
    cells: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        cells[cell_name(run)].append(run)
    lines = [
        f"| cell | seeds | at target (train and {judged}) | {judged} metric: worst / median "
        "| time to target | training time |",
        "|---|---|---|---|---|---|",
    ]
    for name, group in cells.items():
        task = get_task(group[0]["task"])
        metric = task.target_metric
        solved = sum(task.reached(r["train"]) and task.reached(r[judged]) for r in group)
        values = [r[judged][metric] for r in group]
        # the engine's time to target judges train and test: shown for counts only
        times = [r["time_to_target_s"] for r in group if r["time_to_target_s"] is not None]
        time_text = f"{_range(times)} ({len(times)}/{len(group)})" if judged == "test" else "—"
        seeds = sorted(r["seed"] for r in group)
        shown = f"{min(values):.2%} / {statistics.median(values):.2%}"
        if metric == "iou":
            shown = f"{min(values):.4f} / {statistics.median(values):.4f}"
        lines.append(
            f"| {name} | {seeds[0]}-{seeds[-1]} ({len(seeds)}) | **{solved}/{len(group)}** "
            f"| {shown} | {time_text} "
            f"| {_range([r['train_time_s'] for r in group])} |"
        )
    return "\n".join(lines)


def choose(paths: list[Path]) -> str:
    """Per task: each candidate's selection key and the one the rule selects."""
    by_task: dict[str, list[tuple[str, list[dict[str, float]]]]] = defaultdict(list)
    for path in paths:
        judged, runs = load(path)
        if judged != "val":
            raise SystemExit(f"{path} is judged on {judged!r}: choices are made on validation only")
        per_task: dict[str, list[dict[str, float]]] = defaultdict(list)
        for run in runs:
            per_task[run["task"]].append(run[judged])
        for task, vals in per_task.items():
            by_task[task].append((path.stem, vals))
    lines = []
    for task, candidates in by_task.items():
        for name, vals in candidates:
            at, metric, loss = selection_key(task, vals)
            lines.append(
                f"{task} {name}: {int(-at)}/{len(vals)} at target, mean metric "
                f"{abs(metric):.4f}, mean loss {loss:.4f}"
            )
        best = select(candidates, task, lambda c: c[1])
        lines.append(f"{task}: selected {best[0]}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", type=Path, help="record files")
    parser.add_argument("--choose", action="store_true", help="select between candidate files")
    args = parser.parse_args()
    if args.choose:
        print(choose(args.records))
        return
    for path in args.records:
        judged, runs = load(path)
        print(f"{path} (judged on {judged})\n")
        print(table(judged, runs))
        print()


if __name__ == "__main__":
    main()
