"""The machine probe: a CPU name with torch's vector capability and a reference speed."""

import math

import torch

from coordconv.experiments.core.machine import cpu_name, reference_speed


def test_cpu_name_names_torchs_vector_capability():
    assert cpu_name().endswith(f"({torch.backends.cpu.get_cpu_capability()})")


def test_reference_speed_is_finite_and_leaves_the_thread_count_alone():
    threads = torch.get_num_threads()
    speed = reference_speed.__wrapped__(steps=3, repeats=1)  # uncached, small
    assert math.isfinite(speed) and speed > 0
    assert torch.get_num_threads() == threads
