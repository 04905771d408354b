"""One training loop for every task and model: config, data, model, optimizer, loop, evaluation.

A run lives in one folder: ``checkpoint.pt`` (everything needed to resume, rewritten atomically
after every epoch), ``result.json`` (config, versions, curves, final metrics) and, once finished,
``examples.npz`` (per-example scores on every centre, for the report's error maps and samples).
"""

from __future__ import annotations

import copy
import math
import platform
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

import coordconv
from coordconv.experiments.core.config import TrainConfig, config_differences, upgrade_config
from coordconv.experiments.core.io import atomic_write, read_json, write_json
from coordconv.experiments.core.machine import cpu_name
from coordconv.experiments.core.registry import RunData, get_task, study_of

__all__ = [
    "NonFiniteLossError",
    "RunExistsError",
    "count_params",
    "denormal_flush_share",
    "flush_denormals",
    "is_finished",
    "load_checkpoint",
    "load_data",
    "make_optimizer",
    "train",
    "versions",
]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class RunExistsError(RuntimeError):
    """The output folder already holds a run (use resume or overwrite)."""


def denormal_flush_share() -> float:
    """The share of a multi-threaded float op's results that flush subnormals to zero now.

    1.0: every torch intra-op thread flushes; 0.0: none does. The flag is per thread, and
    torch's worker threads copy it only when they start, so ``torch.set_flush_denormal(True)``
    called after the first parallel op leaves the workers' share of every op unflushed (0.5 with
    2 threads). The input is built from bits (the smallest subnormal), without arithmetic.
    """
    subnormal = torch.ones(1 << 20, dtype=torch.int32).view(torch.float32)
    return float((subnormal * 1.0 == 0).float().mean())


def flush_denormals(enabled: bool) -> float:
    """``torch.set_flush_denormal(enabled)`` for this process; returns ``denormal_flush_share()``.

    Once weights, activations or Adam's moments get small, CPU arithmetic on subnormal floats is
    many times slower (on a Xeon the renderer's second epoch took 5.8x its first); flushing changes
    results only in their last bits. Warns when torch's worker threads started before and so
    keep the old setting (call it, or start the run, before any other torch work).
    """
    torch.set_flush_denormal(enabled)
    share = denormal_flush_share()
    if enabled and 0.0 < share < 1.0:
        warnings.warn(
            f"flush_denormal: only {share:.0%} of torch's CPU threads flush subnormal floats "
            "(its worker threads started before the setting and keep the old one); the run is "
            "correct but may be slower: start it in a fresh process (the coordconv command does) "
            "or call torch.set_flush_denormal(True) before any other torch work",
            RuntimeWarning,
            stacklevel=3,
        )
    return share


@dataclass
class RunState:
    """What changes while training: saved whole in every checkpoint."""

    epoch: int = 0
    train_time_s: float = 0.0
    train_cpu_s: float = 0.0  # the process's CPU seconds over the same steps (sweep budgets)
    time_to_target_s: float | None = (
        None  # training seconds until train and test (val in sweep trials) first met the target
    )
    held_target: bool = False  # train and test (val) at the target after the last epoch run
    finished: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


def versions() -> dict[str, str]:
    return {
        "coordconv": coordconv.__version__,
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_name(),
    }


def lr_at(cfg: TrainConfig, progress: float) -> float:
    """Learning rate at ``progress`` in [0, 1] of the planned epochs."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "step":  # the official code's x0.1 every 200 of 1000 epochs
        return cfg.lr * 0.1 ** min(math.floor(5 * progress), 4)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


@torch.no_grad()
def centre_output_bias(model: nn.Module, inputs: Tensor) -> None:
    """Shift the bias of the model's last biased layer so its mean output on ``inputs`` is 0.

    ``inputs`` are all fitting examples (not a prefix: examples are ordered row by row, so a
    prefix holds the top rows only and leaves the outputs off-centre).

    Data-dependent initialisation (training examples only) for the regression models: what
    follows that layer (global max pooling) commutes with a constant shift, so the outputs move
    by exactly the removed mean. Without it the loss first shrinks the one-hot response, and
    the max-pooled output collapses to the mean coordinate (docs/findings.md).
    """
    biases = [b for m in model.modules() if isinstance(b := getattr(m, "bias", None), Tensor)]
    if not biases:
        raise ValueError("centre_output needs a model with a biased layer")
    was_training = model.training
    model.eval()
    mean = torch.cat([model(batch) for batch in inputs.split(256)]).mean(dim=0)
    model.train(was_training)
    bias = biases[-1]
    if bias.shape != mean.shape:
        raise ValueError(
            f"centre_output: last bias {tuple(bias.shape)} != output {tuple(mean.shape)}"
        )
    bias -= mean


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Adam:
    """Adam with L2 weight decay on kernels only (weights of more than one dimension)."""
    kernels = [p for p in model.parameters() if p.ndim > 1]
    groups = [
        {"params": kernels, "weight_decay": cfg.weight_decay},
        {"params": [p for p in model.parameters() if p.ndim <= 1], "weight_decay": 0.0},
    ]
    return torch.optim.Adam(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load with ``weights_only=True``: ours hold only tensors, numbers, strings, lists and dicts,
    so a file that needs anything else is foreign (or malicious) and is refused, never run."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated, foreign or malicious file: say which and what to do
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ValueError(
            f"checkpoint {path} cannot be read as a coordconv checkpoint (loaded with "
            f"weights_only=True, nothing in it was executed; {type(err).__name__}: "
            f"{first_line}); delete the run folder or train with --overwrite"
        ) from err
    if not isinstance(ckpt, dict) or not {"config", "model", "state"} <= set(ckpt):
        raise ValueError(
            f"checkpoint {path} is not a coordconv training checkpoint (no config/model/state); "
            f"delete the run folder or train with --overwrite"
        )
    return ckpt


def load_data(cfg: TrainConfig) -> RunData:
    """The examples ``cfg`` trains and is scored on, from its study's data source. With
    ``cfg.validation`` the model fits on the training part minus a validation part; without it,
    on the whole training part (``val_idx`` empty)."""
    return study_of(cfg.task).load_data(cfg)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def train(
    cfg: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    snapshots: Mapping[int, str | Path] | None = None,
) -> dict[str, Any]:
    """Train one run into ``out`` and return its result (also written to ``out/result.json``).

    ``resume`` continues the checkpoint in ``out`` (same config and threads, same final numbers
    as an uninterrupted run); without it a folder holding a run is refused unless ``overwrite``.
    ``progress`` is called after every epoch with that epoch's history entry.
    ``snapshots`` (epoch -> run folder): at each such epoch before the last, also evaluate and
    write into that folder the run folder (checkpoint, ``result.json``, ``examples.npz``) of this
    config stopped there (``stop_epoch``), unless it holds a finished run. Same seed, schedule and batches, so the same
    numbers as training that run on its own, without training its epochs again (the budget
    ladder's lower-rung final runs are prefixes of the top rung's). The evaluation touches
    neither this run's result nor its random state. A resumed run past an epoch skips it.
    Sets ``torch.set_flush_denormal(cfg.flush_denormal)`` for the process (default: flush).
    """
    out = Path(out)
    ckpt_path, result_path = out / "checkpoint.pt", out / "result.json"
    if ckpt_path.exists() and not resume and not overwrite:
        raise RunExistsError(
            f"{out} already holds a run: pass --resume to continue it or --overwrite"
        )
    torch.set_num_threads(cfg.threads)
    flush_share = flush_denormals(cfg.flush_denormal)
    device = torch.device(cfg.device)

    # data: pre-built tensors, indexed per batch
    data = load_data(cfg)
    fit_idx, val_idx, test_idx = data.fit_idx, data.val_idx, data.test_idx
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    inputs, targets = (
        t.to(device, memory_format=layout if t.ndim == 4 else torch.preserve_format)
        for t in (data.inputs, data.targets)
    )
    x_train, y_train = inputs[fit_idx.to(device)], targets[fit_idx.to(device)]
    x_val, y_val = inputs[val_idx.to(device)], targets[val_idx.to(device)]
    x_test, y_test = inputs[test_idx.to(device)], targets[test_idx.to(device)]
    task = get_task(cfg.task, cfg.canvas)

    # model, optimizer, batch order
    torch.manual_seed(cfg.seed)
    model = study_of(cfg.task).build_model(cfg.model).to(device)
    model = model.to(memory_format=layout)  # type: ignore[call-overload]  # missing in the stubs
    if cfg.centre_output:
        centre_output_bias(model, x_train)
    optimizer = make_optimizer(cfg, model)
    order = torch.Generator().manual_seed(cfg.seed)
    state = RunState()
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        changed = config_differences(upgrade_config(ckpt["config"]), asdict(cfg))
        if changed:
            raise ValueError(
                f"cannot resume {out}: its config differs in {changed}; "
                f"use the same settings, or --overwrite to start again"
            )
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        order.set_state(ckpt["order_rng"])
        state = RunState(**ckpt["state"])
    if state.finished:
        return read_json(result_path)

    order_back = torch.cat([fit_idx, val_idx, test_idx]).argsort()  # -> example order
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)

    def evaluated() -> tuple[dict[str, Any], list[dict[str, Tensor]]]:
        """This epoch's metrics on every part the run scores, and their per-example scores."""
        metrics: dict[str, Any] = {}
        parts: list[dict[str, Tensor]] = []
        for part, x, y, scored in (
            ("train", x_train, y_train, not cfg.trial),
            ("val", x_val, y_val, cfg.validation),
            ("test", x_test, y_test, not cfg.trial),
        ):
            if scored:
                metrics[part], per_example = task.evaluate(model, x, y)
                parts.append(per_example)
        return metrics, parts

    def in_example_order(parts: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Per-example scores of train, val and test, in the data's example order."""
        return {k: torch.cat([p[k] for p in parts])[order_back] for k in parts[0]}

    result: dict[str, Any] = {}
    for epoch in range(state.epoch + 1, cfg.epochs + 1):
        model.train()
        started, cpu_started = time.perf_counter(), time.process_time()
        for step, batch in enumerate(
            torch.randperm(len(x_train), generator=order).split(cfg.batch_size)
        ):
            lr = lr_at(cfg, ((epoch - 1) * steps_per_epoch + step) / (cfg.epochs * steps_per_epoch))
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = batch.to(device)
            loss = task.loss(model(x_train[batch]), y_train[batch])
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"the training loss became {float(loss.detach())} at epoch {epoch}, step {step + 1}: "
                    f"lower --lr (now {cfg.lr}) or check the inputs; the last good checkpoint "
                    f"(epoch {state.epoch}) is kept"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        state.train_time_s += seconds
        state.train_cpu_s += cpu_seconds

        # Decisions below read train (stopping) or val (sweeps) only; test is measured, never
        # used to decide, and a sweep trial does not even evaluate it (nor train, to save time).
        last_epoch = cfg.epochs if cfg.stop_epoch is None else cfg.stop_epoch
        evaluate = epoch == last_epoch or (not cfg.eval_last_only and epoch % cfg.eval_every == 0)
        metrics, parts = evaluated() if evaluate else ({}, [])
        entry = _history_entry(epoch, metrics, seconds, cpu_seconds)
        state.history.append(entry)
        state.epoch = epoch
        if evaluate:
            _note_target(state, entry, task, cfg)
        snapshot = Path(snapshots[epoch]) if snapshots and epoch in snapshots else None
        if (
            snapshot is not None
            and epoch < last_epoch
            and not cfg.trial
            and not is_finished(snapshot)
        ):
            if not evaluate:
                metrics, parts = evaluated()
            stopped = copy.deepcopy(state)
            stopped.history[-1] = _history_entry(epoch, metrics, seconds, cpu_seconds)
            _write_snapshot(
                snapshot,
                replace(cfg, stop_epoch=epoch),
                stopped,
                in_example_order(parts),
                (model, optimizer, order, data, inputs, len(x_train), flush_share),
                of=out,
            )
        state.finished = epoch == last_epoch or (
            cfg.stop_at_target and task.reached(entry["val" if cfg.trial else "train"])
        )
        if state.finished and not cfg.trial:
            _write_examples(out / "examples.npz", model, data, inputs, in_example_order(parts), cfg)
        result = _result(cfg, model, state, len(x_train), flush_share)
        _save_checkpoint(ckpt_path, cfg, model, optimizer, order, state)
        write_json(result_path, result)
        if progress is not None:
            progress(entry)
        if state.finished:
            break
    return result


def _history_entry(
    epoch: int, metrics: dict[str, Any], seconds: float, cpu_seconds: float
) -> dict[str, Any]:
    """One epoch's entry in a run's history: its metrics (none when not evaluated), then the
    epoch's training wall and CPU seconds."""
    return {"epoch": epoch, **metrics, "seconds": seconds, "cpu_seconds": cpu_seconds}


def _note_target(state: RunState, entry: dict[str, Any], task: Any, cfg: TrainConfig) -> None:
    """Record an evaluated epoch in the time to target and the held target."""
    at_target = all(task.reached(entry[part]) for part in _judged(cfg))
    if state.time_to_target_s is None and at_target:
        state.time_to_target_s = state.train_time_s
    state.held_target = at_target


def is_finished(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a finished run (its ``result.json`` says so)."""
    path = Path(run_dir) / "result.json"
    return path.exists() and bool(read_json(path).get("finished"))


def _write_snapshot(
    run_dir: Path,
    cfg: TrainConfig,
    stopped: RunState,
    scores: dict[str, Tensor],
    training: tuple[nn.Module, torch.optim.Optimizer, torch.Generator, RunData, Tensor, int, float],
    of: Path,
) -> None:
    """Write the run ``cfg`` (a longer run's config stopped at this epoch) into ``run_dir`` as
    a finished run folder: its checkpoint (the model, optimizer and batch order are what the
    run alone would hold now; it replaces any partial run there), examples and result, marked
    ``snapshot_of`` the longer run (whose CPU time it shares: counts of work skip it).
    ``stopped`` is the longer run's state with this epoch's evaluation as its last entry."""
    model, optimizer, order, data, inputs, n_train, flush_share = training
    _note_target(stopped, stopped.history[-1], get_task(cfg.task, cfg.canvas), cfg)
    stopped.finished = True
    run_dir.mkdir(parents=True, exist_ok=True)
    _save_checkpoint(run_dir / "checkpoint.pt", cfg, model, optimizer, order, stopped)
    _write_examples(run_dir / "examples.npz", model, data, inputs, scores, cfg)
    result = _result(cfg, model, stopped, n_train, flush_share)
    write_json(run_dir / "result.json", {**result, "snapshot_of": str(of)})


def _judged(cfg: TrainConfig) -> tuple[str, ...]:
    """The parts that must meet the target for time to target and held target: train and test,
    or val alone in a sweep trial (which evaluates nothing else)."""
    return ("val",) if cfg.trial else ("train", "test")


def _save_checkpoint(
    path: Path,
    cfg: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    order: torch.Generator,
    state: RunState,
) -> None:
    ckpt = {
        "config": asdict(cfg),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "order_rng": order.get_state(),
        "state": asdict(state),
        "versions": versions(),
    }
    atomic_write(path, lambda f: torch.save(ckpt, f))


def _result(
    cfg: TrainConfig, model: nn.Module, state: RunState, n_train: int, flush_share: float
) -> dict[str, Any]:
    last = state.history[-1]
    seen = n_train * state.epoch
    return {
        "config": asdict(cfg),
        "versions": versions(),
        "denormal_flush_share": flush_share,  # observed at the start: 1.0 = every thread flushes
        "params": count_params(model),
        "wall_time_s": state.train_time_s,
        "cpu_time_s": state.train_cpu_s,
        "examples_per_s": seen / state.train_time_s if state.train_time_s > 0 else None,
        "epochs_run": state.epoch,
        "finished": state.finished,
        "history": state.history,
        "final": {
            **{part: last[part] for part in ("train", "val", "test") if part in last},
            "judged": list(_judged(cfg)),
            "time_to_target_s": state.time_to_target_s,
            "held_target": state.held_target,
        },
    }


@torch.no_grad()
def _write_examples(
    path: Path,
    model: nn.Module,
    data: RunData,
    inputs: Tensor,
    scores: dict[str, Tensor],
    cfg: TrainConfig,
) -> None:
    """Per-example scores on every example (centre, canvas), the data's extras and, for tasks
    that show samples (``TaskSpec.samples``), a few outputs (for the report). ``inputs`` are ``data.inputs`` on the device."""
    is_test = torch.zeros(len(inputs), dtype=torch.bool)
    is_test[data.test_idx] = True
    is_val = torch.zeros(len(inputs), dtype=torch.bool)
    is_val[data.val_idx] = True
    arrays = {
        "is_test": is_test.numpy(),
        "is_val": is_val.numpy(),
        **data.extras,
        **{k: v.cpu().numpy() for k, v in scores.items()},
    }
    shown_as = get_task(cfg.task, cfg.canvas).samples
    if shown_as is not None:
        model.eval()
        shown = _sample_indices(is_test)
        arrays["sample_index"] = shown.numpy()
        arrays["sample_output"] = shown_as(model(inputs[shown.to(inputs.device)])).cpu().numpy()
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))  # type: ignore[arg-type]


def _sample_indices(is_test: Tensor, per_part: int = 4) -> Tensor:
    """A fixed, evenly spread choice of train and test examples to show."""
    chosen = []
    for part in (~is_test, is_test):
        where = torch.nonzero(part).flatten()
        chosen.append(where[torch.linspace(0, len(where) - 1, per_part).round().long()])
    return torch.cat(chosen)
