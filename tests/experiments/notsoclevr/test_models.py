"""The paper's models: parameter counts, shapes, units and config errors."""

import pytest
import torch

from coordconv import CoordConv2d
from coordconv.experiments.core.train import count_params
from coordconv.experiments.notsoclevr.models import (
    KINDS,
    ModelConfig,
    PixelSoftmax,
    build_model,
    init_as_offsets,
)


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
@pytest.mark.parametrize("kind", KINDS)
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
    with pytest.raises(ValueError, match="peak must be"):
        PixelSoftmax(8, "mean")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "segmentation", "kind": "conv"}, "task must be one of"),
        ({"task": "regression", "kind": "resnet"}, "model kind"),
        ({"task": "classification", "kind": "conv-tiled", "offset_init": True}, "CoordConv models"),
        ({"task": "regression", "kind": "conv", "regression_conv": "deep"}, "regression_conv"),
        ({"task": "classification", "kind": "conv", "canvas": 48}, "power of two"),
        ({"task": "classification", "kind": "conv", "width": 0}, "width"),
    ],
)
def test_bad_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)


@pytest.mark.parametrize("task", ["classification", "rendering"])
@pytest.mark.parametrize("with_r", [False, True])
def test_offset_init_makes_the_pointer_translation_invariant(task, with_r):
    """With offset_init the pointer's logit map for centre c+d is the map for c shifted by d."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(task, "coordconv", canvas=32, offset_init=True, with_r=with_r))
    pointer = model[: next(i for i, m in enumerate(model) if isinstance(m, torch.nn.Flatten)) + 1]
    with torch.no_grad():
        maps = pointer(torch.tensor([[5.0, 7.0], [12.0, 10.0]])).view(2, 32, 32)
    dx, dy = 7, 3
    assert torch.allclose(maps[1, dy:, dx:], maps[0, : 32 - dy, : 32 - dx], atol=1e-5)
    assert maps[0].std() > 1e-3  # not trivially constant


def test_without_offset_init_the_pointer_depends_on_position():
    torch.manual_seed(0)
    model = build_model(ModelConfig("classification", "coordconv", canvas=32))
    with torch.no_grad():
        maps = model(torch.tensor([[5.0, 7.0], [12.0, 10.0]])).view(2, 32, 32)
    assert not torch.allclose(maps[1, 3:, 7:], maps[0, :29, :25], atol=1e-5)


def test_offset_init_keeps_the_input_weights_and_checks_the_layer():
    torch.manual_seed(0)
    layer = CoordConv2d(2, 4, 1, with_r=True)
    weight = layer.input_weight.clone()
    init_as_offsets(layer)
    assert torch.equal(layer.input_weight, weight)
    assert torch.equal(layer.coord_weight[:, 0], -weight[:, 1])  # row i pairs with y
    assert torch.equal(layer.coord_weight[:, 1], -weight[:, 0])  # column j pairs with x
    assert torch.equal(layer.coord_weight[:, 2], torch.zeros_like(weight[:, 0]))  # r unused
    with pytest.raises(ValueError, match="1x1 CoordConv2d"):
        init_as_offsets(CoordConv2d(3, 4, 1))


@pytest.mark.parametrize(
    ("task", "kind", "params"),
    [
        # 2 -> 256 -> 256 -> 4096 and 4096 -> 256 -> 256 -> 2
        ("classification", "mlp", 2 * 256 + 256 + 256 * 256 + 256 + 256 * 4096 + 4096),
        ("regression", "mlp", 4096 * 256 + 256 + 256 * 256 + 256 + 256 * 2 + 2),
        # the CoordConv stacks with k x k plain convs in place of the 1x1 (Co)ordConvs
        (
            "classification",
            "conv-tiled",
            sum(9 * a * b + b for a, b in [(2, 32), (32, 32), (32, 64), (64, 64), (64, 1)]),
        ),
        ("regression", "conv-tiled", (9 + 1) * 8 + 2 * (9 * 64 + 8) + (9 * 64 + 8) + (9 * 16 + 2)),
    ],
)
def test_critics_baselines_parameter_counts(task, kind, params):
    assert count_params(build_model(ModelConfig(task, kind, kernel=3))) == params


def test_critics_baselines_have_no_coordinates():
    """mlp and conv-tiled never use the library's layers: positions come from the input or borders."""
    for task in ("classification", "regression", "rendering"):
        for kind in ("mlp", "conv-tiled"):
            model = build_model(ModelConfig(task, kind, kernel=3))
            assert not any(isinstance(m, CoordConv2d) for m in model.modules())


def test_conv_tiled_knows_position_only_near_the_border():
    """A tiled input is constant over the canvas, so away from the border (beyond the receptive
    field) every pixel of conv-tiled's output is the same; near the border it is not."""
    torch.manual_seed(0)
    model = build_model(ModelConfig("classification", "conv-tiled", canvas=32, kernel=3)).eval()
    with torch.no_grad():
        logits = model(torch.tensor([[10.0, 20.0]])).view(32, 32)
    reach = 5  # five 3x3 layers
    inner = logits[reach:-reach, reach:-reach]
    assert torch.allclose(inner, inner[0, 0].expand_as(inner), atol=1e-5)
    assert not torch.allclose(logits[0], logits[16])
