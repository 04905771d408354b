"""``AddCoords`` and the CoordConv layers (1d/2d/3d, plain and transposed).

A CoordConv is defined as the plain convolution applied to ``AddCoords(x)`` with weights
``cat([weight, coord_weight])`` along the input-channel dimension. Because convolution is linear
and the coordinate channels are the same for every sample, this equals::

    conv(x, weight, groups=g) + conv(grid, coord_weight, bias)   # grid: (1, d, *spatial)

The second term, the *coordinate map* ``(1, out_channels, *out_spatial)``, is computed once per
forward at batch size 1 and added to the batch: no ``(N, C + d, ...)`` tensor is built, convolved
or kept for backward; autograd keeps the input (as for the plain layer) and the ``(1, d,
*spatial)`` grid. For ``groups > 1`` the coordinate channels feed every output channel (the
formula above is then the definition; concatenation cannot express it).

Which computation runs is chosen per call, all with the same result:

* a single sample (``groups=1``) with a 1x1 kernel or at most 4 input channels: the
  convolution of the concatenation itself, as one convolution is cheaper there than two (it
  keeps the concatenated input and weight for backward; batch 1 has no activation memory to
  save);
* pointwise layers (1x1 kernel, stride 1, no padding, ``groups=1``) on a contiguous input: one
  batched matrix product that starts from the coordinate map (``baddbmm``), several times
  faster on CPU than the plain 1x1 convolution;
* otherwise the convolution of ``x`` plus the map, added in place;
* while tracing, compiling or exporting: the grid built in-graph (no caches), then the
  concatenation's convolution for at most 4 input channels (``groups=1``; the compiler fuses
  the concatenation), else the sum out of place; under ``torch.func`` transforms the sum.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Literal, cast

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
    "InputDtypeError",
    "InputShapeError",
]

_MAX_CACHED = 8  # entries per cache: input sizes (grids) or weight versions (maps)
_CONCAT_MAX_CHANNELS = 4  # at batch 1, convolve the concatenation up to this many in_channels
_SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}

Size = int | tuple[int, ...]
PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


def _is_compiling() -> bool:
    check: Callable[[], bool] | None = getattr(torch.compiler, "is_compiling", None)
    if check is None:  # torch < 2.3 has it only in dynamo
        from torch._dynamo import is_compiling

        check = is_compiling
    return bool(check())


def _capturing() -> bool:
    """True while tracing, compiling or exporting: build grids in-graph, skip all caches."""
    return torch.jit.is_tracing() or _is_compiling() or torch.onnx.is_in_onnx_export()


def _autocast(device: torch.device) -> torch.dtype | None:
    """The dtype autocast computes in on ``device`` now, or None when autocast is off there."""
    kind = device.type
    try:
        enabled = torch.is_autocast_enabled(kind)
    except TypeError:  # torch < 2.4: no device argument
        enabled = torch.is_autocast_cpu_enabled() if kind == "cpu" else torch.is_autocast_enabled()
    if not enabled:
        return None
    get_dtype = getattr(torch, "get_autocast_dtype", None)
    if get_dtype is not None:
        return get_dtype(kind)
    return torch.get_autocast_cpu_dtype() if kind == "cpu" else torch.get_autocast_gpu_dtype()


def _transformed() -> bool:
    """True inside a ``torch.func`` transform (grad, vmap, jacrev, ...): compute out of place."""
    peek = getattr(torch._C._functorch, "peek_interpreter_stack", None)
    return peek is not None and peek() is not None


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


class InputShapeError(ValueError, RuntimeError):
    """A wrong rank, channel count or too small an input. Also a ``RuntimeError``: that is what
    the plain ``torch.nn`` layer raises for the same input, so code that catches it still works."""


class InputDtypeError(TypeError, RuntimeError):
    """A non-floating input (also a ``RuntimeError``, as from the plain layer)."""


def _check_input(layer: str, x: Tensor, rank: int, channels: int | None) -> None:
    """Raise a clear error for a non-tensor, wrong rank, non-floating dtype or channel mismatch."""
    if (
        isinstance(x, Tensor)
        and x.dim() - rank in (1, 2)
        and x.is_floating_point()
        and (channels is None or x.shape[-rank - 1] == channels)
    ):
        return
    c = "C" if channels is None else str(channels)
    expected = f"(N, {c}, {_SPATIAL_NAMES[rank]}) or unbatched ({c}, {_SPATIAL_NAMES[rank]})"
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: expected a Tensor of shape {expected}, got {type(x).__name__}")
    if x.dim() not in (rank + 1, rank + 2):
        raise InputShapeError(
            f"{layer}: expected a {rank + 2}D input {expected}, got shape {tuple(x.shape)} "
            f"({x.dim()}D)"
        )
    if not x.is_floating_point():
        raise InputDtypeError(
            f"{layer}: expected a floating-point input, got dtype {x.dtype}; "
            f"convert it first, e.g. x.float()"
        )
    raise InputShapeError(
        f"{layer}: expected input of shape {expected} with {channels} channels, "
        f"got shape {tuple(x.shape)} ({x.shape[-rank - 1]} channels)"
    )


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


class _CoordConvBase(_CachingModule, _ConvNd):
    """Shared machinery of every CoordConv layer: parameters, init, the coordinate map, checks.

    The conv and transposed subclasses spell out the plain layer's constructor and call
    ``_init_coords``; rank subclasses only pick the plain ``torch.nn`` layer to inherit from, so
    ``weight``/``bias`` shapes, ``state_dict`` keys and ``repr`` are the plain layer's, plus
    ``coord_weight`` and the options below.
    """

    coord_weight: nn.Parameter

    def _init_coords(self, with_r: bool, coord_kernel_size: int | None) -> None:
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
        self._grid_cache = _Cache()
        self._map_cache = _Cache()
        self._map_values = _Cache()  # per map: the coordinate weights and bias it was made from
        self.reset_parameters()

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("weight", "bias") and "coord_weight" in self._parameters:
            caller = sys._getframe(1)
            if caller.f_code.co_name == "fuse_conv_bn_eval" and caller.f_globals.get(
                "__name__", ""
            ).startswith("torch."):
                raise TypeError(
                    f"{type(self).__name__}: torch's fuse_conv_bn_eval rescales weight and bias "
                    f"but not coord_weight, which would give wrong outputs; use "
                    f"coordconv.fuse_conv_bn(conv, bn) instead"
                )
        super().__setattr__(name, value)

    @property
    def coord_channels(self) -> int:
        """Number of coordinate channels ``d`` (rank, +1 with ``with_r``)."""
        return coord_channels(len(self.kernel_size), self.with_r)

    def reset_parameters(self) -> None:
        """Init as ``nn.ConvNd`` would for the concatenated ``(C + d)``-channel layer."""
        if not hasattr(self, "coord_weight"):  # called by the base constructor: wait for ours
            return
        receptive = 1
        for k in self.kernel_size:
            receptive *= k
        if self.transposed:  # torch counts fan-in of a transposed weight over dim 1
            fan_in = self.weight.shape[1] * receptive
        else:
            fan_in = (self.in_channels // self.groups + self.coord_channels) * receptive
        bound = fan_in**-0.5
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
        groups: int,
        output_padding: list[int] | None,
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

    def coord_map(self, grid: Tensor, output_padding: list[int] | None = None) -> Tensor:
        """The coordinates' contribution, bias included: ``(1, out_channels, *out_spatial)``.

        ``grid`` is the ``(1, d, *spatial)`` grid of the input's spatial size. With
        ``cache_coord_map`` set, in eval mode and when no gradient is needed, the map is cached
        per grid size, dtype and autocast state, and reused only while the coordinate weights and
        bias hold the values it was computed from (compared exactly, so edits through ``.data``
        are seen too).
        """
        if not (self.cache_coord_map and not self.training) or _transformed():
            return self._compute_coord_map(grid, output_padding)
        params = [p for p in (self.coord_weight, self.bias) if p is not None]
        if torch.is_grad_enabled() and any(p.requires_grad for p in params):
            return self._compute_coord_map(grid, output_padding)
        key = (grid.shape, grid.device, grid.dtype, str(output_padding), _autocast(grid.device))
        # the values the map was computed from, compared exactly on every call: an in-place edit
        # through `.data` (EMA, weight surgery) bumps no version counter, so versions cannot tell
        with torch.no_grad(), torch.inference_mode(False):
            values = torch.cat([p.detach().flatten() for p in params])
            cached, seen = self._map_cache.get(key), self._map_values.get(key)
            if cached is None or seen is None or not torch.equal(seen, values):
                self._map_values.put(key, values)  # torch.cat made a new tensor
                cached = self._map_cache.put(key, self._compute_coord_map(grid, output_padding))
        return cached

    def _compute_coord_map(self, grid: Tensor, output_padding: list[int] | None) -> Tensor:
        weight, bias = self.full_coord_weight(), self.bias
        if not self._pointwise(output_padding):
            return self._conv(grid, weight, bias, 1, output_padding)
        d, o = grid.shape[1], self.out_channels
        matrix = weight.view(d, o).t() if self.transposed else weight.view(o, d)
        flat = grid.view(d, -1)  # (d, L)
        coord_map = matrix @ flat if bias is None else torch.addmm(bias[:, None], matrix, flat)
        return coord_map.view(1, o, *grid.shape[2:])

    def _pointwise(self, output_padding: list[int] | None) -> bool:
        """A 1x1 kernel with stride 1, no padding and one group: a matrix product per sample."""
        rank = len(self.kernel_size)
        ones, zeros = (1,) * rank, (0,) * rank
        return (
            self.groups == 1
            and self.kernel_size == ones
            and self.stride == ones
            and (self.padding in ("valid", "same") or tuple(self.padding) == zeros)
            and (output_padding is None or tuple(output_padding) == zeros)
        )

    def _concat_conv(self, x: Tensor, grid: Tensor, output_padding: list[int] | None) -> Tensor:
        """The definition itself: the plain convolution of ``cat([x, grid])``, ``groups=1``."""
        weight = torch.cat([self.weight, self.full_coord_weight()], dim=0 if self.transposed else 1)
        return self._conv(torch.cat([x, grid], dim=1), weight, self.bias, 1, output_padding)

    def _concat_path(self, batch: int, pointwise: bool) -> bool:
        """One sample, one group, few input channels or a 1x1 kernel: there one convolution of
        the concatenation beats two (batch 1 has no activation memory worth saving). A cached
        map is cheaper still, except for one input channel: the CPU's 1-channel convolution is
        slower than the concatenation's 3-channel one."""
        map_cached = self.cache_coord_map and not self.training and self.in_channels > 1
        return (
            batch == 1
            and self.groups == 1
            and (pointwise or self.in_channels <= _CONCAT_MAX_CHANNELS)
            and not map_cached
        )

    def _coord_forward(self, input: Tensor, output_size: list[int] | None) -> Tensor:
        rank = len(self.kernel_size)
        if isinstance(input, torch.fx.Proxy):
            return self._symbolic_forward(input, output_size)
        _check_input(type(self).__name__, input, rank, self.in_channels)
        x = input[None] if input.dim() == rank + 1 else input
        capturing = _capturing()
        if capturing:
            out = self._batched_forward(x, output_size, capturing)
        else:
            try:
                out = self._batched_forward(x, output_size, capturing)
            except RuntimeError:
                self._check_size(x)  # a clearer message when the input is too small
                raise
        return out if x is input else out[0]

    def _batched_forward(self, x: Tensor, output_size: list[int] | None, capturing: bool) -> Tensor:
        """``(N, C, *spatial)`` -> ``(N, out_channels, *out_spatial)`` by the cheapest path."""
        output_padding = None
        if self.transposed:
            rank = len(self.kernel_size)
            output_padding = self._output_padding(  # type: ignore[operator]
                x, output_size, self.stride, self.padding, self.kernel_size, rank, self.dilation
            )
        spatial = tuple(x.shape[2:])
        grid = _grid(self._grid_cache, spatial, self.with_r, x.device, x.dtype, capturing)
        pointwise = self._pointwise(output_padding)
        if capturing and self.groups == 1 and self.in_channels <= _CONCAT_MAX_CHANNELS:
            return self._concat_conv(x, grid.expand(x.shape[0], -1, *spatial), output_padding)
        if capturing or _transformed():
            out = self._conv(x, self.weight, None, self.groups, output_padding)
            return out + self._conv(grid, self.full_coord_weight(), self.bias, 1, output_padding)
        if self._concat_path(x.shape[0], pointwise):
            return self._concat_conv(x, grid, output_padding)
        if pointwise and x.is_contiguous():
            n, c, o = x.shape[0], self.in_channels, self.out_channels
            matrix = self.weight.view(c, o).t() if self.transposed else self.weight.view(o, c)
            coord_map = self.coord_map(grid, output_padding).flatten(2)  # (1, O, L)
            out = torch.baddbmm(coord_map, matrix.expand(n, o, c), x.flatten(2))  # (N, O, L)
            return out.view(n, o, *spatial)
        out = self._conv(x, self.weight, None, self.groups, output_padding)
        return out.add_(self.coord_map(grid, output_padding))  # in place: nothing saved

    def _symbolic_forward(self, x: Any, output_size: list[int] | None) -> Any:
        """Under ``torch.fx.symbolic_trace`` (batched input): the sum as graph nodes."""
        rank = len(self.kernel_size)
        dtype = cast(Tensor, self._parameters["weight"]).dtype  # the real one, not a graph node
        grid = _symbolic_grid(x, rank, self.with_r, dtype)
        output_padding = None
        if self.transposed:
            output_padding = self._output_padding(  # type: ignore[operator]
                x, output_size, self.stride, self.padding, self.kernel_size, rank, self.dilation
            )
        out = self._conv(x, self.weight, None, self.groups, output_padding)
        return out + self._conv(grid, self.full_coord_weight(), self.bias, 1, output_padding)

    def _check_size(self, x: Tensor) -> None:
        """A clear error when the (padded) input is smaller than the dilated kernel."""
        if self.transposed or isinstance(self.padding, str):
            return
        pad = cast(tuple[int, ...], self.padding)
        for n, p, k, d in zip(x.shape[2:], pad, self.kernel_size, self.dilation, strict=True):
            if n + 2 * p < d * (k - 1) + 1:
                raise InputShapeError(
                    f"{type(self).__name__}: spatial size {tuple(x.shape[2:])} plus padding {pad} "
                    f"is smaller than the (dilated) kernel {self.kernel_size}; use a larger input "
                    f"or more padding"
                )

    def extra_repr(self) -> str:
        s = super().extra_repr() + (", with_r=True" if self.with_r else "")
        if self.coord_kernel_size is not None:
            s += f", coord_kernel_size={self.coord_kernel_size}"
        return s


class _CoordConvNd(_CoordConvBase):
    """Convolutions: ``torch.nn.ConvNd``'s constructor (same names, order and defaults)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size,
        stride: Size = 1,
        padding: str | Size = 0,
        dilation: Size = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: PaddingMode = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        with_r: bool = False,
        coord_kernel_size: int | None = None,
    ) -> None:
        cast(Any, super()).__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )
        self._init_coords(with_r, coord_kernel_size)

    def forward(self, input: Tensor) -> Tensor:
        return self._coord_forward(input, None)


class _CoordConvTransposeNd(_CoordConvBase):
    """Transposed convolutions: ``torch.nn.ConvTransposeNd``'s constructor and ``output_size``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size,
        stride: Size = 1,
        padding: Size = 0,
        output_padding: Size = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Size = 1,
        padding_mode: PaddingMode = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        with_r: bool = False,
        coord_kernel_size: int | None = None,
    ) -> None:
        cast(Any, super()).__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            output_padding,
            groups,
            bias,
            dilation,
            padding_mode,
            device,
            dtype,
        )
        self._init_coords(with_r, coord_kernel_size)

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
    The coordinate term is computed once per call at batch size 1 and added to the batch.

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
