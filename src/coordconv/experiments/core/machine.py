"""The machine a run's CPU-time numbers depend on: its CPU, and how fast it trains a fixed
reference net. CPU-minute budgets bought ~3x more epochs on some of this project's machines
than on others; the reference speed lets a report say so."""

from __future__ import annotations

import functools
import platform
import statistics
import time

import torch
from torch import nn

__all__ = ["cpu_name", "reference_speed"]


def cpu_name() -> str:
    """The CPU's model name and the vector instructions torch uses on it (e.g. ``AMD EPYC
    (AVX2)``): CPU-minute budgets and training times differ between machines by it."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                name,
            )
    except OSError:
        pass
    return f"{name} ({torch.backends.cpu.get_cpu_capability()})"


@functools.cache
def reference_speed(steps: int = 30, repeats: int = 3) -> float:
    """Training steps per CPU-second, on one thread, of a fixed small conv net (batch 16 of
    1x32x32 inputs, three 3x3 convs of 8 channels, Adam): the median of ``repeats`` timings
    of ``steps`` steps after 3 warm-up steps. It depends on the machine, not on the run; it is
    measured once per process (under a second)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # its own random state: a run that measures mid-way trains on as if it had not
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return _median_rate(steps, repeats)
    finally:
        torch.set_num_threads(threads)


def _median_rate(steps: int, repeats: int) -> float:
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 1, 3, padding=1),
    )
    x = torch.rand(16, 1, 32, 32)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step() -> None:
        optimiser.zero_grad()
        net(x).square().mean().backward()
        optimiser.step()

    for _ in range(3):
        step()
    rates = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(steps):
            step()
        rates.append(steps / max(time.process_time() - started, 1e-9))
    return statistics.median(rates)
