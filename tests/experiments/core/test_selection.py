"""The one selection rule: target count, then the validation metric, then the validation loss,
then the order given; for sweep trials and recipe candidates alike."""

import pytest

from coordconv.experiments.core.selection import select, select_trial, selection_key


def _val(accuracy, loss):
    return {"accuracy": accuracy, "loss": loss}


def test_more_seeds_at_target_wins_over_a_better_mean():
    """Two seeds at 100% and one at 50% (mean 0.83) beat three at 99% (mean 0.99)."""
    steady = [_val(0.99, 0.1)] * 3
    mostly = [_val(1.0, 0.2), _val(1.0, 0.2), _val(0.5, 2.0)]
    assert select([steady, mostly], "classification", lambda c: c) is mostly


def test_equal_target_counts_go_to_the_better_metric():
    low, high = [_val(0.90, 0.01)], [_val(0.95, 0.50)]
    assert select([low, high], "classification", lambda c: c) is high


def test_regression_minimises_the_pixel_error():
    near = [{"accuracy": 0.0, "mean_pixel_error": 0.9, "loss": 1.0}]
    far = [{"accuracy": 0.0, "mean_pixel_error": 3.0, "loss": 0.1}]
    assert select([far, near], "regression", lambda c: c) is near


def test_equal_metrics_go_to_the_lower_validation_loss():
    """The fair sweep's case: 100% validation accuracy at losses 1.19 and 0.004."""
    trials = [
        {"id": "short", "val": _val(1.0, 1.19), "train_time_s": 1.0},
        {"id": "sure", "val": _val(1.0, 0.004), "train_time_s": 9.0},
    ]
    assert select_trial(trials, "classification")["id"] == "sure"


def test_exact_ties_go_to_the_first_given():
    trials = [{"id": i, "val": _val(1.0, 0.5), "train_time_s": t} for i, t in (("a", 9), ("b", 1))]
    assert select_trial(trials, "classification")["id"] == "a"
    assert selection_key("classification", [_val(1.0, 0.5)]) == (-1.0, -1.0, 0.5)


def test_nothing_to_select_is_an_error():
    with pytest.raises(ValueError, match="no trial"):
        select_trial([], "classification")
    with pytest.raises(ValueError, match="nothing to select"):
        select([], "classification", lambda c: c)
    with pytest.raises(ValueError, match="at least one"):
        selection_key("classification", [])


def test_older_sweeps_replay_their_own_rule():
    """Reports of sweeps made before the rule changed select as those sweeps did."""
    from coordconv.experiments.core.selection import LEGACY_RULE

    trials = [
        {"id": "sure", "val": _val(1.0, 0.004), "train_time_s": 9.0},
        {"id": "short", "val": _val(1.0, 1.19), "train_time_s": 1.0},
    ]
    assert select_trial(trials, "classification", LEGACY_RULE)["id"] == "short"
    assert select_trial(trials, "classification")["id"] == "sure"
    with pytest.raises(ValueError, match="unknown selection rule"):
        select_trial(trials, "classification", "by-name")
