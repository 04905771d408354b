"""The fair comparison's verdict: every branch, each naming the budget it holds at."""

import pytest

from coordconv.experiments.fair.report import fair_verdict


@pytest.mark.parametrize(
    ("coordconv", "baseline", "start"),
    [
        ((3, 3), (0, 3), "supported at 5 CPU-min"),
        ((3, 3), (3, 3), "contradicted at 5 CPU-min of tuning: the baseline also solves"),
        ((0, 3), (0, 3), "contradicted at 5 CPU-min of tuning: CoordConv does not solve"),
        ((2, 3), (0, 3), "mixed"),
        ((3, 3), (1, 3), "mixed"),
        ((3, 3), (0, 0), "no final runs"),
    ],
)
def test_fair_verdict_every_branch(coordconv, baseline, start):
    assert fair_verdict(coordconv, baseline, 5.0).startswith(start)
