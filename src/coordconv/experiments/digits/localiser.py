"""A ResNet-18-style localiser for the digits demo, in four CoordConv variants.

ResNet-18's layout -- a stem, four stages of two basic blocks, the width doubling as the map halves,
global average pooling -- adapted to one-channel 64x64 canvases and a CPU budget: a 3x3 stride-2
stem without max pooling (64 -> 32 px), stages on 32, 16, 8 and 4 px maps with 8m, 16m, 32m and
64m channels, then a head: a 3x3 conv + BN + ReLU on the last map, global average pooling and one
linear layer to 10 class logits and the digit's centre ``(x, y)`` in ``[-1, 1]``.

The CoordConv variants are made from the plain network with the library's public ``convert()``
only, as a user would (``convert`` starts the coordinate weights at zero, so each variant starts
as the plain network and training decides what the coordinates are worth):

===============  ========================================================
plain            the network as written (position only via padding)
coordconv-input  ``convert(net, include="stem.*")``: the first conv
coordconv-head   ``convert(net, include="head.*")``: the head's conv
coordconv-all    ``convert(net)``: all 21 convs (18 3x3, 3 1x1 shortcuts)
===============  ========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from coordconv import convert
from coordconv.experiments.digits.data import CLASSES

__all__ = ["VARIANTS", "LocaliserConfig", "ResNetLocaliser", "build_localiser"]

# Variant -> the `include` passed to convert(); "plain" is not converted.
VARIANTS: dict[str, str | None] = {
    "plain": "",
    "coordconv-input": "stem.*",
    "coordconv-head": "head.*",
    "coordconv-all": None,
}


def _conv_bn(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
    ]


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 conv + BN, a shortcut (1x1 conv + BN when the shape
    changes), ReLU after the sum."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn(cin, cout, stride), nn.ReLU(inplace=True), *_conv_bn(cout, cout)
        )
        self.shortcut = (
            nn.Sequential(*_conv_bn(cin, cout, stride, kernel=1))
            if stride != 1 or cin != cout
            else nn.Identity()
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNetLocaliser(nn.Module):
    """``(N, 1, H, W)`` canvases -> ``(N, 12)``: 10 class logits, then the centre ``(x, y)`` in
    ``[-1, 1]`` (the library's coordinate convention: -1 and 1 are the first and last pixel).

    Args:
        width: channel multiplier m (stages of 8m, 16m, 32m, 64m channels).
    """

    def __init__(self, width: int = 1) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        w = [8 * width * 2**i for i in range(4)]
        self.width = width
        self.stem = nn.Sequential(*_conv_bn(1, w[0], stride=2), nn.ReLU(inplace=True))
        self.stages = nn.Sequential(
            *(
                nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout))
                for cin, cout, stride in zip([w[0], *w[:-1]], w, [1, 2, 2, 2], strict=True)
            )
        )
        self.head = nn.Sequential(*_conv_bn(w[-1], w[-1]), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out = nn.Linear(w[-1], CLASSES + 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.pool(self.head(self.stages(self.stem(x)))).flatten(1))

    def extra_repr(self) -> str:
        return f"width={self.width}"


def build_localiser(variant: str, width: int = 1, with_r: bool = False) -> nn.Module:
    """The localiser in one of :data:`VARIANTS` (initialised from the current torch seed)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}, got {variant!r}")
    net = ResNetLocaliser(width)
    if variant == "plain":
        return net
    return convert(net, include=VARIANTS[variant], with_r=with_r)


@dataclass(frozen=True)
class LocaliserConfig:
    """What defines one digits model: the variant (``kind``) and the width."""

    task: str = "digits"
    kind: str = "plain"  # one of VARIANTS
    canvas: int = 64  # image side in pixels
    width: int = 1  # stages of 8m, 16m, 32m, 64m channels
    with_r: bool = False  # CoordConv variants: add the radius channel

    def __post_init__(self) -> None:
        if self.task != "digits":
            raise ValueError(f"a LocaliserConfig is for task 'digits', got {self.task!r}")
        if self.kind not in VARIANTS:
            raise ValueError(
                f"digits model kind must be one of {tuple(VARIANTS)}, got {self.kind!r}"
            )
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")


def build_localiser_model(cfg: LocaliserConfig) -> nn.Module:
    """:func:`build_localiser` from a config (the engine's model builder)."""
    return build_localiser(cfg.kind, cfg.width, cfg.with_r)
