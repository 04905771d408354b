"""Every Not-so-Clevr verdict rule, failing branches included, and medians that say what they cover."""

import pytest

from coordconv.experiments.core.report import median_text
from coordconv.experiments.notsoclevr.verdicts import (
    FIT_MARGIN,
    GAP_MARGIN,
    NEAR_MARGIN,
    baseline_verdict,
    cell_verdict,
    seed_outcome,
    summarise,
)

SOLVED = {"accuracy": 1.0}
MISSED = {"accuracy": 0.99}
REG_SOLVED = {"accuracy": 1.0, "mean_pixel_error": 0.01}
REG_FAR = {"accuracy": 1.0, "mean_pixel_error": 0.7}


def test_coordconv_counts_a_seed_only_when_train_and_test_reach_the_target():
    assert (
        cell_verdict("classification", "coordconv", "quadrant", [SOLVED] * 2, [SOLVED] * 2, [4, 4])
        == "reproduced"
    )
    assert (
        cell_verdict(
            "classification", "coordconv", "quadrant", [SOLVED, MISSED], [SOLVED, SOLVED], [4, 4]
        )
        == "not reproduced (1/2)"
    )
    assert (
        cell_verdict(
            "classification", "coordconv", "uniform", [SOLVED, SOLVED], [MISSED, SOLVED], [4, 4]
        )
        == "not reproduced (1/2)"
    )
    assert (
        cell_verdict("regression", "coordconv", "uniform", [REG_SOLVED], [REG_FAR], [8])
        == "not reproduced (0/1)"
    )
    iou = {"iou": 0.989}
    assert (
        cell_verdict("rendering", "coordconv", "uniform", [{"iou": 0.995}], [iou], [8])
        == "not reproduced (0/1)"
    )


def acc(value):
    return {"accuracy": value}


@pytest.mark.parametrize(
    ("trains", "tests", "want"),
    [
        ([1.0, 1.0], [1.0, 1.0], "contradicted at B: the baseline solves it (2/2; train 100.0%"),
        ([1.0, 1.0], [1.0, 0.995], "contradicted at B: the baseline nearly solves it"),
        ([1.0, 0.95], [0.05, 0.3], "supported at B: fails to generalise (train 95.0%-100.0%"),
        ([0.4, 0.89], [0.4, 0.88], "inconclusive: underfits at B (train 40.0%-89.0%"),
        # fits train, test short of it but not by the gap: short on both, not a failure to generalise
        ([0.95], [0.9], "inconclusive: underfits at B"),
        # train at the target, test short of it by 0.01-0.1: learned it, not exactly
        ([1.0, 1.0], [0.986, 0.95], "inconclusive: falls short at B: fits train"),
        ([1.0, 0.5], [0.95, 0.5], "mixed at B: 1 falls short, 1 underfits"),
        ([1.0, 0.5], [0.0, 0.5], "mixed at B: 1 fails to generalise, 1 underfits"),
        ([1.0, 1.0], [1.0, 0.0], "mixed at B: 1 solves, 1 fails to generalise"),
    ],
)
def test_baseline_verdict_every_branch(trains, tests, want):
    got = baseline_verdict("classification", [acc(v) for v in trains], [acc(v) for v in tests], "B")
    assert got.startswith(want), got


def test_seed_outcome_at_the_margins():
    # FIT_MARGIN and GAP_MARGIN are inclusive on the fitting side
    assert seed_outcome("classification", acc(1 - FIT_MARGIN), acc(0.0)) == "fails to generalise"
    assert seed_outcome("classification", acc(1 - FIT_MARGIN - 1e-6), acc(0.0)) == "underfits"
    assert seed_outcome("classification", acc(1.0), acc(1 - NEAR_MARGIN)) == "nearly solves"
    assert seed_outcome("classification", acc(1.0), acc(1.0 - GAP_MARGIN)) == "falls short"
    assert seed_outcome("classification", acc(0.95), acc(0.95 - GAP_MARGIN)) == "underfits"
    # regression needs the pixel bound too to solve; accuracy alone can only nearly solve
    assert seed_outcome("regression", REG_SOLVED, REG_FAR) == "nearly solves"
    assert seed_outcome("rendering", {"iou": 0.95}, {"iou": 0.24}) == "fails to generalise"
    assert seed_outcome("rendering", {"iou": 0.91}, {"iou": 0.90}) == "underfits"


def test_quick_report_conv_cells_use_the_baseline_rule_at_their_epochs():
    got = cell_verdict("classification", "conv", "quadrant", [acc(1.0)], [acc(0.0)], [12])
    assert got == "supported at 12 epochs: fails to generalise (train 100.0%, test 0.0%)"
    got = cell_verdict("classification", "conv", "uniform", [acc(0.3)] * 2, [acc(0.2)] * 2, [8, 12])
    assert got.startswith("inconclusive: underfits at 8-12 epochs")


def test_cells_without_a_paper_number_are_na():
    assert (
        cell_verdict("rendering", "conv", "uniform", [{"iou": 0.5}], [{"iou": 0.5}], [12]) == "n/a"
    )


def test_median_says_how_many_seeds_it_covers():
    assert median_text([3.0, None, 5.0]) == "4.0 s (2/3 seeds)"
    assert median_text([None, None]) == "not reached"


def test_summarise_counts_held_and_reached():
    def run(seed, train, test, held):
        return {
            "config": {
                "model": {"task": "classification", "kind": "coordconv"},
                "data": {"split": "uniform"},
                "seed": seed,
                "epochs": 4,
            },
            "final": {
                "train": train,
                "test": test,
                "time_to_target_s": 1.0 if held else None,
                "held_target": held,
            },
            "finished": True,
            "params": 10,
            "wall_time_s": 2.0,
            "epochs_run": 4,
        }

    summary = summarise([run(0, SOLVED, SOLVED, True), run(1, SOLVED, MISSED, False)])
    cell = summary["classification/coordconv/uniform"]
    assert cell["reached_target"] == 1 and cell["held_target"] == 1
    assert cell["verdict"] == "not reproduced (1/2)"
