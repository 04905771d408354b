"""Not-so-Clevr as the engine's data source: the data settings of a run and the tensors it trains on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from coordconv.experiments.core.config import TrainConfig
from coordconv.experiments.core.registry import RunData
from coordconv.experiments.notsoclevr.data import (
    QUADRANTS,
    SPLITS,
    VALIDATION_RULES,
    NotSoClevr,
    make_split,
    task_tensors,
    validation_split,
)

__all__ = ["NotSoClevrData", "load_notsoclevr", "upgrade_notsoclevr"]


@dataclass(frozen=True)
class NotSoClevrData:
    """Which Not-so-Clevr examples a run sees (the canvas side is the model's)."""

    split: str = "uniform"  # uniform | quadrant
    quadrant: str = "bottom-right"  # the quadrant split's held-out quadrant (data.QUADRANTS)
    split_seed: int = 0  # the uniform split's draw (shared by all models, so they see one split)
    test_fraction: float = 0.2  # uniform split: fraction held out
    validation_rule: str = "band"  # quadrant: band (the test's extrapolation) | corners (before)
    square: int = 9  # the square's side (odd)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.quadrant not in QUADRANTS:
            raise ValueError(f"quadrant must be one of {QUADRANTS}, got {self.quadrant!r}")
        if self.validation_rule not in VALIDATION_RULES:
            raise ValueError(
                f"validation_rule must be one of {VALIDATION_RULES}, got {self.validation_rule!r}"
            )

    def train_test(self, data: NotSoClevr) -> tuple[Tensor, Tensor]:
        """``make_split`` of ``data`` with these settings: ``(train_idx, test_idx)``."""
        return make_split(
            data,
            self.split,
            test_fraction=self.test_fraction,
            seed=self.split_seed,
            quadrant=self.quadrant,
        )

    @property
    def label(self) -> str:
        """The split in run names: a quadrant split other than the default bottom-right one
        names its quadrant (``quadrant-top-left``)."""
        if self.split == "quadrant" and self.quadrant != "bottom-right":
            return f"quadrant-{self.quadrant}"
        return self.split


def load_notsoclevr(cfg: TrainConfig) -> RunData:
    """The task's tensors on every centre and the split's parts; with ``cfg.validation`` the
    fitting part is the training part minus ``data.validation_split``'s validation part."""
    settings: NotSoClevrData = cfg.data
    data = NotSoClevr(cfg.canvas, settings.square)
    train_idx, test_idx = settings.train_test(data)
    fit_idx, val_idx = train_idx, test_idx[:0]
    if cfg.validation:
        fit_idx, val_idx = validation_split(
            data,
            settings.split,
            train_idx,
            seed=settings.split_seed,
            quadrant=settings.quadrant,
            rule=settings.validation_rule,
        )
    return RunData(*task_tensors(data, cfg.task), fit_idx, val_idx, test_idx)


def upgrade_notsoclevr(config: dict[str, Any]) -> None:
    """Configs saved before the data settings were nested: the digits demo's ``canvases`` was
    on every run; runs before the band rule validated a quadrant split on the corner blocks."""
    config.pop("canvases", None)
    config["data"].setdefault("validation_rule", "corners")
