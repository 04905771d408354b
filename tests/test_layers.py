"""CoordConv layers equal the concat reference (plain layer on AddCoords(x)), gradients included."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import coordconv as cc

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "layer_overhead.py"

PLAIN = {
    (False, 1): nn.Conv1d,
    (False, 2): nn.Conv2d,
    (False, 3): nn.Conv3d,
    (True, 1): nn.ConvTranspose1d,
    (True, 2): nn.ConvTranspose2d,
    (True, 3): nn.ConvTranspose3d,
}
COORD = {
    (False, 1): cc.CoordConv1d,
    (False, 2): cc.CoordConv2d,
    (False, 3): cc.CoordConv3d,
    (True, 1): cc.CoordConvTranspose1d,
    (True, 2): cc.CoordConvTranspose2d,
    (True, 3): cc.CoordConvTranspose3d,
}


def reference(layer: Any, x: torch.Tensor, output_size: Any = None) -> torch.Tensor:
    """The definition, built from plain torch layers: concat for groups=1, else a sum."""
    rank, transposed = len(layer.kernel_size), layer.transposed
    d = cc.coord_channels(rank, layer.with_r)
    coord_weight = layer.full_coord_weight()
    kw: dict[str, Any] = dict(
        kernel_size=layer.kernel_size,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        padding_mode=layer.padding_mode,
        dtype=x.dtype,
        device=x.device,
    )
    if transposed:
        kw["output_padding"] = layer.output_padding
    call = {"output_size": output_size} if transposed else {}
    with_coords = cc.AddCoords(rank, with_r=layer.with_r)(x)
    cat_dim = 0 if transposed else 1
    if layer.groups == 1:
        plain = PLAIN[transposed, rank](layer.in_channels + d, layer.out_channels, bias=False, **kw)
        weight = torch.cat([layer.input_weight, coord_weight], dim=cat_dim)
        out = torch.func.functional_call(plain, {"weight": weight}, (with_coords,), call)
    else:
        grouped = PLAIN[transposed, rank](
            layer.in_channels, layer.out_channels, groups=layer.groups, bias=False, **kw
        )
        coord = PLAIN[transposed, rank](d, layer.out_channels, bias=False, **kw)
        grid = with_coords[:, layer.in_channels :]
        out = torch.func.functional_call(grouped, {"weight": layer.input_weight}, (x,), call)
        out = out + torch.func.functional_call(coord, {"weight": coord_weight}, (grid,), call)
    if layer.bias is not None:
        out = out + layer.bias.view(-1, *[1] * rank)
    return out


def coord_grad(layer: Any) -> torch.Tensor | None:
    """The gradient of the coordinate filters (a slice of weight's, or their own parameter's)."""
    if layer._separate_coords:
        return layer.coord_weight.grad
    if layer.weight.grad is None:
        return None
    c = layer._input_rows
    return layer.weight.grad[c:] if layer.transposed else layer.weight.grad[:, c:]


@st.composite
def layer_configs(draw: st.DrawFn) -> dict[str, Any]:
    rank = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    kernel = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 2))
    dilation = draw(st.integers(1, 2))
    cfg: dict[str, Any] = dict(
        rank=rank,
        transposed=transposed,
        in_channels=groups * draw(st.integers(1, 2)),
        out_channels=groups * draw(st.integers(1, 2)),
        kernel_size=kernel,
        stride=stride,
        dilation=dilation,
        groups=groups,
        bias=draw(st.booleans()),
        with_r=draw(st.booleans()),
        coord_kernel_size=draw(st.sampled_from([None, 1])) if kernel % 2 else None,
        batch=draw(st.integers(1, 3)),
    )
    if transposed:
        cfg["padding"] = draw(st.integers(0, kernel - 1))
        cfg["output_padding"] = draw(st.integers(0, max(stride, dilation) - 1))
        cfg["padding_mode"] = "zeros"
    else:
        if stride == 1 and draw(st.booleans()):
            cfg["padding"] = draw(st.sampled_from(["same", "valid"]))
        else:
            cfg["padding"] = draw(st.integers(0, 2))
        cfg["padding_mode"] = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    reach = dilation * (kernel - 1) + 1
    pad = {"same": reach, "valid": 0}.get(cfg["padding"], cfg["padding"])
    low = 1 if transposed else max(1, reach - 2 * pad)
    if cfg["padding_mode"] != "zeros":
        low = max(low, pad + 1)  # reflect/circular padding must be smaller than the input
    cfg["spatial"] = tuple(draw(st.integers(low, low + 3)) for _ in range(rank))
    return cfg


def build(cfg: dict[str, Any], dtype: torch.dtype = torch.float64, device: str = "cpu") -> Any:
    kw = {
        k: cfg[k]
        for k in (
            "stride",
            "padding",
            "dilation",
            "groups",
            "bias",
            "padding_mode",
            "with_r",
            "coord_kernel_size",
        )
    }
    if cfg["transposed"]:
        kw["output_padding"] = cfg["output_padding"]
    cls = COORD[cfg["transposed"], cfg["rank"]]
    return cls(
        cfg["in_channels"],
        cfg["out_channels"],
        cfg["kernel_size"],
        dtype=dtype,
        device=device,
        **kw,
    )


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
@settings(max_examples=150, deadline=None)
@given(cfg=layer_configs())
def test_equals_reference_with_gradients(cfg: dict[str, Any], device: str) -> None:
    torch.manual_seed(0)
    layer = build(cfg, device=device)
    x = torch.randn(
        cfg["batch"], cfg["in_channels"], *cfg["spatial"], dtype=torch.float64, device=device
    )
    x.requires_grad_()
    try:
        want = reference(layer, x)
    except RuntimeError:
        assume(False)  # the plain layer rejects this combination too
    got = layer(x)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    upstream = torch.randn_like(want)
    params = [x, *layer.parameters()]  # weight (coordinate filters inside), bias
    torch.testing.assert_close(
        torch.autograd.grad(got, params, upstream),
        torch.autograd.grad(want, params, upstream),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.parametrize("transposed", [False, True])
def test_coord_kernel_size_one_equals_full_kernel_zero_outside_centre(transposed: bool) -> None:
    torch.manual_seed(0)
    small = COORD[transposed, 2](3, 4, 3, coord_kernel_size=1, padding=1, dtype=torch.float64)
    full = COORD[transposed, 2](3, 4, 3, padding=1, dtype=torch.float64)
    assert small.coord_weight.shape[2:] == (1, 1)
    with torch.no_grad():
        full.weight.copy_(small.weight)
        full.bias.copy_(small.bias)
        full.coord_weight.zero_()
        full.coord_weight[:, :, 1:2, 1:2] = small.coord_weight
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(small(x), full(x))


def test_groups_feed_coordinates_to_every_output_channel() -> None:
    layer = cc.CoordConv2d(4, 4, 3, groups=4, padding=1, bias=False)
    assert layer.coord_weight.shape == (4, 2, 3, 3)
    with torch.no_grad():
        layer.input_weight.zero_()
    out = layer(torch.zeros(1, 4, 8, 8))
    assert all(out[0, c].abs().sum() > 0 for c in range(4))


def test_parameter_shapes_and_init_bounds() -> None:
    conv = cc.CoordConv2d(6, 8, (3, 5), groups=2, with_r=True)
    assert conv.weight.shape == (8, 3 + 3, 3, 5)  # the concatenated layer's weight
    assert conv.input_weight.shape == (8, 3, 3, 5) and conv.coord_weight.shape == (8, 3, 3, 5)
    assert [name for name, _ in conv.named_parameters()] == ["weight", "bias"]
    bound = 1 / math.sqrt((3 + 3) * 15)
    for p in (conv.weight, conv.bias):
        assert p.abs().max() <= bound
    tconv = cc.CoordConvTranspose3d(5, 4, 2)
    assert tconv.weight.shape == (5 + 3, 4, 2, 2, 2) and tconv.coord_weight.shape == (3, 4, 2, 2, 2)
    assert tconv.input_weight.shape == (5, 4, 2, 2, 2)
    # grouped transposed: the coordinates feed every output channel, a parameter of their own
    grouped = cc.CoordConvTranspose2d(4, 6, 3, groups=2)
    assert grouped.weight.shape == (4, 3, 3, 3) and grouped.coord_weight.shape == (2, 6, 3, 3)
    assert [name for name, _ in grouped.named_parameters()] == ["weight", "bias", "coord_weight"]
    centre = cc.CoordConv2d(3, 4, 3, coord_kernel_size=1)
    assert centre.weight.shape == (4, 5, 3, 3) and centre.coord_weight.shape == (4, 2, 1, 1)
    off_centre = centre.weight[:, 3:].clone()
    off_centre[:, :, 1, 1] = 0
    assert not off_centre.any()


def test_drop_in_for_the_plain_layer_inputs() -> None:
    conv = cc.CoordConv2d(3, 5, 3, padding=1)
    assert conv(torch.randn(3, 7, 9)).shape == (5, 7, 9)  # unbatched
    assert conv(torch.randn(2, 3, 1, 1)).shape == (2, 5, 1, 1)  # smaller than the kernel, padded
    same = cc.CoordConv1d(2, 2, 4, padding="same", dilation=2)
    assert same(torch.randn(1, 2, 10)).shape == (1, 2, 10)
    up = cc.CoordConvTranspose2d(3, 2, 3, stride=2)
    assert up(torch.randn(4, 3, 1, 1)).shape == (4, 2, 3, 3)
    assert up(torch.randn(1, 3, 5, 7), output_size=[12, 16]).shape == (1, 2, 12, 16)
    assert isinstance(conv, nn.Conv2d)


def test_bad_input_messages() -> None:
    conv = cc.CoordConv2d(3, 5, 3)
    with pytest.raises(ValueError, match=r"CoordConv2d: expected a 4D input .*got shape \(2, 3\)"):
        conv(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"with 3 channels, got shape \(1, 4, 8, 8\) \(4 channels"):
        conv(torch.zeros(1, 4, 8, 8))
    with pytest.raises(TypeError, match=r"floating-point input, got dtype torch\.int64"):
        conv(torch.zeros(1, 3, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"spatial size \(2, 8\) plus padding \(0, 0\) is smaller"):
        conv(torch.zeros(1, 3, 2, 8))
    with pytest.raises(ValueError, match="coord_kernel_size must be None"):
        cc.CoordConv2d(3, 5, 3, coord_kernel_size=3)
    with pytest.raises(ValueError, match="needs an odd kernel"):
        cc.CoordConv2d(3, 5, 2, coord_kernel_size=1)


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(2, 3),  # wrong rank
        torch.zeros(1, 4, 8, 8),  # wrong channel count
        torch.zeros(1, 3, 8, 8, dtype=torch.long),  # not floating
        torch.zeros(1, 3, 2, 8),  # smaller than the kernel
    ],
)
def test_bad_input_is_a_runtime_error_as_from_the_plain_layer(bad: torch.Tensor) -> None:
    """Code written for nn.Conv2d (``except RuntimeError``) still catches our clear errors."""
    with pytest.raises(RuntimeError):
        nn.Conv2d(3, 5, 3)(bad)
    with pytest.raises(RuntimeError) as caught:
        cc.CoordConv2d(3, 5, 3)(bad)
    assert isinstance(caught.value, (cc.InputShapeError, cc.InputDtypeError))


def test_extra_repr_shows_options_and_only_non_defaults() -> None:
    text = repr(cc.CoordConv2d(3, 5, 3, with_r=True, coord_kernel_size=1))
    assert "with_r=True" in text and "coord_kernel_size=1" in text
    plain = repr(cc.CoordConv2d(3, 5, 3))
    assert "with_r" not in plain and "coord_kernel_size" not in plain
    assert repr(cc.AddCoords(2)) == "AddCoords(rank=2)"
    assert repr(cc.AddCoords(2, with_r=True)) == "AddCoords(rank=2, with_r=True)"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_low_precision_and_device(dtype: torch.dtype, device: str) -> None:
    torch.manual_seed(0)
    layer = cc.CoordConv2d(3, 4, 3, padding=1, with_r=True).to(device=device, dtype=dtype)
    x = torch.randn(2, 3, 8, 6, device=device, dtype=dtype)
    out = layer(x)
    assert out.dtype == dtype and out.device.type == device
    ref64 = reference(layer.double(), x.double())
    tol = {torch.float16: 1e-2, torch.bfloat16: 5e-2, torch.float32: 1e-5}[dtype]
    torch.testing.assert_close(out.double(), ref64, rtol=tol, atol=tol)


def test_channels_last() -> None:
    layer = cc.CoordConv2d(3, 8, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 9, 7).to(memory_format=torch.channels_last)
    torch.testing.assert_close(layer(x), reference(layer, x))


def test_state_dict_round_trip_and_to() -> None:
    torch.manual_seed(0)
    a = cc.CoordConvTranspose2d(3, 4, 3, with_r=True)
    b = cc.CoordConvTranspose2d(3, 4, 3, with_r=True)
    assert set(a.state_dict()) == {"weight", "bias"}
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(a(x), b(x))
    c = b.to(torch.float64)
    assert c(x.double()).dtype == torch.float64


def test_cached_coord_map_is_opt_in_and_never_stale() -> None:
    layer = cc.CoordConv2d(3, 4, 3, padding=1).eval()
    x = torch.randn(2, 3, 8, 8)
    assert not layer.cache_coord_map
    layer.cache_coord_map = True
    layer(x)
    assert len(layer._map_cache) == 0  # gradients are needed: never cached
    with torch.no_grad():
        first = layer(x)
        assert len(layer._map_cache) == 1
        torch.testing.assert_close(layer(x), first)
        other = cc.CoordConv2d(3, 4, 3, padding=1)
        layer.load_state_dict(other.state_dict())
        torch.testing.assert_close(layer(x), reference(other, x))
        # edits that bump no version counter: through .data (EMA updates, weight surgery)
        layer.coord_weight.data.mul_(-2.0)
        layer.bias.data += 1.0
        torch.testing.assert_close(layer(x), reference(layer, x))
        # a map cached under autocast is not reused outside it, nor the other way round
        fp32 = layer(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.testing.assert_close(layer(x).float(), fp32, atol=0.05, rtol=0.05)
        assert layer(x).dtype == torch.float32
        torch.testing.assert_close(layer(x), reference(layer, x), atol=1e-6, rtol=1e-6)


def test_double_backward() -> None:
    layer = cc.CoordConv2d(2, 3, 3, padding=1, dtype=torch.float64)
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    params = (layer.weight, layer.bias)
    assert torch.autograd.gradcheck(
        lambda x, *p: torch.func.functional_call(
            layer, dict(zip(["weight", "bias"], p, strict=True)), (x,)
        ),
        (x, *params),
    )
    assert torch.autograd.gradgradcheck(
        lambda x, *p: torch.func.functional_call(
            layer, dict(zip(["weight", "bias"], p, strict=True)), (x,)
        ),
        (x, *params),
    )


def load_benchmark() -> Any:
    spec = importlib.util.spec_from_file_location("layer_overhead", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("layer_overhead", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("channels", "kernel", "groups", "transposed"),
    [(1, 1, 1, False), (3, 3, 1, False), (16, 3, 1, False), (4, 3, 2, False), (3, 3, 1, True)],
)
@pytest.mark.parametrize("batch", [1, 8])
def test_activation_memory_is_the_plain_layers_plus_the_grid(
    channels: int, kernel: int, groups: int, transposed: bool, batch: int, device: str
) -> None:
    activation_bytes = load_benchmark().activation_bytes
    kw: dict[str, Any] = dict(padding=kernel // 2, groups=groups, device=device)
    plain = PLAIN[transposed, 2](channels, 8, kernel, **kw)
    ours = COORD[transposed, 2](channels, 8, kernel, with_r=True, **kw)
    x = torch.randn(batch, channels, 16, 12, device=device, requires_grad=True)
    grid_bytes = 3 * 16 * 12 * 4
    allowed = activation_bytes(plain, x) + grid_bytes
    if batch == 1 and groups == 1:  # the concatenation's path also keeps the concatenated weight
        allowed += (ours.weight.numel() + ours.coord_weight.numel()) * 4
    assert activation_bytes(ours, x) <= allowed
