"""Not-so-Clevr: sizes, geometry, splits and task views, against independent constructions."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coordconv.experiments.notsoclevr.data import (
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
    from coordconv.experiments.notsoclevr.data import validation_split

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
        assert len(val) == 496  # the default band: x > 24 and y > 24, minus the test quadrant
        x, y = data.centres[val, 0], data.centres[val, 1]
        assert bool(((x > 24) & (y > 24) & ~((x > 32) & (y > 32))).all())


def test_corner_rule_stays_an_option():
    from coordconv.experiments.notsoclevr.data import validation_split

    data = NotSoClevr()
    train_idx, _ = make_split(data, "quadrant")
    _, val = validation_split(data, "quadrant", train_idx, rule="corners")
    centres = data.centres[val]
    x, y = centres[:, 0], centres[:, 1]
    assert len(val) == 264
    assert bool((((x > 48) & (y < 16)) | ((x < 16) & (y > 48))).all())
    with pytest.raises(ValueError, match="validation rule"):
        validation_split(data, "quadrant", train_idx, rule="diagonal")


SIGNATURE = {  # functions of the centre whose held-out values a model must extrapolate to
    "x": lambda c: c[:, 0],
    "y": lambda c: c[:, 1],
    "x+y": lambda c: c[:, 0] + c[:, 1],
    "x-y": lambda c: c[:, 0] - c[:, 1],
    "min": lambda c: np.minimum(c[:, 0], c[:, 1]),
    "max": lambda c: np.maximum(c[:, 0], c[:, 1]),
}


def extrapolates(seen: np.ndarray, held: np.ndarray) -> dict[str, int]:
    """Per function: how many of its values on ``held`` centres never occur on ``seen`` ones
    (an independent NumPy computation of the table in the quadrant-validation issue)."""
    return {
        name: len(set(f(held).tolist()) - set(f(seen).tolist())) for name, f in SIGNATURE.items()
    }


@pytest.mark.parametrize("quadrant", ["bottom-right", "bottom-left", "top-right", "top-left"])
@pytest.mark.parametrize(("canvas", "square"), [(64, 9), (16, 3), (32, 5)])
def test_band_validation_has_the_tests_extrapolation_signature(quadrant, canvas, square):
    """Fit -> val asks for the same kind of extrapolation as train -> test: the same functions of
    the centre take values never seen in the part the model learns from; and the parts are
    disjoint and cover every centre, for every held-out quadrant."""
    from coordconv.experiments.notsoclevr.data import validation_split

    data = NotSoClevr(canvas, square)
    train_idx, test_idx = make_split(data, "quadrant", quadrant=quadrant)
    fit, val = validation_split(data, "quadrant", train_idx, quadrant=quadrant)
    parts = [set(p.tolist()) for p in (fit, val, test_idx)]
    assert sum(map(len, parts)) == len(data) and set.union(*parts) == set(range(len(data)))
    c = data.centres.numpy()
    test_sig = extrapolates(c[train_idx], c[test_idx])
    val_sig = extrapolates(c[fit], c[val])
    assert {k for k, n in test_sig.items() if n} == {k for k, n in val_sig.items() if n}
    # the held-out corner lies beyond the training values of a diagonal (x+y or x-y)
    assert test_sig["x+y"] or test_sig["x-y"]
    if (canvas, quadrant) == (64, "bottom-right"):  # the numbers
        assert (test_sig["x+y"], test_sig["min"]) == (27, 27)
        assert (val_sig["x+y"], val_sig["min"], len(val)) == (8, 8, 496)
        corners = validation_split(data, "quadrant", train_idx, rule="corners")
        corner_sig = extrapolates(c[corners[0]], c[corners[1]])
        assert {k for k, n in corner_sig.items() if n} == {"x-y"}  # blind to the test's failure


def test_validation_split_errors():
    from coordconv.experiments.notsoclevr.data import validation_split

    data = NotSoClevr()
    train_idx, _ = make_split(data, "uniform")
    with pytest.raises(ValueError, match="fraction must be in"):
        validation_split(data, "uniform", train_idx, fraction=1.5)
    with pytest.raises(ValueError, match="split kind"):
        validation_split(data, "other", train_idx)
