"""A run's settings: ``TrainConfig`` (the engine's), nesting the study's model and data settings.

Saved whole in every checkpoint and ``result.json`` as ``{"model": {...}, "data": {...}, ...}``.
Configs saved before the data settings were nested (every setting at the top level) still load:
:func:`upgrade_config` moves them into place (tested against the committed runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from coordconv.experiments.core.registry import field_names, study_of

__all__ = ["TrainConfig", "config_differences", "flat_settings", "make_config", "upgrade_config"]


@dataclass
class TrainConfig:
    """Every setting of a run: the model and the data (the study's dataclasses, see
    ``core.registry.Study``), then the optimisation and the machine."""

    model: Any  # the study's model config: task, kind, canvas, ...
    data: Any  # the study's data config: split, split_seed, ...
    seed: int = 0  # model initialisation and batch order
    validation: bool = False  # fit on the training part minus a validation part, report `val`
    centre_output: bool = False  # shift the last bias so outputs start centred on 0 (a recipe
    # switch of Not-so-Clevr regression; generic here: a data-dependent init on the fit part)
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
        if not isinstance(getattr(self.model, "task", None), str):
            raise TypeError(f"model must be a study's model config, got {self.model!r}")
        study = study_of(self.model.task)
        for name, cls in (("model", study.model_config), ("data", study.data_config)):
            if not isinstance(getattr(self, name), cls):
                raise TypeError(
                    f"{name} must be a {cls.__name__} for task {self.model.task!r}, "
                    f"got {type(getattr(self, name)).__name__}"
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
        for name in ("epochs", "batch_size", "threads", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for but no CUDA device is available")

    @property
    def task(self) -> str:
        return str(self.model.task)

    @property
    def kind(self) -> str:
        return str(self.model.kind)

    @property
    def canvas(self) -> int:
        return int(self.model.canvas)

    @property
    def split(self) -> str:
        return str(self.data.split)

    @property
    def name(self) -> str:
        """The run's name in a grid: ``<task>-<kind>-<split label>-s<seed>``, e.g.
        ``rendering-coordconv-uniform-s100``, ``...-quadrant-top-left-s120``."""
        return f"{self.task}-{self.kind}-{self.data.label}-s{self.seed}"

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> TrainConfig:
        """The inverse of ``dataclasses.asdict`` (older layouts are upgraded first)."""
        settings = upgrade_config(config)
        model, data = settings.pop("model"), settings.pop("data")
        study = study_of(model.get("task"))
        for where, given, known in (
            ("config", settings, field_names(cls) - {"model", "data"}),
            ("model config", model, field_names(study.model_config)),
            ("data config", data, field_names(study.data_config)),
        ):
            unknown = set(given) - known
            if unknown:
                raise ValueError(f"unknown {where} keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(model=study.model_config(**model), data=study.data_config(**data), **settings)


def upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """A saved run config in today's layout (a new dict; today's configs are copied as they are).

    Configs written before the data settings were nested keep them at the top level: they move
    into ``data``; ``flush_denormal`` missing means a run that did not flush (it came later); the
    study drops what it never used and fills in what its old runs implicitly had
    (``Study.upgrade``)."""
    model = config.get("model")
    if not isinstance(model, dict) or "task" not in model:
        raise ValueError(
            "a run config needs a 'model' table with the model's settings (task, kind, ...); "
            f"got {model!r}"
        )
    settings = {k: dict(v) if isinstance(v, dict) else v for k, v in config.items()}
    if "data" in settings:
        return settings
    study = study_of(model["task"])
    data_keys = field_names(study.data_config)
    upgraded = {
        "model": settings.pop("model"),
        "data": {k: settings.pop(k) for k in list(settings) if k in data_keys},
        **settings,
    }
    upgraded.setdefault("flush_denormal", False)
    study.upgrade(upgraded)
    return upgraded


def make_config(task: str, kind: str, split: str, **overrides: Any) -> TrainConfig:
    """The study's recipe for ``(task, kind)`` on ``split``, with ``overrides`` (None ignored).

    Settings are given flat: names of the model config's fields (``width``, ``kernel``, ...)
    go to the model, names of the data config's (``quadrant``, ``square``, ...) to the data,
    the rest to the :class:`TrainConfig`.
    """
    study = study_of(task)
    settings = {
        **study.recipe(task, kind, split),
        **{k: v for k, v in overrides.items() if v is not None},
    }
    model_keys, data_keys = field_names(study.model_config), field_names(study.data_config)
    return TrainConfig.from_dict(
        {
            "model": {
                **{k: v for k, v in settings.items() if k in model_keys},
                "task": task,
                "kind": kind,
            },
            "data": {**{k: v for k, v in settings.items() if k in data_keys}, "split": split},
            **{k: v for k, v in settings.items() if k not in model_keys | data_keys},
        }
    )


def flat_settings(config: dict[str, Any]) -> dict[str, Any]:
    """A saved config's settings in one flat table (the names ``make_config`` takes)."""
    upgraded = upgrade_config(config)
    top = {k: v for k, v in upgraded.items() if k not in ("model", "data")}
    return {**top, **upgraded["model"], **upgraded["data"]}


def config_differences(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The keys whose values differ between two run configs (nested keys dotted, missing ones
    included): ``["lr", "model.width"]``. Compare saved configs after :func:`upgrade_config`."""

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
