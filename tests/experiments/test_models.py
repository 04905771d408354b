"""The paper's models: parameter counts, shapes, units and config errors."""

import pytest
import torch

from coordconv import CoordConv2d
from coordconv.experiments.models import ModelConfig, PixelSoftmax, build_model, count_params


@pytest.mark.parametrize(
    ("task", "kind", "extra", "params"),
    [
        ("classification", "coordconv", {}, 7_553),  # official: 7,553
        ("regression", "coordconv", {}, 906),  # official: 906
        ("rendering", "coordconv", {}, 11_850),  # paper: ~12k
        ("classification", "conv", {}, 46_465),  # paper: 46k at m=1 (smallest of the sweep)
        ("rendering", "conv", {}, 46_465),
        ("regression", "conv", {"regression_conv": "pooled"}, 72_850),  # paper: 73k
        ("regression", "conv", {"regression_conv": "strided"}, 12_050),  # paper: 13k
    ],
)
def test_parameter_counts(task, kind, extra, params):
    assert count_params(build_model(ModelConfig(task, kind, **extra))) == params


def test_deconv_sweep_grows_with_width_and_kernel():
    counts = [
        count_params(build_model(ModelConfig("classification", "conv", width=m, kernel=k)))
        for m, k in [(1, 2), (1, 4), (2, 4)]
    ]
    assert counts == sorted(counts) and counts[-1] > 500_000


@pytest.mark.parametrize("canvas", [16, 64])
@pytest.mark.parametrize("kind", ["conv", "coordconv"])
@pytest.mark.parametrize("task", ["classification", "regression", "rendering"])
def test_shapes(task, kind, canvas):
    model = build_model(ModelConfig(task, kind, canvas=canvas)).eval()
    if task == "regression":
        x = torch.zeros(3, 1, canvas, canvas)
        x[:, 0, 5, 7] = 1
        expected = (3, 2)
    else:
        x = torch.rand(3, 2) * (canvas - 1)
        expected = (3, canvas * canvas) if task == "classification" else (3, 1, canvas, canvas)
    assert model(x).shape == expected


def test_coordconv_models_use_the_library_layer():
    for task in ("classification", "regression", "rendering"):
        model = build_model(ModelConfig(task, "coordconv"))
        assert sum(isinstance(m, CoordConv2d) for m in model.modules()) == 1
        assert not any(
            isinstance(m, CoordConv2d) for m in build_model(ModelConfig(task, "conv")).modules()
        )


def test_pixel_softmax_peaks():
    logits = torch.randn(4, 64)
    summed = PixelSoftmax(8, "sum")(logits)
    peaked = PixelSoftmax(8, "max")(logits)
    assert torch.allclose(summed.flatten(1).sum(1), torch.ones(4))
    assert torch.allclose(peaked.flatten(1).amax(1), torch.ones(4))
    assert torch.allclose(peaked / peaked.flatten(1).sum(1)[:, None, None, None], summed)
    hot = PixelSoftmax(8, "max", gain=10.0)(logits)
    assert torch.allclose(hot, PixelSoftmax(8, "max")(logits * 10))
    with pytest.raises(ValueError, match="peak must be"):
        PixelSoftmax(8, "mean")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "segmentation", "kind": "conv"}, "unknown task"),
        ({"task": "regression", "kind": "mlp"}, "model kind"),
        ({"task": "regression", "kind": "conv", "regression_conv": "deep"}, "regression_conv"),
        ({"task": "classification", "kind": "conv", "canvas": 48}, "power of two"),
        ({"task": "classification", "kind": "conv", "width": 0}, "width"),
    ],
)
def test_bad_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)
