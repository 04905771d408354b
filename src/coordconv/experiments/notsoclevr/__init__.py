"""The paper's reproduction on Not-so-Clevr: the dataset and its splits, the three toy tasks, the
paper's models and the critics' baselines, the recipes, hand-set constructions, the quick grid and
its report. Registers its tasks with the engine when imported."""

from coordconv.experiments.core.registry import Study, register
from coordconv.experiments.notsoclevr.data import (
    QUADRANTS,
    SPLITS,
    TASKS,
    VALIDATION_RULES,
    NotSoClevr,
    TaskDataset,
    make_split,
    task_tensors,
    validation_split,
)
from coordconv.experiments.notsoclevr.models import KINDS, PAPER_KINDS, ModelConfig, build_model
from coordconv.experiments.notsoclevr.recipes import RECIPES, recipe
from coordconv.experiments.notsoclevr.source import (
    NotSoClevrData,
    load_notsoclevr,
    upgrade_notsoclevr,
)
from coordconv.experiments.notsoclevr.tasks import TASK_SPECS

__all__ = [
    "KINDS",
    "PAPER_KINDS",
    "QUADRANTS",
    "RECIPES",
    "SPLITS",
    "STUDY",
    "TASKS",
    "TASK_SPECS",
    "VALIDATION_RULES",
    "ModelConfig",
    "NotSoClevr",
    "NotSoClevrData",
    "TaskDataset",
    "build_model",
    "make_split",
    "task_tensors",
    "validation_split",
]

STUDY = register(
    Study(
        name="notsoclevr",
        tasks=TASK_SPECS,
        model_config=ModelConfig,
        build_model=build_model,
        data_config=NotSoClevrData,
        load_data=load_notsoclevr,
        recipe=recipe,
        upgrade=upgrade_notsoclevr,
    )
)
