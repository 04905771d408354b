"""What every report uses: the runs of a folder, number formats, figure and report writers.

A report is a pure function of a runs folder (it never trains); matplotlib is imported by the
studies' figure code only, so ``import coordconv`` stays light.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from coordconv.experiments.core.config import upgrade_config
from coordconv.experiments.core.io import atomic_write, read_json, write_json

__all__ = ["cell_of", "load_runs", "mean_std", "median_text", "pct", "save_figure", "write_report"]


def load_runs(runs_dir: str | Path) -> list[dict[str, Any]]:
    """Every ``result.json`` under ``runs_dir`` (one folder per run), with its folder as ``dir``
    and its config in today's layout (``core.config.upgrade_config``)."""
    runs = []
    for path in sorted(Path(runs_dir).glob("*/result.json")):
        result = read_json(path)
        result["config"] = upgrade_config(result["config"])
        result["dir"] = str(path.parent)
        runs.append(result)
    return runs


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def mean_std(values: list[float], fmt: Any = pct) -> str:
    """``mean ± std`` over seeds (one value: itself; none: a dash), each formatted by ``fmt``."""
    if not values:
        return "—"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.mean(values))} ± {fmt(statistics.stdev(values))}"


def median_text(values: list[float | None], unit: str = " s") -> str:
    """Median of the values that exist, saying how many seeds it covers: ``12.3 s (3/5 seeds)``."""
    present = [v for v in values if v is not None]
    if not present:
        return "not reached"
    return f"{statistics.median(present):.1f}{unit} ({len(present)}/{len(values)} seeds)"


def cell_of(config: dict[str, Any]) -> tuple[str, str, str]:
    """``(task, model kind, split)`` of a saved run config (``result.json["config"]``)."""
    upgraded = upgrade_config(config)
    return upgraded["model"]["task"], upgraded["model"]["kind"], upgraded["data"]["split"]


def save_figure(fig: Any, path: Path) -> None:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=80, bbox_inches="tight"))


def write_report(out: Path, lines: list[str], results: dict[str, Any]) -> Path:
    """Write ``out/REPORT.md`` (the lines) and ``out/results.json``, atomically; the report path."""
    text = "\n".join(lines)
    atomic_write(out / "REPORT.md", lambda f: f.write(text.encode()))
    write_json(out / "results.json", results)
    return out / "REPORT.md"
