"""The paper's models for the three toy tasks, declared as data and built from the library's layers.

A model is a ``ModelConfig`` (task, kind, channel multiplier, kernel size); ``build_model`` turns it
into an ``nn.Sequential``. Every model takes and returns the task's own units through fixed,
parameter-free adapters: centres in pixels are mapped to the library's ``[-1, 1]`` coordinate
convention on the way in, so the tiled input and the CoordConv channels share one scale, and the
regression models predict centres in that same ``[-1, 1]`` scale (``tasks.py`` converts to pixels).

==============  =========  ==============================================================  ======
task            kind       layers (m = width, k = kernel)                                  params
==============  =========  ==============================================================  ======
classification  coordconv  tile (x, y) -> CoordConv 1x1 32 -> 1x1 32, 64, 64 -> 1x1 1       7,553
classification  conv       (x, y) as 1x1 -> 6 stride-2 deconvs 64m,64m,64m,32m,32m,1        46,465
regression      coordconv  one-hot -> CoordConv 1x1 8 -> 1x1 8, 8 -> 3x3 8 -> 3x3 2 -> max    906
regression      conv       uniform: 4 x (3x3 16m, ReLU; pool x3) -> dense 64 -> dense 2     72,850
regression      conv       quadrant: 3x3 16m, 5 x (3x3 stride-2 16m), 3x3 2 -> average     12,050
rendering       coordconv  the classification model -> softmax over pixels -> 3x3 8m, 8m,   11,850
                           16m, 16m, 1
rendering       conv       the classification deconv stack, one logit per pixel            46,465
==============  =========  ==============================================================  ======

The critics' baselines (issue "fair comparison"), built the same way:

* ``mlp``: no convolution at all. Classification/rendering: ``(x, y)`` -> dense 256m -> 256m ->
  one logit per pixel; regression: the flattened one-hot -> 256m -> 256m -> 2.
* ``conv-tiled``: the CoordConv model with its coordinate channels removed: the same tiled
  ``(x, y)`` input (or one-hot) and layer widths (x m), every 1x1 CoordConv/conv replaced by a
  plain ``k x k`` conv with zero ``"same"`` padding (a 1x1 would see no position at all), so any
  position it knows comes from the canvas border (Islam et al. 2020; Kayhan & van Gemert 2020).

(params for m = 1 and deconv k = 2; ``core.train.count_params`` gives the exact number for any config.)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from coordconv import CoordConv2d
from coordconv.experiments.notsoclevr.data import TASKS

__all__ = [
    "KINDS",
    "PAPER_KINDS",
    "ModelConfig",
    "build_model",
    "init_as_offsets",
]

# The paper's two arms, then the critics' baselines. `reproduce` runs PAPER_KINDS; the fair
# comparison (`reproduce --fair`) runs all of KINDS.
PAPER_KINDS = ("conv", "coordconv")
KINDS = (*PAPER_KINDS, "mlp", "conv-tiled")


@dataclass(frozen=True)
class ModelConfig:
    """What defines one of the paper's models."""

    task: str  # classification | regression | rendering
    kind: str  # conv (the paper's baseline) | coordconv | mlp | conv-tiled
    canvas: int = 64  # image side in pixels
    width: int = 1  # channel multiplier m
    kernel: int = 2  # conv: the stride-2 deconvs' kernel; conv-tiled: its "same" convs' kernel
    regression_conv: str = (
        "pooled"  # conv regression baseline: pooled (uniform) | strided (quadrant)
    )
    with_r: bool = False  # CoordConv models: add the radius channel
    onehot_gain: float = 1.0  # regression: scale of the one-hot input (1 = the paper)
    softmax_peak: str = "sum"  # CoordConv rendering: normalise the pixel softmax by its sum or max
    offset_init: bool = False  # CoordConv classification/rendering: start from offset units

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.kind not in KINDS:
            raise ValueError(f"{self.task} model kind must be one of {KINDS}, got {self.kind!r}")
        if self.regression_conv not in ("pooled", "strided"):
            raise ValueError(
                f"regression_conv must be 'pooled' or 'strided', got {self.regression_conv!r}"
            )
        if self.offset_init and self.kind != "coordconv":
            raise ValueError(f"offset_init is for CoordConv models only, not {self.kind!r}")
        if self.width < 1 or self.kernel < 1:
            raise ValueError(f"width and kernel must be >= 1, got {self.width}, {self.kernel}")
        if self.canvas & (self.canvas - 1) and self.kind == "conv" and self.task != "regression":
            raise ValueError(
                f"the deconv baseline doubles a 1x1 input: canvas must be a power of two, "
                f"got {self.canvas}"
            )


class PixelsToUnit(nn.Module):
    """Centres in pixels ``(N, 2)`` -> ``[-1, 1]`` (the library's coordinate convention)."""

    def __init__(self, canvas: int) -> None:
        super().__init__()
        self.canvas = canvas

    def forward(self, centres: Tensor) -> Tensor:
        return centres * (2.0 / (self.canvas - 1)) - 1.0

    def extra_repr(self) -> str:
        return f"canvas={self.canvas}"


class Scale(nn.Module):
    """Multiply by a fixed ``gain`` (no parameters)."""

    def __init__(self, gain: float) -> None:
        super().__init__()
        self.gain = gain

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gain

    def extra_repr(self) -> str:
        return f"gain={self.gain}"


class Tile(nn.Module):
    """``(N, C)`` -> ``(N, C, size, size)``: each value repeated over the canvas (a view)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        return x[:, :, None, None].expand(-1, -1, self.size, self.size)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class GlobalPool(nn.Module):
    """``(N, C, H, W)`` -> ``(N, C)`` by the maximum or the mean over positions."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        return x.amax(dim=(2, 3)) if self.mode == "max" else x.mean(dim=(2, 3))

    def extra_repr(self) -> str:
        return self.mode


class PixelSoftmax(nn.Module):
    """Softmax over all pixels of a one-channel map: ``(N, H*W)`` logits -> ``(N, 1, H, W)``.

    ``peak="sum"`` is the plain softmax (the map sums to 1); ``peak="max"`` divides it by its
    maximum, i.e. ``exp(logits - max(logits))``: the same map, with its peak at exactly 1. At
    initialisation the plain softmax is ~1/(H*W) everywhere, which starves both the layers after
    it (inputs ~2e-4) and its own gradient (``p(1-p)``); the max-normalised map starts near 1.
    """

    def __init__(self, size: int, peak: str = "sum") -> None:
        super().__init__()
        if peak not in ("sum", "max"):
            raise ValueError(f"peak must be 'sum' or 'max', got {peak!r}")
        self.size = size
        self.peak = peak

    def forward(self, logits: Tensor) -> Tensor:
        if self.peak == "max":
            probs = (logits - logits.amax(dim=1, keepdim=True)).exp()
        else:
            probs = logits.softmax(dim=1)
        return probs.view(-1, 1, self.size, self.size)

    def extra_repr(self) -> str:
        return f"size={self.size}, peak={self.peak}"


def _convs(widths: list[int], kernel: int, relu_last: bool = False) -> list[nn.Module]:
    """Same-padded ``kernel x kernel`` convs ``widths[0] -> widths[1] -> ...`` with ReLU between."""
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Conv2d(c_in, c_out, kernel, padding="same"))
        if relu_last or i < len(widths) - 2:
            layers.append(nn.ReLU())
    return layers


@torch.no_grad()
def init_as_offsets(layer: CoordConv2d) -> None:
    """Make every unit of a CoordConv over tiled ``(x, y)`` see only the offsets ``j - x``, ``i - y``.

    The input weights are kept (the usual random init) and the coordinate weights set to their
    negatives: the column channel ``j`` gets ``-w_x``, the row channel ``i`` gets ``-w_y`` (the
    radius channel, if any, 0). A stack of 1x1 layers on top then computes a function of the
    offset between each pixel and the input centre, the same for every centre, so the map it
    starts from extrapolates to centres never seen in training. Training may leave this form;
    nothing ties the weights afterwards.
    """
    if layer.in_channels != 2 or layer.weight.shape[2:] != (1, 1):
        raise ValueError(
            "init_as_offsets needs a 1x1 CoordConv2d over the two tiled (x, y) channels"
        )
    layer.coord_weight.zero_()
    layer.coord_weight[:, 0] = -layer.input_weight[:, 1]  # row i  <- -w_y
    layer.coord_weight[:, 1] = -layer.input_weight[:, 0]  # column j <- -w_x


def _pointer(cfg: ModelConfig) -> list[nn.Module]:
    """Tiled (x, y) -> one logit per pixel ``(N, H*W)``: CoordConv 1x1 layers (coordconv), or the
    same stack without coordinates as ``k x k`` zero-padded convs (conv-tiled)."""
    first: nn.Module
    if cfg.kind == "coordconv":
        first, kernel, m = CoordConv2d(2, 32, 1, with_r=cfg.with_r), 1, 1
        if cfg.offset_init:
            init_as_offsets(first)
    else:
        kernel, m = cfg.kernel, cfg.width
        first = nn.Conv2d(2, 32 * m, kernel, padding="same")
    return [
        PixelsToUnit(cfg.canvas),
        Tile(cfg.canvas),
        first,
        nn.ReLU(),
        *_convs([32 * m, 32 * m, 64 * m, 64 * m, 1], kernel),
        nn.Flatten(),
    ]


def _mlp(cfg: ModelConfig) -> list[nn.Module]:
    """Dense layers only: ``(x, y)`` -> a logit per pixel, or a flattened one-hot -> ``(x, y)``."""
    hidden = 256 * cfg.width
    if cfg.task == "regression":
        head: list[nn.Module] = [nn.Flatten(), nn.Linear(cfg.canvas * cfg.canvas, hidden)]
        out = 2
    else:
        head, out = [PixelsToUnit(cfg.canvas), nn.Linear(2, hidden)], cfg.canvas * cfg.canvas
    layers = [*head, nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out)]
    if cfg.task == "regression":
        layers = [*_gain(cfg), *layers]
    if cfg.task == "rendering":
        layers.append(nn.Unflatten(1, (1, cfg.canvas, cfg.canvas)))
    return layers


def _deconv_stack(cfg: ModelConfig) -> list[nn.Module]:
    """The paper's deconv baseline: ``(x, y)`` as a 1x1 image, doubled by stride-2 deconvs to the canvas."""
    m, k = cfg.width, cfg.kernel
    doublings = cfg.canvas.bit_length() - 1
    hidden = [64 * m, 64 * m, 64 * m, 32 * m, 32 * m][: doublings - 1]
    widths = [2, *hidden, *[32 * m] * (doublings - 1 - len(hidden)), 1]
    layers: list[nn.Module] = [PixelsToUnit(cfg.canvas), nn.Unflatten(1, (2, 1, 1))]
    for i, (c_in, c_out) in enumerate(itertools.pairwise(widths)):
        # output = 2 * input for any k: padding (k-1)//2, output_padding k % 2
        layers.append(nn.ConvTranspose2d(c_in, c_out, k, 2, (k - 1) // 2, k % 2))
        if i < len(widths) - 2:
            layers += [nn.BatchNorm2d(c_out), nn.ReLU()]
    return layers


def _gain(cfg: ModelConfig) -> list[nn.Module]:
    """The one-hot input's scale for the baselines, only when it is not 1 (so the paper's
    models keep their layer indices, and old checkpoints their keys)."""
    return [] if cfg.onehot_gain == 1.0 else [Scale(cfg.onehot_gain)]


def build_model(cfg: ModelConfig) -> nn.Module:
    """The model ``cfg`` describes, freshly initialised (seed with ``torch.manual_seed`` first).

    Inputs and outputs per task (see ``data.task_tensors``):
    classification ``(N, 2)`` pixels -> ``(N, canvas*canvas)`` logits;
    regression ``(N, 1, canvas, canvas)`` one-hot -> ``(N, 2)`` centre in ``[-1, 1]``;
    rendering ``(N, 2)`` pixels -> ``(N, 1, canvas, canvas)`` logits.
    """
    m = cfg.width
    layers: list[nn.Module]
    if cfg.kind == "mlp":
        layers = _mlp(cfg)
    elif cfg.task == "regression" and cfg.kind in ("coordconv", "conv-tiled"):
        if cfg.kind == "coordconv":
            first: nn.Module = CoordConv2d(1, 8, 1, with_r=cfg.with_r)
            k, c = 1, 8
        else:
            k, c = cfg.kernel, 8 * m
            first = nn.Conv2d(1, c, k, padding="same")
        layers = [
            Scale(cfg.onehot_gain),
            first,  # no activations: the paper's regression stack is linear up to the max
            nn.Conv2d(c, c, k, padding="same"),
            nn.Conv2d(c, c, k, padding="same"),
            nn.Conv2d(c, 8, 3, padding=1),
            nn.Conv2d(8, 2, 3, padding=1),
            GlobalPool("max"),
        ]
    elif cfg.task == "regression" and cfg.regression_conv == "pooled":
        blocks: list[nn.Module] = []
        for c_in in (1, 16 * m, 16 * m):
            blocks += [nn.Conv2d(c_in, 16 * m, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        side = cfg.canvas // 8
        layers = [
            *_gain(cfg),
            *blocks,
            *_convs([16 * m, 16 * m], 3, relu_last=True),
            nn.Flatten(),
            nn.Linear(16 * m * side * side, 64),
            nn.ReLU(),
            nn.Linear(64, 2),
        ]
    elif cfg.task == "regression":
        layers = [*_gain(cfg), nn.Conv2d(1, 16 * m, 3, padding=1), nn.ReLU()]
        for _ in range(5):
            layers += [nn.Conv2d(16 * m, 16 * m, 3, stride=2, padding=1), nn.ReLU()]
        layers += [nn.Conv2d(16 * m, 2, 3, padding=1), GlobalPool("mean")]
    elif cfg.kind in ("coordconv", "conv-tiled"):
        layers = _pointer(cfg)
        if cfg.task == "rendering":
            layers += [
                PixelSoftmax(cfg.canvas, cfg.softmax_peak),
                *_convs([1, 8 * m, 8 * m, 16 * m, 16 * m, 1], 3),
            ]
    else:
        layers = _deconv_stack(cfg)
        if cfg.task == "classification":
            layers.append(nn.Flatten())
    return nn.Sequential(*layers)
