"""``AddCoords``: append the coordinate channels to an input."""

from __future__ import annotations

import torch
from torch import Tensor

from coordconv._cache import _Cache, _CachingModule, _grid, _symbolic_grid
from coordconv._runtime import _capturing
from coordconv.checks import _check_input

__all__ = ["AddCoords"]


class AddCoords(_CachingModule):
    """Append coordinate channels: ``(N, C, *spatial) -> (N, C + rank (+1), *spatial)``.

    The input channels come first, then the channels of :func:`coordconv.coords` (``i``, ``j``,
    ... in ``[-1, 1]``, each axis scaled by its own length; then ``r`` with ``with_r``).

    Args:
        rank: number of spatial dimensions (1, 2 or 3). Default: 2.
        with_r: also append the distance from the centre. Default: ``False``.

    Shape:
        - Input: ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``, ``len(spatial) == rank``.
        - Output: ``(N, C + rank + with_r, *spatial)`` (unbatched: without ``N``).

    Example:
        >>> AddCoords(rank=2)(torch.zeros(4, 3, 5, 7)).shape
        torch.Size([4, 5, 5, 7])
    """

    def __init__(self, rank: int = 2, with_r: bool = False) -> None:
        super().__init__()
        if rank not in (1, 2, 3):
            raise ValueError(f"AddCoords: rank must be 1, 2 or 3, got {rank}")
        self.rank = rank
        self.with_r = with_r
        self._grid_cache = _Cache()

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(x, torch.fx.Proxy):  # symbolic tracing: batched input, grid in the graph
            grid = _symbolic_grid(x, self.rank, self.with_r, torch.get_default_dtype())
            grid = grid.expand(x.shape[0], *[-1] * (self.rank + 1))
            return torch.cat([x, grid], dim=1)
        _check_input("AddCoords", x, self.rank, None)
        unbatched = x.dim() == self.rank + 1
        batch = x[None] if unbatched else x
        spatial = tuple(batch.shape[2:])
        grid = _grid(self._grid_cache, spatial, self.with_r, x.device, x.dtype, _capturing())
        out = torch.cat([batch, grid.expand(batch.shape[0], *grid.shape[1:])], dim=1)
        return out[0] if unbatched else out

    def extra_repr(self) -> str:
        return f"rank={self.rank}" + (", with_r=True" if self.with_r else "")
