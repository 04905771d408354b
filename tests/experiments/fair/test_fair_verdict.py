"""The fair comparison's verdicts: every branch of the CoordConv arm's and of the baseline's
claim qualified by its CoordConv partner, each naming the budget it holds at."""

import pytest

from coordconv.experiments.fair.report import coordconv_verdict, fair_verdict

SUPPORTED = "supported at 5 CPU-min: fails to generalise (train 100.0%, test 0.0%)"
CONTRADICTED = "contradicted at 5 CPU-min: the baseline solves it (3/3; ...)"
UNDERFITS = "inconclusive: underfits at 5 CPU-min (train 40.0%, test 38.0%)"


@pytest.mark.parametrize(
    ("solved", "n", "start"),
    [
        (3, 3, "supported at 5 CPU-min: CoordConv solves it (3/3)"),
        (0, 3, "contradicted at 5 CPU-min: CoordConv does not solve it (0/3)"),
        (2, 3, "mixed at 5 CPU-min: CoordConv solves it on 2/3"),
        (0, 0, "no final runs"),
    ],
)
def test_coordconv_verdict_every_branch(solved, n, start):
    assert coordconv_verdict(solved, n, "5 CPU-min").startswith(start)


@pytest.mark.parametrize(
    ("coordconv", "baseline", "start"),
    [
        ((3, 3), SUPPORTED, SUPPORTED),
        ((3, 3), CONTRADICTED, CONTRADICTED),
        ((3, 3), UNDERFITS, UNDERFITS),
        ((0, 3), SUPPORTED, "contradicted: CoordConv does not solve it (0/3); baseline supported"),
        ((2, 3), SUPPORTED, "mixed: CoordConv solves 2/3; baseline supported"),
        ((2, 3), CONTRADICTED, CONTRADICTED),  # the baseline solving it contradicts it anyway
        ((3, 3), "no final runs", "no final runs"),
        ((0, 0), SUPPORTED, "no final runs"),
    ],
)
def test_fair_verdict_every_branch(coordconv, baseline, start):
    assert fair_verdict(coordconv, baseline).startswith(start)
