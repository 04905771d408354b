"""benchmarks/rendering_probe.py on a tiny trained run: its table matches the run's own IoU."""

import importlib.util
from pathlib import Path

import pytest

from coordconv.experiments.train import make_config, train

PROBE = Path(__file__).parents[2] / "benchmarks" / "rendering_probe.py"


def load_probe():
    spec = importlib.util.spec_from_file_location("rendering_probe", PROBE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_probe_reports_the_runs_iou(tmp_path, capsys):
    cfg = make_config(
        "rendering",
        "coordconv",
        "quadrant",
        canvas=16,
        square=3,
        epochs=1,
        batch_size=64,
        threads=1,
    )
    result = train(cfg, tmp_path / "run")
    load_probe().probe(tmp_path / "run")
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    for part in ("train", "test"):
        assert float(rows[part][-1]) == pytest.approx(result["final"][part]["iou"], abs=1e-4)


def test_probe_refuses_other_tasks(tmp_path):
    cfg = make_config(
        "classification", "coordconv", "uniform", canvas=16, square=3, epochs=1, threads=1
    )
    train(cfg, tmp_path / "run")
    with pytest.raises(SystemExit, match="needs rendering/coordconv"):
        load_probe().probe(tmp_path / "run")
