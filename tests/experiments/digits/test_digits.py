"""The digits demo: canvases (positions, centres, disjoint digit pools), the localiser variants
(built with convert(), trained a few steps), the task's scores, the grid and its report."""

import json
import shutil
import statistics
import sys
from dataclasses import asdict

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from coordconv import CoordConv2d
from coordconv.experiments.cli import app
from coordconv.experiments.core.config import make_config
from coordconv.experiments.core.grid import run_grid
from coordconv.experiments.core.registry import get_task
from coordconv.experiments.core.train import train
from coordconv.experiments.digits import data as digits
from coordconv.experiments.digits.data import (
    DIGIT,
    DigitsDependencyError,
    load_digit_images,
    make_digit_canvases,
    position_regions,
)
from coordconv.experiments.digits.detection import compare_variants
from coordconv.experiments.digits.grid import TUNING_EPOCHS, digits_grid, task_of, tuning_grid
from coordconv.experiments.digits.localiser import VARIANTS, ResNetLocaliser, build_localiser
from coordconv.experiments.digits.report import (
    HEAD_REPORTS,
    _machine_lines,
    build_digits_report,
    strays,
    summarise_digits,
    with_class_f1,
)
from coordconv.experiments.digits.tuning import choose_epochs

SMALL = dict(canvas=48, canvases=30, epochs=1, batch_size=16)
# the detector's quadrant test part needs 64 px to hold 3 digits apart
SMALL_BY_HEAD = {"regressor": SMALL, "detector": {**SMALL, "canvas": 64}}


@pytest.fixture(scope="module")
def quadrant():
    return make_digit_canvases("quadrant", canvases=200, seed=3)


def test_parts_sizes_and_disjoint_digit_images(quadrant):
    sizes = {part: len(idx) for part, idx in quadrant.parts.items()}
    assert sizes == {"fit": 120, "val": 40, "test": 40}
    assert torch.cat(list(quadrant.parts.values())).sort().values.equal(torch.arange(200))
    shown = {
        part: set(quadrant.digit_ids[idx].flatten().tolist())
        for part, idx in quadrant.parts.items()
    }
    assert not shown["fit"] & shown["val"] and not shown["fit"] & shown["test"]
    assert not shown["val"] & shown["test"]


@pytest.mark.parametrize("rule", ["band", "corners"])
def test_quadrant_positions_follow_the_split(rule):
    data = make_digit_canvases("quadrant", canvases=200, seed=3, rule=rule)
    x, y = data.centres[:, 0].unbind(1)
    in_quadrant = (x > 32) & (y > 32)
    if rule == "band":  # one step inside the training part toward the held-out corner
        val_region = (x > 24) & (y > 24) & ~in_quadrant
    else:
        val_region = ((x > 48) & (y < 16)) | ((x < 16) & (y > 48))
    assert in_quadrant[data.parts["test"]].all()
    assert val_region[data.parts["val"]].all()
    fit = data.parts["fit"]
    assert not in_quadrant[fit].any() and not val_region[fit].any()
    assert data.centres.min() >= (DIGIT - 1) / 2 and data.centres.max() <= 64 - 8.5


def test_band_validation_extrapolates_as_the_test_does():
    """The band, like the test quadrant, shows values of min(x, y) that its fitting part never
    shows (the corner blocks do not); every x and y of the band occurs in fitting."""
    regions = position_regions(64, "quadrant")
    low = {part: (r + (DIGIT - 1) / 2).min(dim=1).values for part, r in regions.items()}
    assert low["val"].min() > low["fit"].max() and low["test"].min() > low["val"].max()
    fit_x = set((regions["fit"][:, 0]).tolist())
    assert set(regions["val"][:, 0].tolist()) <= fit_x
    corners = position_regions(64, "quadrant", "corners")
    low_corners = (corners["val"] + (DIGIT - 1) / 2).min(dim=1).values
    assert low_corners.max() < (corners["fit"] + (DIGIT - 1) / 2).min(dim=1).values.max()


@pytest.mark.parametrize("split", ["uniform", "quadrant"])
def test_detector_canvases_hold_one_to_three_apart_digits(split, monkeypatch):
    monkeypatch.setattr(digits, "NOISE", 0.0)
    data = make_digit_canvases(split, canvases=150, seed=4, max_digits=3)
    images, labels = load_digit_images()
    regions = position_regions(64, split)
    assert data.centres.shape == (150, 3, 2) and data.targets().shape == (150, 3, 3)
    assert set(data.counts.tolist()) == {1, 2, 3}
    for part, idx in data.parts.items():
        allowed = {tuple(c) for c in regions[part].tolist()}
        for i in idx.tolist():
            k = int(data.counts[i])
            assert (data.labels[i, k:] == -1).all() and (data.digit_ids[i, k:] == -1).all()
            corners = (data.centres[i, :k] - (DIGIT - 1) / 2).long().tolist()
            assert all(tuple(c) in allowed for c in corners)
            for a in range(k):  # no two boxes overlap, each box holds exactly its digit
                for b in range(a):
                    dx, dy = (abs(p - q) for p, q in zip(corners[a], corners[b], strict=True))
                    assert dx >= DIGIT or dy >= DIGIT
                left, top = corners[a]
                box = data.images[i, 0, top : top + DIGIT, left : left + DIGIT]
                assert box.equal(images[data.digit_ids[i, a]])
                assert data.labels[i, a] == labels[data.digit_ids[i, a]]
    shown = {
        part: set(data.digit_ids[idx].flatten().tolist()) - {-1} for part, idx in data.parts.items()
    }
    assert not shown["fit"] & shown["test"] and not shown["fit"] & shown["val"]


def test_uniform_positions_cover_the_canvas():
    regions = position_regions(64, "uniform")
    assert all(len(r) == 49 * 49 for r in regions.values())
    data = make_digit_canvases("uniform", canvases=300, seed=1)
    x, y = data.centres[:, 0].unbind(1)
    assert ((x > 32) & (y > 32)).any() and ((x < 32) & (y < 32)).any()


def test_without_noise_the_box_holds_exactly_the_digit(monkeypatch):
    monkeypatch.setattr(digits, "NOISE", 0.0)
    data = make_digit_canvases("uniform", canvases=20, seed=2)
    images, _ = load_digit_images()
    for i in range(20):
        left, top = (data.centres[i, 0] - (DIGIT - 1) / 2).long().tolist()
        box = data.images[i, 0, top : top + DIGIT, left : left + DIGIT]
        assert box.equal(images[data.digit_ids[i, 0]])  # clutter never touches the digit's box
        outside = data.images[i, 0].clone()
        outside[top : top + DIGIT, left : left + DIGIT] = 0
        assert int((outside > 0).sum()) <= digits.FRAGMENTS * digits.FRAGMENT**2
    assert data.targets()[:, 0, 2].long().equal(data.labels[:, 0])


def test_same_seed_same_canvases_other_seed_others():
    a, b = (make_digit_canvases("quadrant", canvases=30, seed=5) for _ in range(2))
    c = make_digit_canvases("quadrant", canvases=30, seed=6)
    assert a.images.equal(b.images) and a.centres.equal(b.centres)
    assert not a.images.equal(c.images)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="canvas must be >= 32"):
        position_regions(24, "uniform")
    with pytest.raises(ValueError, match="quadrant split"):
        position_regions(34, "quadrant", "corners")
    with pytest.raises(ValueError, match="validation rule"):
        position_regions(64, "quadrant", "diagonal")
    with pytest.raises(ValueError, match=r"no place for [23]"):  # 48 px: a 15.5 px test quadrant
        make_digit_canvases("quadrant", canvas=48, canvases=30, max_digits=3)
    with pytest.raises(ValueError, match="split must be"):
        position_regions(64, "diagonal")
    with pytest.raises(ValueError, match="canvases must be"):
        make_digit_canvases("uniform", canvases=2)


def test_missing_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DigitsDependencyError, match=r"torch-coordconv\[digits\]"):
        load_digit_images()


def test_variants_are_the_plain_net_converted_with_unchanged_outputs():
    torch.manual_seed(0)
    x = torch.rand(3, 1, 48, 48)
    torch.manual_seed(1)
    plain = build_localiser("plain").eval()
    coord_layers = {"plain": 0, "coordconv-input": 1, "coordconv-head": 1, "coordconv-all": 21}
    for variant, expected in coord_layers.items():
        torch.manual_seed(1)
        net = build_localiser(variant).eval()
        assert sum(isinstance(m, CoordConv2d) for m in net.modules()) == expected
        assert torch.allclose(net(x), plain(x), atol=1e-6)  # convert: zero coordinate weights
    assert isinstance(plain, ResNetLocaliser) and plain(x).shape == (3, 12)
    assert isinstance(build_localiser("coordconv-input").stem[0], CoordConv2d)
    assert isinstance(build_localiser("coordconv-head").head[0], CoordConv2d)


def test_detector_variants_share_the_backbone_and_keep_their_outputs():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 64, 64)
    torch.manual_seed(1)
    plain = build_localiser("plain", head="detector").eval()
    assert plain(x).shape == (2, 13, 4, 4)  # per stride-16 cell: objectness, offset, 10 classes
    regressor = build_localiser("plain")
    backbone = {k for k in regressor.state_dict() if not k.startswith("out.")}
    assert backbone == {k for k in plain.state_dict() if not k.startswith("out.")}
    coord_layers = {"coordconv-input": 1, "coordconv-head": 1, "coordconv-all": 22}
    for variant, expected in coord_layers.items():
        torch.manual_seed(1)
        net = build_localiser(variant, head="detector").eval()
        assert sum(isinstance(m, CoordConv2d) for m in net.modules()) == expected
        assert torch.allclose(net(x), plain(x), atol=1e-6)
    with pytest.raises(ValueError, match="head must be"):
        ResNetLocaliser(head="segmenter")
    with pytest.raises(ValueError, match="head must be"):
        task_of("segmenter")


@pytest.mark.parametrize("head", ["regressor", "detector"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_variant_trains_a_few_steps(variant, head, tmp_path):
    cfg = make_config(task_of(head), variant, "quadrant", threads=1, **SMALL_BY_HEAD[head])
    torch.manual_seed(cfg.seed)
    before = build_localiser(variant, head=head).state_dict()
    result = train(cfg, tmp_path)
    assert result["finished"] and result["epochs_run"] == 1
    for part in ("train", "val", "test"):
        assert {k for k, *_ in HEAD_REPORTS[head].scores} <= set(
            with_class_f1(result["final"][part])
        )
    after = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"]
    assert any(not after[k].equal(v) for k, v in before.items() if v.is_floating_point())


def test_digits_scores_against_hand_computed_values():
    task = get_task("digits", 64)
    target = torch.tensor([[10.0, 20.0, 3.0], [30.0, 30.0, 7.0]])
    centre = torch.tensor([[11.0, 20.0], [30.0, 33.0]])  # 1 px and 3 px off
    logits = torch.zeros(2, 10)
    logits[0, 3] = logits[1, 2] = 5.0
    output = torch.cat([logits, task.pixels_to_unit(centre)], dim=1)
    scores = task.scores(output, target)
    assert scores["class_accuracy"].tolist() == [1.0, 0.0]
    assert torch.allclose(scores["centre_error"], torch.tensor([1.0, 3.0]), atol=1e-4)
    assert scores["within_2px"].tolist() == [1.0, 0.0]
    iou = [15 * 16 / (2 * 256 - 15 * 16), 16 * 13 / (2 * 256 - 16 * 13)]
    assert torch.allclose(scores["box_iou"], torch.tensor(iou), atol=1e-4)


@pytest.fixture(scope="module", params=["regressor", "detector"])
def tiny_digits(request, tmp_path_factory):
    head = request.param
    out = tmp_path_factory.mktemp(f"digits-{head}")
    configs = digits_grid("quick", seeds=1, threads=1, head=head, **SMALL_BY_HEAD[head])
    run_grid(out, configs)
    return out, configs, head


def test_digits_grid_and_report_hold_the_runs_numbers(tiny_digits):
    out, configs, head = tiny_digits
    assert len(configs) == 2 * len(VARIANTS)
    assert {c.kind for c in configs.values()} == set(VARIANTS)
    assert {c.task for c in configs.values()} == {task_of(head)}
    build_digits_report(out)
    text = (out / "REPORT.md").read_text()
    results = json.loads((out / "results.json").read_text())
    assert results["head"] == head
    for name, cfg in configs.items():
        final = json.loads((out / "runs" / name / "result.json").read_text())["final"]
        cell = results["cells"][f"{cfg.split}/{cfg.kind}"]
        for key, *_ in HEAD_REPORTS[head].scores:
            assert cell["test"][key] == [with_class_f1(final["test"])[key]]
            assert cell["train"][key] == [with_class_f1(final["train"])[key]]
        assert f"{final['test']['centre_error']:.2f}" in text
        assert cell.get("comparison", {}) == {}  # one seed: no interval, no verdict
    for figure in ("digits_curves.png", "digits_error_maps.png", "digits_samples.png"):
        assert (out / figure).stat().st_size > 0


def test_report_cli_rebuilds_a_digits_folder(tiny_digits):
    out, _, head = tiny_digits
    (out / "REPORT.md").unlink()
    result = CliRunner().invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    title = {"regressor": "ResNet-style localiser", "detector": "help a detector"}[head]
    assert title in (out / "REPORT.md").read_text()


def test_report_names_the_runs_validation_rule_and_its_caveat(tiny_digits, tmp_path):
    """The band rule holds the band out of fitting (its caveat says so); runs made with the
    corner-block rule are described as such, without that caveat."""
    out, configs, _ = tiny_digits
    build_digits_report(out)
    text = (out / "REPORT.md").read_text()
    assert "(`validation_rule='band'`)" in text and "held out of fitting too" in text
    corners = tmp_path / "corners"
    shutil.copytree(out, corners)
    for name in configs:
        path = corners / "runs" / name / "result.json"
        result = json.loads(path.read_text())
        result["config"]["data"]["validation_rule"] = "corners"
        path.write_text(json.dumps(result))
    build_digits_report(corners)
    text = (corners / "REPORT.md").read_text()
    assert "`validation_rule='corners'`" in text
    assert "band" not in text.split("## How far to trust it")[1]
    assert "held out of fitting too" not in text


def test_error_maps_are_redrawn_from_kept_per_run_maps_without_examples(tiny_digits, tmp_path):
    out, configs, _ = tiny_digits
    build_digits_report(out)  # keeps each run's error_map.json beside its examples.npz
    copy = tmp_path / "clone"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("examples.npz", "*.png"))
    build_digits_report(copy)
    assert (copy / "digits_error_maps.png").stat().st_size > 0
    assert "of all seeds, from each run" in (copy / "REPORT.md").read_text()
    for name in configs:
        kept = json.loads((copy / "runs" / name / "error_map.json").read_text())
        ex = np.load(out / "runs" / name / "examples.npz")
        test = ex["is_test"]
        digits = ex["centres"][test].reshape(-1, 2) if "slot_error" in ex else ex["centre"][test]
        errors = ex["slot_error"][test] if "slot_error" in ex else ex["centre_error"][test]
        shown = ~np.isnan(errors.reshape(-1))
        assert np.sum(kept["count"]) == len(digits[shown])
        assert np.sum(kept["total"]) == pytest.approx(float(np.nansum(errors)), rel=1e-5)
    name, cfg = next(iter(configs.items()))  # a second seed that kept neither file
    result = json.loads((copy / "runs" / name / "result.json").read_text())
    result["config"]["seed"] += 1
    extra = copy / "runs" / f"{name}-copy"
    extra.mkdir()
    (extra / "result.json").write_text(json.dumps(result))
    build_digits_report(copy)
    assert f"{cfg.split}/{cfg.kind} 1 of 2 (seeds {cfg.seed})" in (copy / "REPORT.md").read_text()
    # a cell with no map at all leaves the figure undrawn, yet every other run's map is kept
    bare = tmp_path / "bare"
    shutil.copytree(out, bare, ignore=shutil.ignore_patterns("error_map.json", "*.png"))
    (bare / "runs" / name / "examples.npz").unlink()
    build_digits_report(bare)
    assert not (bare / "digits_error_maps.png").exists()
    assert [(bare / "runs" / n / "error_map.json").exists() for n in configs] == [
        n != name for n in configs
    ]


def _fake_runs(test_errors: dict[str, list[float]]) -> list[dict]:
    """Finished regressor runs on the uniform split with the given test centre errors."""
    runs = []
    for kind, errors in test_errors.items():
        for seed, error in enumerate(errors, 100):
            cfg = make_config("digits", kind, "uniform", seed=seed)
            scores = {k: 0.9 for k, *_ in HEAD_REPORTS["regressor"].scores}
            final = {part: {**scores, "centre_error": error} for part in ("train", "val", "test")}
            runs.append(
                {"config": asdict(cfg), "final": final, "finished": True, "params": 1,
                 "wall_time_s": 1.0, "epochs_run": 1}
            )  # fmt: skip
    return runs


def test_summary_counts_cpu_seconds_not_wall_seconds():
    """A run paused or sharing its cores has inflated wall time; the table shows CPU time, and
    wall time only for runs that predate recording it."""
    runs = _fake_runs({"plain": [1.0, 1.0]})
    runs[0]["cpu_time_s"] = 0.25
    assert summarise_digits(runs)["uniform/plain"]["train_cpu_s"] == [0.25, 1.0]


def test_machine_lines_name_each_cpu_only_when_runs_mix_them():
    def run(cpu, speed):
        return {"versions": {"cpu": cpu} if cpu else {}, "examples_per_s": speed}

    assert _machine_lines([run("A (AVX2)", 400.0), run("A (AVX2)", 420.0)]) == []
    (line,) = _machine_lines([run("A (AVX2)", 400.0), run("A (AVX2)", 420.0), run(None, 1200.0)])
    assert "A (AVX2): 2 runs, median 410 examples/s" in line
    assert "CPU not recorded: 1 runs, median 1200 examples/s" in line


def test_summary_compares_each_variant_with_plain_and_names_strays():
    plain = [1.00, 1.02, 0.98, 1.01, 0.99, 1.00]
    summary = summarise_digits(
        _fake_runs(
            {
                "plain": plain,
                "coordconv-input": [0.50, 0.52, 0.48, 0.51, 0.49, 0.50],
                "coordconv-head": [1.01, 0.99, 1.00, 1.02, 1.00, 1.00],
                "coordconv-all": [1.0, 1.01, 0.99, 1.0, 1.0, 2.5],  # one seed strays
            }
        )
    )
    verdicts = {
        k: v["comparison"]["centre_error"]["verdict"]
        for k, v in summary.items()
        if k != "uniform/plain"
    }
    assert verdicts["uniform/coordconv-input"] == "better"
    assert verdicts["uniform/coordconv-head"] == "equivalent within ±0.25"
    assert verdicts["uniform/coordconv-all"] == "inconclusive"  # the stray widens the interval
    assert summary["uniform/coordconv-input"]["comparison"]["centre_error"]["seeds"] == list(
        range(100, 106)
    )
    c = summary["uniform/coordconv-input"]["comparison"]["centre_error"]
    assert c["difference"] == pytest.approx(0.5 - statistics.fmean(plain))
    # beside it, the same seeds as independent samples (what the pairing changes)
    welch = compare_variants(plain, [0.50, 0.52, 0.48, 0.51, 0.49, 0.50], 0.25)
    assert c["unpaired"] == {"low": welch.low, "high": welch.high, "verdict": welch.verdict}
    assert summary["uniform/coordconv-all"]["strays"] == {"centre_error": [(105, 2.5)]}
    assert summary["uniform/plain"]["strays"] == {}


def test_strays_need_both_the_robust_z_and_the_floor():
    assert strays([1, 2, 3, 4], [1.0, 1.1, 0.9, 3.0], floor=0.25) == [(4, 3.0)]
    assert strays([1, 2, 3, 4], [1.0, 1.1, 0.9, 1.3], floor=0.25) == []  # within the floor
    assert strays([1, 2], [1.0, 9.0], floor=0.25) == []  # too few seeds to tell


def test_choose_epochs_takes_the_first_flat_doubling():
    assert choose_epochs({15: 1.2, 30: 0.9, 60: 0.88}) == 30  # 30 -> 60 gains 2%
    assert choose_epochs({15: 1.0, 30: 0.99, 60: 0.5}) == 15  # the first flat step decides
    assert choose_epochs({15: 1.2, 30: 0.9, 60: 0.7}) == 60  # never flat: the longest
    assert choose_epochs({15: 1.0, 30: 1.3, 60: 0.7}) == 15  # worse with more epochs: flat


def test_tuning_cli_runs_the_grid_and_reports_the_choice(tmp_path):
    configs = tuning_grid("detector", 1)
    assert sorted({c.epochs for c in configs.values()}) == [1, 2, 4, 8]
    assert {c.seed for c in configs.values()} == {0} and len(configs) == 16
    assert tuning_grid("regressor").keys() != configs.keys()
    assert list(TUNING_EPOCHS) == [15, 30, 60, 120]
    args = ["digits", "--tune", "--head", "regressor", "--out", str(tmp_path), "--canvas", "48",
            "--canvases", "30", "--epochs", "1", "--jobs", "1"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["mean_error"]) == {"1", "2", "4", "8"}
    want = choose_epochs({int(k): v for k, v in results["mean_error"].items()})
    assert (
        results["chosen_epochs"] == want
        and f"**{want} epochs**" in (tmp_path / "REPORT.md").read_text()
    )
    (tmp_path / "REPORT.md").unlink()
    assert CliRunner().invoke(app, ["report", str(tmp_path)]).exit_code == 0
    assert "Digits tuning" in (tmp_path / "REPORT.md").read_text()


def test_digits_cli_help_and_bad_options():
    runner = CliRunner()
    assert "--quick" in runner.invoke(app, ["digits", "--help"]).output
    result = runner.invoke(app, ["digits", "--seeds", "0", "--out", "unused"])
    assert result.exit_code == 2 and "seeds must be >= 1" in result.output
    result = runner.invoke(app, ["digits", "--head", "segmenter", "--out", "unused"])
    assert result.exit_code == 2 and "head must be one of" in result.output


def test_class_f1_counts_a_found_digit_only_with_its_class():
    metrics = {"f1": 0.8, "recall": 0.8, "precision": 0.8, "class_accuracy": 0.5}
    assert with_class_f1(metrics)["class_f1"] == pytest.approx(0.4)
    assert with_class_f1({"centre_error": 1.0}) == {"centre_error": 1.0}  # the regressor's


def test_detector_canvas_must_tile_into_cells():
    with pytest.raises(ValueError, match="multiple of its stride 16"):
        make_config("detection", "plain", "uniform", canvas=40)
    make_config("digits", "plain", "uniform", canvas=40)  # the regressor pools: any size


def test_report_leaves_unfinished_runs_out(tiny_digits, tmp_path):
    out, configs, _ = tiny_digits
    name = next(iter(configs))
    result = json.loads((out / "runs" / name / "result.json").read_text())
    result["finished"] = False
    partial = tmp_path / "partial"
    for other in configs:
        (partial / "runs" / other).mkdir(parents=True)
        text = (
            json.dumps(result)
            if other == name
            else (out / "runs" / other / "result.json").read_text()
        )
        (partial / "runs" / other / "result.json").write_text(text)
    build_digits_report(partial)
    results = json.loads((partial / "results.json").read_text())
    cfg = configs[name]
    assert f"{cfg.split}/{cfg.kind}" not in results["cells"]
    assert "**Partial**: 1 more runs" in (partial / "REPORT.md").read_text()
