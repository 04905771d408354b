"""Smoke test of the built wheel in a venv holding only torch: run by `make wheel-smoke`."""

from __future__ import annotations

import importlib.metadata as metadata
import subprocess
import sys
from pathlib import Path

import torch

import coordconv

assert "site-packages" in coordconv.__file__, f"not the installed wheel: {coordconv.__file__}"
for extra in ("typer", "rich", "matplotlib", "numpy"):
    assert extra not in sys.modules, f"import coordconv imported {extra}"
files = {str(f) for f in metadata.files("torch-coordconv") or []}
assert "coordconv/py.typed" in files, "py.typed missing from the wheel"
assert any(f.endswith("licenses/LICENSE") for f in files), "LICENSE missing from the wheel"
requires = metadata.requires("torch-coordconv") or []
core = [r for r in requires if "extra ==" not in r]
assert core == ["torch>=2.1"], f"core dependencies should be torch only, got {core}"

layer = coordconv.CoordConv2d(3, 8, 3, padding=1, with_r=True)
x = torch.randn(2, 3, 16, 12, requires_grad=True)
layer(x).square().mean().backward()
grad = layer.weight.grad  # the coordinate filters are weight's last 3 input channels
assert x.grad is not None and grad is not None and grad[:, 3:].abs().sum() > 0

script = Path(sys.executable).parent / "coordconv"
assert script.exists(), f"the coordconv script was not installed ({script})"
run = subprocess.run([script, "--help"], capture_output=True, text=True)
assert run.returncode != 0, "coordconv without the experiments extra should exit non-zero"
# torch itself may warn that numpy is missing; ours is the one line starting "coordconv:".
ours = [line for line in run.stderr.splitlines() if line.startswith("coordconv")]
assert len(ours) == 1 and "torch-coordconv[experiments]" in ours[0], run.stderr
message = ours[0]
print(f"wheel smoke test passed: torch {torch.__version__}; coordconv --help says: {message}")
