"""The machine probe: a CPU name with torch's vector capability and a reference speed."""

import math

import torch

from coordconv.experiments.core.machine import cpu_name, reference_speed


def test_cpu_name_names_torchs_vector_capability():
    assert cpu_name().endswith(f"({torch.backends.cpu.get_cpu_capability()})")


def test_reference_speed_is_finite_and_leaves_threads_and_random_state_alone():
    threads = torch.get_num_threads()
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    speed = reference_speed.__wrapped__(steps=3, repeats=1)  # uncached, small
    assert math.isfinite(speed) and speed > 0
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.rand(3), expected)
