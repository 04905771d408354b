"""How long each digits head trains: the tuning grid's runs read on validation, and the rule.

``coordconv digits --tune --head H`` trains the tuning grid (``grid.tuning_grid``: tuning seed 0,
the plain and all-CoordConv variants, both splits, 15 / 30 / 60 / 120 epochs) and writes
``REPORT.md`` and ``results.json`` from it. The rule, fixed before the runs: the validation
centre error averaged over the (variant, split) cells, per epoch count; the choice is the
smallest count after which doubling the epochs gains less than ``FLAT`` (5%), else the largest.
Test scores of these runs are never read.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from pathlib import Path

from coordconv.experiments.core.io import read_json
from coordconv.experiments.core.report import cell_of, load_runs, write_report

__all__ = ["FLAT", "build_tuning_report", "choose_epochs", "is_tuning_folder"]

FLAT = 0.05  # doubling the epochs must cut the mean validation centre error by this share


def choose_epochs(mean_error: dict[int, float]) -> int:
    """Epoch count -> mean validation centre error: the smallest count whose next (larger)
    count cuts the error by less than ``FLAT``, else the largest count."""
    counts = sorted(mean_error)
    for shorter, longer in itertools.pairwise(counts):
        if mean_error[longer] > (1 - FLAT) * mean_error[shorter]:
            return shorter
    return counts[-1]


def is_tuning_folder(out: str | Path) -> bool:
    """Whether ``out`` holds a digits tuning grid (its ``grid.json`` mode ends in ``-tune``)."""
    grid = Path(out, "grid.json")
    return grid.exists() and str(read_json(grid).get("mode", "")).endswith("-tune")


def build_tuning_report(out: str | Path, command: str | None = None) -> Path:
    """``out/REPORT.md`` and ``out/results.json`` from the tuning runs in ``out/runs``."""
    out = Path(out)
    runs = load_runs(out / "runs")
    if not runs:
        raise FileNotFoundError(f"no tuning runs in {out / 'runs'}: run `coordconv digits --tune`")
    if command is None and (out / "results.json").exists():  # a rebuild keeps the command
        command = read_json(out / "results.json").get("command")
    errors: dict[int, dict[str, float]] = defaultdict(dict)
    tasks = set()
    for run in runs:
        task, kind, split = cell_of(run["config"])
        tasks.add(task)
        errors[run["config"]["epochs"]][f"{split}/{kind}"] = run["final"]["val"]["centre_error"]
    cells = sorted({cell for by_cell in errors.values() for cell in by_cell})
    complete = {n: e for n, e in errors.items() if len(e) == len(cells)}
    mean_error = {n: statistics.fmean(e.values()) for n, e in sorted(complete.items())}
    chosen = choose_epochs(mean_error) if mean_error else None
    lines = [
        f"# Digits tuning: epochs ({', '.join(sorted(tasks))})",
        "",
        "Validation centre error (px) of tuning seed 0 per epoch count; the rule "
        f"(`digits.tuning.choose_epochs`): the smallest count after which doubling the epochs "
        f"cuts the mean by less than {FLAT:.0%}. Test scores of these runs are not read.",
        "",
        "| epochs | " + " | ".join(cells) + " | mean |",
        "|---|" + "---|" * (len(cells) + 1),
    ]
    for n in sorted(errors):
        row = " | ".join(f"{errors[n][c]:.3f}" if c in errors[n] else "—" for c in cells)
        mean = f"{mean_error[n]:.3f}" if n in mean_error else "(incomplete)"
        lines.append(f"| {n} | {row} | {mean} |")
    lines += ["", f"Chosen: **{chosen} epochs**." if chosen else "Chosen: (runs incomplete)."]
    if command:
        lines += ["", f"Command: `{command}`"]
    results = {
        "errors": {str(n): e for n, e in sorted(errors.items())},
        "mean_error": {str(n): e for n, e in mean_error.items()},
        "chosen_epochs": chosen,
        "flat": FLAT,
        "command": command,
    }
    return write_report(out, lines, results)
