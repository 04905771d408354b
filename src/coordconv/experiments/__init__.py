"""The experiments above the library: the engine (``core``), one folder per study
(``notsoclevr``, ``fair``, ``digits``) and the ``coordconv`` command (``cli``).

Built on the library (``coordconv``); the library never imports this package. Importing it
registers the studies with the engine, one line each.
"""

from coordconv.experiments import digits, notsoclevr  # noqa: F401  (each registers its tasks)
from coordconv.experiments.core.config import TrainConfig, make_config
from coordconv.experiments.core.grid import run_grid
from coordconv.experiments.core.train import train
from coordconv.experiments.fair.sweep import run_sweep
from coordconv.experiments.notsoclevr.data import NotSoClevr, make_split, validation_split

__all__ = [
    "NotSoClevr",
    "TrainConfig",
    "make_config",
    "make_split",
    "run_grid",
    "run_sweep",
    "train",
    "validation_split",
]
