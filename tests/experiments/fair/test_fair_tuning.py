"""How often a sampled configuration works: the share's 95% interval (Wilson)."""

import pytest

from coordconv.experiments.fair.report import wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    # the roots in p of (k/n - p)^2 = 1.96^2 p (1 - p) / n, found by bisection
    [
        (4, 5, 0.3755, 0.9638),
        (0, 5, 0.0, 0.4345),
        (5, 10, 0.2366, 0.7634),
        (3, 142, 0.0072, 0.0603),
    ],
)
def test_wilson_interval_solves_its_defining_equation(k, n, low, high):
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_of_no_trials_says_nothing():
    assert wilson_interval(0, 0) == (0.0, 1.0)
