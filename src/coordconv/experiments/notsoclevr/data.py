"""Not-so-Clevr (Liu et al., 2018): one filled square per canvas, on every centre of the inner grid.

Each example is a centre ``(x, y)`` (x = column, y = row), its one-hot canvas (a 1 at row ``y``,
column ``x``) and the image of the ``square x square`` square around it (1 inside, 0 outside).
With the defaults (64x64 canvas, 9x9 squares) centres run over rows and columns 4..59: 56 x 56 =
3136 examples. ``make_split`` gives the paper's *uniform* and *quadrant* train/test splits and
``task_tensors`` / ``TaskDataset`` what each of the three tasks reads.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

__all__ = [
    "QUADRANTS",
    "SPLITS",
    "TASKS",
    "VALIDATION_RULES",
    "NotSoClevr",
    "TaskDataset",
    "make_split",
    "task_tensors",
    "validation_split",
]

# The registry of names: tasks and splits are spelled here only (model kinds: models.KINDS).
TASKS = ("classification", "regression", "rendering")
SPLITS = ("uniform", "quadrant")
Task = Literal["classification", "regression", "rendering"]
QUADRANTS = ("bottom-right", "bottom-left", "top-right", "top-left")


class NotSoClevr:
    """Every ``square x square`` square whose centre fits on a ``canvas x canvas`` canvas.

    Args:
        canvas: side of the canvas in pixels (default 64).
        square: side of the square, odd so that it has a centre pixel (default 9).

    Attributes:
        centres: ``(N, 2)`` int64, columns ``x`` (column index) and ``y`` (row index); examples
            are ordered row by row (``y`` major, then ``x``).
        onehots: ``(N, canvas, canvas)`` bool, True only at ``[y, x]``.
        squares: ``(N, canvas, canvas)`` bool, True on rows ``y-h..y+h`` and columns ``x-h..x+h``
            with ``h = square // 2``.

    Example:
        >>> data = NotSoClevr()
        >>> len(data), data.centres[0].tolist(), int(data.squares[0].sum())
        (3136, [4, 4], 81)
    """

    def __init__(self, canvas: int = 64, square: int = 9) -> None:
        if square < 1 or square % 2 == 0:
            raise ValueError(
                f"NotSoClevr: square must be a positive odd size (it needs a centre pixel), "
                f"got square={square}; use e.g. 9"
            )
        if square > canvas:
            raise ValueError(
                f"NotSoClevr: a {square}x{square} square does not fit on a {canvas}x{canvas} "
                f"canvas; use square <= canvas"
            )
        self.canvas = canvas
        self.square = square
        half = square // 2
        inner = torch.arange(half, canvas - half)  # centres whose square fits
        rows, cols = torch.meshgrid(inner, inner, indexing="ij")
        self.centres = torch.stack([cols.flatten(), rows.flatten()], dim=1)  # (N, 2): x, y
        x, y = self.centres[:, 0], self.centres[:, 1]
        pixels = torch.arange(canvas)
        in_rows = (pixels[None, :] - y[:, None]).abs() <= half  # (N, canvas)
        in_cols = (pixels[None, :] - x[:, None]).abs() <= half  # (N, canvas)
        self.squares = in_rows[:, :, None] & in_cols[:, None, :]  # (N, canvas, canvas)
        self.onehots = (pixels[None, :, None] == y[:, None, None]) & (
            pixels[None, None, :] == x[:, None, None]
        )

    def __len__(self) -> int:
        return self.centres.shape[0]

    def __repr__(self) -> str:
        return f"NotSoClevr(canvas={self.canvas}, square={self.square}, examples={len(self)})"

    @property
    def class_index(self) -> Tensor:
        """``(N,)`` int64 pixel index of each centre in the flattened canvas: ``y * canvas + x``."""
        return self.centres[:, 1] * self.canvas + self.centres[:, 0]

    def to_numpy(self) -> dict[str, np.ndarray]:
        """The arrays (and sizes) as NumPy, e.g. for ``np.savez``."""
        return {
            "centres": self.centres.numpy(),
            "onehots": self.onehots.numpy(),
            "squares": self.squares.numpy(),
            "canvas": np.array(self.canvas),
            "square": np.array(self.square),
        }


def quadrant_mask(dataset: NotSoClevr, quadrant: str = "bottom-right") -> Tensor:
    """``(N,)`` bool: centres strictly inside ``quadrant`` (``x`` and ``y`` compared with canvas/2).

    On the default 64 canvas the bottom-right quadrant (``x > 32 and y > 32``) holds 27 x 27 = 729
    centres, the top-left (``x < 32 and y < 32``) 28 x 28 = 784, the other two 27 x 28 = 756: the
    centre row and column (32) belong to no quadrant and stay in training.
    """
    if quadrant not in QUADRANTS:
        raise ValueError(f"quadrant must be one of {QUADRANTS}, got {quadrant!r}")
    middle = dataset.canvas / 2
    x, y = dataset.centres[:, 0].double(), dataset.centres[:, 1].double()
    vertical, horizontal = quadrant.split("-")
    in_rows = y > middle if vertical == "bottom" else y < middle
    in_cols = x > middle if horizontal == "right" else x < middle
    return in_rows & in_cols


def make_split(
    dataset: NotSoClevr,
    kind: str,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    quadrant: str = "bottom-right",
    per_example_draw: bool = False,
) -> tuple[Tensor, Tensor]:
    """Split the examples into ``(train_idx, test_idx)``: sorted int64 index tensors, disjoint, covering all.

    Args:
        dataset: the examples to split.
        kind: ``"uniform"`` (random) or ``"quadrant"`` (hold out one quadrant of centres).
        test_fraction: uniform only: exactly ``round(test_fraction * N)`` test examples (627 of
            3136 at the default 0.2). The official code uses 0.25.
        seed: uniform only: seeds the ``torch.Generator`` that draws the test examples.
        quadrant: quadrant only: which quadrant is held out (see ``quadrant_mask``).
        per_example_draw: uniform only: instead of an exact count, put each example in test with
            probability ``test_fraction``, as the official code does (its NumPy stream, which gives
            768 test examples at seed 20202, is not reproduced).

    Example:
        >>> data = NotSoClevr()
        >>> [len(i) for i in make_split(data, "uniform")], [len(i) for i in make_split(data, "quadrant")]
        ([2509, 627], [2407, 729])
    """
    n = len(dataset)
    if kind == "quadrant":
        is_test = quadrant_mask(dataset, quadrant)
    elif kind == "uniform":
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        generator = torch.Generator().manual_seed(seed)
        if per_example_draw:
            is_test = torch.rand(n, generator=generator) < test_fraction
        else:
            is_test = torch.zeros(n, dtype=torch.bool)
            is_test[torch.randperm(n, generator=generator)[: round(test_fraction * n)]] = True
    else:
        raise ValueError(f"split kind must be one of {SPLITS}, got {kind!r}")
    if bool(is_test.all()) or not bool(is_test.any()):
        raise ValueError(f"the {kind} split left an empty train or test set; change its options")
    return torch.nonzero(~is_test).flatten(), torch.nonzero(is_test).flatten()


VALIDATION_RULES = ("band", "corners")
BAND = 3 / 8  # the band's threshold as a share of the canvas: 24 on the default 64 canvas


def _toward(values: Tensor, side: str, threshold: float, canvas: int) -> Tensor:
    """``values > threshold`` toward the high side (bottom, right), mirrored toward the low."""
    return values > threshold if side in ("bottom", "right") else values < canvas - threshold


def validation_mask(
    dataset: NotSoClevr, quadrant: str = "bottom-right", rule: str = "band"
) -> Tensor:
    """``(N,)`` bool: the quadrant split's validation centres, inside its training part.

    * ``"band"`` (default): the held-out quadrant's shape one step inside the training part, the
      centres beyond ``3/8 canvas`` toward the held-out corner that are not held out (for
      ``bottom-right``: ``x > 24 and y > 24``, minus the test quadrant; 496 centres on 64/9).
      It has the test's *extrapolation signature*: the held-out bottom-right quadrant shows
      values of ``min(x, y)`` and ``x + y`` that training never shows, and so does the band
      against the fitting part, while every ``x``, ``y`` and ``x - y`` of either occurs in the part
      it is fitted on (top-left: ``max(x, y)`` and ``x + y``; bottom-left and top-right: ``x - y``
      alone). ``tests/experiments/test_data.py`` checks it for every quadrant.
    * ``"corners"`` (the rule before): the two far corner blocks of the training quadrants,
      ``x > 3/4 canvas, y < 1/4 canvas`` and ``x < 1/4 canvas, y > 3/4 canvas`` (264 centres on
      64/9). They extrapolate in ``x - y`` instead, so they stay blind to the test's failure.
    """
    if rule not in VALIDATION_RULES:
        raise ValueError(f"validation rule must be one of {VALIDATION_RULES}, got {rule!r}")
    x, y = dataset.centres[:, 0].double(), dataset.centres[:, 1].double()
    canvas = dataset.canvas
    if rule == "corners":
        low, high = canvas / 4, 3 * canvas / 4
        return ((x > high) & (y < low)) | ((x < low) & (y > high))
    held_out = quadrant_mask(dataset, quadrant)  # also checks the quadrant's name
    vertical, horizontal = quadrant.split("-")
    threshold = BAND * canvas
    near = _toward(y, vertical, threshold, canvas) & _toward(x, horizontal, threshold, canvas)
    return near & ~held_out


def validation_split(
    dataset: NotSoClevr,
    kind: str,
    train_idx: Tensor,
    *,
    fraction: float = 0.2,
    seed: int = 0,
    quadrant: str = "bottom-right",
    rule: str = "band",
) -> tuple[Tensor, Tensor]:
    """Split a split's training part into ``(fit_idx, val_idx)``: sorted, disjoint, covering it.

    Every choice (recipe, epochs, stopping, sweep selection) is made on ``val_idx``; the test part
    is never touched (its indices are not in ``train_idx``, so they cannot appear here).

    Args:
        dataset: the examples.
        kind: the split ``train_idx`` comes from: ``"uniform"`` draws a seeded random
            ``round(fraction * len(train_idx))`` of the training examples (502 of 2509 at the
            defaults); ``"quadrant"`` takes :func:`validation_mask` (``fraction`` and ``seed``
            are not used: the rule is fixed).
        train_idx: the training indices of :func:`make_split`.
        fraction: uniform only: the share of ``train_idx`` that goes to validation.
        seed: uniform only: seeds the ``torch.Generator`` of the draw.
        quadrant: quadrant only: the held-out quadrant ``train_idx`` was split from.
        rule: quadrant only: ``"band"`` (default) or ``"corners"`` (see :func:`validation_mask`).

    Example:
        >>> data = NotSoClevr()
        >>> train_idx, _ = make_split(data, "quadrant")
        >>> [len(i) for i in validation_split(data, "quadrant", train_idx)]
        [1911, 496]
    """
    train_idx = train_idx.long()
    if kind == "uniform":
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
        generator = torch.Generator().manual_seed(seed)
        in_val = torch.zeros(len(train_idx), dtype=torch.bool)
        in_val[
            torch.randperm(len(train_idx), generator=generator)[: round(fraction * len(train_idx))]
        ] = True
    elif kind == "quadrant":
        in_val = validation_mask(dataset, quadrant, rule)[train_idx]
    else:
        raise ValueError(f"split kind must be one of {SPLITS}, got {kind!r}")
    if bool(in_val.all()) or not bool(in_val.any()):
        raise ValueError(f"the {kind} validation split left an empty fit or validation set")
    return train_idx[~in_val].sort().values, train_idx[in_val].sort().values


def task_tensors(dataset: NotSoClevr, task: str) -> tuple[Tensor, Tensor]:
    """All ``(inputs, targets)`` of a task, as float32 (class indices int64), example-aligned.

    * classification: ``(N, 2)`` centre ``(x, y)`` in pixels -> ``(N,)`` pixel index ``y*canvas+x``;
    * regression: ``(N, 1, canvas, canvas)`` one-hot canvas -> ``(N, 2)`` centre in pixels;
    * rendering: ``(N, 2)`` centre in pixels -> ``(N, 1, canvas, canvas)`` square image in {0, 1}.

    Models scale their inputs and outputs themselves; these are the task's own units.
    """
    centres = dataset.centres.float()
    if task == "classification":
        return centres, dataset.class_index
    if task == "regression":
        return dataset.onehots[:, None].float(), centres
    if task == "rendering":
        return centres, dataset.squares[:, None].float()
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


class TaskDataset(Dataset[tuple[Tensor, Tensor]]):
    """A ``torch.utils.data.Dataset`` of ``(input, target)`` pairs for one task and index subset.

    Example:
        >>> data = NotSoClevr()
        >>> train_idx, test_idx = make_split(data, "quadrant")
        >>> test = TaskDataset(data, "regression", test_idx)
        >>> image, centre = test[0]
        >>> len(test), tuple(image.shape), centre.tolist()
        (729, (1, 64, 64), [33.0, 33.0])
    """

    def __init__(self, dataset: NotSoClevr, task: str, indices: Tensor | None = None) -> None:
        self.dataset = dataset
        self.task = task
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        self.indices = torch.arange(len(dataset)) if indices is None else indices.long()

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> tuple[Tensor, Tensor]:
        i = int(self.indices[item])
        x, y = self.dataset.centres[i]
        centre = self.dataset.centres[i].float()
        if self.task == "classification":
            return centre, y * self.dataset.canvas + x
        if self.task == "regression":
            return self.dataset.onehots[i][None].float(), centre
        return centre, self.dataset.squares[i][None].float()
