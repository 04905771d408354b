"""``convert()``: turn a model's convolutions into CoordConvs without changing its outputs."""

from __future__ import annotations

import copy
import fnmatch
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.lazy import LazyModuleMixin

from coordconv.layers import (
    CoordConv1d,
    CoordConv2d,
    CoordConv3d,
    CoordConvTranspose1d,
    CoordConvTranspose2d,
    CoordConvTranspose3d,
    _CoordConvBase,
)

__all__ = ["convert", "load_plain_state_dict"]

Include = str | Sequence[str] | Callable[[str, nn.Module], bool] | None

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
    """The CoordConv twin of a plain conv: same options, weights and hooks; zero coordinate weights."""
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
        twin.coord_weight.zero_()
    twin.coord_weight.requires_grad_(conv.weight.requires_grad)
    twin.weight = conv.weight
    twin.bias = conv.bias
    for name, value in vars(conv).items():  # forward/backward/state-dict hooks, by reference
        if "_hooks" in name or name == "_is_full_backward_hook":
            setattr(twin, name, value)
    twin.train(conv.training)
    return twin


def convert(model: nn.Module, *, with_r: bool = False, include: Include = None) -> nn.Module:
    """Return a copy of ``model`` whose convolutions are CoordConvs with identical outputs.

    Every ``nn.Conv{1,2,3}d`` / ``nn.ConvTranspose{1,2,3}d`` (exact types) that ``include``
    selects becomes its CoordConv twin: same options, the original ``weight`` and ``bias`` (copied
    with the model), its hooks, and ``coord_weight`` set to zero, so outputs are unchanged until
    training moves the coordinate weights. The input model is not modified. A conv used in
    several places (shared weights) gets one twin, used in all of them; it is converted when any
    of its names is selected.

    Args:
        model: any module (a conv itself, ``Sequential``, ``ModuleDict``, a ResNet, ...).
        with_r: give the new layers the radius channel too.
        include: which convs to convert: ``None`` (all), a glob or list of globs matched with
            ``fnmatch`` against the dotted module name (e.g. ``"layer1.*"``; the root is ``""``),
            or a predicate ``(name, module) -> bool``.

    Subclasses of the conv types are skipped with a warning (their ``forward`` may differ);
    uninitialised lazy convs raise ``ValueError``.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 1, 1))
        >>> convert(net, include="0")[0]
        CoordConv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))
    """
    select = _selector(include)
    model = copy.deepcopy(model)
    uses: list[tuple[str, nn.Module]] = list(model.named_modules(remove_duplicate=False))
    twins: dict[int, _CoordConvBase] = {}
    warned: set[int] = set()
    for name, module in uses:
        if isinstance(module, LazyModuleMixin) and module.has_uninitialized_params():
            raise ValueError(
                f"convert: module {name or '<root>'} ({type(module).__name__}) has uninitialised "
                f"lazy parameters; run one forward pass to materialise them, then convert"
            )
        if not isinstance(module, _ConvNd) or type(module) in _TWINS.values():
            continue
        if type(module) not in _TWINS:
            if id(module) not in warned:
                warned.add(id(module))
                warnings.warn(
                    f"convert: skipping {name or '<root>'}: {type(module).__name__} subclasses a "
                    f"torch conv and may override forward; convert it by hand if that is safe",
                    stacklevel=2,
                )
            continue
        if id(module) not in twins and select(name, module):
            twins[id(module)] = _twin(module, with_r)
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
    """Load a checkpoint of the plain model (no ``coord_weight`` keys) into a CoordConv model.

    Every CoordConv layer of ``model`` whose ``coord_weight`` is absent from ``state_dict``
    gets zero coordinate weights, so the loaded model computes exactly what the plain model
    did; everything else is ``model.load_state_dict(state_dict, strict)`` (its return value).
    The other way in: load the checkpoint into the plain model, then :func:`convert` it.

    Example:
        >>> plain = nn.Sequential(nn.Conv2d(3, 4, 3))
        >>> model = nn.Sequential(CoordConv2d(3, 4, 3))
        >>> load_plain_state_dict(model, plain.state_dict())
        <All keys matched successfully>
    """
    full = dict(state_dict)
    for name, module in model.named_modules():
        if isinstance(module, _CoordConvBase):
            key = f"{name}.coord_weight" if name else "coord_weight"
            if key not in full:
                full[key] = torch.zeros_like(module.coord_weight)
    return model.load_state_dict(full, strict=strict)
