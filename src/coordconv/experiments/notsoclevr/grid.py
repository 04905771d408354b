"""The paper's grid: 3 tasks x {conv, coordconv} x {uniform, quadrant} x seeds, per budget mode."""

from __future__ import annotations

import itertools
from typing import Any

from coordconv.experiments.core.config import TrainConfig, make_config
from coordconv.experiments.core.grid import FIRST_SEED, seed_range
from coordconv.experiments.notsoclevr.data import SPLITS, TASKS
from coordconv.experiments.notsoclevr.models import PAPER_KINDS

__all__ = ["MODES", "grid"]


# Budgets per mode. quick (the README default, ~8 minutes on a 2-core CPU): one seed, the
# CoordConv recipes, 12 epochs for each conv baseline (~12-18 s of training each). full (hours): 3
# seeds, the paper's 1000 epochs for the classification deconv, 200 for the other baselines.
MODES: dict[str, dict[str, Any]] = {
    "quick": {
        "seeds": 1,
        "overrides": {
            ("classification", "conv"): {"epochs": 12},
            ("regression", "conv"): {"epochs": 12},
            ("rendering", "conv"): {"epochs": 12},
        },
    },
    "full": {
        "seeds": 3,
        "overrides": {
            ("classification", "conv"): {"epochs": 1000},
            ("regression", "conv"): {"epochs": 200},
            ("rendering", "conv"): {"epochs": 200},
        },
    },
}


def grid(
    mode: str = "quick",
    seeds: int | None = None,
    threads: int = 2,
    first_seed: int = FIRST_SEED,
    quadrant: str = "bottom-right",
    **common: Any,
) -> dict[str, TrainConfig]:
    """Run name -> config for every cell and seed of ``mode`` (``common`` overrides all runs);
    seeds ``first_seed, first_seed + 1, ...``; the quadrant split holds out ``quadrant``."""
    runs = {}
    for task, model, split, seed in itertools.product(
        TASKS, PAPER_KINDS, SPLITS, seed_range(MODES, mode, seeds, first_seed)
    ):
        overrides = {**MODES[mode]["overrides"].get((task, model), {}), **common}
        if split == "quadrant":
            overrides["quadrant"] = quadrant
        cfg = make_config(task, model, split, seed=seed, threads=threads, **overrides)
        runs[cfg.name] = cfg
    return runs
