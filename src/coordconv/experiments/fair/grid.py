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
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from coordconv.experiments.core.io import read_json, write_json
from coordconv.experiments.fair.sweep import ARMS, _import_tune, run_sweep
from coordconv.experiments.notsoclevr.data import SPLITS, TASKS

__all__ = ["ARM_ORDER", "LADDER", "LADDER_CELLS", "cells", "ledger_progress", "run_fair"]

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
    cells_at_once: int = 1,
    on_cell: Callable[[str, dict[str, Any]], None] | None = None,
    on_progress: Callable[[str, dict[str, Any]], None] | None = None,
) -> list[str]:
    """Sweep every cell with the same budget (the ladder's cells up every rung of ``ladder``
    from ``budget_min`` on); returns the sweep folder names, in order.

    ``cells_at_once > 1`` runs that many cells' sweeps at a time, each in its own driver
    process on one Ray cluster (:func:`_concurrently`): on N machines the cells keep every
    core busy, through the final runs and between cells too. The order of the cells, their
    budgets and their selections do not depend on it.

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
    earlier = read_json(path).get("invocations", []) if path.exists() else []
    write_json(path, {"settings": settings, "address": address, "invocations": earlier})
    jobs = []
    for task, arm, split in cells(tasks, splits, arms, ladder_cells):
        climbs = (task, arm, split) in ladder_cells
        name = f"{task}-{arm}-{split}"
        kwargs: dict[str, Any] = dict(
            task=task,
            arm=arm,
            split=split,
            out=str(out / "sweeps" / name),
            budget_min=rungs[-1] if climbs else budget_min,
            rungs=rungs if climbs else (),
            max_trials=max_trials,
            seed=seed,
            final_seeds=final_seeds,
            address=address,
            resume=True,
            canvas=canvas,
            square=square,
        )
        jobs.append((name, kwargs))
    outs = {name: kwargs["out"] for name, kwargs in jobs}
    started, busy_before, work_before = time.perf_counter(), machine_busy_s(), _work_s(outs)
    ran: list[str] = []  # cells swept (not just read back) by this invocation

    def finished(name: str, summary: dict[str, Any], swept: bool) -> None:
        if swept:
            ran.append(name)
        if on_cell is not None:
            on_cell(name, summary)

    try:
        if cells_at_once > 1:
            _concurrently(jobs, cells_at_once, address, finished, on_progress)
        else:
            for name, kwargs in jobs:
                report: Callable[[dict[str, Any]], None] | None = None
                if on_progress is not None:
                    report = functools.partial(on_progress, name)
                done_before = _is_done(kwargs["out"])
                finished(name, run_sweep(**kwargs, on_progress=report), not done_before)
    finally:
        _record_invocation(path, started, busy_before, work_before, ran, outs, cells_at_once)
    return [name for name, _ in jobs]


def _is_done(sweep_dir: str | Path) -> bool:
    summary = Path(sweep_dir, "sweep.json")
    return summary.exists() and bool(read_json(summary).get("final_done"))


def machine_busy_s() -> float | None:
    """Core-seconds this machine has spent busy since boot (Linux ``/proc/stat``: every state
    but idle and iowait), or None where that file is missing."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _work_s(outs: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Per cell: the CPU seconds its trials (``sweep.json["busy_s"]``, written when the sweep
    phase ends) and its final runs (their ``result.json``) have spent so far."""
    spent = {}
    for name, out in outs.items():
        summary = Path(out, "sweep.json")
        trials_s = read_json(summary).get("busy_s", 0.0) if summary.exists() else 0.0
        results = [read_json(run) for run in Path(out, "final").glob("*/runs/*/result.json")]
        # a lower rung's run written by a longer one (``snapshot_of``) shares its CPU time
        finals_s = sum(r.get("cpu_time_s", 0.0) for r in results if "snapshot_of" not in r)
        spent[name] = (trials_s, finals_s)
    return spent


def _record_invocation(
    path: Path,
    started: float,
    busy_before: float | None,
    work_before: dict[str, tuple[float, float]],
    ran: list[str],
    outs: dict[str, str],
    cells_at_once: int,
) -> None:
    """Append this invocation's wall time and utilisation to ``fair.json``, each a share of
    cores x wall: the machine's (busy core-seconds of every process: on a machine doing nothing
    else, the cores the grid kept busy), the work's (the CPU seconds the trials and the final
    runs of the cells it ran spent during it: what the grid is for; a sweep phase interrupted
    earlier and finished here counts its earlier trial seconds too) and the trials' own."""
    wall_s = time.perf_counter() - started
    if not ran or wall_s <= 0:
        return
    cores = os.cpu_count() or 1
    busy_now = machine_busy_s()
    work_now = _work_s({n: outs[n] for n in ran})
    trials_busy = sum(work_now[n][0] - work_before[n][0] for n in ran)
    finals_busy = sum(work_now[n][1] - work_before[n][1] for n in ran)
    summaries = {n: read_json(Path(outs[n], "sweep.json")) for n in ran}
    record = {
        "cells": ran,
        "cells_at_once": cells_at_once,
        "trials_at_once": {n: summary.get("trials_at_once") for n, summary in summaries.items()},
        "wall_s": wall_s,
        "cores": cores,
        "machine_utilisation": None
        if busy_now is None or busy_before is None
        else (busy_now - busy_before) / (cores * wall_s),
        "work_utilisation": (trials_busy + finals_busy) / (cores * wall_s),
        "trial_utilisation": trials_busy / (cores * wall_s),
    }
    saved = read_json(path)
    saved.setdefault("invocations", []).append(record)
    write_json(path, saved)


def ledger_progress(out: str | Path, budget_s: float) -> dict[str, Any]:
    """A running sweep's progress from its ledger (readable from another process): ``trials``
    that reported, ``spent_s`` (their latest cumulative training seconds, summed), ``budget_s``."""
    path = Path(out, "ledger.jsonl")
    spent: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line being written
                continue
            spent[record["trial"]] = record["train_time_s"]
    return {"trials": len(spent), "spent_s": sum(spent.values()), "budget_s": budget_s}


# ASHA compares a trial at a rung with the trials that reached it before; a cell running fewer
# trials at a time lets its first trials run unchallenged to the longest schedule.
MIN_TRIALS_AT_ONCE = 2


def _warn_if_crowded(cpus: int, at_once: int) -> None:
    """Warn when ``at_once`` cells would share ``cpus`` CPUs with fewer than
    :data:`MIN_TRIALS_AT_ONCE` each: each cell's search then differs from a cell swept alone
    (measured here, 2 cells on 2 CPUs: the conv regression cell ran 1 trial of 300 epochs
    where alone it ran 12 trials; benchmarks/results-fair-utilisation.md)."""
    if at_once > 1 and cpus < MIN_TRIALS_AT_ONCE * at_once:
        warnings.warn(
            f"{at_once} cells at once on {cpus} CPUs leave a cell fewer than "
            f"{MIN_TRIALS_AT_ONCE} trials running at a time, so ASHA cannot cut its first "
            f"trials and its search differs from a cell swept alone; use --cells-at-once "
            f"{max(1, cpus // MIN_TRIALS_AT_ONCE)} here, or a cluster with at least "
            f"{MIN_TRIALS_AT_ONCE * at_once} CPUs",
            stacklevel=3,
        )


def _concurrently(
    jobs: list[tuple[str, dict[str, Any]]],
    at_once: int,
    address: str | None,
    on_cell: Callable[[str, dict[str, Any], bool], None],
    on_progress: Callable[[str, dict[str, Any]], None] | None,
    poll_s: float = 2.0,
) -> None:
    """Run the cells' sweeps ``at_once`` at a time, each in its own driver process
    (``fair.driver``) attached to one Ray cluster: ``address``, or a local one started here
    (and shut down after). The cells share the cluster's CPUs; each keeps its own budget (CPU
    time of its trials) and its own fixed number of trials at a time, the cluster's CPUs //
    ``at_once`` (recorded in its ``sweep.json``; a resume with another is refused).
    ``on_cell(name, summary, swept)`` is called as each cell is done
    (``swept``: by a driver now, not read back); ``on_progress(name, info)`` gets each running
    cell's ledger progress plus ``cells_done``, ``cells_running`` and ``cells_left``; a driver
    that fails stops the grid with its log's path (``DIR.log`` beside the sweep folder)."""
    ray, _ = _import_tune()
    started_here = not ray.is_initialized() and address is None
    if started_here:
        context = ray.init(
            address="local",  # our own, whatever else runs on this machine
            num_cpus=os.cpu_count() or 1,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        address = context.address_info["address"]
    elif address is None:
        address = ray.get_runtime_context().gcs_address
    elif not ray.is_initialized():  # attach, to count the cluster's CPUs; detach at the end
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        started_here = True
    cpus = int(ray.cluster_resources().get("CPU", 0))
    _warn_if_crowded(cpus, at_once)
    per_cell = max(1, cpus // at_once)  # fixed, not whatever contention leaves a cell
    pending = list(jobs)
    running: dict[str, tuple[subprocess.Popen[bytes], IO[bytes], dict[str, Any]]] = {}
    done: list[str] = []
    try:
        while pending or running:
            while pending and len(running) < at_once:
                name, kwargs = pending.pop(0)
                summary_path = Path(kwargs["out"], "sweep.json")
                if _is_done(kwargs["out"]):
                    done.append(name)
                    on_cell(name, read_json(summary_path), False)
                    continue
                Path(kwargs["out"]).parent.mkdir(parents=True, exist_ok=True)
                output: IO[bytes] = open(f"{kwargs['out']}.log", "ab")  # noqa: SIM115 (closed with its driver)
                argv = [sys.executable, "-m", "coordconv.experiments.fair.driver"]
                argv.append(json.dumps({**kwargs, "address": address, "trials_at_once": per_cell}))
                driver = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
                running[name] = (driver, output, kwargs)
            for name, (process, log, kwargs) in list(running.items()):
                if process.poll() is None:
                    if on_progress is not None:
                        info = ledger_progress(kwargs["out"], kwargs["budget_min"] * 60.0)
                        on_progress(
                            name,
                            {
                                **info,
                                "cells_done": len(done),
                                "cells_running": len(running),
                                "cells_left": len(pending),
                            },
                        )
                    continue
                log.close()
                del running[name]
                if process.returncode == 130:
                    raise KeyboardInterrupt(f"{name} was interrupted: re-run to resume")
                if process.returncode != 0:
                    raise RuntimeError(
                        f"the sweep of {name} failed (exit {process.returncode}): see "
                        f"{kwargs['out']}.log; re-run to resume the grid"
                    )
                done.append(name)
                on_cell(name, read_json(Path(kwargs["out"], "sweep.json")), True)
            time.sleep(poll_s if running else 0)
    finally:
        for process, _, _ in running.values():  # interrupted: let each driver checkpoint
            process.send_signal(signal.SIGINT)
        for process, log, _ in running.values():
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
        if started_here:
            ray.shutdown()
