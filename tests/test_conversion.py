"""convert(): outputs unchanged, selection by glob or predicate, subclass and lazy handling."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import coordconv as cc
from tests.test_layers import coord_grad


class Block(nn.Module):
    """A ResNet basic block (conv-BN-ReLU-conv-BN + shortcut), as in torchvision."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.downsample(x))


def resnet_like() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 7, 2, 3, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Sequential(Block(8, 8, 1), Block(8, 16, 2)),
        nn.ConvTranspose2d(16, 4, 2, stride=2),
    ).eval()


def test_convert_preserves_outputs_of_a_resnet_like_model() -> None:
    model = resnet_like()
    converted = cc.convert(model, with_r=True)
    kinds = {type(m) for m in converted.modules()}
    assert nn.Conv2d not in kinds and nn.ConvTranspose2d not in kinds
    assert cc.CoordConv2d in kinds and cc.CoordConvTranspose2d in kinds
    x = torch.randn(2, 3, 32, 24)
    torch.testing.assert_close(converted(x), model(x))
    assert isinstance(model[0], nn.Conv2d) and type(model[0]) is nn.Conv2d  # input untouched


def test_convert_then_train_moves_the_coordinate_weights() -> None:
    converted = cc.convert(nn.Sequential(nn.Conv2d(1, 2, 3)))
    converted(torch.randn(1, 1, 5, 5)).square().sum().backward()
    grad = coord_grad(converted[0])
    assert grad is not None and grad.abs().sum() > 0


def test_include_by_glob_list_and_predicate() -> None:
    model = resnet_like()
    only_first = cc.convert(model, include="0")
    assert type(only_first[0]) is cc.CoordConv2d
    assert type(only_first[3][0].conv1) is nn.Conv2d
    globbed = cc.convert(model, include=["3.*.conv1", "3.1.downsample.0"])
    assert type(globbed[3][0].conv1) is cc.CoordConv2d
    assert type(globbed[3][1].downsample[0]) is cc.CoordConv2d
    assert type(globbed[3][0].conv2) is nn.Conv2d
    by_stride = cc.convert(model, include=lambda name, m: m.stride == (2, 2))
    assert type(by_stride[0]) is cc.CoordConv2d and type(by_stride[3][0].conv1) is nn.Conv2d


def test_root_conv_and_nested_dict() -> None:
    conv = nn.Conv3d(2, 3, 3, padding=1, padding_mode="circular", groups=1)
    twin = cc.convert(conv)
    assert type(twin) is cc.CoordConv3d and twin.padding_mode == "circular"
    x = torch.randn(1, 2, 4, 5, 6)
    torch.testing.assert_close(twin(x), conv(x))
    nested = nn.ModuleDict({"a": nn.ModuleList([nn.Conv1d(2, 2, 3, groups=2)])})
    assert type(cc.convert(nested)["a"][0]) is cc.CoordConv1d


def test_subclass_skipped_with_warning_and_lazy_refused() -> None:
    class MyConv(nn.Conv2d):
        pass

    with pytest.warns(UserWarning, match="skipping 0: MyConv subclasses"):
        out = cc.convert(nn.Sequential(MyConv(1, 1, 1)))
    assert type(out[0]) is MyConv
    with pytest.raises(ValueError, match="uninitialised lazy parameters"):
        cc.convert(nn.Sequential(nn.LazyConv2d(4, 3)))


def test_state_dict_round_trip_of_converted_model() -> None:
    converted = cc.convert(resnet_like())
    again = cc.convert(resnet_like())
    with torch.no_grad():
        for p in converted.parameters():
            p.add_(0.01)
    again.load_state_dict(converted.state_dict())
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(again(x), converted(x))
