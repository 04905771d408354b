"""Coordinate grids: the extra input channels CoordConv appends.

Convention (the one every layer in this package uses):

* channel ``k`` varies along spatial axis ``k`` (for 2D: channel 0 is the row index ``i``,
  channel 1 the column index ``j``);
* each axis is scaled by *its own* length: ``c = 2 * idx / (n - 1) - 1``, so it spans exactly
  ``[-1, 1]``; an axis of length 1 gives ``0`` (its centre) instead of dividing by zero;
* with ``with_r`` one more channel ``r = sqrt(sum_k c_k ** 2)``: the distance from the centre of
  the grid (``0`` at the centre, ``sqrt(rank)`` at the corners).

How this differs from the original TensorFlow snippet (uber-research/CoordConv ``AddCoords``):
that code divides the row channel by ``(width - 1)`` and the column channel by
``(height - 1)``, so on non-square inputs the values leave ``[-1, 1]``; it measures ``r``
from ``(0.5, 0.5)`` (off-centre in the ``[-1, 1]`` frame), and 1-pixel axes divide by zero.
On square inputs larger than one pixel the ``i``/``j`` channels of both agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["coord_channels", "coords"]


def coord_channels(rank: int, with_r: bool = False) -> int:
    """Number of coordinate channels for a ``rank``-dimensional input (``rank`` + 1 with r)."""
    return rank + int(with_r)


def _axis(n: int, device: torch.device | str | None, dtype: torch.dtype) -> Tensor:
    """Values of one axis of length ``n``: ``2 * idx / (n - 1) - 1``, or ``0`` when ``n == 1``.

    Written with tensor ops only (``arange`` and the last index as a tensor, no Python branch on
    ``n``), so that tracing, ``torch.export`` and ONNX keep the size symbolic.
    """
    idx = torch.arange(n, device=device, dtype=dtype)
    last = idx[-1:]  # (1,) holding n - 1
    return (2 * idx - last) / last.clamp(min=1)


def coords(
    spatial_shape: Sequence[int],
    *,
    with_r: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Coordinate channels for a grid of shape ``spatial_shape``.

    Args:
        spatial_shape: sizes of the spatial axes, e.g. ``(H, W)``; every size must be >= 1.
        with_r: append the radius channel ``sqrt(sum of squared coordinates)``.
        device: where to build the grid (default: torch's current default device).
        dtype: floating dtype of the grid (default: ``torch.get_default_dtype()``).

    Returns:
        Tensor of shape ``(rank (+1), *spatial_shape)`` with values in ``[-1, 1]`` (``r`` in
        ``[0, sqrt(rank)]``).

    Example:
        >>> coords((2, 3))
        tensor([[[-1., -1., -1.],
                 [ 1.,  1.,  1.]],
        <BLANKLINE>
                [[-1.,  0.,  1.],
                 [-1.,  0.,  1.]]])
    """
    shape = tuple(spatial_shape)
    if len(shape) == 0:
        raise ValueError("coords: spatial_shape must have at least one axis, got ()")
    for n in shape:
        if isinstance(n, int) and n < 1:
            raise ValueError(f"coords: every spatial size must be >= 1, got {shape}")
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if not dtype.is_floating_point:
        raise TypeError(f"coords: dtype must be a floating type, got {dtype}")
    compute = torch.float64 if dtype == torch.float64 else torch.float32  # exact for any size
    rank = len(shape)
    channels = []
    for k, n in enumerate(shape):
        view = [1] * rank
        view[k] = -1
        channels.append(_axis(n, device, compute).view(view).expand(shape))
    grid = torch.stack(channels)  # (rank, *spatial)
    if with_r:
        grid = torch.cat([grid, grid.square().sum(0, keepdim=True).sqrt()])  # (rank + 1, *spatial)
    return grid.to(dtype)
