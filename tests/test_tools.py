"""Tools that read or rewrite ``weight`` get a CoordConv right, or fail loudly: fusers, pruning,
EMA, per-channel observers, weight surgery; old state dicts migrate; ``convert`` on the convs
users have."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import fusion, parametrizations, prune

import coordconv as cc
from tests.test_layers import reference

LAYERS = {
    "conv": lambda: cc.CoordConv2d(3, 6, 3, padding=1, with_r=True),
    "grouped": lambda: cc.CoordConv2d(4, 6, 3, padding=1, groups=2),
    "centre-tap": lambda: cc.CoordConv2d(3, 6, 3, padding=1, coord_kernel_size=1),
    "transposed": lambda: cc.CoordConvTranspose2d(3, 6, 3, stride=2, padding=1),
}


def _input(layer: nn.Module) -> torch.Tensor:
    return torch.randn(2, layer.in_channels, 7, 6, dtype=torch.float64)


def _bn(channels: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels).double()
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 2)
    bn.bias.data.uniform_(-1, 1)
    return bn.eval()


@pytest.mark.parametrize("kind", LAYERS)
def test_assignment_style_fuser_is_exact(kind: str) -> None:
    """``w, b = fuse_conv_bn_weights(...); m.weight, m.bias = w, b`` (detection toolkits)."""
    torch.manual_seed(0)
    layer, bn = LAYERS[kind]().double().eval(), _bn(6)
    x = _input(layer)
    fused = copy.deepcopy(layer)
    fused.weight, fused.bias = fusion.fuse_conv_bn_weights(
        layer.weight,
        layer.bias,
        bn.running_mean,
        bn.running_var,
        bn.eps,
        bn.weight,
        bn.bias,
        transpose=layer.transposed,
    )
    torch.testing.assert_close(fused(x), bn(layer(x)))
    torch.testing.assert_close(
        fusion.fuse_conv_bn_eval(layer, bn, layer.transposed)(x), bn(layer(x))
    )


@pytest.mark.parametrize("kind", LAYERS)
def test_pruned_output_channels_no_longer_see_input_or_position(kind: str) -> None:
    torch.manual_seed(0)
    layer = LAYERS[kind]().double()
    dim = 1 if layer.transposed else 0
    prune.ln_structured(layer, "weight", amount=0.5, n=2, dim=dim)
    keep = layer.weight_mask.transpose(0, dim).flatten(1).any(1)
    gone = (~keep).nonzero().flatten()
    assert len(gone) == 3
    x = _input(layer)
    out = layer(x)
    bias = layer.bias[gone].view(1, -1, 1, 1).expand(out.shape[0], -1, *out.shape[2:])
    torch.testing.assert_close(out[:, gone], bias)  # constant: neither input nor position
    torch.testing.assert_close(out, reference(layer, x))
    prune.remove(layer, "weight")
    torch.testing.assert_close(layer(_input(layer))[:, gone], bias)


def test_ema_averages_the_coordinate_filters_too() -> None:
    torch.manual_seed(0)
    layer = cc.CoordConv2d(3, 4, 3, padding=1).double()
    ema = torch.optim.swa_utils.AveragedModel(
        layer, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(0.5)
    )
    ema.update_parameters(layer)  # the first update copies
    before = copy.deepcopy(layer)
    with torch.no_grad():
        layer.coord_weight.mul_(-3.0)  # a training step that moved the coordinate filters only
    ema.update_parameters(layer)
    x = _input(layer)
    want = copy.deepcopy(layer)
    with torch.no_grad():
        want.weight.copy_(0.5 * (before.weight + layer.weight))
        want.bias.copy_(0.5 * (before.bias + layer.bias))
    torch.testing.assert_close(ema(x), want(x))
    assert not torch.allclose(ema(x), before(x))


def test_per_channel_observer_sees_every_filter_of_an_output_channel() -> None:
    from torch.ao.quantization import PerChannelMinMaxObserver

    torch.manual_seed(0)
    layer = cc.CoordConv2d(3, 4, 3)
    with torch.no_grad():
        layer.coord_weight[1].fill_(5.0)  # the largest weight of channel 1 is a coordinate one
    observer = PerChannelMinMaxObserver(ch_axis=0)
    observer(layer.weight)
    assert observer.max_val[1] == 5.0
    full = torch.cat([layer.input_weight, layer.full_coord_weight()], dim=1)
    torch.testing.assert_close(observer.max_val, full.flatten(1).amax(1))


def test_rebuilding_a_plain_conv_from_weight_fails_loudly() -> None:
    layer = cc.CoordConv2d(3, 4, 3)
    plain = nn.Conv2d(3, 4, 3)
    with pytest.raises(RuntimeError), torch.no_grad():
        plain.weight.copy_(layer.weight)
    with pytest.raises(RuntimeError, match="size mismatch"):
        plain.load_state_dict(layer.state_dict())


def test_grouped_transposed_conv_refuses_a_replaced_weight() -> None:
    """Its coordinate filters feed every output channel: a weight-only tool would drop them."""
    layer = cc.CoordConvTranspose2d(4, 6, 3, groups=2)
    with pytest.raises(TypeError, match="coord_weight"):
        layer.weight = layer.weight.detach() * 2.0  # a weight computed alone
    with pytest.raises(TypeError, match="coord_weight"):
        prune.ln_structured(layer, "weight", amount=0.5, n=2, dim=1)
    x = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(layer(x), reference(layer, x))  # still whole


def test_coord_weight_is_a_view_that_cannot_be_replaced() -> None:
    layer = cc.CoordConv2d(3, 4, 3)
    with torch.no_grad():
        layer.coord_weight.fill_(2.0)
    assert (
        layer.weight[:, 3:] == 2.0
    ).all() and layer.weight.data_ptr() == layer.input_weight.data_ptr()
    with pytest.raises(AttributeError, match="view of weight"):
        layer.coord_weight = nn.Parameter(torch.zeros(4, 2, 3, 3))


@pytest.mark.parametrize("coord_kernel_size", [None, 1])
@pytest.mark.parametrize("transposed", [False, True])
def test_version_1_state_dicts_load(coord_kernel_size: int | None, transposed: bool) -> None:
    """State dicts saved with a separate ``coord_weight`` (before 0.2) migrate into ``weight``."""
    torch.manual_seed(0)
    make = cc.CoordConvTranspose2d if transposed else cc.CoordConv2d
    layer = make(3, 4, 3, padding=1, coord_kernel_size=coord_kernel_size)
    k = (3, 3) if coord_kernel_size is None else (1, 1)
    old = {
        "weight": torch.randn(3, 4, 3, 3) if transposed else torch.randn(4, 3, 3, 3),
        "coord_weight": torch.randn(2, 4, *k) if transposed else torch.randn(4, 2, *k),
        "bias": torch.randn(4),
    }
    saved = copy.deepcopy(old)
    model = nn.Sequential(layer)
    state = {f"0.{key}": value for key, value in old.items()}
    state = type(model.state_dict())(state)
    state._metadata = {"": {"version": 1}, "0": {"version": 1}}  # as torch.save wrote them
    assert str(model.load_state_dict(state)) == "<All keys matched successfully>"
    assert torch.equal(layer.input_weight, saved["weight"])
    assert torch.equal(layer.coord_weight, saved["coord_weight"])
    assert set(layer.state_dict()) == {"weight", "bias"}
    assert layer.state_dict()._metadata[""]["version"] == 2


# --- convert() on the convs users have ----------------------------------------------------------


def test_convert_carries_attributes_and_buffers() -> None:
    conv = nn.Conv2d(3, 4, 3)
    conv.qconfig = "per-channel"  # type: ignore[assignment]
    conv.register_buffer("mask", torch.ones(4))
    conv.register_buffer("scratch", torch.zeros(1), persistent=False)
    twin = cc.convert(nn.Sequential(conv))[0]
    assert twin.qconfig == "per-channel" and torch.equal(twin.mask, torch.ones(4))
    assert "mask" in twin.state_dict() and "scratch" not in twin.state_dict()


def test_convert_inplace_swaps_inside_the_model() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    x = torch.randn(1, 3, 6, 6)
    want = model(x)
    same = cc.convert(model, inplace=True)
    assert same is model and type(model[0]) is cc.CoordConv2d
    torch.testing.assert_close(model(x), want)


REPARAMETRIZED = {
    "parametrized weight_norm": (
        lambda c: parametrizations.weight_norm(c),
        "remove_parametrizations",
    ),
    "parametrized spectral_norm": (
        lambda c: parametrizations.spectral_norm(c),
        "remove_parametrizations",
    ),
    "hook weight_norm": (lambda c: torch.nn.utils.weight_norm(c), "remove_weight_norm"),
    "hook spectral_norm": (lambda c: torch.nn.utils.spectral_norm(c), "remove_spectral_norm"),
    "pruned": (lambda c: prune.l1_unstructured(c, "weight", amount=0.3), r"prune\.remove"),
}


@pytest.mark.parametrize("kind", REPARAMETRIZED)
def test_convert_refuses_a_computed_weight_naming_the_fix(kind: str) -> None:
    apply, fix = REPARAMETRIZED[kind]
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3))
    apply(model[2])
    with pytest.raises(ValueError, match=fix):
        cc.convert(model)
    with pytest.raises(ValueError, match=r"convert: 2 \((Parametrized)?Conv2d\)"):
        cc.convert(model)
    # not selected: not refused (in place: torch cannot deep-copy every computed weight)
    assert type(cc.convert(model, include="0", inplace=True)[0]) is cc.CoordConv2d


def test_the_fix_for_weight_norm_then_works_on_the_coordconv() -> None:
    torch.manual_seed(0)
    conv = parametrizations.weight_norm(nn.Conv2d(3, 4, 3))
    torch.nn.utils.parametrize.remove_parametrizations(conv, "weight")
    twin = parametrizations.weight_norm(cc.convert(conv))
    x = torch.randn(1, 3, 6, 6)
    torch.testing.assert_close(twin(x), conv(x))  # zero coordinate filters: same outputs
    twin(x).sum().backward()
    assert twin.parametrizations.weight.original1.grad[:, 3:].abs().sum() > 0


class TheirCoordConv(nn.Module):
    """The common pattern of other implementations: AddCoords, then a plain conv over C + d."""

    def __init__(self, c: int, out: int, k: int, order: str, transposed: bool = False) -> None:
        super().__init__()
        self.order = order
        plain = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv = plain(c + 2, out, k, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = cc.coords(x.shape[2:], dtype=x.dtype)  # (i, j)
        if self.order == "ji":
            grid = grid.flip(0)  # x (along the width) first, then y
        return self.conv(torch.cat([x, grid.expand(x.shape[0], -1, -1, -1)], dim=1))


@pytest.mark.parametrize("order", ["ij", "ji"])
@pytest.mark.parametrize("transposed", [False, True])
def test_load_concat_state_dict_from_another_implementation(order: str, transposed: bool) -> None:
    torch.manual_seed(0)
    theirs = nn.Sequential(TheirCoordConv(3, 4, 3, order, transposed), nn.ReLU()).double()
    make = cc.CoordConvTranspose2d if transposed else cc.CoordConv2d
    ours = nn.Sequential(make(3, 4, 3, padding=1), nn.ReLU()).double()
    result = cc.load_concat_state_dict(ours, theirs.state_dict(), coord_order=order)
    assert str(result) == "<All keys matched successfully>"
    x = torch.randn(2, 3, 6, 9, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x))
    with pytest.raises(ValueError, match="coord_order"):
        cc.load_concat_state_dict(ours, theirs.state_dict(), coord_order="xy")


# --- edges a review found ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: cc.CoordConv2d(3, 4, 3), lambda: nn.Conv2d(3, 4, 3)])
def test_fuse_conv_bn_refuses_a_computed_weight(make) -> None:
    conv = parametrizations.weight_norm(make().eval())
    with pytest.raises(ValueError, match="remove_parametrizations"):
        cc.fuse_conv_bn(conv, _bn(4).float())


def test_grouped_transposed_weight_loads_assigned_and_replicates() -> None:
    layer, other = (cc.CoordConvTranspose2d(4, 6, 3, groups=2) for _ in range(2))
    layer.load_state_dict(other.state_dict(), assign=True)  # torch assigns a Parameter
    x = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(layer(x), other(x))
    replica = layer._replicate_for_data_parallel()  # as DataParallel's replicate() fills it
    replica.weight, replica.coord_weight = layer.weight * 1, layer.coord_weight * 1
    replica.bias = layer.bias * 1
    torch.testing.assert_close(replica(x), layer(x))
    parametrizations.weight_norm(layer, "coord_weight")  # its own parameter: parametrizable
    assert layer(x).shape == (1, 6, 7, 7)


def test_a_weight_of_the_wrong_shape_is_refused() -> None:
    layer = cc.CoordConv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"shape \(4, 5, 3, 3\).*coordinate filters"):
        layer.weight = nn.Parameter(torch.zeros(4, 3, 3, 3))  # a plain conv's weight


def test_centre_tap_layers_refuse_off_centre_coordinate_weights() -> None:
    full = cc.CoordConv2d(3, 4, 3)
    centre = cc.CoordConv2d(3, 4, 3, coord_kernel_size=1)
    with pytest.raises(RuntimeError, match="nonzero off-centre taps"):
        centre.load_state_dict(full.state_dict())
    centre.load_state_dict(cc.CoordConv2d(3, 4, 3, coord_kernel_size=1).state_dict())
    # a version-1 dict saved with the other kernel option: a message, not a raw torch.cat error
    old = {"weight": torch.zeros(4, 3, 3, 3), "coord_weight": torch.zeros(4, 2, 2, 2)}
    with pytest.raises(RuntimeError, match="version-1 coord_weight"):
        full.load_state_dict({**old, "bias": torch.zeros(4)}, strict=False)


@pytest.mark.parametrize("rank", [1, 3])
def test_load_concat_state_dict_swaps_only_two_coordinates(rank: int) -> None:
    make = {1: cc.CoordConv1d, 3: cc.CoordConv3d}[rank]
    model = nn.Sequential(make(2, 3, 1))
    with pytest.raises(ValueError, match="2-D"):
        cc.load_concat_state_dict(model, model.state_dict(), coord_order="ji")


def test_load_plain_state_dict_leaves_unmentioned_layers_alone() -> None:
    model = nn.Sequential(cc.CoordConvTranspose2d(4, 6, 3, groups=2), cc.CoordConv2d(6, 2, 3))
    before = model[0].coord_weight.detach().clone()
    plain = nn.Sequential(nn.Identity(), nn.Conv2d(6, 2, 3))
    cc.load_plain_state_dict(model, plain.state_dict(), strict=False)
    assert torch.equal(model[0].coord_weight, before)


def test_fx_traces_a_pruned_coordconv() -> None:
    layer = cc.CoordConv2d(3, 4, 3, bias=False)
    prune.l1_unstructured(layer, "weight", amount=0.3)
    traced = torch.fx.symbolic_trace(nn.Sequential(layer))
    x = torch.randn(2, 3, 6, 6)
    torch.testing.assert_close(traced(x), layer(x))


def test_unbatched_transposed_input_takes_a_full_output_size() -> None:
    layer, plain = cc.CoordConvTranspose2d(3, 2, 3, stride=2), nn.ConvTranspose2d(3, 2, 3, stride=2)
    x = torch.randn(3, 5, 7)
    assert layer(x, output_size=[2, 12, 16]).shape == plain(x, output_size=[2, 12, 16]).shape
