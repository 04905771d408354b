"""coords() and AddCoords against an independent NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coordconv import AddCoords, coord_channels, coords


def numpy_coords(shape: tuple[int, ...], with_r: bool) -> np.ndarray:
    """Reference: each axis linspace(-1, 1, n) (0 for n == 1), channel k along axis k."""
    axes = [np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1) for n in shape]
    grids = list(np.meshgrid(*axes, indexing="ij"))
    if with_r:
        grids.append(np.sqrt(sum(g**2 for g in grids)))
    return np.stack(grids)


shapes = st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, with_r=st.booleans())
def test_coords_matches_numpy(shape: tuple[int, ...], with_r: bool) -> None:
    got = coords(shape, with_r=with_r, dtype=torch.float64).numpy()
    np.testing.assert_allclose(got, numpy_coords(shape, with_r), rtol=0, atol=1e-12)


def test_coords_non_square_spans_minus_one_to_one_per_axis() -> None:
    grid = coords((3, 64))
    assert grid[0].min() == -1 and grid[0].max() == 1
    assert grid[1].min() == -1 and grid[1].max() == 1
    assert torch.equal(grid[0][:, 0], torch.tensor([-1.0, 0.0, 1.0]))


def test_coords_one_pixel_axis_is_zero_not_nan() -> None:
    grid = coords((1, 5), with_r=True)
    assert torch.isfinite(grid).all()
    assert torch.equal(grid[0], torch.zeros(1, 5))


def test_radius_is_zero_at_centre_and_sqrt_rank_at_corners() -> None:
    r = coords((5, 5, 5), with_r=True)[3]
    assert r[2, 2, 2] == 0
    assert r[0, 0, 0].item() == pytest.approx(3**0.5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_coords_dtype_and_device(dtype: torch.dtype, device: str) -> None:
    grid = coords((4, 6), with_r=True, device=device, dtype=dtype)
    assert grid.dtype == dtype and grid.device.type == device
    ref = torch.from_numpy(numpy_coords((4, 6), True)).to(dtype)
    torch.testing.assert_close(grid.cpu(), ref)


def test_coords_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one axis"):
        coords(())
    with pytest.raises(ValueError, match=">= 1"):
        coords((0, 4))
    with pytest.raises(TypeError, match="floating"):
        coords((4, 4), dtype=torch.int64)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, channels=st.integers(1, 4), batch=st.integers(1, 3), with_r=st.booleans())
def test_addcoords_matches_numpy(
    shape: tuple[int, ...], channels: int, batch: int, with_r: bool
) -> None:
    rank = len(shape)
    x = torch.randn(batch, channels, *shape, dtype=torch.float64)
    out = AddCoords(rank, with_r=with_r)(x)
    assert out.shape == (batch, channels + coord_channels(rank, with_r), *shape)
    assert torch.equal(out[:, :channels], x)
    ref = np.broadcast_to(numpy_coords(shape, with_r), out[:, channels:].shape)
    np.testing.assert_allclose(out[:, channels:].numpy(), ref, atol=1e-12)


def test_addcoords_unbatched_and_errors() -> None:
    layer = AddCoords(2, with_r=True)
    assert layer(torch.zeros(3, 4, 5)).shape == (6, 4, 5)
    with pytest.raises(ValueError, match=r"AddCoords: expected a 4D input .* got shape \(4, 5\)"):
        layer(torch.zeros(4, 5))
    with pytest.raises(TypeError, match="floating-point"):
        layer(torch.zeros(1, 3, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="rank must be 1, 2 or 3"):
        AddCoords(4)
    assert "rank=2, with_r=True" in repr(layer)
