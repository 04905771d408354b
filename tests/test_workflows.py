"""The layers in everyday PyTorch workflows: grad modes, torch.func, pickling, replicas, fusion,
FX tracing, signatures, plain checkpoints. Each test is one workflow a user runs."""

from __future__ import annotations

import copy
import inspect
import io
import pickle
import warnings
from typing import Any

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, jacrev, vmap

import coordconv as cc
from tests.test_layers import COORD, PLAIN, coord_grad, reference

# One layer per forward path: 3x3 general (batch > 1), concat (batch 1, few channels), pointwise
# (1x1 matrix product), grouped, transposed.
PATH_LAYERS = {
    "general": lambda: cc.CoordConv2d(3, 5, 3, padding=1, with_r=True),
    "pointwise": lambda: cc.CoordConv2d(3, 5, 1),
    "grouped": lambda: cc.CoordConv2d(4, 6, 3, padding=1, groups=2),
    "transposed": lambda: cc.CoordConvTranspose2d(3, 4, 3, stride=2, padding=1),
    "pointwise-transposed": lambda: cc.CoordConvTranspose2d(3, 4, 1),
}


def in_channels(layer: Any) -> int:
    return int(layer.in_channels)


def float64_layer(path: str, batch: int) -> tuple[Any, dict[str, torch.Tensor], torch.Tensor]:
    """The path's layer in float64, its detached parameters and an input batch."""
    torch.manual_seed(0)
    layer = PATH_LAYERS[path]().double()
    params = {k: v.detach() for k, v in layer.named_parameters()}
    return layer, params, torch.randn(batch, in_channels(layer), 5, 6, dtype=torch.float64)


@pytest.mark.parametrize("path", PATH_LAYERS)
@pytest.mark.parametrize("batch", [1, 4])
def test_any_order_of_inference_mode_no_grad_and_training(path: str, batch: int) -> None:
    torch.manual_seed(0)
    layer = PATH_LAYERS[path]()
    x = torch.randn(batch, in_channels(layer), 6, 7)
    with torch.inference_mode():
        first = layer(x)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), first)
    layer(x).square().sum().backward()  # the grid built under inference_mode is saved here
    grad = coord_grad(layer)
    assert grad is not None and grad.abs().sum() > 0
    layer.eval().cache_coord_map = True
    with torch.inference_mode():
        torch.testing.assert_close(layer(x), first)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), first)
    layer.train()(x).sum().backward()
    torch.testing.assert_close(layer(x), reference(layer, x))


def test_add_coords_after_inference_mode() -> None:
    add = cc.AddCoords(2)
    with torch.inference_mode():
        add(torch.randn(1, 1, 4, 4))
    x = torch.randn(1, 1, 4, 4, requires_grad=True)
    add(x).square().sum().backward()
    assert x.grad is not None


@pytest.mark.parametrize("path", PATH_LAYERS)
def test_torch_func_grad_equals_autograd(path: str) -> None:
    layer, params, x = float64_layer(path, batch=2)

    def loss(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(layer, p, (x,)).sin().sum()

    got = grad(loss)(params)
    layer(x).sin().sum().backward()
    for name, p in layer.named_parameters():
        torch.testing.assert_close(got[name], p.grad)


@pytest.mark.parametrize("path", PATH_LAYERS)
def test_vmap_per_sample_gradients_equal_a_loop(path: str) -> None:
    layer, params, x = float64_layer(path, batch=4)

    def loss(p: dict[str, torch.Tensor], sample: torch.Tensor) -> torch.Tensor:
        return functional_call(layer, p, (sample[None],)).tanh().sum()

    per_sample = vmap(grad(loss), in_dims=(None, 0))(params, x)
    for i in range(x.shape[0]):
        expected = grad(loss)(params, x[i])
        for name in params:
            torch.testing.assert_close(per_sample[name][i], expected[name])
            layer.zero_grad()
        layer(x[i : i + 1]).tanh().sum().backward()
        for name, p in layer.named_parameters():
            torch.testing.assert_close(per_sample[name][i], p.grad)


def test_vmap_over_an_ensemble_of_parameters() -> None:
    torch.manual_seed(0)
    layers = [cc.CoordConv2d(2, 3, 3, padding=1).double() for _ in range(3)]
    stacked = {
        name: torch.stack([dict(m.named_parameters())[name].detach() for m in layers])
        for name in ("weight", "bias")
    }
    x = torch.randn(2, 2, 5, 5, dtype=torch.float64)
    out = vmap(lambda p: functional_call(layers[0], p, (x,)))(stacked)
    for i, m in enumerate(layers):
        torch.testing.assert_close(out[i], m(x))


def test_jacrev_equals_the_reference_jacobian() -> None:
    torch.manual_seed(0)
    layer = cc.CoordConv1d(2, 3, 3, padding=1, with_r=True).double()
    x = torch.randn(1, 2, 5, dtype=torch.float64)
    got = jacrev(lambda w: functional_call(layer, {"weight": w}, (x,)))(layer.weight.detach())
    want = torch.autograd.functional.jacobian(
        lambda w: reference(_with(layer, weight=w), x), layer.weight.detach()
    )
    torch.testing.assert_close(got, want)


def _with(layer: Any, **params: torch.Tensor) -> Any:
    clone = copy.deepcopy(layer)
    for name, value in params.items():
        delattr(clone, name)
        setattr(clone, name, value)
    return clone


def test_pickles_and_deep_copies_do_not_carry_caches() -> None:
    layer = cc.CoordConv2d(3, 4, 3, padding=1).eval()
    layer.cache_coord_map = True

    def saved_size() -> int:
        buffer = io.BytesIO()
        torch.save(layer, buffer)
        return len(buffer.getvalue())

    empty = saved_size()
    with torch.no_grad():
        for size in (8, 32, 64):
            layer(torch.randn(2, 3, size, size))  # batch 2: the sum path, which caches the map
    assert len(layer._grid_cache) == 3 and len(layer._map_cache) == 3
    assert saved_size() == empty
    clone = pickle.loads(pickle.dumps(layer))
    assert len(clone._grid_cache) == 0 and len(clone._map_cache) == 0
    assert len(copy.deepcopy(layer)._grid_cache) == 0
    add = cc.AddCoords(2)
    add(torch.randn(1, 1, 9, 9))
    assert len(pickle.loads(pickle.dumps(add))._grid_cache) == 0


def test_to_clears_caches_and_replicas_get_their_own() -> None:
    layer = cc.CoordConv2d(3, 4, 3, padding=1)
    x = torch.randn(2, 3, 8, 8)
    layer(x)
    assert len(layer._grid_cache) == 1
    layer.to(torch.float64)
    assert len(layer._grid_cache) == 0
    out = layer(x.double())
    assert out.dtype == torch.float64
    replica = layer._replicate_for_data_parallel()
    assert replica._grid_cache is not layer._grid_cache and len(replica._grid_cache) == 0
    assert replica._map_cache is not layer._map_cache


def test_torch_fusion_and_fuse_conv_bn_are_exact() -> None:
    """The coordinate filters live in weight, so torch's own fuser rescales them too."""
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(4)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 2)
    bn.bias.data.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    for conv in (
        cc.CoordConv2d(3, 4, 3, padding=1, with_r=True).eval(),
        cc.CoordConv2d(3, 4, 3, bias=False, coord_kernel_size=1).eval(),
        cc.CoordConvTranspose2d(3, 4, 3, stride=2).eval(),
        nn.Conv2d(3, 4, 3),
    ):
        conv64, bn64 = conv.double().eval(), copy.deepcopy(bn).double()
        fused = cc.fuse_conv_bn(conv64, bn64)
        assert type(fused) is type(conv)
        torch.testing.assert_close(fused(x), bn64(conv64(x)))
        transpose = bool(getattr(conv, "transposed", False))
        by_torch = torch.nn.utils.fusion.fuse_conv_bn_eval(conv64, bn64, transpose=transpose)
        torch.testing.assert_close(by_torch(x), bn64(conv64(x)))
    grouped = cc.CoordConvTranspose2d(4, 6, 3, groups=2).double()
    bn6 = nn.BatchNorm2d(6).double().eval()
    bn6.running_var.uniform_(0.5, 2)
    x4 = torch.randn(1, 4, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(cc.fuse_conv_bn(grouped, bn6)(x4), bn6(grouped(x4)))
    with pytest.raises(ValueError, match="eval mode"):
        cc.fuse_conv_bn(conv, nn.BatchNorm2d(4))
    with pytest.raises(ValueError, match="4 output channels but the BatchNorm has 6"):
        cc.fuse_conv_bn(conv, bn6)


def test_fx_fusion_leaves_coordconv_alone_and_quantization_fusion_refuses() -> None:
    from torch.ao.quantization import fuse_modules
    from torch.fx.experimental.optimization import fuse

    torch.manual_seed(0)
    model = nn.Sequential(
        cc.CoordConv2d(3, 4, 3, with_r=True),
        nn.BatchNorm2d(4),
        nn.Conv2d(4, 4, 1),
        nn.BatchNorm2d(4),
    ).eval()
    model[1].running_var.fill_(2.0)
    x = torch.randn(2, 3, 9, 8)
    fused = fuse(model)
    torch.testing.assert_close(fused(x), model(x))
    torch.testing.assert_close(fused(torch.randn(1, 3, 5, 12)).shape, torch.Size([1, 4, 3, 10]))
    with pytest.raises(AssertionError, match="did not find fuser method"):
        fuse_modules(model, [["0", "1"]])


def test_fx_symbolic_trace_equals_eager() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        cc.CoordConv2d(3, 4, 3, padding=1),
        cc.AddCoords(2, with_r=True),
        cc.CoordConvTranspose2d(7, 2, 3, stride=2, padding=1, output_padding=1),
        cc.CoordConv2d(2, 2, 1),
    )
    traced = torch.fx.symbolic_trace(model)
    for shape in ((2, 3, 6, 7), (1, 3, 4, 4)):
        x = torch.randn(*shape)
        torch.testing.assert_close(traced(x), model(x))


def test_convert_keeps_shared_modules_and_hooks() -> None:
    calls: list[str] = []
    shared = nn.Conv2d(4, 4, 3, padding=1)
    shared.register_forward_hook(lambda m, i, o: calls.append(type(m).__name__))
    shared.register_forward_pre_hook(lambda m, i: calls.append("pre"))
    model = nn.Sequential(nn.Conv2d(2, 4, 1), shared, nn.ReLU(), shared)
    converted = cc.convert(model)
    assert converted[1] is converted[3] and type(converted[1]) is cc.CoordConv2d
    assert (
        sum(p.numel() for p in converted.parameters())
        == sum(p.numel() for p in model.parameters())
        + converted[0].coord_weight.numel()
        + converted[1].coord_weight.numel()
    )
    x = torch.randn(1, 2, 6, 6)
    calls.clear()
    torch.testing.assert_close(converted(x), model(x))
    assert calls == ["pre", "CoordConv2d", "pre", "CoordConv2d", "pre", "Conv2d", "pre", "Conv2d"]
    only_second_use = cc.convert(model, include="3")
    assert only_second_use[1] is only_second_use[3]
    assert type(only_second_use[1]) is cc.CoordConv2d


def test_load_plain_state_dict_gives_the_plain_outputs() -> None:
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.ConvTranspose2d(4, 2, 2, stride=2))
    coord = nn.Sequential(cc.CoordConv2d(3, 4, 3), nn.ReLU(), cc.CoordConvTranspose2d(4, 2, 2, 2))
    state = plain.state_dict()
    result = cc.load_plain_state_dict(coord, state)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(state) == set(plain.state_dict())  # the caller's dict is not modified
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(coord(x), plain(x))
    root = cc.CoordConv1d(2, 2, 3)
    cc.load_plain_state_dict(root, nn.Conv1d(2, 2, 3).state_dict())
    assert root.coord_weight.abs().sum() == 0
    with pytest.raises(RuntimeError, match="Missing key"):
        cc.load_plain_state_dict(coord, {})


@pytest.mark.parametrize("key", list(COORD))
def test_signature_spells_out_the_plain_layer(key: tuple[bool, int]) -> None:
    ours = inspect.signature(COORD[key])
    theirs = inspect.signature(PLAIN[key])
    params = list(ours.parameters.values())
    plain = list(theirs.parameters.values())
    assert [(p.name, p.kind, p.default) for p in params[: len(plain)]] == [
        (p.name, p.kind, p.default) for p in plain
    ]
    extras = {p.name: (p.kind, p.default) for p in params[len(plain) :]}
    assert extras == {
        "with_r": (inspect.Parameter.KEYWORD_ONLY, False),
        "coord_kernel_size": (inspect.Parameter.KEYWORD_ONLY, None),
    }
    assert all(p.annotation is not inspect.Parameter.empty for p in params)
    forward = list(inspect.signature(COORD[key].forward).parameters)
    assert forward == list(inspect.signature(PLAIN[key].forward).parameters)


def test_keyword_construction_like_torch() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer = cc.CoordConvTranspose3d(
            in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1, output_padding=1,
            groups=1, bias=False, dilation=1, padding_mode="zeros", device="cpu",
            dtype=torch.float64, with_r=True,
        )  # fmt: skip
    assert layer.bias is None and layer.coord_weight.dtype == torch.float64


@pytest.mark.parametrize("path", PATH_LAYERS)
@pytest.mark.parametrize("batch", [1, 4])
def test_autocast_bf16_on_every_path(path: str, batch: int) -> None:
    """Under CPU autocast (bf16) every path computes in bf16, close to the fp32 reference;
    training under autocast reaches the coordinate filters. (CUDA fp16 where a GPU is present.)"""
    torch.manual_seed(0)
    layer = PATH_LAYERS[path]()
    x = torch.randn(batch, in_channels(layer), 6, 7)
    want = reference(layer, x)
    devices = [("cpu", torch.bfloat16)] + (
        [("cuda", torch.float16)] if torch.cuda.is_available() else []
    )
    for device, dtype in devices:
        layer, x_on = layer.to(device), x.to(device)
        with torch.autocast(device, dtype=dtype):
            got = layer(x_on)
            assert got.dtype == dtype
            got.float().square().sum().backward()
        torch.testing.assert_close(got.float().cpu(), want, atol=0.05, rtol=0.05)
        grad = coord_grad(layer)
        assert grad is not None and grad.abs().sum() > 0 and grad.dtype == torch.float32
        layer.zero_grad()


@pytest.mark.parametrize(
    ("batch", "pointwise", "contiguous", "device", "groups", "want"),
    [
        (1, False, True, "cpu", 1, "concat"),  # 3 input channels: one convolution of the cat
        (1, True, True, "cpu", 1, "concat"),
        (4, True, True, "cpu", 1, "matmul"),
        (4, True, False, "cpu", 1, "sum"),  # channels_last: no flat matrix product
        (4, False, True, "cpu", 1, "sum"),
        (1, False, True, "cpu", 3, "sum"),
        # CUDA (results-cuda.json): the concatenation below batch 8, never the matrix product
        (1, True, True, "cuda", 1, "concat"),
        (7, False, True, "cuda", 1, "concat"),
        (8, True, True, "cuda", 1, "sum"),
        (32, False, True, "cuda", 1, "sum"),
        (4, False, True, "cuda", 3, "sum"),
    ],
)
def test_path_choice_per_device(
    batch: int, pointwise: bool, contiguous: bool, device: str, groups: int, want: str
) -> None:
    layer = cc.CoordConv2d(3, 6, 1 if pointwise else 3, groups=groups)
    assert layer._path(batch, pointwise, contiguous, device) == want
