"""Losses and metrics on hand-made outputs."""

import pytest
import torch

from coordconv.experiments.core.registry import get_task


def test_classification_accuracy():
    task = get_task("classification", canvas=4)
    logits = torch.zeros(3, 16)
    logits[0, 5] = logits[1, 2] = logits[2, 9] = 1.0
    scores = task.scores(logits, torch.tensor([5, 3, 9]))
    assert scores["accuracy"].tolist() == [1.0, 0.0, 1.0]


def test_regression_units_rounding_and_error():
    task = get_task("regression", canvas=64)
    target = torch.tensor([[4.0, 10.0], [30.0, 59.0]])
    predicted_px = torch.tensor([[4.4, 10.2], [30.6, 59.0]])  # second: x rounds to 31
    scores = task.scores(task.pixels_to_unit(predicted_px), target)
    assert scores["accuracy"].tolist() == [1.0, 0.0]
    expected = (predicted_px - target).norm(dim=1)
    assert torch.allclose(scores["mean_pixel_error"], expected, atol=1e-5)
    assert torch.allclose(task.unit_to_pixels(task.pixels_to_unit(target)), target)
    assert float(task.loss(task.pixels_to_unit(target), target)) == pytest.approx(0.0, abs=1e-12)
    assert task.reached({"accuracy": 1.0, "mean_pixel_error": 0.3})
    assert not task.reached({"accuracy": 1.0, "mean_pixel_error": 0.6})


def test_rendering_iou_and_pixel_accuracy():
    task = get_task("rendering", canvas=4)
    target = torch.zeros(2, 1, 4, 4)
    target[:, :, 1:3, 1:3] = 1  # 4 pixels
    logits = torch.full((2, 1, 4, 4), -5.0)
    logits[0, :, 1:3, 1:3] = 5  # exact
    logits[1, :, 1:3, 1:4] = 5  # 6 predicted, 4 overlap
    scores = task.scores(logits, target)
    assert scores["iou"].tolist() == pytest.approx([1.0, 4 / 6])
    assert scores["pixel_accuracy"].tolist() == pytest.approx([1.0, 14 / 16])


def test_unknown_task():
    with pytest.raises(ValueError, match="task must be one of"):
        get_task("segmentation")
