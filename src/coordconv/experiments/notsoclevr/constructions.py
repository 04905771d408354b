"""Existence proofs: hand-set (untrained) CoordConv networks that solve each toy task exactly.

The critics' point (Piekniewski; a replication that found a 21-weight classifier by hand): the toy
tasks are easy for the right architecture. These networks are built from the library's
``CoordConv2d`` with every weight written down, take and return the same units as the trained
models (``models.build_model``), and are exact on all centres of the canvas.

With ``s = (canvas - 1) / 2`` (pixels per unit of the ``[-1, 1]`` coordinates), the first
CoordConv computes, at pixel ``(i, j)`` for a centre ``(x, y)``, the four ramps
``relu(±(x - j))`` and ``relu(±(y - i))`` in pixels; their sums are ``|x - j|`` and ``|y - i|``:

* classification: logit ``-(|x - j| + |y - i|)``, largest (0) at the centre pixel only;
* rendering: logit ``h + 1/2 - max(|x - j|, |y - i|)`` with ``h`` the square's half side,
  positive inside the square, ``<= -1/2`` outside (``max(a, b) = b + relu(a - b)``);
* regression: the one-hot gates the coordinate channels: ``K * onehot + c - K`` with ``K = 3``
  equals the coordinate ``c`` at the hot pixel and is ``< -1`` elsewhere, so a global max gives
  the centre in ``[-1, 1]``.
"""

from __future__ import annotations

import torch
from torch import nn

from coordconv import CoordConv2d
from coordconv.experiments.notsoclevr.models import GlobalPool, PixelsToUnit, Tile

__all__ = ["build_construction"]


def _bias(layer: nn.Module) -> torch.Tensor:
    bias = layer.bias
    if not isinstance(bias, torch.Tensor):
        raise TypeError("the construction needs biased layers")
    return bias


def _ramps(canvas: int) -> CoordConv2d:
    """``(x, y)`` tiled in ``[-1, 1]`` -> ``x - j, j - x, y - i, i - y`` in pixels (before ReLU)."""
    s = (canvas - 1) / 2
    layer = CoordConv2d(2, 4, 1)
    with torch.no_grad():
        _bias(layer).zero_()
        # inputs: channel 0 = x, 1 = y; coordinates: channel 0 = row i, 1 = column j
        layer.input_weight.copy_(
            torch.tensor([[s, 0.0], [-s, 0.0], [0.0, s], [0.0, -s]]).view(4, 2, 1, 1)
        )
        coord = torch.tensor([[0.0, -s], [0.0, s], [-s, 0.0], [s, 0.0]])
        layer.coord_weight.copy_(coord.view(4, 2, 1, 1))
    return layer


def _conv1x1(weight: list[list[float]], bias: list[float]) -> nn.Conv2d:
    w = torch.tensor(weight)
    layer = nn.Conv2d(w.shape[1], w.shape[0], 1)
    with torch.no_grad():
        layer.weight.copy_(w.view(*w.shape, 1, 1))
        _bias(layer).copy_(torch.tensor(bias))
    return layer


def _gated_coordinates(gain: float = 3.0) -> CoordConv2d:
    """One-hot ``(N, 1, H, W)`` -> ``gain * onehot + (j, i) - gain``: the coordinates at the hot
    pixel, below -1 elsewhere (coordinates lie in [-1, 1] and ``gain > 2``)."""
    layer = CoordConv2d(1, 2, 1)
    with torch.no_grad():
        layer.input_weight.fill_(gain)
        _bias(layer).fill_(-gain)
        layer.coord_weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]).view(2, 2, 1, 1))
    return layer


def build_construction(task: str, canvas: int = 64, square: int = 9) -> nn.Sequential:
    """The hand-set network for ``task`` (inputs and outputs as ``models.build_model``'s)."""
    if task == "regression":
        return nn.Sequential(_gated_coordinates(), GlobalPool("max"))
    pointer: list[nn.Module] = [PixelsToUnit(canvas), Tile(canvas), _ramps(canvas), nn.ReLU()]
    if task == "classification":
        return nn.Sequential(*pointer, _conv1x1([[-1.0, -1.0, -1.0, -1.0]], [0.0]), nn.Flatten())
    if task == "rendering":
        half = square // 2
        return nn.Sequential(
            *pointer,
            # |x - j| - |y - i| (ReLU'd) and |y - i|
            _conv1x1([[1.0, 1.0, -1.0, -1.0], [0.0, 0.0, 1.0, 1.0]], [0.0, 0.0]),
            nn.ReLU(),
            _conv1x1([[-1.0, -1.0]], [half + 0.5]),
        )
    raise ValueError(f"task must be classification, regression or rendering, got {task!r}")
