"""The digits demo's recipe and grids: 4 variants x {uniform, quadrant} x seeds, per head; and
the tuning grid that chose each head's epochs."""

from __future__ import annotations

import itertools
from typing import Any

from coordconv.experiments.core.config import TrainConfig, make_config
from coordconv.experiments.core.grid import FIRST_SEED, seed_range
from coordconv.experiments.digits.data import SPLITS
from coordconv.experiments.digits.localiser import HEADS, VARIANTS

__all__ = [
    "DIGITS_MODES",
    "DIGITS_RECIPE",
    "TUNED_EPOCHS",
    "TUNING_EPOCHS",
    "digits_grid",
    "recipe",
    "task_of",
    "tuning_grid",
]

# Chosen on validation with tuning seed 0 (docs/findings.md): lr 0.002 beat 0.001 and 0.005 at
# 10 epochs; 20 epochs beat 10; 15 (scored every 5) is what fits the quick budget.
DIGITS_RECIPE: dict[str, Any] = dict(
    epochs=15, eval_every=5, batch_size=32, lr=0.002, weight_decay=1e-4, validation=True
)


def recipe(task: str, kind: str, split: str) -> dict[str, Any]:
    """One recipe for every variant and split (equal training budgets)."""
    if task not in HEADS or kind not in VARIANTS:
        raise ValueError(f"no recipe for task={task!r} model={kind!r}")
    return dict(DIGITS_RECIPE)


# The digits demo's budgets (the recipe itself is DIGITS_RECIPE, the same for every variant).
# quick: <= 10 minutes on a 2-core CPU with --jobs 2, 3 seeds; full: 10 seeds per variant and
# split, each head trained for the epochs its tuning chose (TUNED_EPOCHS).
DIGITS_MODES: dict[str, dict[str, Any]] = {
    "quick": {"seeds": 3, "overrides": {}},
    "full": {"seeds": 10, "overrides": {}},
}

# The tuning grid (`coordconv digits --tune`): tuning seed 0 (never a reported seed), the plain
# net and the all-CoordConv one (tuned alike), both splits, each of TUNING_EPOCHS; the choice is
# `tuning.choose_epochs`'s rule on validation. Its runs and TUNING.md: docs/digits-report/tuning/.
TUNING_SEEDS = (0,)
TUNING_EPOCHS = (15, 30, 60, 120)
TUNING_VARIANTS = ("plain", "coordconv-all")

# head -> the full mode's epochs, as tuning chose them (None: not tuned yet, the recipe's);
# docs/digits-report/tuning/<head>/REPORT.md. The detector's: 120, the longest count tried,
# still not flat by the rule (60 -> 120 cut the mean validation centre error by 15%). The
# regressor's: 60 (mean 1.47 / 1.03 / 0.81 / 0.79 px at 15 / 30 / 60 / 120; 60 -> 120 cut it
# by 3%, the plain quadrant net got worse).
TUNED_EPOCHS: dict[str, int | None] = {"regressor": 60, "detector": 120}


def task_of(head: str) -> str:
    """The engine's task for a head (``regressor`` -> ``digits``, ``detector`` -> ``detection``)."""
    tasks = {h: t for t, h in HEADS.items()}
    if head not in tasks:
        raise ValueError(f"head must be one of {tuple(tasks)}, got {head!r}")
    return tasks[head]


def digits_grid(
    mode: str = "quick",
    seeds: int | None = None,
    threads: int = 2,
    first_seed: int = FIRST_SEED,
    head: str = "regressor",
    **common: Any,
) -> dict[str, TrainConfig]:
    """Run name -> config for every variant, split and seed of the digits demo with ``head``."""
    task = task_of(head)
    overrides = dict(DIGITS_MODES[mode]["overrides"])
    if mode == "full" and TUNED_EPOCHS[head] is not None:
        overrides["epochs"] = TUNED_EPOCHS[head]
    overrides.update(common)
    runs = {}
    # seed by seed: an unfinished grid holds every cell with as many seeds as it got to
    for seed, split, kind in itertools.product(
        seed_range(DIGITS_MODES, mode, seeds, first_seed), SPLITS, VARIANTS
    ):
        cfg = make_config(task, kind, split, seed=seed, threads=threads, **overrides)
        runs[cfg.name] = cfg
    return runs


def tuning_grid(
    head: str = "regressor",
    shortest: int = TUNING_EPOCHS[0],
    threads: int = 1,
    **common: Any,
) -> dict[str, TrainConfig]:
    """Run name (``<run name>-e<epochs>``) -> config of the tuning grid for ``head``: each cell
    at ``shortest`` epochs and 2, 4 and 8 times as many (``TUNING_EPOCHS`` by default)."""
    task = task_of(head)
    if shortest < 1:
        raise ValueError(f"the tuning's shortest epoch count must be >= 1, got {shortest}")
    counts = [shortest * n // TUNING_EPOCHS[0] for n in TUNING_EPOCHS]
    runs = {}
    for split, kind, seed, n in itertools.product(SPLITS, TUNING_VARIANTS, TUNING_SEEDS, counts):
        cfg = make_config(task, kind, split, seed=seed, threads=threads, **{"epochs": n, **common})
        runs[f"{cfg.name}-e{n}"] = cfg
    return runs
