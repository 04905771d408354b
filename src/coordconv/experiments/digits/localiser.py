"""A ResNet-18-style localiser and detector for the digits demo, in four CoordConv variants.

ResNet-18's layout -- a stem, four stages of two basic blocks, the width doubling as the map halves,
global average pooling -- adapted to one-channel 64x64 canvases and a CPU budget: a 3x3 stride-2
stem without max pooling (64 -> 32 px), stages on 32, 16, 8 and 4 px maps with 8m, 16m, 32m and
64m channels, then a head: a 3x3 conv + BN + ReLU on the last map, and

* the *regressor* (task ``digits``): global average pooling and one linear layer to 10 class
  logits and the digit's centre ``(x, y)`` in ``[-1, 1]``;
* the *detector* (task ``detection``, CenterNet-style, no pooling): a 1x1 conv to, per cell of
  the stride-16 map, an objectness logit, the centre's sub-cell offset ``(dx, dy)`` and 10 class
  logits (decoded in ``detection``).

The CoordConv variants are made from the plain network with the library's public ``convert()``
only, as a user would (``convert`` starts the coordinate weights at zero, so each variant starts
as the plain network and training decides what the coordinates are worth):

===============  ========================================================
plain            the network as written (position only via padding)
coordconv-input  ``convert(net, include="stem.*")``: the first conv
coordconv-head   ``convert(net, include="head.*")``: the head's conv
coordconv-all    ``convert(net)``: all 21 convs (18 3x3, 3 1x1 shortcuts; the
                 detector's 1x1 output conv too: 22)
===============  ========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from coordconv import convert
from coordconv.experiments.digits.data import CLASSES

__all__ = ["HEADS", "VARIANTS", "LocaliserConfig", "ResNetLocaliser", "build_localiser"]

HEADS = {"digits": "regressor", "detection": "detector"}  # task -> the head that solves it
STRIDE = 16  # canvas pixels per cell of the last map (stem and three stages halve it)

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
    """``(N, 1, H, W)`` canvases -> the regressor's ``(N, 12)``: 10 class logits, then the centre
    ``(x, y)`` in ``[-1, 1]`` (the library's coordinate convention: -1 and 1 are the first and
    last pixel); or the detector's ``(N, 13, H/16, W/16)``: per cell the objectness logit, the
    offset ``(dx, dy)`` in cells, 10 class logits.

    Args:
        width: channel multiplier m (stages of 8m, 16m, 32m, 64m channels).
        head: ``"regressor"`` or ``"detector"``.
    """

    def __init__(self, width: int = 1, head: str = "regressor") -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        if head not in HEADS.values():
            raise ValueError(f"head must be one of {tuple(HEADS.values())}, got {head!r}")
        w = [8 * width * 2**i for i in range(4)]
        self.width, self.head_kind = width, head
        self.stem = nn.Sequential(*_conv_bn(1, w[0], stride=2), nn.ReLU(inplace=True))
        self.stages = nn.Sequential(
            *(
                nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout))
                for cin, cout, stride in zip([w[0], *w[:-1]], w, [1, 2, 2, 2], strict=True)
            )
        )
        self.head = nn.Sequential(*_conv_bn(w[-1], w[-1]), nn.ReLU(inplace=True))
        self.out: nn.Module
        if head == "regressor":
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.out = nn.Linear(w[-1], CLASSES + 2)
        else:
            self.out = nn.Conv2d(w[-1], 3 + CLASSES, 1)

    def forward(self, x: Tensor) -> Tensor:
        features = self.head(self.stages(self.stem(x)))
        if self.head_kind == "detector":
            return self.out(features)
        return self.out(self.pool(features).flatten(1))

    def extra_repr(self) -> str:
        return f"width={self.width}, head={self.head_kind!r}"


def build_localiser(
    variant: str, width: int = 1, with_r: bool = False, head: str = "regressor"
) -> nn.Module:
    """The localiser (``head="regressor"``) or detector in one of :data:`VARIANTS` (initialised
    from the current torch seed)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}, got {variant!r}")
    net = ResNetLocaliser(width, head)
    if variant == "plain":
        return net
    return convert(net, include=VARIANTS[variant], with_r=with_r)


@dataclass(frozen=True)
class LocaliserConfig:
    """What defines one digits model: the task (its head), the variant (``kind``), the width."""

    task: str = "digits"  # digits (the regressor) | detection (the detector)
    kind: str = "plain"  # one of VARIANTS
    canvas: int = 64  # image side in pixels
    width: int = 1  # stages of 8m, 16m, 32m, 64m channels
    with_r: bool = False  # CoordConv variants: add the radius channel

    def __post_init__(self) -> None:
        if self.task not in HEADS:
            raise ValueError(f"a LocaliserConfig is for tasks {tuple(HEADS)}, got {self.task!r}")
        if self.kind not in VARIANTS:
            raise ValueError(
                f"digits model kind must be one of {tuple(VARIANTS)}, got {self.kind!r}"
            )
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")
        if self.task == "detection" and self.canvas % STRIDE:
            raise ValueError(
                f"the detector's canvas must be a multiple of its stride {STRIDE}, got "
                f"{self.canvas}: its cells must tile the canvas"
            )


def build_localiser_model(cfg: LocaliserConfig) -> nn.Module:
    """:func:`build_localiser` from a config (the engine's model builder)."""
    return build_localiser(cfg.kind, cfg.width, cfg.with_r, HEADS[cfg.task])
