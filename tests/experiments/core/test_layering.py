"""The floors: the library imports no experiment, the engine (`core`) imports no study, and a new
study is one registration away from training through the engine."""

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import coordconv
from coordconv.experiments.core import registry
from coordconv.experiments.core.config import TrainConfig, make_config
from coordconv.experiments.core.registry import RunData, Study
from coordconv.experiments.core.tasks import TaskSpec
from coordconv.experiments.core.train import train

PACKAGE = Path(coordconv.__file__).parent
STUDIES = ("notsoclevr", "fair", "digits")


def _imports(source: str, package: str) -> set[str]:
    """Every module ``source`` (a module of ``package``) imports, at the top or inside functions,
    relative imports resolved, with ``module.name`` for each name taken from a module."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")[: len(package.split(".")) - max(node.level - 1, 0)]
            base = ".".join([*parts, node.module or ""] if node.level else [node.module or ""])
            found.add(base.rstrip("."))
            found |= {f"{base.rstrip('.')}.{alias.name}" for alias in node.names}
    return found


def _file_imports(path: Path) -> set[str]:
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    return _imports(path.read_text(), package)


def _files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.py"))
    assert files, folder
    return files


@pytest.mark.parametrize("path", _files(PACKAGE / "experiments" / "core"), ids=lambda p: p.name)
def test_core_imports_no_study_and_no_cli(path):
    bad = {
        name
        for name in _file_imports(path)
        if name == "coordconv.experiments"
        or name.startswith(tuple(f"coordconv.experiments.{s}" for s in (*STUDIES, "cli")))
    }
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _files(PACKAGE), ids=lambda p: p.name)
def test_the_library_imports_no_experiment(path):
    if path.name == "_entry.py":  # the script's guard imports the CLI inside main() only
        return
    assert not {n for n in _file_imports(path) if n.startswith("coordconv.experiments")}


@pytest.mark.parametrize("study", STUDIES)
def test_no_study_imports_the_cli(study):
    for path in _files(PACKAGE / "experiments" / study):
        assert not {n for n in _file_imports(path) if n.startswith("coordconv.experiments.cli")}


def test_the_import_check_sees_lazy_and_relative_imports():
    """The check itself can fail: a study imported inside a function, or relatively, is found."""
    lazy = "def f():\n    from coordconv.experiments.digits.data import CLASSES\n"
    relative = "from ..digits import data\n"
    assert "coordconv.experiments.digits.data" in _imports(lazy, "coordconv.experiments.core")
    assert "coordconv.experiments.digits" in _imports(relative, "coordconv.experiments.core")
    assert "coordconv.experiments.digits.data" in _imports(relative, "coordconv.experiments.core")


# --- a study the engine has never heard of: one registration, then core.train runs it ---


@dataclass(frozen=True)
class ToyModel:
    task: str = "toy-sum"
    kind: str = "linear"
    canvas: int = 4


@dataclass(frozen=True)
class ToyData:
    split: str = "all"
    split_seed: int = 0

    @property
    def label(self) -> str:
        return self.split


def _toy_data(cfg: TrainConfig) -> RunData:
    g = torch.Generator().manual_seed(cfg.data.split_seed)
    x = torch.randn(64, cfg.canvas, generator=g)
    idx = torch.arange(64)
    return RunData(x, x.sum(dim=1, keepdim=True), idx[:48], idx[:0], idx[48:])


def _toy_scores(spec, output, target):
    return {"close": ((output - target).abs() < 0.1).float().squeeze(1)}


TOY = Study(
    name="toy",
    tasks={
        "toy-sum": TaskSpec("toy-sum", "close", 1.0, lambda s, o, t: F.mse_loss(o, t), _toy_scores)
    },
    model_config=ToyModel,
    build_model=lambda cfg: nn.Linear(cfg.canvas, 1),
    data_config=ToyData,
    load_data=_toy_data,
    recipe=lambda task, kind, split: {"epochs": 30, "lr": 0.05, "batch_size": 16},
)


def test_a_registered_study_trains_through_the_engine(tmp_path, monkeypatch):
    for task in TOY.tasks:
        monkeypatch.setitem(registry._STUDIES, task, TOY)
    cfg = make_config("toy-sum", "linear", "all", threads=1, weight_decay=0.0)
    assert cfg.name == "toy-sum-linear-all-s0"
    result = train(cfg, tmp_path)
    assert result["config"]["data"] == {"split": "all", "split_seed": 0}
    assert result["final"]["test"]["close"] == 1.0  # a linear map learns a sum
    assert TrainConfig.from_dict(result["config"]) == cfg


def test_an_unregistered_task_names_the_registered_ones():
    with pytest.raises(ValueError, match=r"task must be one of .* got 'toy-sum'") as err:
        make_config("toy-sum", "linear", "all")
    assert all(repr(task) in str(err.value) for task in ("classification", "digits"))
