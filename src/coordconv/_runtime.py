"""What the runtime is doing around a layer call: tracing or compiling, autocast, ``torch.func``
transforms. The layers ask these to pick a path and to skip their caches."""

from __future__ import annotations

from collections.abc import Callable

import torch


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
