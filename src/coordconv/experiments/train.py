"""One training loop for every task and model: config, data, model, optimizer, loop, evaluation.

A run lives in one folder: ``checkpoint.pt`` (everything needed to resume, rewritten atomically
after every epoch), ``result.json`` (config, versions, curves, final metrics) and, once finished,
``examples.npz`` (per-example scores on every centre, for the report's error maps and samples).
"""

from __future__ import annotations

import math
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

import coordconv
from coordconv.experiments.data import (
    QUADRANTS,
    SPLITS,
    VALIDATION_RULES,
    NotSoClevr,
    make_split,
    task_tensors,
    validation_split,
)
from coordconv.experiments.digits import make_digit_canvases
from coordconv.experiments.io import atomic_write, read_json, write_json
from coordconv.experiments.models import DIGIT_KINDS, ModelConfig, build_model, count_params
from coordconv.experiments.tasks import get_task

__all__ = [
    "RECIPES",
    "NonFiniteLossError",
    "RunExistsError",
    "TrainConfig",
    "config_differences",
    "denormal_flush_share",
    "flush_denormals",
    "load_checkpoint",
    "load_data",
    "make_config",
    "train",
]

# Chosen on validation with tuning seed 0 (docs/findings.md): lr 0.002 beat 0.001 and 0.005 at
# 10 epochs; 20 epochs beat 10; 15 (scored every 5) is what fits the quick budget.
DIGITS_RECIPE: dict[str, Any] = dict(
    epochs=15, eval_every=5, batch_size=32, lr=0.002, weight_decay=1e-4, validation=True
)

# Per (task, model) defaults. CoordConv: the paper's hyper-parameters plus our fixes (docs/findings.md);
# conv baselines: untuned values inside the paper's sweep ranges, with a fixed epoch budget; the
# critics' baselines (mlp, conv-tiled): untuned starting points (the fair comparison sweeps all).
RECIPES: dict[tuple[str, str], dict[str, Any]] = {
    # chosen by selection.select on the quadrant band and uniform validation, seeds 0-9 (findings)
    ("classification", "coordconv"): dict(
        epochs=2, batch_size=16, lr=0.001, weight_decay=0.0, offset_init=True
    ),
    ("classification", "conv"): dict(epochs=20, batch_size=32, lr=0.01, weight_decay=1e-4),
    ("regression", "coordconv"): dict(
        epochs=8, batch_size=16, lr=0.01, weight_decay=1e-5, onehot_gain=64.0, centre_output=True
    ),
    ("regression", "conv"): dict(epochs=20, batch_size=32, lr=0.001, weight_decay=1e-4),
    ("rendering", "coordconv"): dict(
        epochs=12, batch_size=16, lr=0.005, weight_decay=1e-5, softmax_peak="max", offset_init=True
    ),
    ("rendering", "conv"): dict(epochs=20, batch_size=32, lr=0.01, weight_decay=1e-4),
    ("classification", "mlp"): dict(epochs=20, batch_size=32, lr=0.001, weight_decay=0.0),
    ("regression", "mlp"): dict(epochs=20, batch_size=32, lr=0.001, weight_decay=0.0),
    ("rendering", "mlp"): dict(epochs=20, batch_size=32, lr=0.001, weight_decay=0.0),
    ("classification", "conv-tiled"): dict(
        epochs=20, batch_size=16, lr=0.005, weight_decay=1e-3, kernel=3
    ),
    ("regression", "conv-tiled"): dict(
        epochs=20,
        batch_size=16,
        lr=0.01,
        weight_decay=1e-5,
        kernel=3,
        onehot_gain=64.0,
        centre_output=True,
    ),
    ("rendering", "conv-tiled"): dict(
        epochs=20, batch_size=16, lr=0.005, weight_decay=1e-5, kernel=3, softmax_peak="max"
    ),
    # the digits demo: one recipe for every variant (equal training budgets), chosen on validation
    **{("digits", kind): dict(DIGITS_RECIPE) for kind in DIGIT_KINDS},
}


MODEL_KEYS = frozenset(f.name for f in fields(ModelConfig))


@dataclass
class TrainConfig:
    """Every setting of a run (saved in its checkpoint and result.json): the model, nested as a
    :class:`ModelConfig`, then the data and the optimisation."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig("classification", "coordconv"))
    split: str = "uniform"  # uniform | quadrant
    quadrant: str = "bottom-right"  # the quadrant split's held-out quadrant (data.QUADRANTS)
    seed: int = 0  # model initialisation and batch order
    split_seed: int = 0  # the uniform split's draw (shared by all models, so they see one split)
    test_fraction: float = 0.2  # uniform split: fraction held out
    validation: bool = False  # fit on the training part minus a validation part, report `val`
    validation_rule: str = "band"  # quadrant: band (the test's extrapolation) | corners (before)
    square: int = 9  # Not-so-Clevr square side (odd); the canvas side is the model's
    canvases: int = 5000  # digits: canvases drawn (fit / val / test 60 / 20 / 20 %)
    centre_output: bool = False  # regression: start with outputs centred on 0 (data-dependent init)
    epochs: int = 4  # maximum number of passes over the training set
    batch_size: int = 16
    lr: float = 0.005  # peak learning rate
    lr_schedule: str = "cosine"  # constant | cosine (lr -> 0 over `epochs`) | step (x0.1 every 20%)
    stop_epoch: int | None = None  # stop after this epoch; the schedule still spans `epochs`
    weight_decay: float = 1e-3  # L2 on kernels (weights with >1 dim), not on biases or BN
    beta1: float = 0.9  # Adam betas, as the official code
    beta2: float = 0.99
    stop_at_target: bool = False  # stop once the *training* metric meets the task's target
    channels_last: bool = True  # NHWC memory layout (2-3x faster for these 1x1/3x3 convs on CPU)
    trial: bool = False  # a sweep trial: evaluate validation only (test is never evaluated)
    eval_last_only: bool = False  # evaluate after the last epoch only (a sweep's final runs)
    eval_every: int = 1  # evaluate every this many epochs (and after the last)
    device: str = "cpu"  # cpu | cuda
    threads: int = 2  # torch intra-op threads (part of what makes a run reproducible)
    flush_denormal: bool = True  # CPU: subnormal floats as 0 (faster steps; README "Denormals")

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelConfig):
            raise TypeError(f"model must be a ModelConfig, got {type(self.model).__name__}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.quadrant not in QUADRANTS:
            raise ValueError(f"quadrant must be one of {QUADRANTS}, got {self.quadrant!r}")
        if self.validation_rule not in VALIDATION_RULES:
            raise ValueError(
                f"validation_rule must be one of {VALIDATION_RULES}, got {self.validation_rule!r}"
            )
        if self.lr_schedule not in ("constant", "cosine", "step"):
            raise ValueError(
                f"lr_schedule must be 'constant', 'cosine' or 'step', got {self.lr_schedule!r}"
            )
        if self.stop_epoch is not None and not 1 <= self.stop_epoch <= self.epochs:
            raise ValueError(
                f"stop_epoch must be in [1, epochs={self.epochs}], got {self.stop_epoch}"
            )
        if self.eval_last_only and self.stop_at_target:
            raise ValueError("stop_at_target needs an evaluation every epoch: not eval_last_only")
        if self.trial and not self.validation:
            raise ValueError(
                "a sweep trial (trial=True) needs validation=True: it is judged on val"
            )
        if self.eval_every > 1 and self.stop_at_target:
            raise ValueError("stop_at_target needs an evaluation every epoch: eval_every=1")
        for name in ("epochs", "batch_size", "threads", "canvases", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for but no CUDA device is available")

    @property
    def task(self) -> str:
        return self.model.task

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def canvas(self) -> int:
        return self.model.canvas

    @property
    def name(self) -> str:
        """The run's name in a grid: ``<task>-<kind>-<split>-s<seed>``; a quadrant split other
        than the default bottom-right one names it: ``...-quadrant-top-left-s120``."""
        split = self.split
        if split == "quadrant" and self.quadrant != "bottom-right":
            split = f"quadrant-{self.quadrant}"
        return f"{self.task}-{self.kind}-{split}-s{self.seed}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The inverse of ``dataclasses.asdict``: ``data["model"]`` holds the model's fields."""
        settings = dict(data)
        model = settings.pop("model", None)
        if not isinstance(model, dict):
            raise ValueError(
                "a run config needs a 'model' table with the ModelConfig fields "
                f"{sorted(MODEL_KEYS)}; got {model!r}"
            )
        # result.json files written before these settings existed: runs that did not flush and
        # validated a quadrant split on the corner blocks
        settings.setdefault("flush_denormal", False)
        settings.setdefault("validation_rule", "corners")
        for where, given, known in (
            ("config", settings, {f.name for f in fields(cls)} - {"model"}),
            ("model config", model, MODEL_KEYS),
        ):
            unknown = set(given) - known
            if unknown:
                raise ValueError(f"unknown {where} keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(model=ModelConfig(**model), **settings)


def make_config(task: str, kind: str, split: str, **overrides: Any) -> TrainConfig:
    """The recipe for ``(task, kind)`` on ``split``, with ``overrides`` (None values ignored).

    Settings are given flat: names of :class:`ModelConfig` fields (``width``, ``kernel``, ...)
    go to the model, the rest to the :class:`TrainConfig`. The regression conv baseline is the
    paper's per split (pooled on uniform, strided on quadrant) unless ``regression_conv`` is given.
    """
    if (task, kind) not in RECIPES:
        raise ValueError(f"no recipe for task={task!r} model={kind!r}")
    per_split = {"regression_conv": "strided" if split == "quadrant" else "pooled"}
    settings = {
        **(per_split if task == "regression" else {}),
        **RECIPES[task, kind],
        **{k: v for k, v in overrides.items() if v is not None},
    }
    model = {k: v for k, v in settings.items() if k in MODEL_KEYS}
    rest = {k: v for k, v in settings.items() if k not in MODEL_KEYS}
    for name in ("flush_denormal", "validation_rule"):  # from_dict reads missing ones as old
        rest.setdefault(name, getattr(TrainConfig, name))
    return TrainConfig.from_dict(
        {"model": {**model, "task": task, "kind": kind}, "split": split, **rest}
    )


def config_differences(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The keys whose values differ between two run configs (nested keys dotted, missing ones
    included): ``["lr", "model.width"]``."""

    def flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        items: dict[str, Any] = {}
        for key, value in config.items():
            if isinstance(value, dict):
                items.update(flat(value, f"{prefix}{key}."))
            else:
                items[prefix + key] = value
        return items

    a, b = flat(saved), flat(wanted)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


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


@dataclass
class RunData:
    """A run's examples as example-aligned tensors in the task's units (``data.task_tensors``),
    its parts as index tensors (disjoint, covering all), and per-example arrays the report reads
    from ``examples.npz`` (``extras``)."""

    inputs: Tensor
    targets: Tensor
    fit_idx: Tensor  # what the model is trained on
    val_idx: Tensor  # empty unless cfg.validation
    test_idx: Tensor
    extras: dict[str, np.ndarray] = field(default_factory=dict)


def load_data(cfg: TrainConfig) -> RunData:
    """The examples ``cfg`` trains and is scored on: Not-so-Clevr for the paper's tasks, digit
    canvases for ``digits``. With ``cfg.validation`` the model fits on the training part minus a
    validation part (``data.validation_split``; the digits' own val canvases); without it, on the
    whole training part."""
    if cfg.task == "digits":
        digits = make_digit_canvases(
            cfg.split, canvas=cfg.canvas, canvases=cfg.canvases, seed=cfg.split_seed
        )
        fit_idx, val_idx, test_idx = (digits.parts[p] for p in ("fit", "val", "test"))
        if not cfg.validation:
            fit_idx, val_idx = torch.cat([fit_idx, val_idx]).sort().values, val_idx[:0]
        extras = {"centre": digits.centres.numpy(), "label": digits.labels.numpy()}
        return RunData(digits.images, digits.targets(), fit_idx, val_idx, test_idx, extras)
    data = NotSoClevr(cfg.canvas, cfg.square)
    train_idx, test_idx = make_split(
        data, cfg.split, test_fraction=cfg.test_fraction, seed=cfg.split_seed, quadrant=cfg.quadrant
    )
    fit_idx, val_idx = train_idx, test_idx[:0]
    if cfg.validation:
        fit_idx, val_idx = validation_split(
            data,
            cfg.split,
            train_idx,
            seed=cfg.split_seed,
            quadrant=cfg.quadrant,
            rule=cfg.validation_rule,
        )
    return RunData(*task_tensors(data, cfg.task), fit_idx, val_idx, test_idx)


def train(
    cfg: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train one run into ``out`` and return its result (also written to ``out/result.json``).

    ``resume`` continues the checkpoint in ``out`` (same config and threads, same final numbers
    as an uninterrupted run); without it a folder holding a run is refused unless ``overwrite``.
    ``progress`` is called after every epoch with that epoch's history entry.
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
    model = build_model(cfg.model).to(device)
    model = model.to(memory_format=layout)  # type: ignore[call-overload]  # missing in the stubs
    if cfg.centre_output:
        centre_output_bias(model, x_train)
    optimizer = make_optimizer(cfg, model)
    order = torch.Generator().manual_seed(cfg.seed)
    state = RunState()
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        changed = config_differences(ckpt["config"], asdict(cfg))
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
    result: dict[str, Any] = {}
    for epoch in range(state.epoch + 1, cfg.epochs + 1):
        model.train()
        started = time.perf_counter()
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
        seconds = time.perf_counter() - started
        state.train_time_s += seconds

        # Decisions below read train (stopping) or val (sweeps) only; test is measured, never
        # used to decide, and a sweep trial does not even evaluate it (nor train, to save time).
        last_epoch = cfg.epochs if cfg.stop_epoch is None else cfg.stop_epoch
        evaluate = epoch == last_epoch or (not cfg.eval_last_only and epoch % cfg.eval_every == 0)
        entry: dict[str, Any] = {"epoch": epoch}
        parts = []
        if evaluate and not cfg.trial:
            entry["train"], train_scores = task.evaluate(model, x_train, y_train)
            parts.append(train_scores)
        if evaluate and cfg.validation:
            entry["val"], val_scores = task.evaluate(model, x_val, y_val)
            parts.append(val_scores)
        if evaluate and not cfg.trial:
            entry["test"], test_scores = task.evaluate(model, x_test, y_test)
            parts.append(test_scores)
        entry["seconds"] = seconds
        state.history.append(entry)
        state.epoch = epoch
        if evaluate:
            at_target = all(task.reached(entry[part]) for part in _judged(cfg))
            if state.time_to_target_s is None and at_target:
                state.time_to_target_s = state.train_time_s
            state.held_target = at_target
        state.finished = epoch == last_epoch or (
            cfg.stop_at_target and task.reached(entry["val" if cfg.trial else "train"])
        )
        if state.finished and not cfg.trial:
            scores = {k: torch.cat([p[k] for p in parts])[order_back] for k in parts[0]}
            _write_examples(out / "examples.npz", model, data, inputs, scores, cfg)
        result = _result(cfg, model, state, len(x_train), flush_share)
        _save_checkpoint(ckpt_path, cfg, model, optimizer, order, state)
        write_json(result_path, result)
        if progress is not None:
            progress(entry)
        if state.finished:
            break
    return result


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
    """Per-example scores on every example (centre, canvas), the data's extras and, for
    rendering, a few outputs (for the report). ``inputs`` are ``data.inputs`` on the device."""
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
    if cfg.task == "rendering":
        model.eval()
        shown = _sample_indices(is_test)
        arrays["sample_index"] = shown.numpy()
        arrays["sample_output"] = (
            torch.sigmoid(model(inputs[shown.to(inputs.device)])).cpu().numpy()
        )
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))  # type: ignore[arg-type]


def _sample_indices(is_test: Tensor, per_part: int = 4) -> Tensor:
    """A fixed, evenly spread choice of train and test examples to show."""
    chosen = []
    for part in (~is_test, is_test):
        where = torch.nonzero(part).flatten()
        chosen.append(where[torch.linspace(0, len(where) - 1, per_part).round().long()])
    return torch.cat(chosen)
