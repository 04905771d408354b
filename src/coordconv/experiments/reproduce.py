"""The grids of runs: the paper's (3 tasks x {conv, coordconv} x {uniform, quadrant} x seeds) and
the digits demo's (4 localiser variants x {uniform, quadrant} x seeds), resumable.

Every run goes through ``train.train`` into ``OUT/runs/<task>-<model>-<split>-s<seed>/``; a run
that finished is skipped, one that was interrupted resumes from its last epoch. ``--jobs N`` runs
N worker processes and splits the threads between them. The report is rebuilt at the end.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path
from typing import Any

from coordconv.experiments.data import SPLITS, TASKS
from coordconv.experiments.io import read_json, write_json
from coordconv.experiments.models import DIGIT_KINDS, PAPER_KINDS
from coordconv.experiments.train import TrainConfig, config_differences, make_config, train

__all__ = [
    "DIGITS_MODES",
    "FIRST_SEED",
    "MODES",
    "StaleRunError",
    "config_differences",
    "digits_grid",
    "grid",
    "run_grid",
]

# Reported runs use seeds 100, 101, ...: seeds 0-9 were used while choosing the recipes
# (docs/findings.md), so claims never rest on the seeds that tuned them.
FIRST_SEED = 100


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


def _seeds(modes: dict[str, dict[str, Any]], mode: str, seeds: int | None, first: int) -> range:
    """The seeds of a grid: ``seeds`` (default: the mode's count) from ``first`` on."""
    if mode not in modes:
        raise ValueError(f"mode must be one of {tuple(modes)}, got {mode!r}")
    n_seeds = modes[mode]["seeds"] if seeds is None else seeds
    if n_seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {n_seeds}")
    return range(first, first + n_seeds)


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
        TASKS, PAPER_KINDS, SPLITS, _seeds(MODES, mode, seeds, first_seed)
    ):
        overrides = {**MODES[mode]["overrides"].get((task, model), {}), **common}
        if split == "quadrant":
            overrides["quadrant"] = quadrant
        cfg = make_config(task, model, split, seed=seed, threads=threads, **overrides)
        runs[cfg.name] = cfg
    return runs


# The digits demo's budgets (the recipe itself is train.DIGITS_RECIPE, the same for every variant).
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
        SPLITS, DIGIT_KINDS, _seeds(DIGITS_MODES, mode, seeds, first_seed)
    ):
        cfg = make_config("digits", kind, split, seed=seed, threads=threads, **overrides)
        runs[cfg.name] = cfg
    return runs


def _run_one(name: str, config: dict[str, Any], out: str) -> tuple[str, dict[str, Any]]:
    cfg = TrainConfig.from_dict(config)
    result = train(cfg, Path(out) / "runs" / name, resume=True)
    return name, result["final"]


def _is_finished(run_dir: Path) -> bool:
    path = run_dir / "result.json"
    return path.exists() and bool(read_json(path).get("finished"))


class StaleRunError(ValueError):
    """A run folder holds a run made with other settings than the grid asks for."""


def _stale_runs(out: Path, runs: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Run name -> differing config keys, for every existing run made with other settings."""
    stale = {}
    for name, config in runs.items():
        path = out / "runs" / name / "result.json"
        if path.exists():
            differences = config_differences(read_json(path)["config"], config)
            if differences:
                stale[name] = differences
    return stale


def run_grid(
    out: str | Path,
    configs: dict[str, TrainConfig],
    *,
    mode: str = "quick",
    jobs: int = 1,
    overwrite: bool = False,
    on_done: Callable[[str, dict[str, Any], int, int], None] | None = None,
) -> list[str]:
    """Train every run of ``configs`` under ``out/runs`` (skipping finished ones); returns names run.

    An existing run made with other settings stops the grid with :class:`StaleRunError` naming
    it and the differing keys, before anything is written; ``overwrite`` re-runs such runs
    instead. ``on_done(name, final_metrics, done, total)`` is called as each run ends.
    """
    out = Path(out)
    runs = {name: asdict(cfg) for name, cfg in configs.items()}
    stale = _stale_runs(out, runs)
    if stale and not overwrite:
        listed = "; ".join(f"{name} differs in {keys}" for name, keys in sorted(stale.items()))
        raise StaleRunError(
            f"{out} holds runs made with other settings ({listed}); pass --overwrite to re-run "
            f"them, or use another --out"
        )
    for name in stale:
        (out / "runs" / name / "result.json").unlink()
        (out / "runs" / name / "checkpoint.pt").unlink(missing_ok=True)
    write_json(out / "grid.json", {"mode": mode, "jobs": jobs, "runs": runs})
    todo = [name for name in configs if not _is_finished(out / "runs" / name)]
    done = len(configs) - len(todo)
    if jobs <= 1:
        for name in todo:
            _, final = _run_one(name, asdict(configs[name]), str(out))
            done += 1
            if on_done:
                on_done(name, final, done, len(configs))
        return todo
    # spawn, not fork: a child forked after torch's OpenMP threads started can hang in its first
    # parallel op, and a fresh process starts its threads after train() sets flush_denormal
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        pending: set[Future[tuple[str, dict[str, Any]]]] = {
            pool.submit(_run_one, name, asdict(configs[name]), str(out)) for name in todo
        }
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                name, final = future.result()
                done += 1
                if on_done:
                    on_done(name, final, done, len(configs))
    return todo


def usable_cpus() -> int:
    """The CPUs this process may use."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else (os.cpu_count() or 1)


def threads_per_job(jobs: int, total: int | None = None) -> int:
    """Split ``total`` threads (default: :func:`usable_cpus`) between ``jobs``."""
    return max(1, (usable_cpus() if total is None else total) // max(1, jobs))
