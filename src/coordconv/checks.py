"""Input checks shared by the layers, and the errors they raise: clear messages naming the
expected shape, of types that are also what the plain ``torch.nn`` layer raises."""

from __future__ import annotations

from typing import Any, cast

from torch import Tensor, nn
from torch.nn.utils import parametrize, prune
from torch.nn.utils.spectral_norm import SpectralNorm
from torch.nn.utils.weight_norm import WeightNorm

__all__ = ["InputDtypeError", "InputShapeError"]

_SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}


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


_PLAIN_AGAIN = {
    WeightNorm: "torch.nn.utils.remove_weight_norm(conv)",
    SpectralNorm: "torch.nn.utils.remove_spectral_norm(conv)",
    prune.BasePruningMethod: "torch.nn.utils.prune.remove(conv, 'weight')",
}


def _check_plain_weight(label: str, conv: nn.Module, then: str) -> None:
    """A clear error for a conv whose ``weight`` a parametrization or a hook computes (a tool
    that rewrites ``weight`` would have its work thrown away): make it plain first, ``then``."""
    name = f"{label} ({type(conv).__name__})"
    if parametrize.is_parametrized(conv):
        tensors = ", ".join(sorted(cast(Any, conv).parametrizations.keys()))
        raise ValueError(
            f"{name} has parametrizations on {tensors} (weight_norm, spectral_norm, ...); "
            f"remove them first (torch.nn.utils.parametrize.remove_parametrizations(conv, "
            f"'weight')), {then}"
        )
    for hook in conv._forward_pre_hooks.values():
        for kind, fix in _PLAIN_AGAIN.items():
            if isinstance(hook, kind):
                raise ValueError(
                    f"{name} computes its weight in a {type(hook).__name__} hook; make the "
                    f"weight plain first ({fix}), {then}"
                )
