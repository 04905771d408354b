"""Sweeps on Ray Tune, end to end on a tiny canvas: trials, selection on validation only, final
runs, resume, the fair report; and the search spaces and the missing-extra message."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coordconv.experiments.core.config import TrainConfig, make_config
from coordconv.experiments.core.io import write_json
from coordconv.experiments.core.machine import cpu_name
from coordconv.experiments.core.registry import field_names
from coordconv.experiments.core.selection import select_trial
from coordconv.experiments.fair import grid as grid_module
from coordconv.experiments.fair import sweep as sweep_module
from coordconv.experiments.fair.grid import ARM_ORDER, run_fair
from coordconv.experiments.fair.sweep import (
    ARMS,
    SEARCH_SPACES,
    SweepDependencyError,
    _Budget,
    _import_tune,
    _rung,
    arrival_times,
    finish_times,
    machines,
    read_ledger,
    run_sweep,
    sampler_seed,
    state_at,
    states_at,
    trial_seed,
)
from coordconv.experiments.notsoclevr import ModelConfig, NotSoClevrData

TINY = dict(canvas=16, square=3)


@pytest.mark.parametrize(("task", "arm"), sorted(SEARCH_SPACES))
def test_every_search_space_value_makes_a_valid_config(task, arm):
    space, kind = SEARCH_SPACES[task, arm], ARMS[arm]
    known = field_names(ModelConfig) | field_names(NotSoClevrData) | field_names(TrainConfig)
    assert set(space) <= known
    for key, values in space.items():
        for value in values:
            make_config(task, kind, "quadrant", **{key: value})
    for pick in (0, -1):
        make_config(task, kind, "uniform", **{k: v[pick] for k, v in space.items()})


def test_conv_baselines_sample_the_official_grid():
    space = SEARCH_SPACES["classification", "conv"]
    assert space["lr"] == [0.001, 0.002, 0.005, 0.01, 0.02, 0.05]
    assert space["weight_decay"] == [0.0, 1e-3, 1e-2] and space["kernel"] == [2, 3, 4]
    assert space["width"] == [1, 2, 3] and space["batch_size"] == [16, 32]
    assert max(space["epochs"]) == 1000 and "step" in space["lr_schedule"]


def test_budget_reads_the_trials_again_after_a_phase(tmp_path):
    """A restored phase runs Ray's own (unpickled) copy of the stopper: the sweep's instance
    must not decide on its stale tally (it once started a surplus phase that way)."""

    def trial(name: str, seconds: float) -> None:
        result = {"config": {}, "final": {"val": {}}, "epochs_run": 1, "wall_time_s": seconds}
        write_json(tmp_path / "trials" / name / "result.json", result)

    trial("00000-a", 100.0)
    budget = _Budget(tmp_path, 150.0)
    assert not budget.stop_all()
    trial("00001-a", 100.0)  # written by a trial the copy watched, not this instance
    assert not budget.stop_all()  # stale until the phase ends
    budget.reload()
    assert budget.stop_all()
    budget("b_00000", {"train_time_s": 10.0})
    assert sum(budget.spent.values()) == 210.0


def test_coordconv_paper_arm_samples_only_the_papers_training_settings():
    for task in ("classification", "regression", "rendering"):
        space = SEARCH_SPACES[task, "coordconv-paper"]
        assert set(space) == {"lr", "weight_decay", "batch_size", "epochs", "lr_schedule"}
        assert space["lr"] == SEARCH_SPACES["classification", "conv"]["lr"]
    assert ARMS["coordconv-paper"] == "coordconv"


def test_finish_times_replay_the_ledger(tmp_path):
    """Each trial finishes at the sum of every trial's latest training seconds when its last
    result arrived (the budget stopper's view)."""
    lines = [("a", 1.0), ("b", 2.0), ("a", 3.0), ("b", 5.0), ("c", 1.0)]
    text = "".join(json.dumps({"trial": t, "epoch": 1, "train_time_s": s}) + "\n" for t, s in lines)
    (tmp_path / "ledger.jsonl").write_text(text)
    assert finish_times(tmp_path) == {"a": 5.0, "b": 8.0, "c": 9.0}


def test_machines_give_each_cpu_the_median_speed_of_its_processes(tmp_path):
    records = [
        {
            "trial": "t0",
            "epoch": 1,
            "node_id": "n1",
            "pid": 1,
            "cpu": "A",
            "reference_steps_per_s": 10,
        },
        {
            "trial": "t0",
            "epoch": 2,
            "node_id": "n1",
            "pid": 1,
            "cpu": "A",
            "reference_steps_per_s": 10,
        },
        {
            "trial": "t1",
            "epoch": 1,
            "node_id": "n1",
            "pid": 2,
            "cpu": "A",
            "reference_steps_per_s": 20,
        },
        {
            "trial": "t2",
            "epoch": 1,
            "node_id": "n2",
            "pid": 1,
            "cpu": "A",
            "reference_steps_per_s": 60,
        },
        {
            "trial": "t3",
            "epoch": 1,
            "node_id": "n3",
            "pid": 7,
            "cpu": "B",
            "reference_steps_per_s": 5,
        },
        {"trial": "t4", "epoch": 1, "node_id": "n3", "pid": 8},  # a ledger from before: skipped
    ]
    (tmp_path / "ledger.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert machines(tmp_path) == {
        "A": {"trial_epochs": 4, "processes": 3, "reference_steps_per_s": 20},
        "B": {"trial_epochs": 1, "processes": 1, "reference_steps_per_s": 5},
    }
    assert machines(tmp_path / "none") == {}


def test_a_rung_selects_each_trial_as_it_stood_at_its_budget():
    def trial(name, vals_at):  # [(epoch's validation accuracy, tuning seconds at its arrival)]
        history = [
            {"epoch": i + 1, "val": {"accuracy": v, "loss": 1 - v}, "at_s": at}
            for i, (v, at) in enumerate(vals_at)
        ]
        return {
            "id": name,
            "val": history[-1]["val"],
            "epochs_run": len(history),
            "finished_at_s": history[-1]["at_s"],
            "history": history,
            "train_time_s": 10.0,
        }

    # c is still running at 1 CPU-minute (epoch 1 only) and ends best; a 1-minute sweep would
    # have cut it at epoch 1, where it already led: the rung selects that state, never a later one
    trials = [
        trial("a", [(0.2, 10.0), (0.5, 30.0)]),
        trial("b", [(0.6, 59.0)]),
        trial("c", [(0.7, 40.0), (0.8, 100.0), (1.0, 130.0)]),
    ]
    trials.append({**trial("d", [(0.9, None)]), "finished_at_s": None})  # never in the ledger
    low = _rung(trials, "classification", 1.0, top=False)
    assert (low["selected"], low["epoch"], low["trials"], low["spent_s"]) == ("c", 1, 3, 59.0)
    assert low["val"]["accuracy"] == 0.7
    mid = _rung(trials, "classification", 2.0, top=False)
    assert (mid["selected"], mid["epoch"], mid["val"]["accuracy"]) == ("c", 2, 0.8)
    assert _rung(trials, "classification", 0.1, top=False)["selected"] is None
    # what the first rung's share of configurations at the target counts: each trial then
    held = {s["id"]: (s["epochs_run"], s["val"]["accuracy"]) for s in states_at(trials, 0.7)}
    assert held == {"a": (2, 0.5), "c": (1, 0.7)}  # b arrives at 59 s, after 42
    top = _rung(trials, "classification", 3.0, top=True)
    assert (top["selected"], top["epoch"], top["trials"], top["spent_s"]) == ("c", 3, 4, 40.0)
    # sweeps recorded before per-epoch histories: a trial counts once it finished within
    old = [{k: v for k, v in t.items() if k != "history"} for t in trials]
    assert _rung(old, "classification", 1.0, top=False)["selected"] == "b"


def test_trial_and_sampler_seeds_are_distinct_and_stay_clear_of_final_seeds():
    seeds = {trial_seed(0, phase, i) for phase in range(3) for i in range(1000)}
    assert len(seeds) == 3000 and min(seeds) > 10_000
    assert trial_seed(1, 0, 0) != trial_seed(0, 0, 0)
    with pytest.raises(ValueError):
        trial_seed(0, 0, 10_000)
    cells = [("classification", "conv"), ("rendering", "conv"), ("classification", "coordconv")]
    assert len({sampler_seed(0, t, a, "uniform", None) for t, a in cells}) == 3
    assert sampler_seed(0, "rendering", "conv", "uniform", None) == sampler_seed(
        0, "rendering", "conv", "uniform", None
    )


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(SweepDependencyError, match=r"torch-coordconv\[sweep\]"):
        _import_tune()


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    progress: list[dict] = []
    summary = run_sweep(
        "classification",
        "coordconv",
        "uniform",
        out,
        budget_min=0.05,
        rungs=(0.02,),
        max_trials=4,
        final_seeds=2,
        on_progress=progress.append,
        **TINY,
    )
    return out, summary, progress


def test_sweep_writes_trials_and_selects_on_validation(tiny_sweep):
    out, summary, _ = tiny_sweep
    saved = json.loads((out / "sweep.json").read_text())
    assert saved == summary and saved["final_done"]
    assert {"task", "model", "split", "metric", "budget_s", "search_space", "trials"} <= set(saved)
    assert saved["spent_s"] >= saved["budget_s"] or len(saved["trials"]) == 4
    assert saved["selected"] == select_trial(saved["trials"], "classification")["id"]
    # this machine's CPU, measured in the trials' workers
    (cpu, machine), *others = saved["machines"].items()
    assert not others and cpu == cpu_name() and machine["reference_steps_per_s"] > 0
    assert machine["trial_epochs"] == len(read_ledger(out))
    for trial in saved["trials"]:
        result = json.loads((out / "trials" / trial["id"] / "result.json").read_text())
        # a trial never evaluates test (nor train): nothing of test can reach the selection
        assert all(set(h) == {"epoch", "val", "seconds", "cpu_seconds"} for h in result["history"])
        assert "test" not in result["final"] and result["config"]["trial"]
        # denormals are flushed inside the Ray worker too
        assert result["config"]["flush_denormal"] and result["denormal_flush_share"] == 1.0
        assert (
            trial["val"] == result["final"]["val"] and trial["epochs_run"] == result["epochs_run"]
        )
        # the budget counts CPU seconds of training
        assert trial["train_time_s"] == result["cpu_time_s"]
    # each trial trains with its own seed, recorded in its config
    seeds = [t["config"]["seed"] for t in saved["trials"]]
    index = [int(t["id"].split("-")[0]) for t in saved["trials"]]
    assert seeds == [trial_seed(0, 0, i) for i in index] and len(set(seeds)) == len(seeds)
    assert saved["sampler_seed"] == sampler_seed(0, "classification", "coordconv", "uniform", None)
    # one cell alone: as many trials at a time as the local cluster has CPUs, fixed on disk
    assert saved["trials_at_once"] == os.cpu_count()
    assert json.loads((out / "trials_at_once.json").read_text()) == {
        "trials_at_once": os.cpu_count()
    }


def test_sweep_records_each_rung_from_its_prefix(tiny_sweep):
    out, summary, _ = tiny_sweep
    assert [r["budget_min"] for r in summary["rungs"]] == [0.02, 0.05]
    finished = finish_times(out)
    assert {t["id"]: t["finished_at_s"] for t in summary["trials"]} == {
        t["id"]: finished.get(t["id"]) for t in summary["trials"]
    }
    low, top = summary["rungs"]
    arrived = arrival_times(out)
    for t in summary["trials"]:  # every epoch's arrival on the ledger is recorded
        assert [h["at_s"] for h in t["history"]] == [
            arrived.get(t["id"], {}).get(h["epoch"]) for h in t["history"]
        ]
    states = [state_at(t, 0.02) for t in summary["trials"]]
    eligible = [s for s in states if s is not None]
    assert low["trials"] == len(eligible)
    assert all(s["at_s"] <= 0.02 * 60 for s in eligible)
    if eligible:
        chosen = select_trial(eligible, "classification")
        assert (low["selected"], low["epoch"]) == (chosen["id"], chosen["epochs_run"])
        assert (low["final"]["trial"], low["final"]["epoch"]) == (low["selected"], low["epoch"])
    assert top["selected"] == summary["selected"] and top["final"] == summary["final"]


def test_progress_counts_every_trials_training_time(tiny_sweep):
    _, summary, progress = tiny_sweep
    assert progress and progress[-1]["budget_s"] == summary["budget_s"]
    assert progress[-1]["trials"] == len(summary["trials"])
    assert max(p["running"] for p in progress) >= 1 and progress[-1]["running"] == 0
    assert progress[-1]["spent_s"] == pytest.approx(summary["spent_s"])


def test_final_runs_retrain_the_selection_on_fresh_seeds(tiny_sweep):
    out, summary, _ = tiny_sweep
    selected = next(t for t in summary["trials"] if t["id"] == summary["selected"])
    final = summary["final"]
    assert [r["seed"] for r in final["runs"]] == [100, 101]
    for run in final["runs"]:
        cfg = run["config"]
        assert not cfg["validation"] and not cfg["trial"]
        assert cfg["lr"] == selected["config"]["lr"] and cfg["model"] == selected["config"]["model"]
        path = out / "final" / summary["selected"] / "runs" / run["name"] / "result.json"
        result = json.loads(path.read_text())
        assert result["epochs_run"] == selected["epochs_run"]
        assert run["test"] == result["final"]["test"]
    values = [r["test"]["accuracy"] for r in final["runs"]]
    assert final["test_mean"] == pytest.approx(sum(values) / 2)


def test_final_runs_run_at_most_the_sweeps_trials_at_once(tiny_sweep):
    out, summary, _ = tiny_sweep
    grid = json.loads((out / "final" / summary["selected"] / "grid.json").read_text())
    assert grid["jobs"] == min(2, summary["trials_at_once"])


def test_trials_at_once_is_fixed_for_a_sweeps_life(tmp_path):
    from coordconv.experiments.fair.sweep import fixed_trials_at_once

    assert fixed_trials_at_once(tmp_path / "a", None, 6) == 6  # default: the cluster's CPUs
    assert fixed_trials_at_once(tmp_path / "a", None, 2) == 6  # a resume keeps it
    assert fixed_trials_at_once(tmp_path / "b", 3, 8) == 3
    assert fixed_trials_at_once(tmp_path / "b", 3, 2) == 3
    assert fixed_trials_at_once(tmp_path / "b", None, 8) == 3
    with pytest.raises(
        ValueError, match=r"swept with 3 trials at a time, not 4.*--trials-at-once 3"
    ):
        fixed_trials_at_once(tmp_path / "b", 4, 8)
    with pytest.raises(ValueError, match="trials_at_once must be >= 1"):
        fixed_trials_at_once(tmp_path / "c", 0, 8)
    assert fixed_trials_at_once(tmp_path / "d", None, 0) == 1  # a cluster reporting no CPU


def test_a_finished_sweep_is_not_run_again(tiny_sweep):
    out, summary, _ = tiny_sweep
    again = run_sweep("classification", "coordconv", "uniform", out, budget_min=0.05, **TINY)
    assert again == summary


def _resume_tiny_sweep(cell):
    """``tiny_sweep``'s settings, resumed in ``cell``."""
    return run_sweep(
        "classification",
        "coordconv",
        "uniform",
        cell,
        budget_min=0.05,
        rungs=(0.02,),
        max_trials=4,
        final_seeds=2,
        resume=True,
        **TINY,
    )


def test_a_cell_committed_with_final_runs_left_finishes_them_without_its_trials(
    tiny_sweep, tmp_path
):
    """What git keeps of a cell stopped in its final phase (sweep.json, the ledger, finished
    final runs; not trials/, ray/ or checkpoints) resumes at the final runs: no trial again."""
    out, summary, _ = tiny_sweep
    cell = tmp_path / "cell"
    shutil.copytree(out, cell, ignore=shutil.ignore_patterns("trials", "ray", "checkpoint.pt"))
    saved = {**summary, "final_done": False}
    (cell / "sweep.json").write_text(json.dumps(saved))
    runs = sorted((cell / "final" / summary["selected"] / "runs").iterdir())
    kept, lost = runs[0], runs[-1]
    shutil.rmtree(lost)  # unfinished when committed: its folder held only a checkpoint
    kept_result = (kept / "result.json").read_text()
    ledger = (cell / "ledger.jsonl").read_text()

    with pytest.raises(FileExistsError, match="--resume"):
        run_sweep("classification", "coordconv", "uniform", cell, budget_min=0.05, **TINY)
    again = _resume_tiny_sweep(cell)
    assert again["final_done"] and again["trials"] == summary["trials"]
    assert not (cell / "trials").exists() and (cell / "ledger.jsonl").read_text() == ledger
    assert (kept / "result.json").read_text() == kept_result  # a finished run is not redone
    assert json.loads((lost / "result.json").read_text())["finished"]
    assert [r["seed"] for r in again["final"]["runs"]] == [100, 101]
    assert again["final"]["test"] == summary["final"]["test"]  # same seeds, same numbers


def test_sweep_refuses_an_existing_folder_without_resume(tmp_path):
    (tmp_path / "ray").mkdir()
    with pytest.raises(FileExistsError, match="--resume"):
        run_sweep("regression", "mlp", "uniform", tmp_path, **TINY)


def test_interrupted_sweep_resumes(tmp_path):
    """Ctrl-C after the first trial epoch, then --resume: the sweep finishes and keeps its trials."""
    out = tmp_path / "sweep"
    args = ["--task", "regression", "--model", "mlp", "--split", "uniform", "--out", str(out)]
    args += ["--budget-min", "0.5", "--max-trials", "6", "--final-seeds", "1"]
    args += ["--canvas", "16", "--square", "3"]
    command = [sys.executable, "-m", "coordconv.experiments.cli", "sweep", *args]
    env = {**os.environ, "COLUMNS": "200"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not list(out.glob("trials/*/result.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(out.glob("trials/*/result.json")), "no trial finished an epoch in 10 minutes"
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=600)[0].decode()
    assert process.returncode == 130, output
    assert not (out / "sweep.json").exists()
    before = {p.parent.name for p in out.glob("trials/*/result.json")}
    assert before

    done = subprocess.run([*command, "--resume"], env=env, capture_output=True, timeout=900)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["final_done"] and before <= {t["id"] for t in summary["trials"]}
    assert len(summary["trials"]) <= 6


def test_a_trial_tune_gave_up_on_after_its_worker_died_resumes(tmp_path, monkeypatch, once):
    """Tune's own retries switched off, a trial's worker process is killed after its first
    epoch: Tune ends that trial in error, and the sweep restarts it from its last checkpoint
    in a new process (the path a lost node takes when Tune's retries do not catch it)."""
    monkeypatch.setattr(sweep_module, "MAX_FAILURES", 0)
    killed: list[dict] = []

    def kill(records: list[dict]) -> None:
        os.kill(records[0]["pid"], signal.SIGKILL)
        killed.append(records[0])

    killer = once(lambda: read_ledger(tmp_path), kill)
    summary = run_sweep(
        "classification",
        "conv",
        "uniform",
        tmp_path,
        budget_min=0.3,
        max_trials=4,
        final_seeds=1,
        **TINY,
    )
    assert killer.done.is_set(), "no trial reported an epoch"
    trial = killed[0]["trial"]
    records = [r for r in read_ledger(tmp_path) if r["trial"] == trial]
    assert {r["pid"] for r in records} - {killed[0]["pid"]}, "the killed trial never resumed"
    epochs = [r["epoch"] for r in records]
    assert epochs[0] == 1 and epochs == sorted(set(epochs))  # resumed, not restarted
    saved = next(t for t in summary["trials"] if t["id"] == trial)
    assert saved["epochs_run"] in (epochs[-1], epochs[-1] + 1)
    assert summary["final_done"]


def test_fair_report_holds_the_sweep_numbers(tmp_path):
    from coordconv.experiments.fair.report import build_fair_report

    ladder_cell = ("rendering", "conv", "quadrant")
    names = run_fair(
        tmp_path,
        budget_min=0.03,
        ladder=(0.03, 0.06),
        ladder_cells=(ladder_cell,),
        final_seeds=2,
        max_trials=3,
        tasks=("rendering",),
        splits=("quadrant",),
        **TINY,
    )
    # CoordConv first, then the ladder's cell, then the rest in arm order
    rest = [arm for arm in ARM_ORDER if arm not in ("coordconv", "conv")]
    assert names == [f"rendering-{arm}-quadrant" for arm in ("coordconv", "conv", *rest)]
    report = build_fair_report(tmp_path).read_text()
    results = json.loads((tmp_path / "results.json").read_text())
    assert "Not finished yet" in report and (tmp_path / "fair_rendering.png").stat().st_size > 1000
    assert {(c["arm"], c["budget_min"]) for c in results["cells"]} == {
        *((arm, 0.03) for arm in ARM_ORDER),
        ("conv", 0.06),
    }
    for cell in results["cells"]:
        summary = json.loads(
            Path(tmp_path, "sweeps", f"rendering-{cell['arm']}-quadrant", "sweep.json").read_text()
        )
        assert summary["arm"] == cell["arm"]
        rung = next(r for r in summary["rungs"] if r["budget_min"] == cell["budget_min"])
        runs = (rung["final"] or {}).get("runs", [])
        assert cell["test"] == [r["test"]["iou"] for r in runs]
        assert cell["train"] == [r["train"]["iou"] for r in runs]
        pattern = r"(supported|contradicted|inconclusive|mixed|no final runs)\b"
        assert re.match(pattern, cell["verdict"])
        row = next(
            line
            for line in report.splitlines()
            if line.startswith(f"| quadrant | {cell['arm']} | {cell['budget_min']:g} |")
        )
        assert f"| {cell['trials']} |" in row and f"{cell['solved']}/{len(runs)}" in row
        assert cell["verdict"] in row
    (invocation,) = json.loads((tmp_path / "fair.json").read_text())["invocations"]
    assert invocation["cells"] == names and invocation["cells_at_once"] == 1
    assert invocation["trials_at_once"] == dict.fromkeys(names, os.cpu_count())
    assert 0 < invocation["trial_utilisation"] <= 1.0 and invocation["wall_s"] > 0
    finals = [
        json.loads(p.read_text()) for p in tmp_path.glob("sweeps/*/final/*/runs/*/result.json")
    ]
    # a lower rung's runs written by the top rung's (snapshot_of) are not work of their own
    finals_cpu_s = sum(r["cpu_time_s"] for r in finals if "snapshot_of" not in r)
    assert finals_cpu_s > 0
    assert invocation["work_utilisation"] == pytest.approx(
        invocation["trial_utilisation"]
        + finals_cpu_s / (invocation["cores"] * invocation["wall_s"])
    )
    assert (
        invocation["machine_utilisation"] is None or 0 < invocation["machine_utilisation"] <= 1.05
    )
    with pytest.raises(ValueError, match="other settings"):
        run_fair(tmp_path, budget_min=1.0, tasks=("rendering",), splits=("quadrant",), **TINY)


def test_an_invocation_counts_only_the_work_done_during_it(tmp_path):
    """A cell resumed for its last final runs: the trial seconds and the finished final runs
    from before the invocation are not its work (they once read as 500x the cores)."""
    cell = tmp_path / "sweeps" / "rendering-conv-uniform"
    write_json(cell / "sweep.json", {"busy_s": 4000.0, "trials_at_once": 2})
    write_json(cell / "final" / "t" / "runs" / "s100" / "result.json", {"cpu_time_s": 900.0})
    write_json(cell / "final" / "t" / "runs" / "s101" / "result.json", {"cpu_time_s": 100.0})
    write_json(tmp_path / "fair.json", {"settings": {}})
    outs = {"rendering-conv-uniform": str(cell)}
    before = grid_module._work_s(outs)
    started = time.perf_counter() - 10.0
    write_json(cell / "final" / "t" / "runs" / "s101" / "result.json", {"cpu_time_s": 160.0})
    write_json(cell / "final" / "t" / "runs" / "s102" / "result.json", {"cpu_time_s": 20.0})
    # a lower rung's run written by s102 as it passed its epoch: s102's CPU time, not more work
    snapshot = {"cpu_time_s": 15.0, "snapshot_of": str(cell / "final" / "t" / "runs" / "s102")}
    write_json(cell / "final" / "t-e5" / "runs" / "s102" / "result.json", snapshot)
    grid_module._record_invocation(
        tmp_path / "fair.json", started, None, before, list(outs), outs, cells_at_once=1
    )
    (record,) = json.loads((tmp_path / "fair.json").read_text())["invocations"]
    assert record["trial_utilisation"] == 0.0
    assert record["work_utilisation"] == pytest.approx(80.0 / (record["cores"] * record["wall_s"]))


@pytest.mark.parametrize(
    ("cpus", "at_once", "crowded"), [(2, 2, True), (4, 2, False), (2, 1, False)]
)
def test_cells_at_once_warn_when_a_cell_gets_under_two_cpus(cpus, at_once, crowded) -> None:
    import warnings

    from coordconv.experiments.fair.grid import _warn_if_crowded

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _warn_if_crowded(cpus, at_once)
    assert bool(caught) == crowded
    if crowded:
        assert "--cells-at-once 1" in str(caught[0].message)


def test_rungs_selecting_one_trial_share_its_final_runs(tiny_sweep, tmp_path):
    """A lower rung that selects the top rung's trial at an earlier epoch gets its final runs
    from the top rung's as they pass that epoch (snapshots), not from training them again."""
    out, summary, _ = tiny_sweep
    top = next(t for t in summary["trials"] if t["id"] == summary["selected"])
    early = top["epochs_run"] - 1
    assert early >= 1
    cell = tmp_path / "cell"
    shutil.copytree(
        out, cell, ignore=shutil.ignore_patterns("trials", "ray", "final", "checkpoint.pt")
    )
    low = {**summary["rungs"][0], "selected": top["id"], "epoch": early}
    rungs = [low, {**summary["rungs"][-1], "selected": top["id"], "epoch": top["epochs_run"]}]
    saved = {**summary, "rungs": rungs, "final_done": False}
    (cell / "sweep.json").write_text(json.dumps(saved))
    again = _resume_tiny_sweep(cell)
    key = f"{top['id']}-e{early}"
    listed = json.loads((cell / "final" / top["id"] / "snapshots.json").read_text())
    assert listed == {str(early): key}
    assert again["rungs"][0]["final"]["epoch"] == early
    assert again["final"]["test"] == summary["final"]["test"]  # the top rung's runs unchanged
    for run in again["rungs"][0]["final"]["runs"]:
        runs = cell / "final"
        lower = json.loads((runs / key / "runs" / run["name"] / "result.json").read_text())
        longer = json.loads((runs / top["id"] / "runs" / run["name"] / "result.json").read_text())
        assert lower["epochs_run"] == early and lower["config"]["stop_epoch"] == early
        # written by the longer run as it passed the epoch: its very epoch timings
        assert [h["seconds"] for h in lower["history"]] == [
            h["seconds"] for h in longer["history"][:early]
        ]
        assert (runs / key / "runs" / run["name"] / "node.json").exists()
