"""The fair comparison's verdicts: every branch of the CoordConv arm's and of the baseline's
claim qualified by its CoordConv partner, each naming the budget it holds at."""

import pytest

from coordconv.experiments.fair.report import (
    _verdicts,
    coordconv_verdict,
    fair_verdict,
    main_machine,
)

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


ONE = "coordconv"
PAPER_SPACE = "coordconv-paper"


@pytest.mark.parametrize(
    ("coordconv", "baseline", "start"),
    [
        ({ONE: (3, 3)}, SUPPORTED, SUPPORTED),
        ({ONE: (3, 3)}, CONTRADICTED, CONTRADICTED),
        ({ONE: (3, 3)}, UNDERFITS, UNDERFITS),
        (
            {ONE: (0, 3)},
            SUPPORTED,
            "contradicted: CoordConv does not solve it (coordconv 0/3); baseline supported",
        ),
        ({ONE: (2, 3)}, SUPPORTED, "mixed: CoordConv solves coordconv 2/3; baseline supported"),
        (
            {ONE: (2, 3)},
            CONTRADICTED,
            CONTRADICTED,
        ),  # the baseline solving it contradicts it anyway
        ({ONE: (3, 3)}, "no final runs", "no final runs"),
        ({ONE: (0, 0)}, SUPPORTED, "no final runs"),
        # two CoordConv arms: both solve it, so nothing needs naming
        ({ONE: (3, 3), PAPER_SPACE: (5, 5)}, SUPPORTED, SUPPORTED),
        # one space solves it and the other does not: the claim holds, and names both
        (
            {ONE: (0, 5), PAPER_SPACE: (5, 5)},
            SUPPORTED,
            SUPPORTED + "; CoordConv solves it in one search space only "
            "(coordconv 0/5, coordconv-paper 5/5)",
        ),
        # the better arm solves some seeds only: mixed, naming both
        (
            {ONE: (0, 5), PAPER_SPACE: (1, 5)},
            SUPPORTED,
            "mixed: CoordConv solves coordconv 0/5, coordconv-paper 1/5; baseline supported",
        ),
        # neither solves a seed
        (
            {ONE: (0, 5), PAPER_SPACE: (0, 5)},
            UNDERFITS,
            "contradicted: CoordConv does not solve it (coordconv 0/5, coordconv-paper 0/5)",
        ),
        # an arm without final runs is left out
        ({ONE: (0, 0), PAPER_SPACE: (5, 5)}, SUPPORTED, SUPPORTED),
    ],
)
def test_fair_verdict_every_branch(coordconv, baseline, start):
    verdict = fair_verdict(coordconv, baseline)
    assert verdict.startswith(start)
    if start in (SUPPORTED, CONTRADICTED, UNDERFITS):  # the baseline's own verdict, unqualified
        assert verdict == start


def test_selection_path_follows_the_finishing_order():
    """The anytime curve: after each trial's finish (ledger order, not start order), the trial
    validation selects among those finished so far."""
    from coordconv.experiments.fair.report import anytime_curve, selection_path

    def trial(name, val, finished):
        return {
            "id": name,
            "val": {"accuracy": val, "loss": 1 - val},
            "train_time_s": 10.0,
            "finished_at_s": finished,
        }

    # b starts second but finishes first; c is the best and finishes last
    summary = {
        "task": "classification",
        "spent_s": 90.0,
        "trials": [trial("a", 0.5, 50.0), trial("b", 0.2, 20.0), trial("c", 0.9, 90.0)],
    }
    assert selection_path(summary) == [(20.0, "b"), (50.0, "a"), (90.0, "c")]
    posthoc = {"a": {"accuracy": 0.4}, "b": {"accuracy": 0.1}, "c": {"accuracy": 1.0}}
    assert anytime_curve(summary, posthoc, "accuracy") == [(20.0, 0.1), (50.0, 0.4), (90.0, 1.0)]
    # sweeps made before the ledger: start order, each trial's time added in turn
    legacy = {
        "task": "classification",
        "trials": [{**t, "finished_at_s": None} for t in summary["trials"]],
    }
    assert [x for x, _ in selection_path(legacy)] == [10.0, 20.0, 30.0]
    # one trial the ledger has no time for (cut before its first result): it finished last,
    # at the sweep's end, and the others keep their ledger times
    untimed = {
        **summary,
        "spent_s": 95.0,  # the last trial was cut after its last result
        "trials": [{**summary["trials"][0], "finished_at_s": None}, *summary["trials"][1:]],
    }
    assert selection_path(untimed) == [(20.0, "b"), (90.0, "c"), (95.0, "c")]


def _cell(arm: str, accuracy: float, machines: dict, solved: int | None = None) -> dict:
    metrics = [{"accuracy": accuracy}] * 2
    return dict(
        task="classification",
        arm=arm,
        split="uniform",
        budget_min=5.0,
        test=[accuracy] * 2,
        train_metrics=metrics,
        test_metrics=metrics,
        solved=(2 if arm == "coordconv" else 0) if solved is None else solved,
        machines=machines,
    )


def _machine(speed: float, epochs: int = 10) -> dict:
    return {"trial_epochs": epochs, "processes": 2, "reference_steps_per_s": speed}


@pytest.mark.parametrize(
    ("baseline", "partner", "named"),
    [
        (
            {"A": _machine(100)},
            {"B": _machine(300)},
            "ran on A at 100, the coordconv arm's on B at 300",
        ),
        (
            {"A": _machine(100)},
            {"B": _machine(100)},
            "ran on A at 100, the coordconv arm's on B at 100",
        ),
        ({"A": _machine(100)}, {"A": _machine(160)}, "ran at 100, the coordconv arm's at 160"),
        ({"A": _machine(150)}, {"A": _machine(189)}, None),  # one CPU, within its load noise
        ({}, {"B": _machine(300)}, None),  # not recorded: nothing to compare
        # the machine of most trial epochs speaks for the cell
        ({"A": _machine(100, 1), "B": _machine(300, 50)}, {"B": _machine(290)}, None),
    ],
)
def test_a_baseline_verdict_names_a_machine_difference(baseline, partner, named):
    cells = [_cell("conv", 0.2, baseline), _cell("coordconv", 1.0, partner)]
    _verdicts(cells)
    verdict = cells[0]["verdict"]
    assert verdict.startswith("inconclusive: underfits at 5 CPU-min")
    assert ("machines differ" in verdict) is (named is not None)
    if named:
        assert named in verdict
    assert "machines differ" not in cells[1]["verdict"]


def test_a_baseline_is_judged_against_both_coordconv_arms():
    """The cell verdict reads every CoordConv arm of its task and split; a machine difference
    is named against the arm that solves the most seeds."""
    cells = [
        _cell("conv", 0.2, {"A": _machine(100)}),
        _cell("coordconv", 0.2, {"A": _machine(100)}, solved=0),
        _cell("coordconv-paper", 1.0, {"B": _machine(300)}, solved=2),
    ]
    _verdicts(cells)
    verdict = cells[0]["verdict"]
    assert verdict.startswith("inconclusive: underfits at 5 CPU-min")
    assert "CoordConv solves it in one search space only (coordconv 0/2, coordconv-paper 2/2)" in (
        verdict
    )
    assert "the coordconv-paper arm's on B at 300" in verdict
    assert cells[1]["verdict"].startswith("contradicted at 5 CPU-min")
    assert cells[2]["verdict"].startswith("supported at 5 CPU-min")


def test_the_main_machine_of_a_cell_without_machines_is_none():
    assert main_machine({"machines": {}}) is None
    assert main_machine({"machines": {"A": _machine(12.5)}}) == ("A", 12.5)
