"""Digits on a canvas: handwritten digits placed on 64x64 canvases with clutter, made locally.

The 1797 8x8 digits bundled with scikit-learn (``load_digits``; the ``[digits]`` extra), upscaled
to 16x16 (bilinear) with values in [0, 1], are split by *image* into fit / validation / test pools
(60 / 20 / 20 %, seeded), so test canvases show digits never seen in training. Each canvas holds
one digit (the detector's: one to three) at a drawn position and light clutter, so that position is not simply the brightest
pixel: ``FRAGMENTS`` 6x6 crops of digits drawn from the same pool, placed off the digit's box, and
Gaussian noise (std ``NOISE``), clipped to [0, 1].

Targets: the digit's class and its centre ``(x, y)`` in pixels (the middle of its 16x16 box:
``left + 7.5``, ``top + 7.5``, so centres run over 7.5 .. canvas - 8.5).

Splits (positions are the box's top-left corners, drawn uniformly from a region):

* ``uniform``: every part draws from all positions;
* ``quadrant``: test digits are centred in the bottom-right quadrant (``x > canvas/2`` and
  ``y > canvas/2``), never seen in training; validation digits, by the ``band`` rule (default;
  Not-so-Clevr's ``validation_mask``), are centred in the L-shaped band one step inside the
  training part toward the held-out corner (``x > 3/8`` and ``y > 3/8`` of the canvas, not in the
  test quadrant): like the test against training, the band shows values of ``min(x, y)`` the
  fitting digits never show, so it asks for the test's kind of extrapolation. The ``corners``
  rule (before) took the two far corner blocks (``x > 3/4, y < 1/4`` and ``x < 1/4, y > 3/4``),
  which extrapolate in ``x - y`` instead and scored the plain net 1.63 px against 2.71 px on test.
  Fitting digits are centred everywhere else.

Detector canvases (``max_digits > 1``) hold 1 to ``max_digits`` digits that never overlap, all
drawn from their part's pool and positions; clutter stays off every digit's box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "BAND",
    "CLASSES",
    "DIGIT",
    "FRAGMENTS",
    "NOISE",
    "SPLITS",
    "VALIDATION_RULES",
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
VALIDATION_RULES = ("band", "corners")  # the quadrant split's validation positions
BAND = 3 / 8  # the band rule's threshold as a share of the canvas (Not-so-Clevr's)
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


def position_regions(canvas: int, split: str, rule: str = "band") -> dict[str, Tensor]:
    """Part (``fit``, ``val``, ``test``) -> the ``(K, 2)`` int64 top-left corners ``(left, top)``
    its digits may be drawn at (see the module doc for the rules; ``rule`` names the quadrant
    split's validation rule, ``"band"`` or ``"corners"``)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if rule not in VALIDATION_RULES:
        raise ValueError(f"validation rule must be one of {VALIDATION_RULES}, got {rule!r}")
    if canvas < 2 * DIGIT:
        raise ValueError(f"canvas must be >= {2 * DIGIT} px for {DIGIT} px digits, got {canvas}")
    side = torch.arange(canvas - DIGIT + 1)
    tops, lefts = torch.meshgrid(side, side, indexing="ij")
    corners = torch.stack([lefts.flatten(), tops.flatten()], dim=1)
    if split == "uniform":
        return {"fit": corners, "val": corners, "test": corners}
    x, y = (corners + (DIGIT - 1) / 2).unbind(1)
    middle = canvas / 2
    test = (x > middle) & (y > middle)
    if rule == "band":
        val = (x > BAND * canvas) & (y > BAND * canvas) & ~test
    else:
        low, high = canvas / 4, 3 * canvas / 4
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
    """Canvases and their targets, example-aligned, with the parts as index tensors. Each canvas
    holds up to ``K`` digits (``K = 1`` for the localiser, up to 3 for the detector); empty slots
    have label ``-1``, centre 0 and digit id ``-1``.

    Attributes:
        images: ``(N, 1, canvas, canvas)`` float32 in [0, 1].
        centres: ``(N, K, 2)`` float32 ``(x, y)`` in pixels.
        labels: ``(N, K)`` int64 digit classes.
        digit_ids: ``(N, K)`` int64 index of the scikit-learn image shown.
        parts: ``fit``, ``val``, ``test`` -> sorted int64 indices (disjoint, covering all).
    """

    images: Tensor
    centres: Tensor
    labels: Tensor
    digit_ids: Tensor
    parts: dict[str, Tensor]

    @property
    def counts(self) -> Tensor:
        """``(N,)`` int64: digits on each canvas."""
        return (self.labels >= 0).sum(dim=1)

    def targets(self) -> Tensor:
        """``(N, K, 3)`` float32 ``(x, y, class)`` per slot (class -1: no digit): what the
        engine's digits tasks read (the localiser's, with ``K = 1``, as ``(N, 3)``)."""
        return torch.cat([self.centres, self.labels[..., None].float()], dim=2)


PARTS = ("fit", "val", "test")


def _shares(n: int) -> list[int]:
    """``n`` split by ``POOLS`` (the test part takes the rounding)."""
    n_fit, n_val = round(POOLS[0] * n), round(POOLS[1] * n)
    return [n_fit, n_val, n - n_fit - n_val]


def _split_images(n: int, generator: torch.Generator) -> dict[str, Tensor]:
    cuts = torch.randperm(n, generator=generator).split(_shares(n))
    return {part: ids.sort().values for part, ids in zip(PARTS, cuts, strict=True)}


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two digit boxes with top-left corners ``a`` and ``b`` overlap."""
    return abs(a[0] - b[0]) < DIGIT and abs(a[1] - b[1]) < DIGIT


def _place(region: Tensor, count: int, generator: torch.Generator, rounds: int = 20) -> list[Any]:
    """``count`` top-left corners from ``region`` whose boxes do not overlap (greedy over random
    candidates)."""
    for _ in range(rounds):
        placed: list[tuple[int, int]] = []
        for corner in region[torch.randint(len(region), (8 * count,), generator=generator)]:
            left, top = corner.tolist()
            if not any(_overlap((left, top), other) for other in placed):
                placed.append((left, top))
                if len(placed) == count:
                    return placed
    raise ValueError(
        f"found no place for {count} non-overlapping digits in a region of {len(region)} "
        f"positions; use a bigger canvas or fewer digits per canvas"
    )


def make_digit_canvases(
    split: str,
    *,
    canvas: int = 64,
    canvases: int = 5000,
    seed: int = 0,
    max_digits: int = 1,
    rule: str = "band",
) -> DigitCanvases:
    """Draw ``canvases`` canvases (60 / 20 / 20 % fit / val / test) for ``split``, seeded.

    Each canvas holds one digit (``max_digits=1``) or ``1..max_digits`` of them (drawn uniformly,
    never overlapping), all from its part's image pool and positions. ``rule`` is the quadrant
    split's validation rule (:func:`position_regions`). The same ``seed`` gives the same canvases
    (and the same image pools) for every model, as the Not-so-Clevr split does.

    Example:
        >>> data = make_digit_canvases("quadrant", canvases=50)
        >>> tuple(data.images.shape), {k: len(v) for k, v in data.parts.items()}
        ((50, 1, 64, 64), {'fit': 30, 'val': 10, 'test': 10})
    """
    if canvases < 3:
        raise ValueError(f"canvases must be >= 3 (one per part), got {canvases}")
    if max_digits < 1:
        raise ValueError(f"max_digits must be >= 1, got {max_digits}")
    generator = torch.Generator().manual_seed(seed)
    digits, labels = load_digit_images()
    pools = _split_images(len(digits), generator)
    regions = position_regions(canvas, split, rule)
    images = torch.zeros(canvases, canvas, canvas)
    centres = torch.zeros(canvases, max_digits, 2)
    chosen = torch.full((canvases, max_digits), -1, dtype=torch.int64)
    parts, start = {}, 0
    for part, n in zip(PARTS, _shares(canvases), strict=True):
        parts[part] = torch.arange(start, start + n)
        pool, region = pools[part], regions[part]
        ids = pool[torch.randint(len(pool), (n, max_digits), generator=generator)]
        if max_digits == 1:  # one digit: any position (the localiser's canvases, drawn at once)
            corners = [
                [c] for c in region[torch.randint(len(region), (n,), generator=generator)].tolist()
            ]
        else:
            counts = torch.randint(1, max_digits + 1, (n,), generator=generator).tolist()
            corners = [_place(region, k, generator) for k in counts]
        others = pool[torch.randint(len(pool), (n, FRAGMENTS), generator=generator)]
        for i, (digit_ids, boxes, clutter) in enumerate(
            zip(ids.tolist(), corners, others.tolist(), strict=True), start
        ):
            _add_clutter(images[i], digits, clutter, boxes, generator)
            for slot, (digit, (left, top)) in enumerate(zip(digit_ids, boxes, strict=False)):
                box = images[i, top : top + DIGIT, left : left + DIGIT]
                torch.maximum(box, digits[digit], out=box)
                centres[i, slot] = torch.tensor([left, top]) + (DIGIT - 1) / 2
                chosen[i, slot] = digit
        start += n
    noise = NOISE * torch.randn(images.shape, generator=generator)
    images = (images + noise).clamp(0.0, 1.0)
    shown = chosen >= 0
    digit_labels = torch.where(shown, labels[chosen.clamp(min=0)], -1)
    return DigitCanvases(images[:, None], centres, digit_labels, chosen, parts)


def _add_clutter(
    image: Tensor,
    digits: Tensor,
    others: list[int],
    boxes: list[Any],
    generator: torch.Generator,
    tries: int = 20,
) -> None:
    """Paste a random ``FRAGMENT``-pixel crop of each digit in ``others`` where it touches none of
    the digit boxes at the top-left corners ``boxes`` (a crop that finds no such place in
    ``tries`` draws is left out)."""
    canvas = image.shape[-1]
    for other in others:
        dx, dy = torch.randint(DIGIT - FRAGMENT + 1, (2,), generator=generator).tolist()
        crop = digits[other, dy : dy + FRAGMENT, dx : dx + FRAGMENT]
        for _ in range(tries):
            x, y = torch.randint(canvas - FRAGMENT + 1, (2,), generator=generator).tolist()
            if all(_apart(x, y, left, top) for left, top in boxes):
                patch = image[y : y + FRAGMENT, x : x + FRAGMENT]
                torch.maximum(patch, crop, out=patch)
                break


def _apart(x: int, y: int, left: int, top: int) -> bool:
    """Whether a crop at ``(x, y)`` stays off the digit box at ``(left, top)``."""
    beside = x + FRAGMENT <= left or x >= left + DIGIT
    above_or_below = y + FRAGMENT <= top or y >= top + DIGIT
    return beside or above_or_below
