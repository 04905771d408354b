"""``convert()``: turn a model's convolutions into CoordConvs without changing its outputs."""

from __future__ import annotations

import copy
import fnmatch
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.utils import parametrize

from coordconv.checks import _check_plain_weight
from coordconv.layers import (
    CoordConv1d,
    CoordConv2d,
    CoordConv3d,
    CoordConvTranspose1d,
    CoordConvTranspose2d,
    CoordConvTranspose3d,
    _CoordConvBase,
)

__all__ = ["convert", "load_concat_state_dict", "load_plain_state_dict"]

Include = str | Sequence[str] | Callable[[str, nn.Module], bool] | None
_THEN = (
    "convert, then apply it again to the CoordConv's weight, which holds the coordinate "
    "filters too (so a norm covers the whole layer; a grouped transposed CoordConv keeps them "
    "in coord_weight)"
)

_TWINS: dict[type[nn.Module], Callable[..., _CoordConvBase]] = {
    nn.Conv1d: CoordConv1d,
    nn.Conv2d: CoordConv2d,
    nn.Conv3d: CoordConv3d,
    nn.ConvTranspose1d: CoordConvTranspose1d,
    nn.ConvTranspose2d: CoordConvTranspose2d,
    nn.ConvTranspose3d: CoordConvTranspose3d,
}


def _selector(include: Include) -> Callable[[str, nn.Module], bool]:
    if include is None:
        return lambda name, module: True
    if callable(include):
        return include
    patterns = [include] if isinstance(include, str) else list(include)
    return lambda name, module: any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _twin(conv: _ConvNd, with_r: bool) -> _CoordConvBase:
    """The CoordConv twin of a plain conv: same options, weights, hooks, attributes and buffers;
    zero coordinate weights."""
    kwargs: dict[str, Any] = dict(
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    if conv.transposed:
        kwargs["output_padding"] = conv.output_padding
    twin = _TWINS[type(conv)](
        conv.in_channels, conv.out_channels, conv.kernel_size, with_r=with_r, **kwargs
    )
    with torch.no_grad():
        if twin._separate_coords:
            twin._parameters["weight"] = cast(nn.Parameter, conv.weight)
            twin.coord_weight.zero_()
        else:
            twin.weight.zero_()
            twin.input_weight.copy_(conv.weight)
    twin.weight.requires_grad_(conv.weight.requires_grad)
    twin.coord_weight.requires_grad_(conv.weight.requires_grad)
    twin.bias = conv.bias
    for name, buffer in conv._buffers.items():
        twin.register_buffer(name, buffer, persistent=name not in conv._non_persistent_buffers_set)
    own = set(vars(twin))
    for name, value in vars(conv).items():
        hook = "_hooks" in name or name == "_is_full_backward_hook"  # by reference
        extra = not name.startswith("_") and name not in own  # qconfig and the like
        if hook or extra:
            setattr(twin, name, value)
    twin.train(conv.training)
    return twin


def convert(
    model: nn.Module, *, with_r: bool = False, include: Include = None, inplace: bool = False
) -> nn.Module:
    """Return a copy of ``model`` whose convolutions are CoordConvs with identical outputs.

    Every ``nn.Conv{1,2,3}d`` / ``nn.ConvTranspose{1,2,3}d`` (exact types) that ``include``
    selects becomes its CoordConv twin: same options, the original ``weight`` values (as the
    input filters of the twin's ``weight``) and ``bias``, its hooks, attributes (``qconfig``, ...)
    and buffers, and zero coordinate filters, so outputs are unchanged until training moves
    them. A conv used in several places (shared weights) gets one twin, used in all of them; it
    is converted when any of its names is selected.

    Args:
        model: any module (a conv itself, ``Sequential``, ``ModuleDict``, a ResNet, ...).
        with_r: give the new layers the radius channel too.
        include: which convs to convert: ``None`` (all), a glob or list of globs matched with
            ``fnmatch`` against the dotted module name (e.g. ``"layer1.*"``; the root is ``""``),
            or a predicate ``(name, module) -> bool``.
        inplace: swap the layers inside ``model`` itself (no copy) and return it; a conv that
            is the root cannot be swapped, so its twin is returned.

    Subclasses of the conv types are skipped with a warning (their ``forward`` may differ);
    uninitialised lazy convs, and convs whose weight a parametrization, ``weight_norm``,
    ``spectral_norm`` or pruning computes, raise ``ValueError`` naming the fix, before anything
    is copied.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 1, 1))
        >>> convert(net, include="0")[0]
        CoordConv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))
    """
    select = _selector(include)
    chosen: set[int] = set()
    warned: set[int] = set()
    found: list[tuple[str, nn.Module]] = list(model.named_modules(remove_duplicate=False))
    for name, module in found:
        if isinstance(module, LazyModuleMixin) and module.has_uninitialized_params():
            raise ValueError(
                f"convert: module {name or '<root>'} ({type(module).__name__}) has uninitialised "
                f"lazy parameters; run one forward pass to materialise them, then convert"
            )
        if not isinstance(module, _ConvNd) or type(module) in _TWINS.values():
            continue
        if parametrize.is_parametrized(module) and select(name, module):
            _check_plain_weight(f"convert: {name or '<root>'}", module, _THEN)
        if type(module) not in _TWINS:
            if id(module) not in warned:
                warned.add(id(module))
                warnings.warn(
                    f"convert: skipping {name or '<root>'}: {type(module).__name__} subclasses a "
                    f"torch conv and may override forward; convert it by hand if that is safe",
                    stacklevel=2,
                )
            continue
        if id(module) not in chosen and select(name, module):
            _check_plain_weight(f"convert: {name or '<root>'}", module, _THEN)
            chosen.add(id(module))
    # the same choice on the copy: its modules in the same order
    originals = [m for _, m in found]
    if not inplace:
        try:
            model = copy.deepcopy(model)
        except RuntimeError as err:  # e.g. a hook-based weight_norm elsewhere in the model
            raise ValueError(
                f"convert: the model cannot be copied ({err}); pass inplace=True to convert it "
                f"in place, or make its computed weights plain first"
            ) from err
    uses = list(model.named_modules(remove_duplicate=False))
    twins: dict[int, _CoordConvBase] = {}
    for original, (_, module) in zip(originals, uses, strict=True):
        if id(original) in chosen and id(module) not in twins:
            twins[id(module)] = _twin(cast(_ConvNd, module), with_r)
    if id(model) in twins:
        return twins[id(model)]
    for name, module in uses:
        if id(module) in twins and name:
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, twins[id(module)])
    return model


def load_plain_state_dict(
    model: nn.Module, state_dict: Mapping[str, Any], strict: bool = True
) -> Any:
    """Load a checkpoint of the plain model into a CoordConv model.

    Every CoordConv layer of ``model`` whose ``weight`` in ``state_dict`` has the plain layer's
    shape gets it as its input filters and zero coordinate filters, so the loaded model computes
    exactly what the plain model did; everything else is ``model.load_state_dict(state_dict,
    strict)`` (its return value). The other way in: load the checkpoint into the plain model,
    then :func:`convert` it.

    Example:
        >>> plain = nn.Sequential(nn.Conv2d(3, 4, 3))
        >>> model = nn.Sequential(CoordConv2d(3, 4, 3))
        >>> load_plain_state_dict(model, plain.state_dict())
        <All keys matched successfully>
    """
    full = dict(state_dict)
    for name, module in model.named_modules():
        if not isinstance(module, _CoordConvBase):
            continue
        prefix = f"{name}." if name else ""
        weight = full.get(prefix + "weight")
        if module._separate_coords:
            if weight is not None:  # a plain grouped transposed conv: no coordinate filters
                full.setdefault(prefix + "coord_weight", torch.zeros_like(module.coord_weight))
        elif weight is not None and tuple(weight.shape) == tuple(module.input_weight.shape):
            coords = torch.zeros_like(module.weight)
            (
                coords[: weight.shape[0]] if module.transposed else coords[:, : weight.shape[1]]
            ).copy_(weight)
            full[prefix + "weight"] = coords
    return model.load_state_dict(full, strict=strict)


def load_concat_state_dict(
    model: nn.Module,
    state_dict: Mapping[str, Any],
    *,
    inner: str = "conv",
    coord_order: str = "ij",
    strict: bool = True,
) -> Any:
    """Load a checkpoint of another CoordConv implementation: ``AddCoords`` followed by a plain
    conv over ``C + d`` channels, saved as ``<layer>.<inner>.weight`` / ``.bias``.

    Their weight is the concatenated layer's weight, the layout of this library's ``weight``, so
    the keys are renamed (``<layer>.conv.weight`` -> ``<layer>.weight``) and, with
    ``coord_order="ji"`` (their first coordinate channel runs along the width, ``x``, then
    ``y``), the two coordinate channels swapped into this library's order (``i`` = row, ``j`` =
    column; ``r`` stays last). Keys already in this library's form load as they are. The
    outputs match theirs exactly when their coordinate channels hold the same values (each axis
    from -1 to 1 over its own length, as :func:`coordconv.coords`); implementations that scale
    an axis by the other's length, or by ``n`` instead of ``n - 1``, computed something else.
    Returns ``model.load_state_dict``'s result.

    Example:
        >>> theirs = {"0.conv.weight": torch.zeros(4, 5, 3, 3), "0.conv.bias": torch.zeros(4)}
        >>> load_concat_state_dict(nn.Sequential(CoordConv2d(3, 4, 3)), theirs)
        <All keys matched successfully>
    """
    if coord_order not in ("ij", "ji"):
        raise ValueError(
            f"coord_order must be 'ij' (row, column) or 'ji' (x, y), got {coord_order!r}"
        )
    full = dict(state_dict)
    for name, module in model.named_modules():
        if not isinstance(module, _CoordConvBase):
            continue
        prefix = f"{name}." if name else ""
        for param in ("weight", "bias"):
            theirs = f"{prefix}{inner}.{param}"
            if theirs in full:
                full[prefix + param] = full.pop(theirs)
        weight = full.get(prefix + "weight")
        if weight is None or coord_order == "ij" or module._separate_coords:
            continue
        if len(module.kernel_size) != 2:
            raise ValueError(
                f"load_concat_state_dict: coord_order='ji' swaps the two coordinates of a 2-D "
                f"layer; {name or '<root>'} is {len(module.kernel_size)}-D"
            )
        dim, c = (0 if module.transposed else 1), module._input_rows
        order = list(range(weight.shape[dim]))
        order[c], order[c + 1] = c + 1, c
        index = torch.tensor(order, device=weight.device)
        full[prefix + "weight"] = weight.index_select(dim, index)
    return model.load_state_dict(full, strict=strict)
