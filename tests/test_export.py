"""CoordConv under torch.compile, torch.jit.trace, torch.export and ONNX (onnxruntime)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import coordconv as cc


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        cc.CoordConv2d(3, 8, 3, padding=1, with_r=True),
        nn.ReLU(),
        cc.CoordConvTranspose2d(8, 2, 3, stride=2, padding=1, output_padding=1),
    )


def dynamic_dims() -> dict[str, dict[int, torch.export.Dim]]:
    return {
        "input": {
            0: torch.export.Dim("batch", max=1024),
            2: torch.export.Dim("height", min=2, max=1024),
            3: torch.export.Dim("width", min=2, max=1024),
        }
    }


def test_compile_forward_and_backward_with_dynamic_shapes() -> None:
    model = small_model()
    compiled = torch.compile(model, dynamic=True)
    for shape in [(2, 3, 10, 12), (3, 3, 7, 9)]:
        x = torch.randn(shape)
        want, got = model(x), compiled(x)
        torch.testing.assert_close(got, want)
        upstream = torch.randn_like(want)
        params = list(model.parameters())
        torch.testing.assert_close(
            torch.autograd.grad(got, params, upstream), torch.autograd.grad(want, params, upstream)
        )


def test_jit_trace() -> None:
    model = small_model().eval()
    x = torch.randn(2, 3, 10, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, x)
    torch.testing.assert_close(traced(x), model(x))


def test_torch_export_dynamic_batch_and_spatial() -> None:
    model = small_model().eval()
    program = torch.export.export(
        model, (torch.randn(2, 3, 10, 12),), dynamic_shapes=dynamic_dims()
    )
    for shape in [(1, 3, 5, 7), (4, 3, 16, 9)]:
        x = torch.randn(shape)
        torch.testing.assert_close(program.module()(x), model(x))


def test_onnx_dynamo_export_runs_in_onnxruntime(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = small_model().eval()
    path = tmp_path / "coordconv.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_program = torch.onnx.export(
            model, (torch.randn(2, 3, 10, 12),), dynamo=True, dynamic_shapes=dynamic_dims()
        )
    assert onnx_program is not None
    onnx_program.save(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for shape in [(2, 3, 10, 12), (1, 3, 5, 7), (3, 3, 20, 6)]:
        x = torch.randn(shape)
        (got,) = session.run(None, {name: x.numpy()})
        torch.testing.assert_close(torch.from_numpy(got), model(x).detach(), rtol=1e-4, atol=1e-5)
