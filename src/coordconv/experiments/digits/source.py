"""Digit canvases as the engine's data source: the data settings of a run and its tensors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from coordconv.experiments.core.config import TrainConfig
from coordconv.experiments.core.registry import RunData
from coordconv.experiments.digits.data import SPLITS, VALIDATION_RULES, make_digit_canvases

__all__ = ["DigitsData", "load_digits_data", "upgrade_digits"]


@dataclass(frozen=True)
class DigitsData:
    """Which canvases a digits run sees (the canvas side is the model's)."""

    split: str = "uniform"  # uniform | quadrant (test centres in the bottom-right quadrant)
    split_seed: int = 0  # the canvases' draw (shared by all variants, so they see the same ones)
    canvases: int = 5000  # canvases drawn (fit / val / test 60 / 20 / 20 %)
    validation_rule: str = "band"  # quadrant: band (the test's extrapolation) | corners (before)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.validation_rule not in VALIDATION_RULES:
            raise ValueError(
                f"validation_rule must be one of {VALIDATION_RULES}, got {self.validation_rule!r}"
            )
        if self.canvases < 1:
            raise ValueError(f"canvases must be >= 1, got {self.canvases}")

    @property
    def label(self) -> str:
        return self.split


DIGITS_PER_CANVAS = {"digits": 1, "detection": 3}  # task -> the most digits on a canvas


def load_digits_data(cfg: TrainConfig) -> RunData:
    """The canvases and their fit / val / test parts; without ``cfg.validation`` the model fits
    on fit and val canvases together. The localiser's (task ``digits``) targets are ``(N, 3)``,
    the detector's ``(N, 3, 3)`` (see ``DigitCanvases.targets``)."""
    settings: DigitsData = cfg.data
    digits = make_digit_canvases(
        settings.split,
        canvas=cfg.canvas,
        canvases=settings.canvases,
        seed=settings.split_seed,
        max_digits=DIGITS_PER_CANVAS[cfg.task],
        rule=settings.validation_rule,
    )
    fit_idx, val_idx, test_idx = (digits.parts[p] for p in ("fit", "val", "test"))
    if not cfg.validation:
        fit_idx, val_idx = torch.cat([fit_idx, val_idx]).sort().values, val_idx[:0]
    targets = digits.targets()
    if cfg.task == "digits":
        targets = targets[:, 0]
        extras = {"centre": digits.centres[:, 0].numpy(), "label": digits.labels[:, 0].numpy()}
    else:
        extras = {"centres": digits.centres.numpy(), "labels": digits.labels.numpy()}
    return RunData(digits.images, targets, fit_idx, val_idx, test_idx, extras)


# Not-so-Clevr's settings, carried (unused) by every digits run before the data settings were nested
_NOT_SO_CLEVR_DATA = ("quadrant", "test_fraction", "validation_rule", "square")
_NOT_SO_CLEVR_MODEL = ("kernel", "regression_conv", "onehot_gain", "softmax_peak", "offset_init")


def upgrade_digits(config: dict[str, Any]) -> None:
    """Configs saved before the data settings were nested: drop the Not-so-Clevr settings every
    digits run carried without using them; those runs validated a quadrant split on the corner
    blocks (the Not-so-Clevr ``validation_rule`` they carried, now a digits setting, did not
    apply to them)."""
    for key in _NOT_SO_CLEVR_DATA:
        config.pop(key, None)
    config["data"]["validation_rule"] = "corners"
    for key in _NOT_SO_CLEVR_MODEL:
        config["model"].pop(key, None)
