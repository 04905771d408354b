"""The digits demo: does CoordConv help a ResNet-style localiser, or a detector, find handwritten
digits on cluttered canvases? Canvases, the two heads in four variants (through ``convert()``),
the recipe, the grid and its report. Registers the ``digits`` (localiser) and ``detection``
tasks with the engine when imported."""

from coordconv.experiments.core.registry import Study, register
from coordconv.experiments.digits.data import DigitCanvases, make_digit_canvases
from coordconv.experiments.digits.grid import DIGITS_RECIPE, digits_grid, recipe
from coordconv.experiments.digits.localiser import (
    VARIANTS,
    LocaliserConfig,
    build_localiser,
    build_localiser_model,
)
from coordconv.experiments.digits.source import DigitsData, load_digits_data, upgrade_digits
from coordconv.experiments.digits.tasks import DETECTION_TASK, DIGITS_TASK

__all__ = [
    "DETECTION_TASK",
    "DIGITS_RECIPE",
    "DIGITS_TASK",
    "STUDY",
    "VARIANTS",
    "DigitCanvases",
    "DigitsData",
    "LocaliserConfig",
    "build_localiser",
    "digits_grid",
    "make_digit_canvases",
]

STUDY = register(
    Study(
        name="digits",
        tasks={"digits": DIGITS_TASK, "detection": DETECTION_TASK},
        model_config=LocaliserConfig,
        build_model=build_localiser_model,
        data_config=DigitsData,
        load_data=load_digits_data,
        recipe=recipe,
        upgrade=upgrade_digits,
    )
)
