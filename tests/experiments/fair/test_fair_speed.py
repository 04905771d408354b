"""The speed claim's numbers: tuning CPU-seconds read off each arm's anytime curve (the test
metric of the validation-selected trial's own weights), the conv arm's best within its top
rung, and the first rung whose conv final runs reached the target."""

import pytest

from coordconv.experiments.fair.report import _speed


def _rung(budget_min: float, solved: int, top: bool = False, test: float = 0.5) -> dict:
    return {
        "task": "classification",
        "arm": "conv",
        "split": "uniform",
        "budget_min": budget_min,
        "budget_s": budget_min * 60.0,
        "top_rung": top,
        "solved": solved,
        "test": [test] * 5,
    }


def _tuning(curve: list[tuple[float, float]], first_at_target: float | None, spent: float) -> dict:
    return {"curve": curve, "first_at_target_cpu_s": first_at_target, "spent_s": spent}


CONV_RUNGS = [_rung(5, 0), _rung(20, 2), _rung(80, 5, top=True)]
# the conv arm's last point finished after its top rung (80 CPU-min = 4800 s): not counted
CONV = _tuning([(60.0, 0.2), (600.0, 0.5), (1200.0, 0.4), (4900.0, 0.9)], None, 4810.0)
COORD = _tuning([(30.0, 0.6), (90.0, 1.0)], 90.0, 300.0)


def test_speed_reads_each_arm_s_curve_against_the_conv_best_within_its_top_rung():
    tuning = {
        ("classification", "conv", "uniform"): CONV,
        ("classification", "coordconv", "uniform"): COORD,
    }
    speed = _speed("classification", "uniform", CONV_RUNGS, tuning)
    assert speed is not None
    assert speed["conv_best_trial_test"] == 0.5  # not the 0.9 reached after 80 CPU-min
    assert speed["arms"]["conv"]["baseline_best_cpu_s"] == 600.0
    assert speed["arms"]["coordconv"]["baseline_best_cpu_s"] == 30.0
    assert speed["ratio_baseline_best"] == "20.0x (coordconv)"
    # a lower bound is rounded down: 4810 / 90 = 53.4
    assert speed["ratio_target"] == "> 53x (coordconv; conv not there in 80.2 CPU-min)"
    assert speed["conv_finals_first_solved"] == {"budget_min": 20, "solved": 2, "seeds": 5}
    # the final runs' test mean (0.5 at every rung) reaches conv's best (0.5) at the first rung
    assert speed["conv_finals_first_at_best"] == {"budget_min": 5, "test_mean": 0.5}
    assert "coordconv-paper" not in speed["arms"]


def test_speed_ratios_take_the_faster_coordconv_arm_and_name_it():
    tuning = {
        ("classification", "conv", "uniform"): CONV,
        ("classification", "coordconv", "uniform"): _tuning([(300.0, 0.1)], None, 300.0),
        ("classification", "coordconv-paper", "uniform"): COORD,
    }
    speed = _speed("classification", "uniform", CONV_RUNGS, tuning)
    assert speed is not None
    assert speed["ratio_baseline_best"] == "20.0x (coordconv-paper)"
    assert speed["ratio_target"].startswith("> 53x (coordconv-paper;")


def test_speed_against_a_conv_best_of_zero_is_not_a_ratio():
    """Every curve starts at or above 0, so "time to reach 0" only times the first trials."""
    tuning = {
        ("classification", "conv", "uniform"): _tuning([(60.0, 0.0), (600.0, 0.0)], None, 4810.0),
        ("classification", "coordconv", "uniform"): COORD,
    }
    rungs = [_rung(5, 0, test=0.0), _rung(80, 0, top=True, test=0.0)]
    speed = _speed("classification", "uniform", rungs, tuning)
    assert speed is not None
    assert speed["ratio_baseline_best"] == "n/a (conv's best is 0)"
    assert speed["conv_finals_first_at_best"] is None  # every run reaches 0
    assert speed["ratio_target"].startswith("> 53x")


def test_conv_finals_below_the_curve_best_at_every_rung_give_none():
    rungs = [_rung(5, 0, test=0.3), _rung(80, 0, top=True, test=0.4)]
    tuning = {
        ("classification", "conv", "uniform"): CONV,
        ("classification", "coordconv", "uniform"): COORD,
    }
    speed = _speed("classification", "uniform", rungs, tuning)
    assert speed is not None and speed["conv_finals_first_at_best"] is None


def test_speed_says_when_coordconv_never_got_there():
    tuning = {
        ("classification", "conv", "uniform"): CONV,
        ("classification", "coordconv", "uniform"): _tuning([(30.0, 0.1)], None, 300.0),
    }
    speed = _speed("classification", "uniform", CONV_RUNGS, tuning)
    assert speed is not None
    assert (
        speed["ratio_target"] == speed["ratio_baseline_best"] == "neither CoordConv arm got there"
    )


@pytest.mark.parametrize(
    "rungs", [[], [_rung(5, 0)]], ids=["no conv cell", "conv not at its top rung"]
)
def test_no_speed_row_without_a_finished_conv_ladder(rungs):
    tuning = {
        ("classification", "conv", "uniform"): CONV,
        ("classification", "coordconv", "uniform"): COORD,
    }
    assert _speed("classification", "uniform", rungs, tuning) is None


def test_no_speed_row_without_the_coordconv_arm():
    tuning = {("classification", "conv", "uniform"): CONV}
    assert _speed("classification", "uniform", CONV_RUNGS, tuning) is None
