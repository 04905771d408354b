"""A tiny grid end to end: runs, resume, report tables and figures, the CLI."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from coordconv.experiments.cli import app
from coordconv.experiments.core.grid import run_grid
from coordconv.experiments.core.report import cell_of
from coordconv.experiments.core.train import train
from coordconv.experiments.notsoclevr.grid import grid
from coordconv.experiments.notsoclevr.report import build_report

TINY = dict(canvas=16, square=3, epochs=1, batch_size=64)


@pytest.fixture(scope="module")
def tiny_grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("grid")
    configs = grid("quick", threads=1, **TINY)
    ran = run_grid(out, configs)
    return out, configs, ran


def test_grid_covers_every_cell(tiny_grid):
    out, configs, ran = tiny_grid
    assert len(configs) == 12 and sorted(ran) == sorted(configs)
    cells = {(c.task, c.kind, c.split) for c in configs.values()}
    assert len(cells) == 12
    assert all((out / "runs" / name / "result.json").exists() for name in configs)


def test_rerun_skips_finished_and_resumes_interrupted(tiny_grid, tmp_path):
    out, configs, _ = tiny_grid
    assert run_grid(out, configs) == []
    # a grid interrupted in the middle of one run (after its first epoch)
    subset = {
        n: c for n, c in grid("quick", threads=1, **{**TINY, "epochs": 2}).items() if "-conv-" in n
    }
    cut = sorted(subset)[0]

    def interrupt(entry):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(subset[cut], tmp_path / "runs" / cut, progress=interrupt)
    assert not json.loads((tmp_path / "runs" / cut / "result.json").read_text())["finished"]
    uninterrupted = train(subset[cut], tmp_path / "whole")
    assert sorted(run_grid(tmp_path, subset)) == sorted(subset)
    resumed = json.loads((tmp_path / "runs" / cut / "result.json").read_text())
    assert resumed["finished"] and resumed["final"]["test"] == uninterrupted["final"]["test"]
    assert run_grid(tmp_path, subset) == []


def test_report_tables_hold_the_run_numbers(tiny_grid):
    out, configs, _ = tiny_grid
    report = build_report(out).read_text()
    results = json.loads((out / "results.json").read_text())
    for name in configs:
        run = json.loads((out / "runs" / name / "result.json").read_text())
        task, kind, split = cell_of(run["config"])
        cell = results["cells"][f"{task}/{kind}/{split}"]
        metric = "iou" if task == "rendering" else "accuracy"
        assert cell["test"] == [run["final"]["test"][metric]]
        assert cell["params"] == run["params"]
        section = report.split(f"## {task.capitalize()}")[1].split("## ")[0]
        row = next(
            line
            for line in section.splitlines()
            if line.startswith(f"| {kind} | {split} |") and f"{run['params']:,}" in line
        )
        assert f"{100 * run['final']['test'][metric]:.1f}%" in row
    for figure in ("curves.png", "error_maps.png", "renders.png", "splits.png"):
        assert (out / figure).stat().st_size > 1000
        assert f"({figure})" in report
    assert "~86%" in report and "Environment" in report


def test_cli_report_and_errors(tiny_grid, tmp_path):
    out, _, _ = tiny_grid
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "no runs under" in result.output


def test_cli_data_and_train(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["data", "--out", str(tmp_path), "--canvas", "16", "--square", "3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "notsoclevr.npz").exists() and (tmp_path / "notsoclevr.png").exists()
    bad = runner.invoke(app, ["data", "--out", str(tmp_path), "--square", "8"])
    assert bad.exit_code == 2 and "odd" in bad.output
    args = ["train", "--task", "regression", "--model", "coordconv", "--split", "quadrant"]
    args += ["--canvas", "16", "--square", "3", "--epochs", "1", "--out", str(tmp_path / "run")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output
    for command in ("train", "reproduce", "report", "data"):
        assert runner.invoke(app, [command, "--help"]).exit_code == 0


def test_import_coordconv_is_light():
    code = (
        "import sys, coordconv; "
        "print([m for m in ('typer', 'rich', 'matplotlib', 'coordconv.experiments') "
        "if m in sys.modules])"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
        == "[]\n"
    )


def test_stale_runs_stop_the_grid_and_the_report(tmp_path):
    from coordconv.experiments.core.grid import StaleRunError

    def cells(**kw):
        return {
            n: c
            for n, c in grid("quick", threads=1, **{**TINY, **kw}).items()
            if n.startswith("regression-conv")
        }

    first = cells()
    run_grid(tmp_path, first)
    name = sorted(first)[0]
    assert name.endswith("-s100")  # reported seeds are not the tuning seeds 0-9
    with pytest.raises(StaleRunError, match=rf"{name} differs in \['lr'\].*--overwrite"):
        run_grid(tmp_path, cells(lr=0.002))
    assert json.loads((tmp_path / "grid.json").read_text())["runs"][name]["lr"] != 0.002
    assert sorted(run_grid(tmp_path, cells(lr=0.002), overwrite=True)) == sorted(first)
    build_report(tmp_path)
    foreign = tmp_path / "runs" / "regression-conv-uniform-s7"
    foreign.mkdir()
    (foreign / "result.json").write_text((tmp_path / "runs" / name / "result.json").read_text())
    with pytest.raises(ValueError, match=r"regression-conv-uniform-s7 is not part of grid\.json"):
        build_report(tmp_path)
    foreign.joinpath("result.json").unlink()
    foreign.rmdir()
    grid_json = json.loads((tmp_path / "grid.json").read_text())
    grid_json["runs"][name]["epochs"] = 99
    (tmp_path / "grid.json").write_text(json.dumps(grid_json))
    with pytest.raises(ValueError, match=r"differs in \['epochs'\]"):
        build_report(tmp_path)


def test_grid_workers_flush_denormals_on_every_thread(tmp_path):
    """run_grid's worker processes (--jobs 2, two threads each) flush on all their threads. Run
    from a fresh interpreter that first starts torch's threads itself, as a driver may."""
    script = f"""
import torch
from coordconv.experiments.notsoclevr.grid import grid
from coordconv.experiments.core.grid import run_grid
torch.set_num_threads(2)
torch.ones(1 << 20) * 2.0  # the driver's own thread pool is up before the workers start
configs = dict(list(grid("quick", threads=2, canvas=16, square=3, epochs=1).items())[:2])
run_grid({str(tmp_path)!r}, configs, jobs=2)
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    results = [json.loads(p.read_text()) for p in tmp_path.glob("runs/*/result.json")]
    assert len(results) == 2
    assert all(r["config"]["flush_denormal"] and r["denormal_flush_share"] == 1.0 for r in results)
