"""The CoordConv layers (1d/2d/3d, plain and transposed).

A CoordConv is defined as the plain convolution applied to ``AddCoords(x)``; its ``weight`` is
that concatenated layer's weight, ``cat([input_weight, coord_weight])`` along the input-channel
dimension. Because convolution is linear and the coordinate channels are the same for every
sample, this equals::

    conv(x, input_weight, groups=g) + conv(grid, coord_weight, bias)   # grid: (1, d, *spatial)

The second term, the *coordinate map* ``(1, out_channels, *out_spatial)``, is computed once per
forward at batch size 1 and added to the batch: no ``(N, C + d, ...)`` tensor is built, convolved
or kept for backward; autograd keeps the input (as for the plain layer) and the ``(1, d,
*spatial)`` grid. For ``groups > 1`` the coordinate channels feed every output channel (the
formula above is then the definition; concatenation cannot express it).

Which computation runs is chosen per call and per device type (``_CoordConvBase._path``), all
with the same result:

* on CPU, a single sample (``groups=1``) with a 1x1 kernel or at most 4 input channels: the
  convolution of the concatenation itself, as one convolution is cheaper there than two (it
  keeps the concatenated input and weight for backward; batch 1 has no activation memory to
  save); on CUDA (and other accelerators), any batch below 8 with ``groups=1``;
* on CPU, pointwise layers (1x1 kernel, stride 1, no padding, ``groups=1``) on a contiguous
  input: one batched matrix product that starts from the coordinate map (``baddbmm``), several
  times faster there than the plain 1x1 convolution (slower on CUDA, so not used there);
* otherwise the convolution of ``x`` plus the map, added in place;
* while tracing, compiling or exporting: the grid built in-graph (no caches), then the
  concatenation's convolution for at most 4 input channels (``groups=1``; the compiler fuses
  the concatenation), else the sum out of place; under ``torch.func`` transforms the sum.
"""

from __future__ import annotations

from typing import Any, Literal, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.conv import _ConvNd

from coordconv._cache import _Cache, _CachingModule, _grid, _symbolic_grid
from coordconv._runtime import _autocast, _capturing, _transformed
from coordconv.checks import InputShapeError, _check_input
from coordconv.grid import coord_channels

__all__ = [
    "CoordConv1d",
    "CoordConv2d",
    "CoordConv3d",
    "CoordConvTranspose1d",
    "CoordConvTranspose2d",
    "CoordConvTranspose3d",
]

_CONCAT_MAX_CHANNELS = 4  # CPU, batch 1: convolve the concatenation up to this many in_channels
_ACCELERATOR_CONCAT_BELOW = 8  # CUDA and other accelerators: the concatenation below this batch

Size = int | tuple[int, ...]
PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


class _CoordConvBase(_CachingModule, _ConvNd):
    """Shared machinery of every CoordConv layer: parameters, init, the coordinate map, checks.

    The conv and transposed subclasses spell out the plain layer's constructor and call
    ``_init_coords``; rank subclasses only pick the plain ``torch.nn`` layer to inherit from.

    Weight layout: ``weight`` is the concatenated layer's own weight, the coordinate filters
    after the input filters along the input-channel dimension — ``(out, in/groups + d, *k)`` for
    convs, ``(in + d, out, *k)`` for transposed convs — so a tool that rescales, prunes,
    averages or observes ``weight`` per output channel treats both parts alike, and a tool that
    rebuilds a plain conv from it fails on the shape. ``input_weight`` and ``coord_weight`` are
    views of its two parts. A grouped transposed conv, whose coordinates feed every output
    channel (no concatenation can say that), keeps ``coord_weight`` as its own parameter and
    refuses a replaced ``weight``.
    """

    _version = 2  # state dicts: 1 = separate coord_weight; 2 = coordinate filters in weight

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
        factory: dict[str, Any] = dict(device=self.weight.device, dtype=self.weight.dtype)
        if self._separate_coords:
            k = self.kernel_size if coord_kernel_size is None else (1,) * rank
            shape: list[int] = [d, self.out_channels, *k]
            self._parameters["coord_weight"] = nn.Parameter(torch.empty(shape, **factory))
        else:
            shape = list(self.weight.shape)
            shape[0 if self.transposed else 1] += d
            self.weight = nn.Parameter(torch.empty(shape, **factory))
        self._grid_cache = _Cache()
        self._map_cache = _Cache()
        self._map_values = _Cache()  # per map: the coordinate weights and bias it was made from
        self._coords_ready = True
        self.reset_parameters()

    @property
    def _separate_coords(self) -> bool:
        """A grouped transposed conv: its coordinate filters cannot live inside ``weight``."""
        return bool(self.transposed and self.groups > 1)

    @property
    def _input_rows(self) -> int:
        """How many entries of weight's input-channel dimension belong to the input."""
        return self.in_channels if self.transposed else self.in_channels // self.groups

    @property
    def input_weight(self) -> Tensor:
        """The filters over the input channels, shaped as the plain layer's ``weight`` (a view)."""
        if self._separate_coords:
            return self.weight
        c = self._input_rows
        return self.weight[:c] if self.transposed else self.weight[:, :c]

    @property
    def coord_weight(self) -> Tensor:
        """The filters over the coordinate channels: ``(out, d, *k)`` for convs, ``(d, out,
        *k)`` for transposed ones; ``k`` is ``1``s with ``coord_kernel_size=1``. A view of
        ``weight`` (edit it in place, under ``torch.no_grad()``), except in grouped transposed
        convs, where it is a parameter of its own."""
        if self._separate_coords:
            value = self._parameters.get("coord_weight", self.__dict__.get("_replica_coord"))
            if value is None:
                raise AttributeError(f"{type(self).__name__} has no coord_weight now")
            return value
        c = self._input_rows
        part = self.weight[c:] if self.transposed else self.weight[:, c:]
        if self.coord_kernel_size == 1:
            part = part[(slice(None), slice(None), *self._centre)]
        return part

    @coord_weight.setter
    def coord_weight(self, value: Tensor) -> None:
        if not self._separate_coords:
            raise AttributeError(
                f"{type(self).__name__}.coord_weight is a view of weight (its last "
                f"{self.coord_channels} input channels); edit it in place, e.g. "
                f"`with torch.no_grad(): layer.coord_weight.copy_(w)`, or assign weight"
            )
        if self.__dict__.get("_is_replica"):  # DataParallel: replicas hold plain tensors
            self.__dict__["_replica_coord"] = value
        elif isinstance(value, nn.Parameter):
            self._parameters["coord_weight"] = value
        else:
            raise TypeError(f"coord_weight must be an nn.Parameter, got {type(value).__name__}")

    @property
    def _centre(self) -> tuple[slice, ...]:
        return tuple(slice(k // 2, k // 2 + 1) for k in self.kernel_size)

    def _weight_shape(self) -> tuple[int, ...]:
        """The shape ``weight`` must keep."""
        d = 0 if self._separate_coords else self.coord_channels
        if self.transposed:
            return (self.in_channels + d, self.out_channels // self.groups, *self.kernel_size)
        return (self.out_channels, self.in_channels // self.groups + d, *self.kernel_size)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "coord_weight":  # the property, not nn.Module's parameter registration
            type(self).coord_weight.__set__(self, value)  # type: ignore[attr-defined]
            return
        if name == "weight" and self.__dict__.get("_coords_ready") and isinstance(value, Tensor):
            self._check_weight(value)
        super().__setattr__(name, value)

    def _check_weight(self, value: Tensor) -> None:
        """A replaced ``weight`` keeps its shape; in grouped transposed convs, only as a
        parameter (``load_state_dict(assign=True)``) or in a DataParallel replica: a tool that
        computes a new weight alone (pruning, a fuser) would leave ``coord_weight`` behind."""
        if tuple(value.shape) != self._weight_shape():
            raise ValueError(
                f"{type(self).__name__}.weight must have shape {self._weight_shape()}, got "
                f"{tuple(value.shape)}"
                + (
                    ""
                    if self._separate_coords
                    else "; its last "
                    f"{self.coord_channels} input channels are the coordinate filters"
                )
            )
        replica = self.__dict__.get("_is_replica")
        if self._separate_coords and not replica and not isinstance(value, nn.Parameter):
            raise TypeError(
                f"{type(self).__name__} with groups > 1 keeps its coordinate filters in "
                f"coord_weight (they feed every output channel), so a weight computed alone "
                f"would leave them behind: edit weight in place (copy_) together with "
                f"coord_weight, or use coordconv.fuse_conv_bn to fold a BatchNorm"
            )

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """Version-1 state dicts (separate ``coord_weight``, before 0.2) load too: their
        coordinate filters are moved into ``weight``."""
        weight_key, coord_key = prefix + "weight", prefix + "coord_weight"
        if not self._separate_coords and coord_key in state_dict and weight_key in state_dict:
            coord = state_dict.pop(coord_key)
            if (
                self.coord_kernel_size == 1
                and coord.dim() > 2
                and tuple(coord.shape[2:]) == (1,) * (coord.dim() - 2)
            ):
                coord = F.pad(coord, self._centre_padding())
            weight = state_dict[weight_key]
            try:
                state_dict[weight_key] = torch.cat(
                    [weight, coord.to(weight)], dim=0 if self.transposed else 1
                )
            except RuntimeError as err:
                error_msgs.append(
                    f"{type(self).__name__}: cannot move the version-1 coord_weight "
                    f"{tuple(coord.shape)} into weight {tuple(weight.shape)} ({err}); was it "
                    f"saved by a layer with other options (coord_kernel_size, with_r)?"
                )
                state_dict.pop(weight_key)
                missing_keys.append(weight_key)
        weight = state_dict.get(weight_key)
        if self.coord_kernel_size == 1 and not self._separate_coords and isinstance(weight, Tensor):
            self._check_centre_taps(weight, error_msgs)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    @property
    def coord_channels(self) -> int:
        """Number of coordinate channels ``d`` (rank, +1 with ``with_r``)."""
        return coord_channels(len(self.kernel_size), self.with_r)

    def reset_parameters(self) -> None:
        """Init as ``nn.ConvNd`` would for the concatenated ``(C + d)``-channel layer: input
        filters, coordinate filters and bias from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, drawn
        in that order (so a seeded model gets the values it got before the weight layout moved);
        the coordinate filters' off-centre taps are zero with ``coord_kernel_size=1``."""
        if not self.__dict__.get("_coords_ready"):  # the base constructor: wait for ours
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
            for part in (self.input_weight, self.coord_weight):
                part.copy_(nn.init.uniform_(torch.empty_like(part), -bound, bound))
            if self.coord_kernel_size == 1 and not self._separate_coords:
                self._zero_off_centre()
            if self.bias is not None:
                nn.init.uniform_(self.bias, -bound, bound)
        self._map_cache.clear()

    def _check_centre_taps(self, weight: Tensor, error_msgs: list[str]) -> None:
        """With ``coord_kernel_size=1`` only the centre taps count: a loaded weight with
        nonzero off-centre coordinate taps was saved by a full-kernel layer."""
        if tuple(weight.shape) != self._weight_shape():
            return  # load_state_dict reports the shape
        c = self._input_rows
        part = (weight[c:] if self.transposed else weight[:, c:]).clone()
        part[(slice(None), slice(None), *self._centre)] = 0
        if bool(part.ne(0).any()):
            error_msgs.append(
                f"{type(self).__name__} has coord_kernel_size=1 (centre taps only), but the "
                f"checkpoint's coordinate filters have nonzero off-centre taps: it was saved by "
                f"a full-kernel layer; build this one with coord_kernel_size=None"
            )

    def _zero_off_centre(self) -> None:
        """Zero the coordinate filters' taps outside the centre (``coord_kernel_size=1``)."""
        c, centre = self._input_rows, self.coord_weight.clone()
        part = self.weight[c:] if self.transposed else self.weight[:, c:]
        part.zero_()
        self.coord_weight.copy_(centre)

    def _centre_padding(self) -> list[int]:
        """``F.pad`` widths that grow a centre tap to the full kernel."""
        pad: list[int] = []
        for k in reversed(self.kernel_size):
            pad += [(k - 1) // 2, (k - 1) // 2]
        return pad

    def full_coord_weight(self) -> Tensor:
        """``coord_weight`` as a full kernel (zero outside the centre tap for size 1)."""
        if self.coord_kernel_size is None:
            return self.coord_weight
        return F.pad(self.coord_weight, self._centre_padding())

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
        matrix = weight.reshape(d, o).t() if self.transposed else weight.reshape(o, d)
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
        weight = self.weight
        if self.coord_kernel_size is not None:  # only the centre taps count
            weight = torch.cat(
                [self.input_weight, self.full_coord_weight()], dim=0 if self.transposed else 1
            )
        return self._conv(torch.cat([x, grid], dim=1), weight, self.bias, 1, output_padding)

    def _path(self, batch: int, pointwise: bool, contiguous: bool, device: str) -> str:
        """Which computation runs (all give the same result): ``"concat"``, ``"matmul"`` or
        ``"sum"``. The thresholds are per device type, from the benchmarks:

        * CPU (``results-cpu.json``): one sample, one group, few input channels or a 1x1 kernel:
          one convolution of the concatenation beats two (batch 1 has no activation memory worth
          saving; a cached map does not beat it there either, once checked against the weights
          on every call); a contiguous pointwise layer: one batched matrix product from the map;
        * CUDA and other accelerators (``results-cuda.json``, H200): the concatenation was the
          faster below batch 8 in every cell, the matrix product slower than it in every
          batch-32 1x1 cell, so: the concatenation below batch 8 (one group), else the sum,
          which keeps activation memory at batch >= 8 as small as on CPU.
        """
        if self.groups != 1:
            return "sum"
        if device != "cpu":
            return "concat" if batch < _ACCELERATOR_CONCAT_BELOW else "sum"
        if batch == 1 and (pointwise or self.in_channels <= _CONCAT_MAX_CHANNELS):
            return "concat"
        return "matmul" if pointwise and contiguous else "sum"

    def _coord_forward(self, input: Tensor, output_size: list[int] | None) -> Tensor:
        rank = len(self.kernel_size)
        if isinstance(input, torch.fx.Proxy):
            return self._symbolic_forward(input, output_size)
        _check_input(type(self).__name__, input, rank, self.in_channels)
        x = input[None] if input.dim() == rank + 1 else input
        if output_size is not None and x is not input and len(output_size) == rank + 1:
            output_size = list(output_size)[1:]  # unbatched (C, *spatial), as torch accepts
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
            out = self._conv(x, self.input_weight, None, self.groups, output_padding)
            return out + self._conv(grid, self.full_coord_weight(), self.bias, 1, output_padding)
        path = self._path(x.shape[0], pointwise, x.is_contiguous(), x.device.type)
        if path == "concat":
            return self._concat_conv(x, grid.expand(x.shape[0], -1, *spatial), output_padding)
        if path == "matmul":
            n, c, o = x.shape[0], self.in_channels, self.out_channels
            weight = self.input_weight
            matrix = weight.reshape(c, o).t() if self.transposed else weight.reshape(o, c)
            coord_map = self.coord_map(grid, output_padding).flatten(2)  # (1, O, L)
            out = torch.baddbmm(coord_map, matrix.expand(n, o, c), x.flatten(2))  # (N, O, L)
            return out.view(n, o, *spatial)
        out = self._conv(x, self.input_weight, None, self.groups, output_padding)
        return out.add_(self.coord_map(grid, output_padding))  # in place: nothing saved

    def _symbolic_forward(self, x: Any, output_size: list[int] | None) -> Any:
        """Under ``torch.fx.symbolic_trace`` (batched input): the sum as graph nodes."""
        rank = len(self.kernel_size)
        # the real parameter's dtype, not a graph node's (pruned layers: weight_orig's)
        dtype = next(p for p in self._parameters.values() if p is not None).dtype
        grid = _symbolic_grid(x, rank, self.with_r, dtype)
        output_padding = None
        if self.transposed:
            output_padding = self._output_padding(  # type: ignore[operator]
                x, output_size, self.stride, self.padding, self.kernel_size, rank, self.dilation
            )
        out = self._conv(x, self.input_weight, None, self.groups, output_padding)
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

    Equals the plain layer on ``cat([x, grid])`` with this layer's ``weight`` (``groups=1``); for
    ``groups > 1`` the coordinates feed every output channel. The coordinate term is computed
    once per call at batch size 1 and added to the batch.

    Shape:
        As :class:`torch.nn.{plain}` (batched or unbatched input, same output-size formula).

    Attributes:
        weight: the concatenated layer's, ``{weight_shape}``: the input filters, then the
            coordinate filters (``d`` = number of coordinate channels). Tools that rescale,
            prune or observe ``weight`` per output channel treat both alike.
        input_weight: view of the input filters, :class:`torch.nn.{plain}`'s weight shape.
        coord_weight: view of the coordinate filters, ``{coord_shape}``, ``k`` the kernel
            (``1``s with ``coord_kernel_size=1``, the centre tap). Weights and bias are drawn
            from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``fan_in`` counted as for the
            concatenated layer.{grouped}
        bias: as in :class:`torch.nn.{plain}`.
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
        weight_shape="(in_channels + d, out_channels, *k)"
        if transposed
        else "(out_channels, in_channels/groups + d, *k)",
        coord_shape="(d, out_channels, *k)" if transposed else "(out_channels, d, *k)",
        grouped=(
            " With ``groups > 1`` the weight keeps the plain layer's shape and"
            "\n            ``coord_weight`` is a parameter of its own (the coordinates feed every"
            "\n            output channel)."
            if transposed
            else ""
        ),
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
