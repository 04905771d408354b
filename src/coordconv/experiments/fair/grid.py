"""The fair comparison: every arm of every (task, split) swept with the same tuning budget.

``run_fair(out)`` runs ``sweep.run_sweep`` for each task x split x arm (``models.KINDS``: the
paper's conv baseline, CoordConv, and the critics' mlp and conv-tiled) into
``out/sweeps/<task>-<arm>-<split>/``, resumably (a finished sweep is skipped, an interrupted one
continues), then ``fair_report.build_fair_report`` writes ``out/REPORT.md``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coordconv.experiments.core.io import read_json, write_json
from coordconv.experiments.fair.sweep import run_sweep
from coordconv.experiments.notsoclevr.data import SPLITS, TASKS
from coordconv.experiments.notsoclevr.models import KINDS

__all__ = ["ARM_ORDER", "cells", "run_fair"]

# CoordConv first within a cell, so the paper's comparison lands before the critics' arms.
ARM_ORDER = ("coordconv", "conv", "mlp", "conv-tiled")
assert set(ARM_ORDER) == set(KINDS)


def cells(
    tasks: tuple[str, ...] = TASKS,
    splits: tuple[str, ...] = SPLITS,
    arms: tuple[str, ...] = ARM_ORDER,
) -> list[tuple[str, str, str]]:
    """``(task, arm, split)`` in the order they are swept."""
    return [(t, a, s) for t, s, a in itertools.product(tasks, splits, arms)]


def run_fair(
    out: str | Path,
    *,
    budget_min: float = 5.0,
    final_seeds: int = 3,
    max_trials: int = 1000,
    address: str | None = None,
    seed: int = 0,
    tasks: tuple[str, ...] = TASKS,
    splits: tuple[str, ...] = SPLITS,
    arms: tuple[str, ...] = ARM_ORDER,
    canvas: int | None = None,
    square: int | None = None,
    on_cell: Callable[[str, dict[str, Any]], None] | None = None,
    on_progress: Callable[[str, dict[str, Any]], None] | None = None,
) -> list[str]:
    """Sweep every cell with the same budget; returns the sweep folder names, in order.

    The settings are written to ``out/fair.json`` first; a folder holding a fair run made with
    other settings is refused (the budgets would no longer be equal)."""
    out = Path(out)
    settings = {
        "budget_min": budget_min,
        "final_seeds": final_seeds,
        "max_trials": max_trials,
        "seed": seed,
        "canvas": canvas,
        "square": square,
    }
    path = out / "fair.json"
    if path.exists():
        saved = read_json(path)["settings"]
        changed = sorted(k for k in settings if saved.get(k) != settings[k])
        if changed:
            raise ValueError(
                f"{out} holds a fair comparison made with other settings ({changed}); "
                f"use the same ones to resume, or another --out"
            )
    write_json(path, {"settings": settings, "address": address})
    names = []
    for task, arm, split in cells(tasks, splits, arms):
        name = f"{task}-{arm}-{split}"
        report: Callable[[dict[str, Any]], None] | None = None
        if on_progress is not None:
            report = functools.partial(on_progress, name)
        summary = run_sweep(
            task,
            arm,
            split,
            out / "sweeps" / name,
            budget_min=budget_min,
            max_trials=max_trials,
            seed=seed,
            final_seeds=final_seeds,
            address=address,
            resume=True,
            canvas=canvas,
            square=square,
            on_progress=report,
        )
        names.append(name)
        if on_cell is not None:
            on_cell(name, summary)
    return names
