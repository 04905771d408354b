"""Every Not-so-Clevr verdict rule, failing branches included, and medians that say what they cover."""

import pytest

from coordconv.experiments.core.report import median_text
from coordconv.experiments.notsoclevr.verdicts import cell_verdict, summarise

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


@pytest.mark.parametrize(
    ("split", "test", "epochs", "want"),
    [
        ("uniform", 0.18, 12, "inconclusive (budget: 12 of 1000 epochs)"),
        ("uniform", 0.86, 1000, "reproduced"),
        ("uniform", 1.0, 12, "not reproduced (conv solves it)"),
        ("quadrant", 0.0, 12, "inconclusive (budget: 12 of 1000 epochs)"),
        ("quadrant", 0.01, 1000, "reproduced"),
        ("quadrant", 0.3, 12, "not reproduced (conv generalises: 30.0%)"),
    ],
)
def test_baseline_verdicts(split, test, epochs, want):
    metrics = [{"accuracy": test}]
    assert cell_verdict("classification", "conv", split, metrics, metrics, [epochs]) == want


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
