"""Hand-set networks: exact on every centre, built from the library's layer, a handful of weights."""

import pytest
import torch

from coordconv import CoordConv2d
from coordconv.experiments.core.registry import get_task
from coordconv.experiments.core.train import count_params
from coordconv.experiments.notsoclevr.constructions import build_construction
from coordconv.experiments.notsoclevr.data import NotSoClevr, task_tensors


@pytest.mark.parametrize(
    ("task", "weights"), [("classification", 25), ("regression", 8), ("rendering", 33)]
)
@pytest.mark.parametrize(("canvas", "square"), [(64, 9), (32, 5)])
def test_constructions_are_exact_on_every_centre(task, weights, canvas, square):
    data = NotSoClevr(canvas, square)
    model = build_construction(task, canvas, square)
    inputs, targets = task_tensors(data, task)
    with torch.no_grad():
        output = model(inputs)
    assert count_params(model) == weights
    assert sum(isinstance(m, CoordConv2d) for m in model.modules()) == 1
    if task == "classification":
        assert torch.equal(output.argmax(dim=1), targets)
    elif task == "regression":
        predicted = get_task(task, canvas).unit_to_pixels(output)
        assert torch.allclose(predicted, targets, atol=1e-3)
    else:
        assert torch.equal(output > 0, targets > 0.5)
        # a margin, not a tie broken by rounding: every logit is at least 1/2 from 0
        assert output.abs().min() >= 0.5 - 1e-4


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="task must be"):
        build_construction("segmentation")
