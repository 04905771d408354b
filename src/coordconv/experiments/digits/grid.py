"""The digits demo's recipe and grid: 4 localiser variants x {uniform, quadrant} x seeds."""

from __future__ import annotations

import itertools
from typing import Any

from coordconv.experiments.core.config import TrainConfig, make_config
from coordconv.experiments.core.grid import FIRST_SEED, seed_range
from coordconv.experiments.digits.data import SPLITS
from coordconv.experiments.digits.localiser import VARIANTS

__all__ = ["DIGITS_MODES", "DIGITS_RECIPE", "digits_grid", "recipe"]

# Chosen on validation with tuning seed 0 (docs/findings.md): lr 0.002 beat 0.001 and 0.005 at
# 10 epochs; 20 epochs beat 10; 15 (scored every 5) is what fits the quick budget.
DIGITS_RECIPE: dict[str, Any] = dict(
    epochs=15, eval_every=5, batch_size=32, lr=0.002, weight_decay=1e-4, validation=True
)


def recipe(task: str, kind: str, split: str) -> dict[str, Any]:
    """One recipe for every variant and split (equal training budgets)."""
    if task != "digits" or kind not in VARIANTS:
        raise ValueError(f"no recipe for task={task!r} model={kind!r}")
    return dict(DIGITS_RECIPE)


# The digits demo's budgets (the recipe itself is DIGITS_RECIPE, the same for every variant).
# quick: <= 10 minutes on a 2-core CPU with --jobs 2; full: a wider net, more canvases and epochs.
DIGITS_MODES: dict[str, dict[str, Any]] = {
    "quick": {"seeds": 3, "overrides": {}},
    "full": {
        "seeds": 5,
        "overrides": {"width": 2, "canvases": 10000, "epochs": 30, "eval_every": 1},
    },
}


def digits_grid(
    mode: str = "quick",
    seeds: int | None = None,
    threads: int = 2,
    first_seed: int = FIRST_SEED,
    **common: Any,
) -> dict[str, TrainConfig]:
    """Run name -> config for every localiser variant, split and seed of the digits demo."""
    overrides = {**DIGITS_MODES[mode]["overrides"], **common}
    runs = {}
    for split, kind, seed in itertools.product(
        SPLITS, VARIANTS, seed_range(DIGITS_MODES, mode, seeds, first_seed)
    ):
        cfg = make_config("digits", kind, split, seed=seed, threads=threads, **overrides)
        runs[cfg.name] = cfg
    return runs
