"""Digits on a canvas: handwritten digits placed on 64x64 canvases with clutter, made locally.

The 1797 8x8 digits bundled with scikit-learn (``load_digits``; the ``[digits]`` extra), upscaled
to 16x16 (bilinear) with values in [0, 1], are split by *image* into fit / validation / test pools
(60 / 20 / 20 %, seeded), so test canvases show digits never seen in training. Each canvas holds
one digit at a drawn position and light clutter, so that position is not simply the brightest
pixel: ``FRAGMENTS`` 6x6 crops of digits drawn from the same pool, placed off the digit's box, and
Gaussian noise (std ``NOISE``), clipped to [0, 1].

Targets: the digit's class and its centre ``(x, y)`` in pixels (the middle of its 16x16 box:
``left + 7.5``, ``top + 7.5``, so centres run over 7.5 .. canvas - 8.5).

Splits (positions are the box's top-left corners, drawn uniformly from a region):

* ``uniform``: every part draws from all positions;
* ``quadrant``: test digits are centred in the bottom-right quadrant (``x > canvas/2`` and
  ``y > canvas/2``), never seen in training; validation digits are centred in the two far corner
  blocks of the training quadrants (``x > 3/4, y < 1/4`` and ``x < 1/4, y > 3/4`` of the canvas,
  the rule of ``data.validation_mask``), and fitting digits everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "CLASSES",
    "DIGIT",
    "FRAGMENTS",
    "NOISE",
    "SPLITS",
    "DigitCanvases",
    "DigitsDependencyError",
    "load_digit_images",
    "make_digit_canvases",
    "position_regions",
]

CLASSES = 10  # digit classes 0-9
DIGIT = 16  # side of a digit on the canvas, in pixels (8x8 upscaled x2)
FRAGMENTS = 2  # clutter: crops of other digits per canvas
FRAGMENT = 6  # side of a crop
NOISE = 0.05  # clutter: std of the Gaussian pixel noise
SPLITS = (
    "uniform",
    "quadrant",
)  # as Not-so-Clevr's: anywhere, or the bottom-right quadrant held out
POOLS = (0.6, 0.2, 0.2)  # fit / validation / test shares of the digit images and the canvases


class DigitsDependencyError(ImportError):
    """scikit-learn (which bundles the digits) is not installed."""


def load_digit_images() -> tuple[Tensor, Tensor]:
    """The 1797 scikit-learn digits as ``(images (N, 16, 16) float32 in [0, 1], labels (N,))``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise DigitsDependencyError(
            "the digits demo needs scikit-learn (it bundles the digits, no download): "
            "pip install 'torch-coordconv[digits]'"
        ) from err
    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
    images = F.interpolate(images, size=(DIGIT, DIGIT), mode="bilinear", align_corners=False)
    return images[:, 0].clamp(0.0, 1.0), torch.as_tensor(digits.target, dtype=torch.int64)


def position_regions(canvas: int, split: str) -> dict[str, Tensor]:
    """Part (``fit``, ``val``, ``test``) -> the ``(K, 2)`` int64 top-left corners ``(left, top)``
    its digits may be drawn at (see the module doc for the rules)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if canvas < 2 * DIGIT:
        raise ValueError(f"canvas must be >= {2 * DIGIT} px for {DIGIT} px digits, got {canvas}")
    side = torch.arange(canvas - DIGIT + 1)
    tops, lefts = torch.meshgrid(side, side, indexing="ij")
    corners = torch.stack([lefts.flatten(), tops.flatten()], dim=1)
    if split == "uniform":
        return {"fit": corners, "val": corners, "test": corners}
    x, y = (corners + (DIGIT - 1) / 2).unbind(1)
    low, middle, high = canvas / 4, canvas / 2, 3 * canvas / 4
    test = (x > middle) & (y > middle)
    val = ((x > high) & (y < low)) | ((x < low) & (y > high))
    regions = {"fit": corners[~test & ~val], "val": corners[val], "test": corners[test]}
    empty = [part for part, region in regions.items() if len(region) == 0]
    if empty:
        raise ValueError(
            f"a {canvas} px canvas leaves no position for the quadrant split's {empty} digits; "
            f"use canvas >= 40"
        )
    return regions


@dataclass
class DigitCanvases:
    """Canvases and their targets, example-aligned, with the parts as index tensors.

    Attributes:
        images: ``(N, 1, canvas, canvas)`` float32 in [0, 1].
        centres: ``(N, 2)`` float32 ``(x, y)`` in pixels.
        labels: ``(N,)`` int64 digit classes.
        digit_ids: ``(N,)`` int64 index of the scikit-learn image shown.
        parts: ``fit``, ``val``, ``test`` -> sorted int64 indices (disjoint, covering all).
    """

    images: Tensor
    centres: Tensor
    labels: Tensor
    digit_ids: Tensor
    parts: dict[str, Tensor]

    def targets(self) -> Tensor:
        """``(N, 3)`` float32 ``(x, y, class)``: what the training engine's digits task reads."""
        return torch.cat([self.centres, self.labels[:, None].float()], dim=1)


PARTS = ("fit", "val", "test")


def _shares(n: int) -> list[int]:
    """``n`` split by ``POOLS`` (the test part takes the rounding)."""
    n_fit, n_val = round(POOLS[0] * n), round(POOLS[1] * n)
    return [n_fit, n_val, n - n_fit - n_val]


def _split_images(n: int, generator: torch.Generator) -> dict[str, Tensor]:
    cuts = torch.randperm(n, generator=generator).split(_shares(n))
    return {part: ids.sort().values for part, ids in zip(PARTS, cuts, strict=True)}


def make_digit_canvases(
    split: str, *, canvas: int = 64, canvases: int = 5000, seed: int = 0
) -> DigitCanvases:
    """Draw ``canvases`` canvases (60 / 20 / 20 % fit / val / test) for ``split``, seeded.

    The same ``seed`` gives the same canvases (and the same image pools) for every model, as the
    Not-so-Clevr split does.

    Example:
        >>> data = make_digit_canvases("quadrant", canvases=50)
        >>> tuple(data.images.shape), {k: len(v) for k, v in data.parts.items()}
        ((50, 1, 64, 64), {'fit': 30, 'val': 10, 'test': 10})
    """
    if canvases < 3:
        raise ValueError(f"canvases must be >= 3 (one per part), got {canvases}")
    generator = torch.Generator().manual_seed(seed)
    digits, labels = load_digit_images()
    pools = _split_images(len(digits), generator)
    regions = position_regions(canvas, split)
    images = torch.zeros(canvases, canvas, canvas)
    centres = torch.zeros(canvases, 2)
    chosen = torch.zeros(canvases, dtype=torch.int64)
    parts, start = {}, 0
    for part, n in zip(PARTS, _shares(canvases), strict=True):
        parts[part] = torch.arange(start, start + n)
        pool, region = pools[part], regions[part]
        ids = pool[torch.randint(len(pool), (n,), generator=generator)]
        corners = region[torch.randint(len(region), (n,), generator=generator)]
        others = pool[torch.randint(len(pool), (n, FRAGMENTS), generator=generator)]
        for i, (digit, (left, top), clutter) in enumerate(
            zip(ids.tolist(), corners.tolist(), others.tolist(), strict=True), start
        ):
            _add_clutter(images[i], digits, clutter, (left, top), generator)
            box = images[i, top : top + DIGIT, left : left + DIGIT]
            torch.maximum(box, digits[digit], out=box)
        centres[start : start + n] = corners.float() + (DIGIT - 1) / 2
        chosen[start : start + n] = ids
        start += n
    noise = NOISE * torch.randn(images.shape, generator=generator)
    images = (images + noise).clamp(0.0, 1.0)
    return DigitCanvases(images[:, None], centres, labels[chosen], chosen, parts)


def _add_clutter(
    image: Tensor,
    digits: Tensor,
    others: list[int],
    corner: tuple[int, int],
    generator: torch.Generator,
    tries: int = 20,
) -> None:
    """Paste a random ``FRAGMENT``-pixel crop of each digit in ``others`` where it does not touch the
    digit's box at ``corner`` (a crop that finds no such place in ``tries`` draws is left out)."""
    canvas = image.shape[-1]
    left, top = corner
    for other in others:
        dx, dy = torch.randint(DIGIT - FRAGMENT + 1, (2,), generator=generator).tolist()
        crop = digits[other, dy : dy + FRAGMENT, dx : dx + FRAGMENT]
        for _ in range(tries):
            x, y = torch.randint(canvas - FRAGMENT + 1, (2,), generator=generator).tolist()
            beside = x + FRAGMENT <= left or x >= left + DIGIT
            above_or_below = y + FRAGMENT <= top or y >= top + DIGIT
            if beside or above_or_below:
                patch = image[y : y + FRAGMENT, x : x + FRAGMENT]
                torch.maximum(patch, crop, out=patch)
                break
