"""`coordconv reproduce --fair` on a part of the grid: --tasks/--splits/--arms reach run_fair in
grid order, unknown names fail with the allowed ones, and a part's report names no command."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from coordconv.experiments.cli import app
from coordconv.experiments.fair import grid as fair_grid
from coordconv.experiments.fair import report as fair_report

runner = CliRunner()


@pytest.fixture
def calls(monkeypatch, tmp_path):
    seen: dict = {}

    def run_fair(out, **kwargs):
        seen["run_fair"] = kwargs
        return []

    def build_fair_report(out, command=None):
        seen["command"] = command
        return Path(out) / "REPORT.md"

    monkeypatch.setattr(fair_grid, "run_fair", run_fair)
    monkeypatch.setattr(fair_report, "build_fair_report", build_fair_report)
    return seen


def test_a_task_and_split_group_reaches_run_fair(calls, tmp_path):
    args = ["reproduce", "--fair", "--out", str(tmp_path), "--tasks", "classification"]
    result = runner.invoke(app, [*args, "--splits", "quadrant", "--arms", "mlp,coordconv"])
    assert result.exit_code == 0, result.output
    kwargs = calls["run_fair"]
    assert kwargs["tasks"] == ("classification",) and kwargs["splits"] == ("quadrant",)
    assert kwargs["arms"] == ("coordconv", "mlp")  # grid order, whatever the order given
    assert calls["command"] is None  # the report says how to regenerate the whole grid


def test_the_whole_grid_records_its_command(calls, tmp_path):
    result = runner.invoke(app, ["reproduce", "--fair", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert calls["run_fair"]["tasks"] == ("classification", "regression", "rendering")
    assert calls["command"].startswith("coordconv ")  # this process's own arguments


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [("--tasks", "classification,segmentation", "segmentation"), ("--arms", "resnet", "resnet")],
)
def test_unknown_names_fail_naming_the_allowed_ones(calls, tmp_path, option, value, named):
    result = runner.invoke(app, ["reproduce", "--fair", "--out", str(tmp_path), option, value])
    assert result.exit_code == 2
    assert named in result.output and "expected some of" in result.output
    assert "run_fair" not in calls
