"""Not-so-Clevr: sizes, geometry, splits and task views, against independent constructions."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coordconv.experiments.data import (
    NotSoClevr,
    TaskDataset,
    make_split,
    quadrant_mask,
    task_tensors,
)


@pytest.fixture(scope="module")
def data() -> NotSoClevr:
    return NotSoClevr()


def test_default_sizes(data):
    assert len(data) == 3136
    assert data.centres.dtype == torch.int64 and data.centres.shape == (3136, 2)
    assert data.onehots.dtype == torch.bool and data.onehots.shape == (3136, 64, 64)
    assert data.squares.dtype == torch.bool and data.squares.shape == (3136, 64, 64)
    assert data.centres.min() == 4 and data.centres.max() == 59
    assert len({tuple(c) for c in data.centres.tolist()}) == 3136


@pytest.mark.parametrize(("canvas", "square"), [(64, 9), (16, 3), (12, 5), (7, 7), (5, 1)])
def test_squares_are_centred_and_inside(canvas, square):
    data = NotSoClevr(canvas, square)
    half = square // 2
    assert len(data) == (canvas - 2 * half) ** 2
    assert (data.squares.sum(dim=(1, 2)) == square * square).all()
    assert (data.onehots.sum(dim=(1, 2)) == 1).all()
    for (x, y), onehot, sq in zip(data.centres.tolist(), data.onehots, data.squares, strict=True):
        assert onehot[y, x]
        rows, cols = np.nonzero(sq.numpy())
        assert (rows.min(), rows.max(), cols.min(), cols.max()) == (
            y - half,
            y + half,
            x - half,
            x + half,
        )


def test_two_line_construction(data):
    """Padded identity maps convolved with an all-ones 9x9 filter give the same images."""
    onehot56 = torch.eye(56 * 56).reshape(-1, 1, 56, 56)  # row-major: example y*56 + x
    onehot64 = F.pad(onehot56, (4, 4, 4, 4))
    squares = F.conv2d(onehot64, torch.ones(1, 1, 9, 9), padding=4)
    assert torch.equal(onehot64[:, 0].bool(), data.onehots)
    assert torch.equal(squares[:, 0].round().bool(), data.squares)


@pytest.mark.parametrize(("canvas", "square"), [(64, 8), (64, 0), (8, 9), (4, -1)])
def test_impossible_sizes_raise(canvas, square):
    with pytest.raises(ValueError, match="square"):
        NotSoClevr(canvas, square)


def _check_partition(n, train_idx, test_idx):
    assert train_idx.dtype == test_idx.dtype == torch.int64
    both = torch.cat([train_idx, test_idx])
    assert torch.equal(both.sort().values, torch.arange(n))


def test_uniform_split(data):
    train, test = make_split(data, "uniform", seed=0)
    _check_partition(3136, train, test)
    assert len(test) == 627 == round(0.2 * 3136)
    again = make_split(data, "uniform", seed=0)
    other = make_split(data, "uniform", seed=1)
    assert torch.equal(again[1], test)
    assert not torch.equal(other[1], test)
    official = make_split(data, "uniform", test_fraction=0.25, seed=3)
    assert len(official[1]) == 784
    drawn = make_split(data, "uniform", test_fraction=0.25, seed=3, per_example_draw=True)
    _check_partition(3136, *drawn)
    assert 650 < len(drawn[1]) < 920  # binomial(3136, 0.25): 784 +- 5 sigma


def test_quadrant_split(data):
    train, test = make_split(data, "quadrant")
    _check_partition(3136, train, test)
    assert len(test) == 729 and len(train) == 2407
    x, y = data.centres[test].T
    assert (x > 32).all() and (y > 32).all()
    x, y = data.centres[train].T
    assert not ((x > 32) & (y > 32)).any()
    assert int(quadrant_mask(data, "top-left").sum()) == 784
    assert int(quadrant_mask(data, "top-right").sum()) == 756


def test_bad_split_options(data):
    with pytest.raises(ValueError, match="split kind must be one of"):
        make_split(data, "diagonal")
    with pytest.raises(ValueError, match="test_fraction"):
        make_split(data, "uniform", test_fraction=1.5)
    with pytest.raises(ValueError, match="quadrant must be one of"):
        make_split(data, "quadrant", quadrant="middle")


@pytest.mark.parametrize("task", ["classification", "regression", "rendering"])
def test_views_agree(data, task):
    """The Dataset view, the pre-built tensors and the raw attributes agree for every example."""
    inputs, targets = task_tensors(data, task)
    view = TaskDataset(data, task)
    assert len(view) == len(data) == len(inputs) == len(targets)
    for i in range(0, len(data), 97):
        x, t = view[i]
        assert torch.equal(x, inputs[i]) and torch.equal(t, targets[i])
    centres = data.centres.float()
    if task == "classification":
        assert torch.equal(inputs, centres)
        assert torch.equal(data.onehots.flatten(1).float().argmax(1), targets)
    elif task == "regression":
        assert torch.equal(inputs[:, 0].bool(), data.onehots)
        assert torch.equal(targets, centres)
    else:
        assert torch.equal(targets[:, 0].bool(), data.squares)
        assert torch.equal(inputs, centres)


def test_view_subset_and_bad_task(data):
    _, test = make_split(data, "quadrant")
    view = TaskDataset(data, "classification", test)
    centre, index = view[5]
    assert torch.equal(centre, data.centres[test[5]].float())
    assert int(index) == int(data.class_index[test[5]])
    with pytest.raises(ValueError, match="task must be one of"):
        TaskDataset(data, "segmentation")


@pytest.mark.parametrize("kind", ["uniform", "quadrant"])
def test_validation_split_partitions_the_training_part(kind):
    from coordconv.experiments.data import validation_split

    data = NotSoClevr()
    train_idx, test_idx = make_split(data, kind)
    fit, val = validation_split(data, kind, train_idx, seed=3)
    assert len(set(fit.tolist()) & set(val.tolist())) == 0
    assert sorted(fit.tolist() + val.tolist()) == train_idx.tolist()
    assert not set(val.tolist()) & set(test_idx.tolist())
    again = validation_split(data, kind, train_idx, seed=3)
    assert torch.equal(again[0], fit) and torch.equal(again[1], val)
    if kind == "uniform":
        assert len(val) == round(0.2 * len(train_idx)) == 502
        other = validation_split(data, kind, train_idx, seed=4)[1]
        assert not torch.equal(other, val)
    else:
        centres = data.centres[val]
        x, y = centres[:, 0], centres[:, 1]
        assert len(val) == 264
        assert bool((((x > 48) & (y < 16)) | ((x < 16) & (y > 48))).all())
        fit_xy = data.centres[fit]
        # every x and y of the validation blocks occurs in fitting data, never jointly
        assert set(x.tolist()) <= set(fit_xy[:, 0].tolist())
        assert set(y.tolist()) <= set(fit_xy[:, 1].tolist())
        pairs = {tuple(c) for c in fit_xy.tolist()}
        assert not any(tuple(c) in pairs for c in centres.tolist())


def test_validation_split_errors():
    from coordconv.experiments.data import validation_split

    data = NotSoClevr()
    train_idx, _ = make_split(data, "uniform")
    with pytest.raises(ValueError, match="fraction must be in"):
        validation_split(data, "uniform", train_idx, fraction=1.5)
    with pytest.raises(ValueError, match="split kind"):
        validation_split(data, "other", train_idx)
