"""The studies' registry: how the engine finds a task's data, model and recipe without naming a study.

A study (``experiments/<study>/``) declares a :class:`Study` and calls :func:`register` when it is
imported; ``coordconv.experiments`` imports every study, one line each. The engine looks the study
up by task name (``study_of(cfg.task)``): its data source, its model builder, its recipes and the
dataclasses of its model and data settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from torch import Tensor, nn

from coordconv.experiments.core.tasks import TaskSpec

__all__ = ["RunData", "Study", "field_names", "get_task", "register", "registered", "study_of"]


@dataclass
class RunData:
    """A run's examples as example-aligned tensors in the task's units, its parts as index
    tensors (disjoint, covering all), and per-example arrays the report reads from
    ``examples.npz`` (``extras``)."""

    inputs: Tensor
    targets: Tensor
    fit_idx: Tensor  # what the model is trained on
    val_idx: Tensor  # empty unless cfg.validation
    test_idx: Tensor
    extras: dict[str, np.ndarray] = field(default_factory=dict)


def _nothing_to_upgrade(config: dict[str, Any]) -> None:
    pass


@dataclass(frozen=True)
class Study:
    """What a study gives the engine.

    ``model_config`` and ``data_config`` are dataclasses: the model's settings (with ``task``,
    ``kind`` and ``canvas`` fields) and the data's (with ``split`` and ``split_seed`` fields and a
    ``label`` property naming the split in run names). ``load_data(cfg)`` returns a
    :class:`RunData` for a ``TrainConfig``; ``recipe(task, kind, split)`` the default settings
    (flat, as ``make_config`` takes them; ``ValueError`` for an unknown cell). ``upgrade``
    rewrites, in place, a config saved before the data settings were nested (``config["data"]``
    already holds the data config's fields found at the top level): it drops keys that this
    study never used and sets what old runs implicitly had.
    """

    name: str
    tasks: Mapping[str, TaskSpec]
    model_config: type
    build_model: Callable[[Any], nn.Module]
    data_config: type
    load_data: Callable[[Any], RunData]
    recipe: Callable[[str, str, str], dict[str, Any]]
    upgrade: Callable[[dict[str, Any]], None] = _nothing_to_upgrade


_STUDIES: dict[str, Study] = {}  # task name -> the study that registered it


def register(study: Study) -> Study:
    """Make ``study``'s tasks known to the engine (idempotent for the same study)."""
    for task in study.tasks:
        other = _STUDIES.get(task)
        if other is not None and other.name != study.name:
            raise ValueError(f"task {task!r} is registered by study {other.name!r} already")
        _STUDIES[task] = study
    return study


def registered() -> dict[str, Study]:
    """Task name -> its study, in registration order."""
    return dict(_STUDIES)


def study_of(task: str) -> Study:
    """The study that registered ``task``."""
    if task not in _STUDIES:
        raise ValueError(
            f"task must be one of {tuple(_STUDIES)}, got {task!r} (a study registers its tasks "
            "when coordconv.experiments imports it)"
        )
    return _STUDIES[task]


def get_task(name: str, canvas: int = 64) -> TaskSpec:
    """The task called ``name`` for a ``canvas``-pixel canvas."""
    return replace(study_of(name).tasks[name], canvas=canvas)


def field_names(cls: type) -> frozenset[str]:
    """The field names of the dataclass ``cls``."""
    return frozenset(f.name for f in fields(cls))
