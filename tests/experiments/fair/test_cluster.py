"""Sweeps on a real multi-node Ray cluster on loopback: a head and a worker node started as
separate processes (Ray's own ``ray.cluster_utils.Cluster``), trials on both nodes, and a worker
node lost mid-sweep. Each test starts and stops its own cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coordconv.experiments.fair.grid import run_fair
from coordconv.experiments.fair.sweep import finish_times, read_ledger, run_sweep, trial_nodes

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

TINY = dict(canvas=16, square=3)


@pytest.fixture
def cluster():
    """A head (1 CPU) and one worker node (1 CPU) on this machine; shut down whatever happens."""
    if ray.is_initialized():  # a local Ray of an earlier test in this process: not ours to use
        ray.shutdown()
    cluster = cluster_utils.Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster, worker
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_sweep_schedules_trials_on_both_nodes(cluster, tmp_path: Path) -> None:
    head, _ = cluster
    summary = run_sweep(
        "regression",
        "mlp",
        "uniform",
        tmp_path,
        budget_min=0.15,
        max_trials=8,
        final_seeds=2,
        address=head.address,
        **TINY,
    )
    nodes = {t["node_id"] for t in summary["trials"]}
    assert None not in nodes and len(nodes) == 2, nodes
    assert summary["cores"] == 2
    assert {t["id"]: t["node_id"] for t in summary["trials"]} == trial_nodes(tmp_path)
    # the final runs are Ray tasks too, on the cluster's nodes
    finals = summary["final"]["runs"]
    assert finals and all(run["node_id"] in {n["NodeID"] for n in ray.nodes()} for run in finals)


def test_a_lost_worker_node_costs_no_trial(cluster, tmp_path: Path, once) -> None:
    """Kill the worker node as soon as a trial there has reported its first epoch (the deconv
    trials run 10+ epochs, and ASHA decides at epoch 2 at the earliest, so it is mid-run): the
    sweep finishes, that trial goes on on the head from its last epoch's checkpoint (no epoch
    run twice), and every trial's training time is counted once."""
    head, worker = cluster
    worker_id = worker.node_id
    killer = once(
        lambda: worker_id in trial_nodes(tmp_path).values(),
        lambda _: head.remove_node(worker, allow_graceful=False),
    )
    summary = run_sweep(
        "classification",
        "conv",
        "uniform",
        tmp_path,
        budget_min=0.3,
        max_trials=6,
        final_seeds=1,
        address=head.address,
        **TINY,
    )
    assert killer.done.is_set(), "no trial reached the worker node"
    assert summary["final_done"] and summary["trials"]
    ids = [t["id"] for t in summary["trials"]]
    assert len(ids) == len(set(ids))
    # each trial's time once: the ledger's last value per trial is its saved training time
    finished = finish_times(tmp_path)
    assert set(finished) <= set(ids)
    assert summary["spent_s"] == pytest.approx(sum(t["train_time_s"] for t in summary["trials"]))
    records = read_ledger(tmp_path)
    there = {r["trial"] for r in records if r["node_id"] == worker_id}
    moved = there & {r["trial"] for r in records if r["node_id"] != worker_id}
    assert moved, "no trial was cut by the lost node"
    for trial in moved:
        epochs = [r["epoch"] for r in records if r["trial"] == trial]
        # resumed, not restarted: no epoch reported twice (an epoch saved just before the node
        # died may never have been reported; its time is in the next report's cumulative total)
        assert epochs[0] == 1 and epochs == sorted(set(epochs))
        saved = next(t for t in summary["trials"] if t["id"] == trial)
        assert saved["node_id"] != worker_id
        # (a trial the budget stopped may have saved one epoch whose result never arrived)
        assert saved["epochs_run"] in (epochs[-1], epochs[-1] + 1)


def test_cells_run_concurrently_on_the_cluster(cluster, tmp_path: Path) -> None:
    """Two cells at a time, each by its own driver process attached to the cluster: both
    finish with their own budgets, their trials spread over the nodes, progress counts cells."""
    head, _ = cluster
    grid = dict(
        budget_min=0.05,
        ladder=(0.05,),
        ladder_cells=(),
        final_seeds=1,
        max_trials=3,
        tasks=("regression",),
        splits=("uniform",),
        arms=("coordconv", "mlp"),
        address=head.address,
        cells_at_once=2,
        **TINY,
    )
    seen: list[dict] = []
    with pytest.warns(UserWarning, match="fewer than 2 trials running at a time"):
        names = run_fair(
            tmp_path, on_progress=lambda name, info: seen.append({"name": name, **info}), **grid
        )
    assert names == ["regression-coordconv-uniform", "regression-mlp-uniform"]
    nodes = set()
    for name in names:
        summary = json.loads((tmp_path / "sweeps" / name / "sweep.json").read_text())
        assert summary["final_done"] and summary["budget_s"] == pytest.approx(3.0)
        assert summary["final"]["runs"]
        # two cells on the 2-CPU cluster: one trial at a time each, fixed, not contended
        assert summary["trials_at_once"] == 1
        nodes |= {t["node_id"] for t in summary["trials"]}
        assert (tmp_path / "sweeps" / f"{name}.log").exists()
    assert len(nodes) == 2, nodes  # the cells shared both nodes
    assert any(s["cells_running"] == 2 for s in seen)
    assert all(s["spent_s"] <= s["budget_s"] + 60 for s in seen)
    # a finished grid run again starts no driver: both cells are read back as done
    done: list[str] = []
    run_fair(tmp_path, on_cell=lambda name, summary: done.append(name), **grid)
    assert done == names
