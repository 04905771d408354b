"""benchmarks/count_table.py on hand-made records: counts, ranges, and the recipe choice."""

from coordconv.experiments.core.io import write_json


def _run(seed, test, quadrant="top-left", val=None, time=3.0):
    return {
        "task": "classification",
        "model": "coordconv",
        "split": "quadrant",
        "quadrant": quadrant,
        "seed": seed,
        "train": {"accuracy": 1.0, "loss": 0.01},
        "val": val,
        "test": {"accuracy": test, "loss": 0.1},
        "time_to_target_s": time if test == 1.0 else None,
        "held_target": test == 1.0,
        "train_time_s": 10.0 + seed,
    }


def test_table_counts_train_and_test_at_target(tmp_path, load_benchmark):
    table = load_benchmark("count_table").table(
        "test", [_run(120, 1.0), _run(121, 0.5), _run(122, 1.0, time=7.0)]
    )
    row = table.splitlines()[2]
    assert row.startswith("| classification / quadrant top-left | 120-122 (3) | **2/3** |")
    assert "50.00% / 100.00%" in row and "3.0-7.0 s (2/3)" in row and "130.0-132.0 s" in row


def test_choose_applies_the_selection_rule_across_files(tmp_path, load_benchmark):
    module = load_benchmark("count_table")
    sure, shaky = {"accuracy": 1.0, "loss": 0.01}, {"accuracy": 0.8, "loss": 0.5}
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    write_json(first, {"judged": "val", "runs": [_run(0, 1.0, val=shaky), _run(1, 1.0, val=sure)]})
    write_json(second, {"judged": "val", "runs": [_run(0, 1.0, val=sure), _run(1, 1.0, val=sure)]})
    text = module.choose([first, second])
    assert "classification first: 1/2 at target" in text
    assert text.splitlines()[-1] == "classification: selected second"


def test_choose_refuses_records_judged_on_test(tmp_path, load_benchmark):
    import pytest

    counted = tmp_path / "counted.json"
    write_json(counted, {"judged": "test", "runs": [_run(120, 1.0)]})
    with pytest.raises(SystemExit, match="validation only"):
        load_benchmark("count_table").choose([counted])
