"""Per-layer memos of tensors derived from input sizes (coordinate grids) and weights
(coordinate maps): never pickled, deep-copied or shared between DataParallel replicas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from coordconv.grid import coords

_MAX_CACHED = 8  # entries per cache: input sizes (grids) or weight versions (maps)


class _Cache(dict[Any, Tensor]):
    """A layer's memo of tensors derived from input sizes (grids) or weights (coordinate maps).

    It never leaves its layer: pickles and deep copies of the layer start with an empty one (so
    ``torch.save(model)`` does not grow with every input size seen), DataParallel replicas get
    their own, and ``.to()``/``.cuda()``/``.half()`` clear it. At most ``_MAX_CACHED`` entries.
    """

    def __reduce__(self) -> tuple[type[_Cache], tuple[()]]:
        return (_Cache, ())

    def __deepcopy__(self, memo: dict[int, Any]) -> _Cache:
        return _Cache()

    def put(self, key: Any, value: Tensor) -> Tensor:
        if len(self) >= _MAX_CACHED:
            self.clear()
        self[key] = value
        return value


class _CachingModule(nn.Module):
    """Clears its ``_Cache`` attributes on ``_apply`` and gives DataParallel replicas new ones."""

    def _apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        for value in vars(self).values():
            if isinstance(value, _Cache):
                value.clear()
        return super()._apply(fn, *args, **kwargs)

    def _replicate_for_data_parallel(self) -> Any:
        replica = super()._replicate_for_data_parallel()
        for name, value in vars(replica).items():
            if isinstance(value, _Cache):
                setattr(replica, name, _Cache())
        return replica


def _grid(
    cache: _Cache,
    spatial: tuple[int, ...],
    with_r: bool,
    device: torch.device,
    dtype: torch.dtype,
    capturing: bool,
) -> Tensor:
    """``(1, d, *spatial)`` coordinate grid, from the owner's cache unless capturing a graph."""
    if capturing:
        grid = coords(spatial, with_r=with_r, device=device, dtype=dtype)
        # Adding to a fresh buffer gives inductor a plain layout: with dynamic shapes it fails
        # to order the strides of the stacked grid when the weight needs a gradient (torch 2.13).
        return torch.zeros((1, *grid.shape), device=device, dtype=dtype) + grid
    key = (spatial, device, dtype)
    cached = cache.get(key)
    if cached is None:
        # A normal tensor even when first built under inference_mode: training may save it later.
        with torch.inference_mode(False):
            cached = cache.put(
                key, coords(spatial, with_r=with_r, device=device, dtype=dtype)[None]
            )
    return cached


def _symbolic_grid(x: Any, rank: int, with_r: bool, dtype: torch.dtype) -> Any:
    """``(1, d, *spatial)`` grid of an ``fx.Proxy`` input as graph nodes: built in ``dtype`` on
    the input's device at run time, then cast to the input's dtype."""
    spatial = [x.shape[2 + k] for k in range(rank)]
    return coords(spatial, with_r=with_r, device=x.device, dtype=dtype)[None].to(x.dtype)
