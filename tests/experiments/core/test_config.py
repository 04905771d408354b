"""Run configs: today's layout round-trips, and every result.json committed under docs/ (written
before the data settings were nested) still loads, losing no setting its study used; so does a
Not-so-Clevr run of that flat layout kept in ``data/`` (from the first fair report)."""

import json
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from coordconv.experiments.core.config import (
    TrainConfig,
    config_differences,
    flat_settings,
    make_config,
    upgrade_config,
)
from coordconv.experiments.notsoclevr import ModelConfig, NotSoClevrData

DOCS = Path(__file__).parents[3] / "docs"
COMMITTED = sorted(DOCS.glob("**/result.json"))
FLAT_NOTSOCLEVR = Path(__file__).parent / "data" / "flat-layout"
FLAT_RUN = FLAT_NOTSOCLEVR / "classification-conv-quadrant-s100" / "result.json"
# what a Not-so-Clevr default run carried before nesting, for the digits runs that carried it unused
UNUSED_BY_DIGITS = {
    **{f.name: f.default for f in fields(NotSoClevrData) if f.name not in ("split", "split_seed")},
    **{
        f.name: f.default
        for f in fields(ModelConfig)
        if f.name not in ("task", "kind", "canvas", "width", "with_r")
    },
}


def test_committed_runs_are_found():
    tasks = {json.loads(p.read_text())["config"]["model"]["task"] for p in COMMITTED}
    assert {"digits", "classification", "regression", "rendering"} <= tasks


@pytest.mark.parametrize(
    "path",
    [*COMMITTED[::7], FLAT_RUN],
    ids=lambda p: str(p.relative_to(DOCS if p.is_relative_to(DOCS) else FLAT_NOTSOCLEVR.parent)),
)
def test_a_committed_result_loads_with_every_setting_it_used(path):
    old = json.loads(path.read_text())["config"]
    if "data" in old:  # written in today's nested layout: it loads as it was saved
        cfg = TrainConfig.from_dict(old)
        assert asdict(cfg) == old
        # a tuning run's folder also names its epochs (digits.grid.tuning_grid)
        assert path.parent.name in (cfg.name, f"{cfg.name}-e{cfg.epochs}")
        return
    cfg = TrainConfig.from_dict(old)
    flat = flat_settings(asdict(cfg))
    old_flat = {**{k: v for k, v in old.items() if k != "model"}, **old["model"]}
    old_flat.setdefault("flush_denormal", False)
    for key, value in old_flat.items():
        if key in flat:
            assert flat[key] == value, key
        else:  # dropped: only what digits runs carried without using, at its default
            assert cfg.task == "digits" and UNUSED_BY_DIGITS[key] == value, key
    assert cfg.name == path.parent.name


def test_upgrade_fills_what_old_runs_implicitly_had():
    old = json.loads(FLAT_RUN.read_text())["config"]
    old.pop("validation_rule", None)
    old.pop("flush_denormal", None)
    upgraded = upgrade_config(old)
    assert upgraded["data"]["validation_rule"] == "corners" and not upgraded["flush_denormal"]
    assert list(upgraded)[:2] == ["model", "data"]
    assert upgrade_config(upgraded) == upgraded  # today's layout passes through unchanged


@pytest.mark.parametrize(
    ("task", "kind", "split", "extra"),
    [
        ("rendering", "coordconv", "quadrant", {"quadrant": "top-left", "square": 5}),
        ("digits", "coordconv-head", "uniform", {"canvases": 300, "width": 2}),
    ],
)
def test_todays_layout_round_trips(task, kind, split, extra):
    cfg = make_config(task, kind, split, seed=7, **extra)
    saved = json.loads(json.dumps(asdict(cfg)))
    assert TrainConfig.from_dict(saved) == cfg
    assert config_differences(saved, asdict(cfg)) == []
    assert {k: flat_settings(saved)[k] for k in extra} == extra


def test_settings_of_another_study_are_refused():
    with pytest.raises(ValueError, match=r"unknown config keys \['canvases'\]"):
        make_config("classification", "coordconv", "uniform", canvases=10)
    with pytest.raises(ValueError, match=r"unknown config keys \['quadrant'\]"):
        make_config("digits", "plain", "quadrant", quadrant="top-left")
    cfg = asdict(make_config("digits", "plain", "uniform"))
    cfg["data"]["square"] = 9
    with pytest.raises(ValueError, match=r"unknown data config keys \['square'\]"):
        TrainConfig.from_dict(cfg)
