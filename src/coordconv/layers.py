"""``AddCoords`` and the CoordConv layers (1d/2d/3d, plain and transposed).

A CoordConv is defined as the plain convolution applied to ``AddCoords(x)`` with weights
``cat([weight, coord_weight])`` along the input-channel dimension. Because convolution is linear
and the coordinate channels are the same for every sample, this equals::

    conv(x, weight, groups=g) + conv(grid, coord_weight, bias)   # grid: (1, d, *spatial)

The second term, the *coordinate map* ``(1, out_channels, *out_spatial)``, is computed once per
forward at batch size 1 and added in place: no ``(N, C + d, ...)`` tensor is built, convolved or
kept for backward. For ``groups > 1`` the coordinate channels feed every output channel (the
formula above is then the definition; concatenation cannot express it).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.conv import _ConvNd

from coordconv.grid import coord_channels, coords

__all__ = [
    "AddCoords",
    "CoordConv1d",
    "CoordConv2d",
    "CoordConv3d",
    "CoordConvTranspose1d",
    "CoordConvTranspose2d",
    "CoordConvTranspose3d",
]

_MAX_CACHED_GRIDS = 8
_SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}


def _capturing() -> bool:
    """True while tracing, compiling or exporting: build grids in-graph, skip all caches."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export()


def _grid(
    cache: dict[Any, Tensor],
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
        if len(cache) >= _MAX_CACHED_GRIDS:
            cache.clear()
        cached = cache[key] = coords(spatial, with_r=with_r, device=device, dtype=dtype)[None]
    return cached


def _check_input(layer: str, x: Tensor, rank: int, channels: int | None) -> None:
    """Raise a clear error for a non-tensor, wrong rank, non-floating dtype or channel mismatch."""
    c = "C" if channels is None else str(channels)
    expected = f"(N, {c}, {_SPATIAL_NAMES[rank]}) or unbatched ({c}, {_SPATIAL_NAMES[rank]})"
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: expected a Tensor of shape {expected}, got {type(x).__name__}")
    if x.dim() not in (rank + 1, rank + 2):
        raise ValueError(
            f"{layer}: expected a {rank + 2}D input {expected}, got shape {tuple(x.shape)} "
            f"({x.dim()}D)"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{layer}: expected a floating-point input, got dtype {x.dtype}; "
            f"convert it first, e.g. x.float()"
        )
    if channels is not None and x.shape[-rank - 1] != channels:
        raise ValueError(
            f"{layer}: expected input of shape {expected} with {channels} channels, "
            f"got shape {tuple(x.shape)} ({x.shape[-rank - 1]} channels)"
        )


class AddCoords(nn.Module):
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
        self._grid_cache: dict[Any, Tensor] = {}

    def forward(self, x: Tensor) -> Tensor:
        _check_input("AddCoords", x, self.rank, None)
        unbatched = x.dim() == self.rank + 1
        batch = x[None] if unbatched else x
        spatial = tuple(batch.shape[2:])
        grid = _grid(self._grid_cache, spatial, self.with_r, x.device, x.dtype, _capturing())
        out = torch.cat([batch, grid.expand(batch.shape[0], *grid.shape[1:])], dim=1)
        return out[0] if unbatched else out

    def extra_repr(self) -> str:
        return f"rank={self.rank}, with_r={self.with_r}"


class _CoordMap(torch.autograd.Function):
    """``conv(grid, coord_weight, bias)`` that keeps nothing for backward.

    The map is linear in ``(coord_weight, bias)`` and the grid is a constant held by the layer's
    cache, so the backward pass rebuilds the (batch-1) convolution graph instead of saving
    tensors. This is what keeps the activation memory of a CoordConv equal to the plain layer's.
    """

    @staticmethod
    def forward(
        ctx: Any, coord_weight: Tensor, bias: Tensor | None, grid: Tensor, conv: Any
    ) -> Tensor:
        ctx.grid, ctx.conv, ctx.has_bias = grid, conv, bias is not None
        ctx.weight_meta = (coord_weight.shape, coord_weight.dtype, coord_weight.device)
        return conv(grid, coord_weight, bias)

    @staticmethod
    def backward(ctx: Any, grad_map: Tensor) -> tuple[Tensor | None, ...]:
        grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            shape, dtype, device = ctx.weight_meta
            create_graph = torch.is_grad_enabled()
            with torch.enable_grad():  # the map is linear: any weight value gives the same grad
                weight = torch.zeros(shape, dtype=dtype, device=device, requires_grad=True)
                out = ctx.conv(ctx.grid, weight, None)
            (grad_weight,) = torch.autograd.grad(out, weight, grad_map, create_graph=create_graph)
        if ctx.has_bias and ctx.needs_input_grad[1]:
            grad_bias = grad_map.sum(dim=[0, *range(2, grad_map.dim())])
        return grad_weight, grad_bias, None, None


class _CoordConvBase(_ConvNd):
    """Shared machinery of every CoordConv layer: parameters, init, the coordinate map, checks.

    Rank subclasses only pick the plain ``torch.nn`` layer to inherit from, so the constructor,
    ``weight``/``bias`` shapes, ``state_dict`` keys and ``repr`` are the plain layer's, plus
    ``coord_weight`` and the options below.
    """

    coord_weight: nn.Parameter

    def __init__(
        self,
        *args: Any,
        with_r: bool = False,
        coord_kernel_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        rank = len(self.kernel_size)
        if coord_kernel_size not in (None, 1):
            raise ValueError(
                f"{type(self).__name__}: coord_kernel_size must be None (full kernel) or 1 "
                f"(centre tap, the paper's footnote 2), got {coord_kernel_size!r}"
            )
        if coord_kernel_size == 1 and any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(
                f"{type(self).__name__}: coord_kernel_size=1 needs an odd kernel (it is the "
                f"centre tap), got kernel_size={self.kernel_size}"
            )
        self.with_r = with_r
        self.coord_kernel_size = coord_kernel_size
        self.cache_coord_map = False
        d = coord_channels(rank, with_r)
        k = self.kernel_size if coord_kernel_size is None else (1,) * rank
        shape = (d, self.out_channels, *k) if self.transposed else (self.out_channels, d, *k)
        self.coord_weight = nn.Parameter(
            torch.empty(shape, device=self.weight.device, dtype=self.weight.dtype)
        )
        self._grid_cache: dict[Any, Tensor] = {}
        self._map_cache: dict[Any, Tensor] = {}
        self.reset_parameters()

    @property
    def coord_channels(self) -> int:
        """Number of coordinate channels ``d`` (rank, +1 with ``with_r``)."""
        return coord_channels(len(self.kernel_size), self.with_r)

    def reset_parameters(self) -> None:
        """Init as ``nn.ConvNd`` would for the concatenated ``(C + d)``-channel layer."""
        if not hasattr(self, "coord_weight"):  # called by the base constructor: wait for ours
            return
        receptive = math.prod(self.kernel_size)
        if self.transposed:  # torch counts fan-in of a transposed weight over dim 1
            fan_in = self.weight.shape[1] * receptive
        else:
            fan_in = (self.in_channels // self.groups + self.coord_channels) * receptive
        bound = 1 / math.sqrt(fan_in)
        with torch.no_grad():
            for p in (self.weight, self.coord_weight, self.bias):
                if p is not None:
                    nn.init.uniform_(p, -bound, bound)
        self._map_cache.clear()

    def full_coord_weight(self) -> Tensor:
        """``coord_weight`` as a full kernel (zero outside the centre tap for size 1)."""
        if self.coord_kernel_size is None:
            return self.coord_weight
        pad: list[int] = []
        for k in reversed(self.kernel_size):
            pad += [(k - 1) // 2, (k - 1) // 2]
        return F.pad(self.coord_weight, pad)

    def _conv(
        self,
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        *,
        groups: int,
        output_padding: list[int] | None = None,
    ) -> Tensor:
        """The plain layer's convolution with the given weight, bias and groups."""
        rank = len(self.kernel_size)
        fn: Any
        if self.transposed:
            fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]
            return fn(
                x, weight, bias, self.stride, self.padding, output_padding, groups, self.dilation
            )
        fn = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
        padding: Any = self.padding
        if self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            padding = 0
        return fn(x, weight, bias, self.stride, padding, self.dilation, groups)

    def coord_map(
        self,
        spatial: tuple[int, ...],
        x: Tensor,
        output_padding: list[int] | None = None,
        capturing: bool = False,
    ) -> Tensor:
        """The coordinates' contribution (bias included): ``(1, out_channels, *out_spatial)``."""
        grid = _grid(self._grid_cache, spatial, self.with_r, x.device, x.dtype, capturing)
        weight, bias = self.full_coord_weight(), self.bias
        conv = functools.partial(self._conv, groups=1, output_padding=output_padding)
        if capturing:
            return conv(grid, weight, bias)
        if self.cache_coord_map and not self.training:
            params = [p for p in (self.weight, self.coord_weight, bias) if p is not None]
            versions = [(p.data_ptr(), p._version) for p in params]
            key = (grid.shape, x.device, x.dtype, str(output_padding), *versions)
            cached = self._map_cache.get(key)
            if cached is None:
                if len(self._map_cache) >= _MAX_CACHED_GRIDS:
                    self._map_cache.clear()
                with torch.no_grad():
                    cached = self._map_cache[key] = conv(grid, weight, bias)
            return cached
        needs_grad = weight.requires_grad or (bias is not None and bias.requires_grad)
        if not (needs_grad and torch.is_grad_enabled()):
            return conv(grid, weight, bias)
        return _CoordMap.apply(weight, bias, grid, conv)

    def _coord_forward(self, input: Tensor, output_size: list[int] | None) -> Tensor:
        name = type(self).__name__
        rank = len(self.kernel_size)
        capturing = _capturing()
        _check_input(name, input, rank, self.in_channels)
        x = input[None] if input.dim() == rank + 1 else input
        if not self.transposed and not isinstance(self.padding, str) and not capturing:
            pad = self.padding
            for n, p, k, d in zip(x.shape[2:], pad, self.kernel_size, self.dilation, strict=True):
                if n + 2 * p < d * (k - 1) + 1:
                    raise ValueError(
                        f"{name}: spatial size {tuple(x.shape[2:])} plus padding {pad} is smaller "
                        f"than the (dilated) kernel {self.kernel_size}; use a larger input or "
                        f"more padding"
                    )
        output_padding = None
        if self.transposed:
            output_padding = self._output_padding(  # type: ignore[operator]
                x, output_size, self.stride, self.padding, self.kernel_size, rank, self.dilation
            )
        out = self._conv(x, self.weight, None, groups=self.groups, output_padding=output_padding)
        coord_map = self.coord_map(tuple(x.shape[2:]), x, output_padding, capturing)
        out = out + coord_map if capturing else out.add_(coord_map)  # in place: nothing saved
        return out if x is input else out[0]

    def extra_repr(self) -> str:
        s = super().extra_repr() + f", with_r={self.with_r}"
        if self.coord_kernel_size is not None:
            s += f", coord_kernel_size={self.coord_kernel_size}"
        return s


class _CoordConvNd(_CoordConvBase):
    def forward(self, input: Tensor) -> Tensor:
        return self._coord_forward(input, None)


class _CoordConvTransposeNd(_CoordConvBase):
    def forward(self, input: Tensor, output_size: list[int] | None = None) -> Tensor:
        return self._coord_forward(input, output_size)


_DOC = """{plain} with coordinate channels: ``{plain}`` applied to ``AddCoords(rank={rank})(x)``.

    Takes every argument of :class:`torch.nn.{plain}` with the same defaults, plus:

    Args:
        with_r: also feed the distance-from-centre channel (``d = {rank} + 1`` coordinate channels
            instead of ``{rank}``). Default: ``False``.
        coord_kernel_size: ``None`` for a full-size coordinate filter, or ``1`` for a centre-tap
            filter (the paper's footnote 2; odd kernels only). Default: ``None``.

    Equals the plain layer on ``cat([x, grid])`` with weight ``cat([weight, coord_weight],
    dim={cat_dim})`` (``groups=1``); for ``groups > 1`` the coordinates feed every output channel.
    The coordinate term is computed once per call at batch size 1 and added in place.

    Shape:
        As :class:`torch.nn.{plain}` (batched or unbatched input, same output-size formula).

    Attributes:
        weight, bias: exactly as in :class:`torch.nn.{plain}`.
        coord_weight: ``{coord_shape}``, ``d`` = number of coordinate channels, ``k`` the kernel
            (``1``s with ``coord_kernel_size=1``). Weights, coordinate weights and bias are drawn
            from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``fan_in`` counted as for the
            concatenated layer.
        cache_coord_map: set to ``True`` to cache the coordinate map in eval mode (frozen weights,
            inference only). Off by default.

    Example:
        >>> layer = {name}(3, 8, {ksize})
        >>> layer(torch.randn(2, 3, {example})).shape
        torch.Size([2, 8, {example}])
    """


def _doc(plain: type[_ConvNd], rank: int) -> str:
    transposed = issubclass(plain, nn.modules.conv._ConvTransposeNd)
    example = ", ".join(["5"] * rank)
    return _DOC.format(
        plain=plain.__name__,
        name="Coord" + plain.__name__,
        rank=rank,
        cat_dim=0 if transposed else 1,
        coord_shape="(d, out_channels, *k)" if transposed else "(out_channels, d, *k)",
        ksize=1 if transposed else "3, padding=1",
        example=example,
    )


class CoordConv1d(_CoordConvNd, nn.Conv1d):
    __doc__ = _doc(nn.Conv1d, 1)


class CoordConv2d(_CoordConvNd, nn.Conv2d):
    __doc__ = _doc(nn.Conv2d, 2)


class CoordConv3d(_CoordConvNd, nn.Conv3d):
    __doc__ = _doc(nn.Conv3d, 3)


class CoordConvTranspose1d(_CoordConvTransposeNd, nn.ConvTranspose1d):
    __doc__ = _doc(nn.ConvTranspose1d, 1)


class CoordConvTranspose2d(_CoordConvTransposeNd, nn.ConvTranspose2d):
    __doc__ = _doc(nn.ConvTranspose2d, 2)


class CoordConvTranspose3d(_CoordConvTransposeNd, nn.ConvTranspose3d):
    __doc__ = _doc(nn.ConvTranspose3d, 3)
