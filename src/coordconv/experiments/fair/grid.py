"""The fair comparison: every arm of every (task, split) swept with the same tuning budget.

``run_fair(out)`` runs ``sweep.run_sweep`` for each task x split x arm (``ARM_ORDER``: CoordConv
with this project's switches and over the paper's plain space, the paper's conv baseline, and the
critics' mlp and conv-tiled) into ``out/sweeps/<task>-<arm>-<split>/``, resumably (a finished
sweep is skipped, an interrupted one continues); then ``report.build_fair_report`` writes
``out/REPORT.md``.

The budget ladder: the cells that decide the paper's claim (``LADDER_CELLS``) are swept to the
top rung of ``ladder`` and give every lower rung as their prefix (``sweep`` module doc); every
other cell is swept at ``budget_min``, the lowest rung. They run first (with their CoordConv
partners), so a
report of the deciding cells can be read before the other cells are done.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coordconv.experiments.core.io import read_json, write_json
from coordconv.experiments.fair.sweep import ARMS, run_sweep
from coordconv.experiments.notsoclevr.data import SPLITS, TASKS

__all__ = ["ARM_ORDER", "LADDER", "LADDER_CELLS", "cells", "run_fair"]

# CoordConv first within a cell, so the paper's comparison lands before the critics' arms.
ARM_ORDER = ("coordconv", "conv", "coordconv-paper", "mlp", "conv-tiled")
assert set(ARM_ORDER) == set(ARMS)
# The budget rungs, CPU-minutes of tuning per cell, and the cells swept up the whole ladder.
LADDER = (5.0, 20.0, 80.0)
LADDER_CELLS = (
    ("classification", "conv", "uniform"),
    ("classification", "conv", "quadrant"),
    ("regression", "conv", "uniform"),
    ("rendering", "conv", "uniform"),
)


def cells(
    tasks: tuple[str, ...] = TASKS,
    splits: tuple[str, ...] = SPLITS,
    arms: tuple[str, ...] = ARM_ORDER,
    ladder_cells: tuple[tuple[str, str, str], ...] = LADDER_CELLS,
) -> list[tuple[str, str, str]]:
    """``(task, arm, split)`` in the order they are swept: the ladder's cells and their CoordConv
    partners first (the comparison that decides the claim), then the rest in grid order."""
    every = [(t, a, s) for t, s, a in itertools.product(tasks, splits, arms)]
    deciding = {(t, s) for t, _, s in ladder_cells}

    def order(cell: tuple[str, str, str]) -> int:
        task, arm, split = cell
        if cell in ladder_cells:
            return 1
        return 0 if arm == "coordconv" and (task, split) in deciding else 2

    return sorted(every, key=order)


def run_fair(
    out: str | Path,
    *,
    budget_min: float = LADDER[0],
    ladder: tuple[float, ...] = LADDER,
    ladder_cells: tuple[tuple[str, str, str], ...] = LADDER_CELLS,
    final_seeds: int = 5,
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
    """Sweep every cell with the same budget (the ladder's cells up every rung of ``ladder``
    from ``budget_min`` on); returns the sweep folder names, in order.

    The settings are written to ``out/fair.json`` first; a folder holding a fair run made with
    other settings is refused (the budgets would no longer be equal)."""
    out = Path(out)
    rungs = tuple(sorted({budget_min, *(r for r in ladder if r >= budget_min)}))
    settings = {
        "budget_min": budget_min,
        "ladder": list(rungs),
        "ladder_cells": [list(c) for c in ladder_cells],
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
    for task, arm, split in cells(tasks, splits, arms, ladder_cells):
        name = f"{task}-{arm}-{split}"
        climbs = (task, arm, split) in ladder_cells
        report: Callable[[dict[str, Any]], None] | None = None
        if on_progress is not None:
            report = functools.partial(on_progress, name)
        summary = run_sweep(
            task,
            arm,
            split,
            out / "sweeps" / name,
            budget_min=rungs[-1] if climbs else budget_min,
            rungs=rungs if climbs else (),
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
