"""Tune one (task, model, split) on Ray Tune under a CPU-time budget; choose on validation only.

``run_sweep`` samples configurations from the cell's search space (``SEARCH_SPACES``, data), trains
each as an ordinary run of the engine in ``DIR/trials/<id>/`` (fitting on the training part minus
its validation part; validation is the only split a trial evaluates), stops poor trials early with
ASHA on the validation metric, and stops the whole sweep when the trials' training time adds up to
the budget. ``selection.select_trial`` picks the trial (at the target on validation, then the best
validation metric, then the lowest validation loss; ties: the first started), which is then
retrained on the whole training part for fresh seeds in ``DIR/final/``; only those runs are scored
on test. Everything lands in ``DIR/sweep.json``.

Budget: ``budget_s`` is CPU-seconds of training summed over trials (each trial one thread; the
engine's ``cpu_time_s``, the process's CPU time over its training steps, so another load on the
machine does not eat into it), evaluation excluded, identical for every arm compared. ASHA: ``time_attr`` = epochs,
``grace_period`` 2 epochs, ``reduction_factor`` 3 (rungs at 2, 6, 18, 54, ... epochs), ``max_t`` the
largest epoch count in the space.

Budget ladder: one sweep run to its top budget also gives the selection at every lower budget
``B`` in ``rungs``, as its prefix. The driver logs every trial result in arrival order
(``ledger.jsonl``: trial, epoch, the trial's training seconds so far) — the view the budget stopper
has — so each trial's ``finished_at_s`` is the tuning seconds all trials had spent when its last
result arrived, and each epoch of a trial its ``at_s``. The selection at rung ``B`` is
``select_trial`` over every trial's state at ``B`` (``state_at``: its last epoch whose result
arrived within ``B``, with that epoch's validation metrics): what a sweep stopped at ``B`` would
have held, the trials it would have cut mid-run included, as the top rung (the sweep's own
selection) includes those its budget cut. Each rung's selection gets its own fresh-seed final
runs, stopping at the selected epoch (``final/<trial id>/``, or ``final/<trial id>-e<epoch>/``
for a trial selected before its last epoch; shared by rungs that select the same state).
``sweep.json`` is first written when the sweep phase ends; a resume that finds it runs only
the final runs left, from it alone (no ``trials/`` or ``ray/`` needed).

Seeds: trial ``i`` of phase ``p`` trains with seed ``trial_seed(seed, p, i)`` (recorded in its
config), and each cell's sampler starts from its own random state (``sampler_seed``), so cells
that share a space do not draw the same configurations.

Local by default (Ray started in this process with this machine's CPUs, no dashboard);
``address`` attaches to a running cluster (``ray start --head`` on one machine, ``ray start
--address HEAD:6379`` on the others), whose workers must see ``DIR`` on a shared filesystem.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, cast

from coordconv.experiments.core.config import TrainConfig, make_config
from coordconv.experiments.core.grid import FIRST_SEED, run_grid, run_one
from coordconv.experiments.core.io import read_json, write_json
from coordconv.experiments.core.machine import cpu_name, reference_speed
from coordconv.experiments.core.registry import get_task
from coordconv.experiments.core.selection import RULE, select_trial
from coordconv.experiments.core.train import train, versions

__all__ = [
    "ARMS",
    "ASHA",
    "SEARCH_SPACES",
    "SweepDependencyError",
    "SweepInterrupted",
    "arrival_times",
    "finish_times",
    "finished_within",
    "load_trials",
    "machines",
    "read_ledger",
    "run_sweep",
    "sampler_seed",
    "select_trial",
    "state_at",
    "states_at",
    "trial_nodes",
    "trial_seed",
]

ASHA: dict[str, Any] = {"grace_period": 2, "reduction_factor": 3}
MAX_FAILURES = 3  # attempts a trial gets again after a failure (a lost node, a killed worker)
# Rounds in which a phase's trials that Tune gave up on after losing their worker (a lost node,
# a killed process: Ray reports the actor unavailable or dead) are restarted from their last
# checkpoint, while budget is left. Tune's own retries (MAX_FAILURES) do not cover every case:
# a failure that arrives while the trial is not RUNNING, or retries placed on a node Ray has
# not yet seen die, end the trial in ERROR.
LOST_WORKER_ROUNDS = 3
# Arms whose single epoch is a large share of a small budget stop from their first epoch on.
ASHA_GRACE: dict[str, int] = {"conv-tiled": 1}

# Arm -> model kind. "coordconv-paper" is CoordConv swept over the paper's plain space (none of
# this project's switches), so the report shows whether the result depends on them.
ARMS: dict[str, str] = {
    "coordconv": "coordconv",
    "coordconv-paper": "coordconv",
    "conv": "conv",
    "mlp": "mlp",
    "conv-tiled": "conv-tiled",
}

# The paper's official baseline grid (experiment logs: 324 deconv configurations per split for
# classification, 1000 epochs, lr x0.1 every 200 epochs = our "step" schedule).
_OFFICIAL: dict[str, list[Any]] = {
    "lr": [0.001, 0.002, 0.005, 0.01, 0.02, 0.05],
    "weight_decay": [0.0, 1e-3, 1e-2],
    "kernel": [2, 3, 4],
    "width": [1, 2, 3],
    "batch_size": [16, 32],
    "epochs": [10, 30, 100, 300, 1000],
    "lr_schedule": ["cosine", "step"],
}
# The official grid's training settings only: what it varies for any model.
_OFFICIAL_TRAINING = {
    k: v
    for k, v in _OFFICIAL.items()
    if k in ("lr", "weight_decay", "batch_size", "epochs", "lr_schedule")
}
_SMALL_LR: dict[str, list[Any]] = {"lr": [0.001, 0.002, 0.005, 0.01, 0.02], "batch_size": [16, 32]}
_COORDCONV_L2: dict[str, list[Any]] = {"weight_decay": [0.0, 1e-5, 1e-3, 1e-2]}
# Regression input and output scaling: found for CoordConv, but nothing in them is about
# coordinates, so every regression arm samples them.
_REGRESSION_INPUT: dict[str, list[Any]] = {
    "onehot_gain": [1.0, 64.0],
    "centre_output": [False, True],
}
# The critics' arms, bounded so that no trial costs more than about a tenth of a 5 CPU-minute
# budget (>= 10 trials): the mlp's epochs (~0.35-1.7 s each), the tiled conv's kernel and width
# (classification/rendering k=3, width 1: ~22-32 s per epoch on the 64 canvas; k=5 width 2:
# ~170 s).
_MLP: dict[str, list[Any]] = {
    "lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
    "weight_decay": [0.0, 1e-5, 1e-3],
    "width": [1, 2, 3],
    "batch_size": [16, 32],
    "epochs": [5, 10, 20],
}
_TILED: dict[str, list[Any]] = {
    **_SMALL_LR,
    **_COORDCONV_L2,
    "kernel": [3],
    "width": [1],
    "epochs": [1, 2, 4, 8],
}

# One search space per (task, arm): every value is a list sampled uniformly (tune.choice).
SEARCH_SPACES: dict[tuple[str, str], dict[str, list[Any]]] = {
    ("classification", "conv"): _OFFICIAL,
    ("rendering", "conv"): _OFFICIAL,
    ("regression", "conv"): {
        **{k: v for k, v in _OFFICIAL.items() if k != "kernel"},
        **_REGRESSION_INPUT,
    },
    ("classification", "coordconv"): {
        **_SMALL_LR,
        **_COORDCONV_L2,
        "epochs": [2, 4, 8],
        "offset_init": [False, True],
    },
    ("regression", "coordconv"): {
        **_SMALL_LR,
        **_COORDCONV_L2,
        "epochs": [4, 8, 16],
        **_REGRESSION_INPUT,
    },
    ("rendering", "coordconv"): {
        **_SMALL_LR,
        **_COORDCONV_L2,
        "epochs": [6, 12, 20],
        "offset_init": [False, True],
        "softmax_peak": ["sum", "max"],
    },
    **{
        (task, "coordconv-paper"): _OFFICIAL_TRAINING
        for task in ("classification", "regression", "rendering")
    },
    ("classification", "mlp"): _MLP,
    ("regression", "mlp"): {**_MLP, **_REGRESSION_INPUT},
    ("rendering", "mlp"): _MLP,
    ("classification", "conv-tiled"): _TILED,
    # regression's tiled conv runs on the one-hot at 8 channels (~1.7 s per epoch): more epochs
    ("regression", "conv-tiled"): {**_TILED, "epochs": [4, 8, 16, 32], **_REGRESSION_INPUT},
    ("rendering", "conv-tiled"): {**_TILED, "softmax_peak": ["sum", "max"]},
}


class SweepDependencyError(ImportError):
    """Ray Tune (the ``[sweep]`` extra) is not installed."""


class SweepInterrupted(RuntimeError):
    """The sweep stopped before its budget or trials were used up (Ctrl-C, a lost worker)."""


def _import_tune() -> Any:
    try:
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        import ray
        from ray import tune
    except ImportError as err:
        raise SweepDependencyError(
            "coordconv sweep needs Ray Tune: pip install 'torch-coordconv[sweep]' "
            f"(or pip install 'ray[tune]'); import failed: {err}"
        ) from err
    return ray, tune


def load_trials(out: str | Path) -> list[dict[str, Any]]:
    """Every trial in ``out/trials`` that finished at least one epoch, in start order."""
    trials = []
    for path in sorted(Path(out, "trials").glob("*/result.json")):
        result = read_json(path)
        trials.append(
            {
                "id": path.parent.name,
                "config": result["config"],
                "val": result["final"]["val"],
                "epochs_run": result["epochs_run"],
                # per-epoch validation: the state a smaller budget would have stopped it at
                "history": [
                    {"epoch": h["epoch"], "val": h["val"]}
                    for h in result.get("history", [])
                    if "val" in h
                ],
                # CPU seconds of training (wall seconds in sweeps made before they were kept)
                "train_time_s": result.get("cpu_time_s", result["wall_time_s"]),
                "wall_time_s": result["wall_time_s"],
            }
        )
    return trials


def _trial_id(name: str) -> str:
    """A folder name from Ray's trial id (``'a1b2c_00003'`` -> ``'00003-a1b2c'``): start order."""
    prefix, _, number = name.rpartition("_")
    return f"{number}-{prefix}" if number.isdigit() else name


def trial_seed(seed: int, phase: int, index: int) -> int:
    """The training seed of trial ``index`` of sweep phase ``phase``: distinct per trial, and
    never one of the final runs' seeds (100, 101, ...)."""
    if not 0 <= index < 10_000 or not 0 <= phase < 100:
        raise ValueError(f"need 0 <= index < 10000 and 0 <= phase < 100, got {index}, {phase}")
    return 1_000_000 + seed * 100_000_000 + phase * 10_000 + index


def sampler_seed(seed: int, task: str, arm: str, split: str, quadrant: str | None) -> int:
    """The random state of a cell's configuration sampler: its own per cell and sweep seed."""
    return zlib.crc32(f"{seed}/{task}/{arm}/{split}/{quadrant}".encode())


def _make_trainable(
    base: dict[str, Any], out: Path, metric: str, phase: int
) -> Callable[[dict], None]:
    """The function Ray runs per trial: one engine run in ``out/trials/<id>``, reporting per epoch."""

    def trainable(params: dict[str, Any]) -> None:
        ray, tune = _import_tune()
        ray_id = tune.get_context().get_trial_id()
        run_dir = out / "trials" / _trial_id(ray_id)
        seed = trial_seed(base["seed"], phase, int(ray_id.rpartition("_")[2]))
        cfg = make_config(**{**base, "seed": seed}, **params)
        started = time.process_time()
        node = ray.get_runtime_context().get_node_id()

        def report(entry: dict[str, Any]) -> None:
            spent = read_json(run_dir / "result.json")["cpu_time_s"]
            tune.report(
                {
                    "epoch": entry["epoch"],
                    f"val_{metric}": entry["val"][metric],
                    "train_time_s": spent,
                    "busy_s": time.process_time() - started,
                    "node_id": node,
                    "pid": os.getpid(),  # the worker process (the same one when reused)
                    "cpu": cpu_name(),
                    "reference_steps_per_s": reference_speed(),  # once per worker process
                }
            )

        train(cfg, run_dir, resume=True, progress=report)

    return trainable


def read_ledger(out: str | Path) -> list[dict[str, Any]]:
    """The results the driver received, in arrival order (``out/ledger.jsonl``)."""
    path = Path(out, "ledger.jsonl")
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def finish_times(out: str | Path) -> dict[str, float]:
    """Trial id -> tuning seconds all trials had spent when its last result reached the driver,
    replayed from ``out/ledger.jsonl`` (see the module doc). A trial retried after a lost node
    reports its own cumulative training time again, so each trial's time counts once."""
    spent: dict[str, float] = {}
    finished: dict[str, float] = {}
    for record in read_ledger(out):
        spent[record["trial"]] = record["train_time_s"]
        finished[record["trial"]] = sum(spent.values())
    return finished


def arrival_times(out: str | Path) -> dict[str, dict[int, float]]:
    """Trial id -> {epoch: tuning seconds all trials had spent when that epoch's result reached
    the driver}, replayed from ``out/ledger.jsonl``; an epoch reported again by a retried trial
    keeps its first arrival."""
    spent: dict[str, float] = {}
    arrived: dict[str, dict[int, float]] = {}
    for record in read_ledger(out):
        spent[record["trial"]] = record["train_time_s"]
        arrived.setdefault(record["trial"], {}).setdefault(record["epoch"], sum(spent.values()))
    return arrived


def trial_nodes(out: str | Path) -> dict[str, str | None]:
    """Trial id -> Ray's id of the node that ran its last attempt (its last result's)."""
    return {r["trial"]: r.get("node_id") for r in read_ledger(out)}


def machines(out: str | Path) -> dict[str, dict[str, Any]]:
    """CPU name -> the trial epochs reported from it and the median ``reference_speed`` of its
    worker processes (``ledger.jsonl``; ledgers written before these were kept give ``{}``)."""
    speeds: dict[str, dict[tuple[Any, Any], float]] = {}
    epochs: dict[str, int] = {}
    for r in read_ledger(out):
        if r.get("cpu") is None or r.get("reference_steps_per_s") is None:
            continue
        process = (r.get("node_id"), r.get("pid"))
        speeds.setdefault(r["cpu"], {})[process] = r["reference_steps_per_s"]
        epochs[r["cpu"]] = epochs.get(r["cpu"], 0) + 1
    return {
        cpu: {
            "trial_epochs": epochs[cpu],
            "processes": len(by_process),
            "reference_steps_per_s": statistics.median(by_process.values()),
        }
        for cpu, by_process in speeds.items()
    }


class _Budget:
    """Ray Tune stopper: stop every trial once the trials' training seconds reach the budget.

    The spent time is read from the trials' own result.json when the sweep (re)starts, so a
    resumed sweep keeps its budget, and again after every phase (:meth:`reload`): a restored
    phase runs an unpickled copy of the stopper, so this instance's tally is stale by then."""

    def __init__(self, out: Path, budget_s: float) -> None:
        self.out, self.budget_s = out, budget_s
        self.spent: dict[str, float] | None = None

    def _load(self) -> dict[str, float]:
        if self.spent is None:
            self.spent = {t["id"]: t["train_time_s"] for t in load_trials(self.out)}
        return self.spent

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        self._load()[_trial_id(trial_id)] = result["train_time_s"]
        return False

    def stop_all(self) -> bool:
        return sum(self._load().values()) >= self.budget_s

    def reload(self) -> None:
        """Forget the tally: the next check reads the trials' result.json again."""
        self.spent = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "spent": None}


class _Watch:
    """What a running sweep's callback updates: busy CPU seconds per trial, the ledger of
    results (``ledger.jsonl``, one line per result, appended as it arrives), and the caller's
    progress hook. Lives in this process only (see :class:`_Watcher`).

    The latest validation metric and training seconds per trial are read from disk once (trials
    of earlier phases), then kept up to date from the reported results, not by re-reading every
    trial per epoch. (Ray runs a copy of the stopper, so its tally cannot be read here.)"""

    def __init__(
        self,
        metric: str,
        mode: str,
        budget: _Budget,
        hook: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.metric, self.mode, self.budget, self.hook = metric, mode, budget, hook
        self.busy: dict[str, float] = {}
        self.val: dict[str, float] | None = None
        self.spent: dict[str, float] = {}
        self.done: set[str] = set()  # trials finished (a reporting trial is running)

    def utilisation(self, cores: int, wall_s: float) -> float | None:
        """Busy core-seconds of this invocation's trials over cores x wall seconds."""
        return sum(self.busy.values()) / (cores * wall_s) if self.busy and wall_s > 0 else None

    def update(self, trial_id: str, result: dict[str, Any]) -> None:
        self.busy[trial_id] = result["busy_s"]
        record = {"trial": _trial_id(trial_id), "epoch": result["epoch"]}
        record["train_time_s"] = result["train_time_s"]
        record["node_id"] = result.get("node_id")
        record["pid"] = result.get("pid")
        record["cpu"] = result.get("cpu")
        record["reference_steps_per_s"] = result.get("reference_steps_per_s")
        with open(self.budget.out / "ledger.jsonl", "a") as ledger:
            ledger.write(json.dumps(record) + "\n")
        if self.hook is None:
            return
        if self.val is None:
            done = load_trials(self.budget.out)
            self.val = {t["id"]: t["val"][self.metric] for t in done}
            self.spent = {t["id"]: t["train_time_s"] for t in done}
            self.done = set(self.val)
        self.done.discard(_trial_id(trial_id))
        self.val[_trial_id(trial_id)] = result[f"val_{self.metric}"]
        self.spent[_trial_id(trial_id)] = result["train_time_s"]
        self._show()

    def ended(self, trial_id: str) -> None:
        """A trial of this invocation finished (or failed for good)."""
        self.done.add(_trial_id(trial_id))
        self._show()

    def settle(self, trials: list[dict[str, Any]]) -> None:
        """Show the finished trials' numbers as saved: a trial stopped by the budget may have
        trained (and saved) one more epoch whose result Ray never delivered."""
        if self.hook is not None and trials:
            self.val = {t["id"]: t["val"][self.metric] for t in trials}
            self.spent = {t["id"]: t["train_time_s"] for t in trials}
            self.done = set(self.val)
            self._show()

    def _show(self) -> None:
        if self.hook is None or not self.val:
            return
        best = (max if self.mode == "max" else min)(self.val.values())
        self.hook(
            {
                "trials": len(self.val),
                "running": len(set(self.val) - self.done),
                "best": best,
                "spent_s": sum(self.spent.values()),
                "budget_s": self.budget.budget_s,
            }
        )


# Ray pickles callbacks with the experiment state (and restores them on resume); the callback
# holds only the sweep folder and finds the live _Watch of this process here.
_WATCHING: dict[str, _Watch] = {}


class _Watcher:
    """Ray Tune callback body: forwards each trial result to the live :class:`_Watch`."""

    def __init__(self, key: str) -> None:
        self.key = key

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict) -> None:
        watch = _WATCHING.get(self.key)
        if watch is not None:
            watch.update(trial.trial_id, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        watch = _WATCHING.get(self.key)
        if watch is not None:
            watch.ended(trial.trial_id)

    on_trial_error = on_trial_complete


@contextlib.contextmanager
def _ctrl_c_seen() -> Iterator[Callable[[], bool]]:
    """Tell whether Ray Tune caught a Ctrl-C inside the block.

    On Ctrl-C Ray ends the run quietly (state saved) and puts back the SIGINT handler it found;
    so a marker handler installed here is back in place afterwards exactly when that happened.
    Outside the main thread (no signal handlers there) it always says no."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.getsignal(signal.SIGINT)

    def marker(signum: int, frame: Any) -> None:
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, marker)
    seen = False
    try:
        yield lambda: seen
    finally:
        seen = signal.getsignal(signal.SIGINT) is marker
        signal.signal(signal.SIGINT, previous)


def _phase_name(phase: int) -> str:
    """Ray's experiment folder of a sweep phase: ``ray``, then ``ray-1``, ``ray-2``, ..."""
    return "ray" if phase == 0 else f"ray-{phase}"


def _lost_with_their_worker(grid: Iterable[Any]) -> bool:
    """Whether a finished Tune phase (its ``ResultGrid``) holds a trial that ended in error
    because its worker process or node was lost, not because its training raised."""
    from ray.exceptions import NodeDiedError, RayActorError, WorkerCrashedError

    lost = (RayActorError, NodeDiedError, WorkerCrashedError)
    return any(isinstance(result.error, lost) for result in grid)


def _space_for(task: str, arm: str) -> dict[str, list[Any]]:
    if (task, arm) not in SEARCH_SPACES:
        raise ValueError(f"no search space for task={task!r} arm={arm!r} (arms: {sorted(ARMS)})")
    return SEARCH_SPACES[task, arm]


def run_sweep(
    task: str,
    arm: str,
    split: str,
    out: str | Path,
    *,
    budget_min: float = 10.0,
    rungs: tuple[float, ...] = (),
    max_trials: int = 1000,
    seed: int = 0,
    final_seeds: int = 3,
    address: str | None = None,
    resume: bool = False,
    canvas: int | None = None,
    square: int | None = None,
    quadrant: str = "bottom-right",
    trials_at_once: int | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Sweep one cell into ``out`` (see the module doc) and return what ``out/sweep.json`` holds.

    ``arm`` is a key of :data:`ARMS` (a model kind, or ``coordconv-paper``). ``rungs`` are lower
    budgets (CPU-minutes) that get their own selection and final runs from the sweep's prefix;
    ``budget_min`` is always the top rung. ``trials_at_once`` fixes how many trials (and final
    runs) run at a time for the whole sweep (:func:`fixed_trials_at_once`). ``on_progress``
    receives ``{"trials", "running", "best", "spent_s", "budget_s"}`` after each trial epoch and
    at each trial's end.
    """
    out = Path(out).resolve()
    space = _space_for(task, arm)
    metric, mode = get_task(task).selection
    if budget_min <= 0 or max_trials < 1 or final_seeds < 0:
        raise ValueError("budget_min must be > 0, max_trials >= 1 and final_seeds >= 0")
    if any(not 0 < rung <= budget_min for rung in rungs):
        raise ValueError(f"rungs must lie in (0, budget_min={budget_min:g}], got {rungs}")
    ladder = sorted({*rungs, budget_min})
    summary_path = out / "sweep.json"
    swept = read_json(summary_path) if summary_path.exists() else None
    if swept is not None and swept.get("final_done"):
        return swept
    if ((out / "ray").exists() or swept is not None) and not resume:
        raise FileExistsError(f"{out} already holds a sweep: pass --resume to continue it")
    sizes = {k: v for k, v in dict(canvas=canvas, square=square).items() if v is not None}
    base: dict[str, Any] = dict(task=task, kind=ARMS[arm], split=split, seed=seed, threads=1)
    base.update(validation=True, trial=True, **sizes)
    if split == "quadrant":
        base["quadrant"] = quadrant
    make_config(**base)  # a bad cell or size fails here, not inside Ray
    sampler = sampler_seed(seed, task, arm, split, quadrant if split == "quadrant" else None)

    ray, tune = _import_tune()
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import BasicVariantGenerator

    if not ray.is_initialized():
        ray.init(
            # "local": a Ray of our own, even when `ray start` left one running on this machine
            address=address or "local",
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            **({} if address else {"num_cpus": os.cpu_count() or 1}),
        )

    class Budget(_Budget, tune.Stopper):  # type: ignore[name-defined]
        pass

    at_once = fixed_trials_at_once(out, trials_at_once, int(ray.cluster_resources()["CPU"]))
    if swept is not None:  # the sweep phase is done: only final runs are left
        return _finish(swept, out, final_seeds, at_once)
    budget = Budget(out, budget_min * 60.0)
    watch = _Watch(metric, mode, budget, on_progress)

    class Progress(_Watcher, tune.Callback):  # type: ignore[name-defined]
        pass

    asha = {**ASHA, "grace_period": ASHA_GRACE.get(arm, ASHA["grace_period"])}

    def trainable(phase: int) -> Any:
        return tune.with_resources(_make_trainable(base, out, metric, phase), {"cpu": 1})

    def new_tuner(phase: int, trials_left: int) -> Any:
        return tune.Tuner(
            trainable(phase),
            param_space={k: tune.choice(v) for k, v in space.items()},
            tune_config=tune.TuneConfig(
                num_samples=trials_left,
                scheduler=ASHAScheduler(
                    time_attr="epoch",
                    metric=f"val_{metric}",
                    mode=mode,
                    max_t=max(space.get("epochs", [make_config(**base).epochs])),
                    **asha,
                ),
                # lazy generation: no pile of pending trials, none left over at the budget
                search_alg=BasicVariantGenerator(
                    random_state=(sampler + phase) % 2**32,
                    max_concurrent=at_once,
                ),
                # a finished trial's worker process takes the next trial: no new process, no
                # second `import torch` per trial (README "On a cluster": the start-up cost)
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=_phase_name(phase),
                storage_path=str(out),
                stop=budget,
                # a trial on a lost node starts again on another, from its last epoch's
                # checkpoint in DIR/trials/<id> (the engine resumes it)
                failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                verbose=0,
                callbacks=[Progress(str(out))],
            ),
        )

    def fit(tuner: Any) -> Any:
        _WATCHING[str(out)] = watch
        try:
            with _ctrl_c_seen() as interrupted:
                grid = tuner.fit()
        finally:
            _WATCHING.pop(str(out), None)
            budget.reload()
        if interrupted():
            raise KeyboardInterrupt(f"sweep interrupted: continue it with --resume ({out})")
        if grid.num_terminated + grid.num_errors < len(grid):  # trials left unfinished
            raise SweepInterrupted(
                f"the sweep in {out} was interrupted ({grid.num_terminated} trials done); "
                f"run the same command with --resume to continue it"
            )
        return grid

    def fit_phase(phase: int, tuner: Any) -> None:
        """Fit one phase, then restart its trials that were lost with their worker."""
        grid = fit(tuner)
        for _ in range(LOST_WORKER_ROUNDS):
            if budget.stop_all() or not _lost_with_their_worker(grid):
                return
            fit(restored(phase))

    def restored(phase: int) -> Any:
        return tune.Tuner.restore(
            str(out / _phase_name(phase)),
            trainable(phase),
            resume_unfinished=True,
            resume_errored=True,  # keeps the trial id, so the engine resumes its run folder
        )

    # Phases: an interrupted phase is restored (its unfinished trials continue from their
    # checkpoints); while budget and trials are left, a new phase samples more (seed + phase).
    started = time.perf_counter()
    phases = sum(1 for p in range(max_trials) if (out / _phase_name(p)).exists())
    if phases and tune.Tuner.can_restore(str(out / _phase_name(phases - 1))):
        fit_phase(phases - 1, restored(phases - 1))
    while not budget.stop_all() and (done := len(load_trials(out))) < max_trials:
        fit_phase(phases, new_tuner(phases, max_trials - done))
        phases += 1
        if len(load_trials(out)) == done:
            raise RuntimeError(
                f"a sweep phase finished no trial epoch: see the trials' errors under "
                f"{out / _phase_name(phases - 1)}"
            )
    wall_s = time.perf_counter() - started
    cores = int(ray.cluster_resources().get("CPU", 1))

    trials = load_trials(out)
    finished, nodes, arrived = finish_times(out), trial_nodes(out), arrival_times(out)
    for trial in trials:
        trial["finished_at_s"] = finished.get(trial["id"])
        trial["node_id"] = nodes.get(trial["id"])
        for entry in trial["history"]:
            entry["at_s"] = arrived.get(trial["id"], {}).get(entry["epoch"])
    watch.settle(trials)
    steps = [_rung(trials, task, rung, top=rung == budget_min) for rung in ladder]
    summary: dict[str, Any] = {
        "task": task,
        "arm": arm,
        "model": ARMS[arm],
        "split": split,
        "quadrant": quadrant if split == "quadrant" else None,
        "metric": metric,
        "mode": mode,
        "selection_rule": RULE,
        "budget_s": budget.budget_s,
        "spent_s": sum(t["train_time_s"] for t in trials),
        "seed": seed,
        "sampler_seed": sampler,
        "search_space": space,
        "asha": {**asha, "time_attr": "epoch"},
        "trials": trials,
        "selected": steps[-1]["selected"],
        "rungs": steps,
        "wall_s": wall_s,
        "cores": cores,
        "trials_at_once": at_once,
        "cpu_utilisation": watch.utilisation(cores, wall_s),
        "busy_s": sum(watch.busy.values()),  # this invocation's trials' CPU seconds
        "versions": versions(),
        "machines": machines(out),
        "final_done": False,
    }
    write_json(summary_path, summary)
    return _finish(summary, out, final_seeds, at_once)


def _finish(summary: dict[str, Any], out: Path, final_seeds: int, at_once: int) -> dict[str, Any]:
    """The final phase: each rung's selection retrained on fresh seeds (shared by rungs that
    select the same trial), ``sweep.json`` saved after each. It reads only ``sweep.json``
    (written when the sweep phase ends) and ``final/``, not ``trials/`` or ``ray/``: a cell
    committed with its final runs unfinished (those folders git-ignored) finishes them on any
    checkout, its finished runs kept.

    Rungs that select one trial at different epochs share their training: its latest epoch's
    runs go first and write the earlier epochs' runs as they pass them (``train``'s
    ``snapshots``, listed in the latest epoch's ``final/<folder>/snapshots.json``), so the ladder's final runs cost
    the top rung's only; any the snapshots missed (a run resumed past them) train on their own."""
    by_id = {t["id"]: t for t in summary["trials"]}
    keys: list[str | None] = []  # per rung: its final runs' folder under final/
    selected: dict[str, tuple[str, int]] = {}  # folder -> (trial, epoch)
    for step in summary["rungs"]:
        chosen = step["selected"]
        step["final"] = None
        if chosen is None:
            keys.append(None)
            continue
        epoch = step.get("epoch") or by_id[chosen]["epochs_run"]
        key = chosen if epoch == by_id[chosen]["epochs_run"] else f"{chosen}-e{epoch}"
        keys.append(key)
        selected[key] = (chosen, epoch)
    for key, (chosen, epoch) in selected.items():
        same_trial = {e: k for k, (t, e) in selected.items() if t == chosen}
        listed = out / "final" / key / "snapshots.json"
        if len(same_trial) > 1 and epoch == max(same_trial):
            write_json(listed, {str(e): k for e, k in same_trial.items() if e < epoch})
        else:
            listed.unlink(missing_ok=True)  # from rungs that have changed since
    for key, (chosen, epoch) in sorted(selected.items(), key=lambda item: -item[1][1]):
        final = _final_runs(
            {**by_id[chosen], "epochs_run": epoch}, out / "final" / key, final_seeds, at_once
        )
        for step, step_key in zip(summary["rungs"], keys, strict=True):
            if step_key == key:
                step["final"] = final
        write_json(out / "sweep.json", summary)
    summary["final"] = summary["rungs"][-1]["final"]
    summary["final_done"] = True
    write_json(out / "sweep.json", summary)
    return summary


def fixed_trials_at_once(out: Path, requested: int | None, cluster_cpus: int) -> int:
    """How many trials a sweep runs at a time, fixed for its whole life: ``requested``, else
    what its first invocation recorded in ``out/trials_at_once.json``, else the cluster's CPUs.

    ASHA's cuts and the lazy sampler depend on how many trials run side by side, so a resume
    that asks for another number is refused rather than searching differently mid-sweep."""
    if requested is not None and requested < 1:
        raise ValueError(f"trials_at_once must be >= 1, got {requested}")
    path = out / "trials_at_once.json"
    recorded = read_json(path)["trials_at_once"] if path.exists() else None
    if recorded is not None and requested is not None and requested != recorded:
        raise ValueError(
            f"{out} was swept with {recorded} trials at a time, not {requested}: resume it with "
            f"as many (`coordconv sweep --trials-at-once {recorded}`; `reproduce --fair`: the "
            f"same --cells-at-once on a cluster of as many CPUs), or sweep into another --out"
        )
    at_once = int(requested or recorded or max(1, cluster_cpus))
    if recorded is None:
        out.mkdir(parents=True, exist_ok=True)
        write_json(path, {"trials_at_once": at_once})
    return at_once


def finished_within(trial: dict[str, Any], budget_min: float) -> bool:
    """Whether the trial's last result arrived before the sweep had spent ``budget_min``."""
    finished = trial.get("finished_at_s")
    return finished is not None and finished <= budget_min * 60.0


def state_at(trial: dict[str, Any], budget_min: float) -> dict[str, Any] | None:
    """The trial as a sweep stopped at ``budget_min`` CPU-minutes would have held it: its last
    epoch whose result arrived within the budget, with that epoch's validation metrics as
    ``val``, the epoch as ``epochs_run`` and the arrival as ``at_s``; None if no epoch did.
    Sweeps recorded before per-epoch histories: the trial itself if it finished within."""
    if "history" not in trial:
        return (
            {**trial, "at_s": trial["finished_at_s"]}
            if finished_within(trial, budget_min)
            else None
        )
    reached = [
        h for h in trial["history"] if h.get("at_s") is not None and h["at_s"] <= budget_min * 60.0
    ]
    if not reached:
        return None
    last = max(reached, key=lambda h: h["epoch"])
    return {**trial, "val": last["val"], "epochs_run": last["epoch"], "at_s": last["at_s"]}


def states_at(trials: list[dict[str, Any]], budget_min: float) -> list[dict[str, Any]]:
    """The trials a sweep stopped at ``budget_min`` CPU-minutes would have held, each as it
    stood then (``state_at``); those with no epoch by then left out."""
    return [s for s in (state_at(t, budget_min) for t in trials) if s is not None]


def _rung(
    trials: list[dict[str, Any]], task: str, budget_min: float, *, top: bool
) -> dict[str, Any]:
    """The selection at one rung, by ``select_trial``'s rule: at the top rung among all the
    sweep's trials (those the budget cut included, as in any sweep); at a lower rung among every
    trial's state at its budget (``state_at``: the trials it would have cut included)."""
    within = trials if top else states_at(trials, budget_min)
    chosen = select_trial(within, task) if within else None
    return {
        "budget_min": budget_min,
        "trials": len(within),
        "spent_s": sum(t["train_time_s"] for t in trials)
        if top
        else max((s["at_s"] for s in within), default=0.0),
        "selected": chosen["id"] if chosen else None,
        "epoch": chosen["epochs_run"] if chosen else None,
        "val": chosen["val"] if chosen else None,
    }


def _final_task(name: str, config: dict[str, Any], out: str) -> tuple[str, dict[str, Any]]:
    """One final run as a Ray task: trains (or resumes) it, writing the runs of the same seed
    that ``out/snapshots.json`` lists (epoch -> sibling folder) as it passes their epochs, and
    notes the node it ran on in each run it wrote."""
    ray, _ = _import_tune()
    listed = Path(out) / "snapshots.json"
    snapshots = {
        int(epoch): Path(out).parent / folder / "runs" / name
        for epoch, folder in (read_json(listed).items() if listed.exists() else ())
    }
    result = run_one(name, config, out, snapshots=snapshots)
    node = {"node_id": ray.get_runtime_context().get_node_id()}
    long_run = str(Path(out) / "runs" / name)
    for run_dir in snapshots.values():  # the lower rungs' runs it wrote as it passed them
        written = run_dir / "result.json"
        if written.exists() and read_json(written).get("snapshot_of") == long_run:
            write_json(run_dir / "node.json", node)
    write_json(Path(out) / "runs" / name / "node.json", node)
    return result


class _RayTasks(Executor):
    """``run_grid``'s executor on the Ray cluster the sweep uses: each job a task with one CPU,
    wherever one is free, retried on another node if its node is lost (it resumes from its
    checkpoint)."""

    def __init__(self, ray: Any) -> None:
        self.ray = ray
        self.task = ray.remote(num_cpus=1, max_retries=MAX_FAILURES)(_final_task)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if fn is not run_one:
            raise ValueError("_RayTasks runs grid jobs (run_one) only")
        return cast(Future[Any], self.task.remote(*args, **kwargs).future())


def _node_id(run_dir: Path) -> str | None:
    """The Ray node a final run ran on; None for a lower rung's run written by a longer run
    that failed before it could note its node."""
    path = run_dir / "node.json"
    return read_json(path)["node_id"] if path.exists() else None


def _final_runs(
    selected: dict[str, Any], out: Path, seeds: int, at_once: int
) -> dict[str, Any] | None:
    """Retrain the selected config on the whole training part for fresh seeds; score on test.

    The runs are Ray tasks with one CPU each (``_RayTasks``), at most ``at_once`` at a time (the
    sweep's trial concurrency): on a cluster they spread over its nodes.

    The runs stop at the epoch the trial reached (``stop_epoch``), on the trial's schedule, so
    they repeat what validation saw; they are the only runs of the sweep that evaluate test, once,
    after their last epoch (``eval_last_only``: no per-epoch curves, no per-epoch evaluation cost)."""
    if seeds == 0:
        return None
    chosen = TrainConfig.from_dict(selected["config"])
    stop = selected["epochs_run"] if selected["epochs_run"] < chosen.epochs else None
    configs = {}
    for seed in range(FIRST_SEED, FIRST_SEED + seeds):
        cfg = replace(
            chosen, seed=seed, validation=False, trial=False, stop_epoch=stop, eval_last_only=True
        )
        configs[cfg.name] = cfg
    ray, _ = _import_tune()
    jobs = min(len(configs), at_once)
    run_grid(out, configs, mode="final", jobs=jobs, executor=_RayTasks(ray))
    spec = get_task(chosen.task, chosen.canvas)
    runs = []
    for name, cfg in configs.items():
        result = read_json(out / "runs" / name / "result.json")
        runs.append(
            {
                "name": name,
                "seed": cfg.seed,
                "train": result["final"]["train"],
                "test": result["final"]["test"],
                "solved": spec.reached(result["final"]["train"])
                and spec.reached(result["final"]["test"]),
                "train_time_s": result["wall_time_s"],
                "node_id": _node_id(out / "runs" / name),
                "config": asdict(cfg),
            }
        )
    metric = spec.target_metric
    values = [r["test"][metric] for r in runs]
    return {
        "trial": selected["id"],
        "epoch": selected["epochs_run"],
        "runs": runs,
        "metric": metric,
        "test_mean": statistics.fmean(values),
        "test_std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "train": [r["train"][metric] for r in runs],
        "test": values,
        "solved": sum(r["solved"] for r in runs),
    }
