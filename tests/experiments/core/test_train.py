"""The training engine, end to end on a small canvas: every task x model, resume, determinism, errors."""

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from coordconv.experiments.core.config import TrainConfig, config_differences, make_config
from coordconv.experiments.core.registry import get_task
from coordconv.experiments.core.tasks import TaskSpec
from coordconv.experiments.core.train import (
    NonFiniteLossError,
    RunExistsError,
    denormal_flush_share,
    train,
)

SMALL = dict(canvas=16, square=3, epochs=2, batch_size=64, threads=1)


def _config(task="classification", model="coordconv", split="uniform", **kw):
    return make_config(task, model, split, **{**SMALL, **kw})


def _numbers(result):
    """Everything in a result except timings (which differ between identical runs)."""
    history = [{"train": h["train"], "test": h["test"]} for h in result["history"]]
    return history, result["final"]["train"], result["final"]["test"]


@pytest.mark.parametrize("model", ["conv", "coordconv"])
@pytest.mark.parametrize("task", ["classification", "regression", "rendering"])
def test_every_task_and_model_runs(tmp_path, task, model):
    split = "quadrant" if task == "regression" else "uniform"
    result = train(_config(task, model, split), tmp_path)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["finished"] and saved["epochs_run"] == 2
    assert set(saved) >= {"config", "versions", "params", "wall_time_s", "history", "final"}
    capability = torch.backends.cpu.get_cpu_capability()
    assert saved["versions"]["cpu"].endswith(f"({capability})")  # budgets differ by CPU
    assert [h["epoch"] for h in saved["history"]] == [1, 2]
    assert all(h["seconds"] > 0 and h["cpu_seconds"] > 0 for h in saved["history"])
    metrics = {
        "classification": {"loss", "accuracy"},
        "regression": {"loss", "accuracy", "mean_pixel_error"},
        "rendering": {"loss", "iou", "pixel_accuracy"},
    }[task]
    assert set(saved["final"]["train"]) == set(saved["final"]["test"]) == metrics
    assert "time_to_target_s" in saved["final"]
    assert saved["config"] == result["config"] and saved["config"]["model"]["task"] == task
    assert isinstance(saved["params"], int) and saved["params"] > 0
    examples = np.load(tmp_path / "examples.npz")
    assert examples["is_test"].shape == (14 * 14,)
    assert 0 < examples["is_test"].sum() < 14 * 14
    primary = "iou" if task == "rendering" else "accuracy"
    test_mean = float(examples[primary][examples["is_test"]].mean())
    assert test_mean == pytest.approx(saved["final"]["test"][primary], abs=1e-6)


def test_deterministic(tmp_path):
    cfg = _config("regression")
    assert _numbers(train(cfg, tmp_path / "a")) == _numbers(train(cfg, tmp_path / "b"))
    other = train(_config("regression", seed=1), tmp_path / "c")
    assert _numbers(other) != _numbers(train(cfg, tmp_path / "a", overwrite=True))


@pytest.mark.parametrize("task", ["classification", "rendering"])
def test_resume_equals_uninterrupted(tmp_path, task):
    cfg = _config(task, epochs=3)
    whole = train(cfg, tmp_path / "whole")

    def stop_after_first_epoch(entry):
        if entry["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", progress=stop_after_first_epoch)
    partial = json.loads((tmp_path / "cut" / "result.json").read_text())
    assert not partial["finished"] and partial["epochs_run"] == 1
    resumed = train(cfg, tmp_path / "cut", resume=True)
    assert _numbers(resumed) == _numbers(whole)
    assert train(cfg, tmp_path / "cut", resume=True)["final"] == resumed["final"]  # finished: no-op


def test_existing_run_and_changed_config_are_refused(tmp_path):
    cfg = _config(epochs=1)
    train(cfg, tmp_path)
    with pytest.raises(RunExistsError, match="--resume"):
        train(cfg, tmp_path)
    with pytest.raises(ValueError, match=r"differs in \['lr'\]"):
        train(_config(epochs=1, lr=0.1), tmp_path, resume=True)
    with pytest.raises(ValueError, match=r"differs in \['threads'\]"):
        train(_config(epochs=1, threads=2), tmp_path, resume=True)
    train(_config(epochs=1, lr=0.1), tmp_path, overwrite=True)


def test_corrupt_checkpoint_message(tmp_path):
    cfg = _config(epochs=1)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"cannot be read.*--overwrite"):
        train(cfg, tmp_path, resume=True)


class _Payload:
    """Unpickling this would call ``_EXECUTED.append``: a stand-in for arbitrary code."""

    def __reduce__(self):
        return (_EXECUTED.append, ("ran",))


_EXECUTED: list[str] = []


def test_malicious_checkpoint_is_refused_not_executed(tmp_path):
    cfg = _config(epochs=1)
    train(cfg, tmp_path)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    ckpt["state"]["payload"] = _Payload()
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"weights_only=True, nothing in it was executed"):
        train(cfg, tmp_path, resume=True)
    assert _EXECUTED == []
    torch.save({"weights": torch.zeros(1)}, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="not a coordconv training checkpoint"):
        train(cfg, tmp_path, resume=True)


def test_non_finite_loss_stops_with_epoch_and_step(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_loss = TaskSpec.loss

    def loss_turning_nan(self, output, target):
        calls["n"] += 1
        value = real_loss(self, output, target)
        return value * float("nan") if calls["n"] == 5 else value

    monkeypatch.setattr(TaskSpec, "loss", loss_turning_nan)
    cfg = _config(batch_size=32, epochs=2)  # 157 train examples -> 5 steps per epoch
    with pytest.raises(NonFiniteLossError, match="epoch 1, step 5"):
        train(cfg, tmp_path)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_config_validation():
    model = {"task": "regression", "kind": "conv"}
    with pytest.raises(ValueError, match="needs a 'model' table"):
        TrainConfig.from_dict({"task": "regression", "lr": 1.0})
    with pytest.raises(ValueError, match=r"unknown config keys \['learning_rate'\]"):
        TrainConfig.from_dict({"model": model, "learning_rate": 1.0})
    with pytest.raises(ValueError, match=r"unknown model config keys \['depth'\]"):
        TrainConfig.from_dict({"model": {**model, "depth": 3}})
    with pytest.raises(ValueError, match="split must be"):
        _config(split="diagonal")
    with pytest.raises(ValueError, match="lr must be"):
        _config(lr=float("nan"))
    with pytest.raises(ValueError, match="no recipe"):
        make_config("classification", "transformer", "uniform")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            _config(device="cuda")


def test_validation_run_records_val_and_never_reads_test(tmp_path, monkeypatch):
    """Garbage test targets: bit-identical weights and train/val numbers (test decides nothing)."""
    from coordconv.experiments.notsoclevr import source as train_module
    from coordconv.experiments.notsoclevr.data import NotSoClevr, make_split

    cfg = _config(
        task="rendering", split="quadrant", epochs=2, validation=True, stop_at_target=True
    )
    clean = train(cfg, tmp_path / "clean")
    assert [set(h) for h in clean["history"]] == [
        {"epoch", "train", "val", "test", "seconds", "cpu_seconds"}
    ] * 2
    assert set(clean["final"]) >= {"train", "val", "test", "time_to_target_s", "held_target"}
    real = train_module.task_tensors

    def garbage_test_targets(dataset, task):
        inputs, targets = real(dataset, task)
        _, test_idx = make_split(NotSoClevr(cfg.canvas, cfg.data.square), cfg.split)
        targets = targets.clone()
        targets[test_idx] = torch.rand_like(targets[test_idx])
        return inputs, targets

    monkeypatch.setattr(train_module, "task_tensors", garbage_test_targets)
    dirty = train(cfg, tmp_path / "dirty")
    assert dirty["final"]["test"] != clean["final"]["test"]
    for a, b in zip(clean["history"], dirty["history"], strict=True):
        assert a["train"] == b["train"] and a["val"] == b["val"]
    state = [torch.load(tmp_path / d / "checkpoint.pt")["model"] for d in ("clean", "dirty")]
    for key in state[0]:
        assert torch.equal(state[0][key], state[1][key]), key


def test_held_target_says_whether_the_run_ended_at_target(tmp_path):
    result = train(_config(task="regression", epochs=2), tmp_path)
    spec = get_task("regression", SMALL["canvas"])
    last = result["history"][-1]
    assert result["final"]["held_target"] == (
        spec.reached(last["train"]) and spec.reached(last["test"])
    )


def test_config_nests_the_model_and_round_trips():
    """Flat settings go to the model or the run by name; asdict/from_dict is the identity."""
    cfg = make_config("regression", "conv", "quadrant", width=2, lr=0.02, seed=3)
    assert cfg.model.width == 2 and cfg.lr == 0.02 and cfg.model.regression_conv == "strided"
    assert make_config("regression", "conv", "uniform").model.regression_conv == "pooled"
    assert cfg.name == "regression-conv-quadrant-s3"
    saved = asdict(cfg)
    assert saved["model"]["width"] == 2 and "width" not in saved
    assert TrainConfig.from_dict(saved) == cfg


def test_config_differences_name_nested_keys():
    a = asdict(make_config("classification", "conv", "uniform"))
    b = asdict(make_config("classification", "conv", "uniform", kernel=3, lr=0.5))
    assert config_differences(a, b) == ["lr", "model.kernel"]
    assert config_differences(a, a) == []
    assert config_differences({"model": {"width": 1}}, {}) == ["model.width"]


def test_step_schedule_divides_by_ten_every_fifth_of_the_run():
    from coordconv.experiments.core.train import lr_at

    cfg = make_config("classification", "conv", "uniform", lr=0.01, lr_schedule="step", epochs=1000)
    assert [lr_at(cfg, p) for p in (0.0, 0.199, 0.2, 0.5, 0.8, 0.999, 1.0)] == pytest.approx(
        [1e-2, 1e-2, 1e-3, 1e-4, 1e-6, 1e-6, 1e-6]
    )


def test_stop_epoch_ends_early_on_the_planned_schedule(tmp_path):
    """stop_epoch=1 of 3: the same first epoch as the full run (same lr), then stops."""
    full = train(_config(epochs=3), tmp_path / "full")
    cut = train(_config(epochs=3, stop_epoch=1), tmp_path / "cut")
    assert cut["epochs_run"] == 1 and cut["finished"]
    assert cut["history"][0]["train"] == full["history"][0]["train"]
    with pytest.raises(ValueError, match="stop_epoch"):
        _config(epochs=3, stop_epoch=4)


def _without_timings(result):
    return [{k: v for k, v in h.items() if "seconds" not in k} for h in result["history"]]


@pytest.mark.parametrize(
    ("task", "model", "eval_last_only"),
    [("classification", "coordconv", True), ("rendering", "conv", False)],  # conv: BatchNorm
)
def test_a_snapshot_is_the_run_stopped_there(tmp_path, task, model, eval_last_only):
    """A run to epoch 3 with a snapshot at epoch 2 writes there what training the config with
    stop_epoch=2 on its own writes (the ladder's lower-rung final runs), and its own numbers
    do not change."""
    kw = dict(epochs=4, eval_last_only=eval_last_only)
    alone = train(_config(task, model, stop_epoch=2, **kw), tmp_path / "alone")
    plain = train(_config(task, model, stop_epoch=3, **kw), tmp_path / "plain")
    long = train(
        _config(task, model, stop_epoch=3, **kw),
        tmp_path / "long",
        snapshots={2: tmp_path / "snap"},
    )
    snap = json.loads((tmp_path / "snap" / "result.json").read_text())
    assert snap["snapshot_of"] == str(tmp_path / "long")
    assert snap["config"] == alone["config"] and snap["finished"] and snap["epochs_run"] == 2
    assert _without_timings(snap) == _without_timings(alone)
    assert [list(h) for h in snap["history"]] == [list(h) for h in alone["history"]]
    for key in ("train", "test", "held_target", "judged"):
        assert snap["final"][key] == alone["final"][key]
    assert (snap["final"]["time_to_target_s"] is None) == (
        alone["final"]["time_to_target_s"] is None
    )
    with (
        np.load(tmp_path / "snap" / "examples.npz") as a,
        np.load(tmp_path / "alone" / "examples.npz") as b,
    ):
        assert sorted(a.files) == sorted(b.files)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    assert _without_timings(long) == _without_timings(plain)
    assert {k: v for k, v in long["final"].items() if k != "time_to_target_s"} == {
        k: v for k, v in plain["final"].items() if k != "time_to_target_s"
    }
    # the snapshot is a whole run folder: resuming it returns it, training nothing
    again = train(_config(task, model, stop_epoch=2, **kw), tmp_path / "snap", resume=True)
    assert again == snap
    # a finished run already there is kept; a snapshot past the last epoch is not taken
    before = (tmp_path / "snap" / "result.json").read_text()
    train(
        _config(task, model, stop_epoch=3, **kw),
        tmp_path / "again",
        snapshots={2: tmp_path / "snap", 3: tmp_path / "none"},
    )
    assert (tmp_path / "snap" / "result.json").read_text() == before
    assert not (tmp_path / "none").exists()


def test_a_snapshot_replaces_a_partial_run_and_notes_a_reached_target(tmp_path, monkeypatch):
    """A lower rung's run interrupted before (its checkpoint at epoch 1) is replaced whole by
    the snapshot, and a target met at the snapshot's epoch is its time to target."""
    from coordconv.experiments.core import tasks

    monkeypatch.setattr(tasks.TaskSpec, "reached", lambda self, metrics: True)
    quiet = dict(epochs=4, eval_last_only=True)  # the first evaluation is the snapshot's
    train(_config(stop_epoch=1, **quiet), tmp_path / "snap")  # a partial run: marked unfinished
    (tmp_path / "snap" / "result.json").write_text(
        json.dumps(
            {**json.loads((tmp_path / "snap" / "result.json").read_text()), "finished": False}
        )
    )
    train(_config(stop_epoch=3, **quiet), tmp_path / "long", snapshots={2: tmp_path / "snap"})
    snap = json.loads((tmp_path / "snap" / "result.json").read_text())
    assert snap["epochs_run"] == 2 and snap["finished"] and snap["final"]["held_target"]
    assert snap["final"]["time_to_target_s"] == pytest.approx(snap["wall_time_s"])
    again = train(_config(stop_epoch=2, **quiet), tmp_path / "snap", resume=True)
    assert again == snap  # its checkpoint is the snapshot's, at epoch 2, finished


def test_sweep_trial_evaluates_validation_only(tmp_path):
    cfg = _config(task="regression", epochs=2, validation=True, trial=True)
    result = train(cfg, tmp_path)
    assert [set(h) for h in result["history"]] == [{"epoch", "val", "seconds", "cpu_seconds"}] * 2
    assert "test" not in result["final"] and "train" not in result["final"]
    assert result["final"]["judged"] == ["val"]
    assert not (tmp_path / "examples.npz").exists()
    with pytest.raises(ValueError, match="needs validation=True"):
        _config(trial=True)


def test_eval_last_only_scores_once_with_the_same_final_numbers(tmp_path):
    every = train(_config(epochs=2), tmp_path / "every")
    once = train(_config(epochs=2, eval_last_only=True), tmp_path / "once")
    assert set(once["history"][0]) == {"epoch", "seconds", "cpu_seconds"}
    assert once["final"]["train"] == every["final"]["train"]
    assert once["final"]["test"] == every["final"]["test"]
    with pytest.raises(ValueError, match="eval_last_only"):
        _config(eval_last_only=True, stop_at_target=True)


def test_eval_every_scores_every_kth_and_the_last_epoch(tmp_path):
    every = train(_config(epochs=5, eval_every=2), tmp_path / "every")
    each = train(_config(epochs=5), tmp_path / "each")
    assert [("test" in h) for h in every["history"]] == [False, True, False, True, True]
    assert every["final"]["train"] == each["final"]["train"]
    assert every["final"]["test"] == each["final"]["test"]
    with pytest.raises(ValueError, match="eval_every"):
        _config(eval_every=2, stop_at_target=True)
    with pytest.raises(ValueError, match="eval_every must be >= 1"):
        _config(eval_every=0)


@pytest.mark.parametrize("flush", [True, False])
def test_a_run_flushes_denormals_as_its_config_says(tmp_path, flush):
    """The setting is recorded in result.json, and the share of a parallel op that flushed, seen
    inside the run (1.0 on this one-thread run; x86 CPUs can flush), says it took effect."""
    seen = []
    result = train(
        _config(epochs=1, flush_denormal=flush),
        tmp_path,
        progress=lambda _: seen.append(denormal_flush_share()),
    )
    assert result["config"]["flush_denormal"] is flush
    assert result["denormal_flush_share"] == seen[0] == (1.0 if flush else 0.0)


def test_configs_flush_by_default_and_old_results_read_as_not_flushed():
    assert _config().flush_denormal is True
    saved = asdict(_config())
    flat = {**saved.pop("data"), **saved}  # the layout of result.json files of that time
    del flat["flush_denormal"]  # written before the setting existed
    assert TrainConfig.from_dict(flat).flush_denormal is False


@pytest.mark.parametrize("quadrant", ["bottom-right", "bottom-left", "top-right", "top-left"])
def test_a_run_holds_out_the_quadrant_it_is_given(tmp_path, quadrant):
    from coordconv.experiments.notsoclevr.data import NotSoClevr, make_split, validation_split

    cfg = _config(split="quadrant", quadrant=quadrant, epochs=1, validation=True)
    assert cfg.name.endswith(
        f"-quadrant-{quadrant}-s0" if quadrant != "bottom-right" else "-quadrant-s0"
    )
    result = train(cfg, tmp_path)
    assert result["config"]["data"]["quadrant"] == quadrant
    assert result["config"]["data"]["validation_rule"] == "band"
    data = NotSoClevr(16, 3)
    train_idx, test_idx = make_split(data, "quadrant", quadrant=quadrant)
    examples = np.load(tmp_path / "examples.npz")
    assert examples["is_test"].nonzero()[0].tolist() == test_idx.tolist()
    _, val_idx = validation_split(data, "quadrant", train_idx, quadrant=quadrant)
    assert examples["is_val"].nonzero()[0].tolist() == val_idx.tolist()
    with pytest.raises(ValueError, match="quadrant must be one of"):
        _config(split="quadrant", quadrant="middle")
