"""A grid of runs, resumable: name -> config, each trained by ``core.train`` in its own folder.

Every run goes into ``OUT/runs/<run name>/``; a run that finished is skipped, one that was
interrupted resumes from its last epoch. ``jobs`` worker processes split the threads between them.
The studies build their grids (``notsoclevr.grid``, ``digits.grid``); this runs any of them.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path
from typing import Any

from coordconv.experiments.core.config import TrainConfig, config_differences, upgrade_config
from coordconv.experiments.core.io import read_json, write_json
from coordconv.experiments.core.train import is_finished, train

__all__ = [
    "FIRST_SEED",
    "StaleRunError",
    "run_grid",
    "run_one",
    "seed_range",
    "threads_per_job",
    "usable_cpus",
]

# Reported runs use seeds 100, 101, ...: seeds 0-9 were used while choosing the recipes
# (docs/findings.md), so claims never rest on the seeds that tuned them.
FIRST_SEED = 100


def seed_range(modes: dict[str, dict[str, Any]], mode: str, seeds: int | None, first: int) -> range:
    """The seeds of ``modes[mode]``'s grid: ``seeds`` of them (default: the mode's ``"seeds"``)
    from ``first`` on."""
    if mode not in modes:
        raise ValueError(f"mode must be one of {tuple(modes)}, got {mode!r}")
    n_seeds = modes[mode]["seeds"] if seeds is None else seeds
    if n_seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {n_seeds}")
    return range(first, first + n_seeds)


def run_one(
    name: str,
    config: dict[str, Any],
    out: str,
    snapshots: Mapping[int, str | Path] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Train (or resume) the run ``name`` of a grid in ``out``: what each job of
    :func:`run_grid` calls, in whatever process or machine runs it (``snapshots``: as
    :func:`~coordconv.experiments.core.train.train`)."""
    cfg = TrainConfig.from_dict(config)
    result = train(cfg, Path(out) / "runs" / name, resume=True, snapshots=snapshots)
    return name, result["final"]


class StaleRunError(ValueError):
    """A run folder holds a run made with other settings than the grid asks for."""


def _stale_runs(out: Path, runs: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Run name -> differing config keys, for every existing run made with other settings."""
    stale = {}
    for name, config in runs.items():
        path = out / "runs" / name / "result.json"
        if path.exists():
            differences = config_differences(upgrade_config(read_json(path)["config"]), config)
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
    executor: Executor | None = None,
) -> list[str]:
    """Train every run of ``configs`` under ``out/runs`` (skipping finished ones); returns names run.

    An existing run made with other settings stops the grid with :class:`StaleRunError` naming
    it and the differing keys, before anything is written; ``overwrite`` re-runs such runs
    instead. ``on_done(name, final_metrics, done, total)`` is called as each run ends.
    ``executor`` (e.g. one that runs each job as a task on a cluster) takes the jobs instead of
    a local pool of ``jobs`` processes, at most ``jobs`` at a time; each job calls
    :func:`run_one`.
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
    todo = [name for name in configs if not is_finished(out / "runs" / name)]
    done = len(configs) - len(todo)
    if executor is not None:
        _drain(executor, todo, configs, out, done, on_done, limit=jobs)
        return todo
    if jobs <= 1:
        for name in todo:
            _, final = run_one(name, asdict(configs[name]), str(out))
            done += 1
            if on_done:
                on_done(name, final, done, len(configs))
        return todo
    # spawn, not fork: a child forked after torch's OpenMP threads started can hang in its first
    # parallel op, and a fresh process starts its threads after train() sets flush_denormal
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        _drain(pool, todo, configs, out, done, on_done, limit=jobs)
    return todo


def exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """Make this worker process end when ``parent`` does: a pool's workers outlive a parent
    killed by a signal it cannot catch (``kill``, the OOM killer) and would go on training
    unseen, using the cores and writing into the runs. A daemon thread checks every
    ``every_s`` seconds; a run cut short this way resumes from its last epoch."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _drain(
    executor: Executor,
    todo: list[str],
    configs: dict[str, TrainConfig],
    out: Path,
    done: int,
    on_done: Callable[[str, dict[str, Any], int, int], None] | None,
    limit: int,
) -> None:
    """Submit the runs to ``executor``, at most ``limit`` in flight, and report each as it ends."""
    queue = list(todo)
    pending: set[Future[tuple[str, dict[str, Any]]]] = set()
    while queue or pending:
        while queue and len(pending) < max(1, limit):
            name = queue.pop(0)
            pending.add(executor.submit(run_one, name, asdict(configs[name]), str(out)))
        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            name, final = future.result()
            done += 1
            if on_done:
                on_done(name, final, done, len(configs))


def usable_cpus() -> int:
    """The CPUs this process may use."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else (os.cpu_count() or 1)


def threads_per_job(jobs: int, total: int | None = None) -> int:
    """Split ``total`` threads (default: :func:`usable_cpus`) between ``jobs``."""
    return max(1, (usable_cpus() if total is None else total) // max(1, jobs))
