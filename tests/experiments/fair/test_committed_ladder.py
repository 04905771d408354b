"""The committed ladder (docs/fair-report) agrees with itself: every rung is the state-at-B
selection recomputed from the trials kept in its sweep.json, every final run stops at the
selected epoch, and results.json holds the final runs' own numbers."""

import json
from pathlib import Path

import pytest

from coordconv.experiments.fair.sweep import _rung

LADDER = Path(__file__).resolve().parents[3] / "docs" / "fair-report"
SWEEPS = sorted(LADDER.glob("sweeps/*/sweep.json"))


def _summary(path: Path) -> dict:
    return json.loads(path.read_text())


def _with_histories(path: Path) -> bool:
    return all("history" in t for t in _summary(path)["trials"])


LADDERED = [p for p in SWEEPS if len(_summary(p)["rungs"]) > 1 and _with_histories(p)]


def test_the_committed_ladder_has_cells_with_histories():
    assert SWEEPS and LADDERED


@pytest.mark.parametrize("path", LADDERED, ids=lambda p: p.parent.name)
def test_each_rung_is_the_state_at_b_selection_of_the_kept_trials(path):
    summary = _summary(path)
    top = summary["budget_s"] / 60.0
    for step in summary["rungs"]:
        budget = step["budget_min"]
        again = _rung(summary["trials"], summary["task"], budget, top=budget == top)
        assert (again["selected"], again["epoch"], again["trials"]) == (
            step["selected"],
            step["epoch"],
            step["trials"],
        )
        if budget < top and step["selected"] is not None:
            # the selected epoch's result arrived within the budget, with the recorded score
            trial = next(t for t in summary["trials"] if t["id"] == step["selected"])
            entry = next(h for h in trial["history"] if h["epoch"] == step["epoch"])
            assert entry["at_s"] <= budget * 60.0 and entry["val"] == step["val"]


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.parent.name)
def test_final_runs_stop_at_the_selected_epoch(path):
    summary = _summary(path)
    by_id = {t["id"]: t for t in summary["trials"]}
    for step in summary["rungs"]:
        final = step.get("final")
        if not final:
            continue
        assert final["trial"] == step["selected"]
        epoch = step.get("epoch") or by_id[step["selected"]]["epochs_run"]
        for run in final["runs"]:
            config = run["config"]
            assert (config["stop_epoch"] or config["epochs"]) == epoch
            assert config["seed"] == run["seed"] and not config["validation"]


def test_results_hold_the_final_runs_numbers():
    results = json.loads((LADDER / "results.json").read_text())
    for cell in results["cells"]:
        name = f"{cell['task']}-{cell['arm']}-{cell['split']}"
        summary = _summary(LADDER / "sweeps" / name / "sweep.json")
        step = next(r for r in summary["rungs"] if r["budget_min"] == cell["budget_min"])
        runs = step["final"]["runs"]
        assert cell["selected"] == step["selected"]
        assert cell["train"] == [r["train"][cell["metric"]] for r in runs]
        assert cell["test"] == [r["test"][cell["metric"]] for r in runs]
        assert cell["seeds"] == [r["seed"] for r in runs]
