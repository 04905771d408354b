"""The fair comparison's REPORT.md, results.json and figures, from ``out/sweeps/*/sweep.json``.

Selection was made on validation and recorded in each ``sweep.json`` before anything here runs.
Two numbers on test exist per cell:

* the final runs (the selected configuration retrained on the whole training part for fresh
  seeds): the result;
* post hoc, each trial's own last weights (trained on the fit part, one seed) evaluated on test,
  cached in ``posthoc_test.json`` beside ``sweep.json``. They draw the "test metric of the
  validation-selected trial against tuning CPU time" curves and show what selecting on *test*
  would have given (the paper's way). Nothing reads them to choose anything.
"""

from __future__ import annotations

import functools
import statistics
from pathlib import Path
from typing import Any

from torch import Tensor

from coordconv.experiments.core.config import TrainConfig, flat_settings
from coordconv.experiments.core.io import read_json, write_json
from coordconv.experiments.core.registry import get_task
from coordconv.experiments.core.report import write_report
from coordconv.experiments.core.selection import LEGACY_RULE, RULES, select_trial
from coordconv.experiments.core.train import count_params, load_checkpoint
from coordconv.experiments.fair.grid import ARM_ORDER
from coordconv.experiments.notsoclevr.constructions import build_construction
from coordconv.experiments.notsoclevr.data import (
    SPLITS,
    TASKS,
    NotSoClevr,
    task_tensors,
)
from coordconv.experiments.notsoclevr.models import build_model
from coordconv.experiments.notsoclevr.source import NotSoClevrData
from coordconv.experiments.notsoclevr.verdicts import PAPER

__all__ = ["anytime_curve", "build_fair_report", "fair_verdict", "posthoc_test"]

COLOURS = {
    "coordconv": "tab:blue",
    "conv": "tab:orange",
    "mlp": "tab:green",
    "conv-tiled": "tab:red",
}


def fair_verdict(coordconv: tuple[int, int], baseline: tuple[int, int], budget_min: float) -> str:
    """The paper's claim on one (task, split) under equal tuning budgets.

    ``coordconv`` and ``baseline`` are ``(seeds at target on train and test, final seeds)`` of the
    validation-selected configurations. The claim (CoordConv solves it, the baseline does not)
    is *supported* when every CoordConv seed and no baseline seed reaches the target;
    *contradicted* when the baseline reaches it on every seed, or CoordConv on none; otherwise
    *mixed*. Each verdict names the budget it holds at.
    """
    (c_hit, c_n), (b_hit, b_n) = coordconv, baseline
    if min(c_n, b_n) < 1:
        return "no final runs"
    at = f"at {budget_min:g} CPU-min of tuning"
    if b_hit == b_n:
        return f"contradicted {at}: the baseline also solves it ({b_hit}/{b_n})"
    if c_hit == 0:
        return f"contradicted {at}: CoordConv does not solve it (0/{c_n})"
    if c_hit == c_n and b_hit == 0:
        return f"supported {at} (CoordConv {c_hit}/{c_n}, baseline 0/{b_n})"
    return f"mixed {at} (CoordConv {c_hit}/{c_n}, baseline {b_hit}/{b_n})"


@functools.lru_cache(maxsize=8)
def _test_tensors(task: str, canvas: int, settings: NotSoClevrData) -> tuple[Tensor, Tensor]:
    data = NotSoClevr(canvas, settings.square)
    _, test_idx = settings.train_test(data)
    inputs, targets = task_tensors(data, task)
    return inputs[test_idx], targets[test_idx]


def posthoc_test(sweep_dir: str | Path) -> dict[str, dict[str, float]]:
    """Trial id -> test metrics of the trial's last weights (cached in ``posthoc_test.json``)."""
    sweep_dir = Path(sweep_dir)
    cache_path = sweep_dir / "posthoc_test.json"
    cache = read_json(cache_path) if cache_path.exists() else {}
    summary = read_json(sweep_dir / "sweep.json")
    for trial in summary["trials"]:
        if trial["id"] in cache:
            continue
        cfg = TrainConfig.from_dict(trial["config"])
        model = build_model(cfg.model)
        model.load_state_dict(
            load_checkpoint(sweep_dir / "trials" / trial["id"] / "checkpoint.pt")["model"]
        )
        x, y = _test_tensors(cfg.task, cfg.canvas, cfg.data)
        cache[trial["id"]], _ = get_task(cfg.task, cfg.canvas).evaluate(model, x, y)
    write_json(cache_path, cache)
    return cache


def anytime_curve(
    summary: dict[str, Any], posthoc: dict[str, dict[str, float]], metric: str
) -> list[tuple[float, float]]:
    """``(tuning CPU-seconds, test metric of the trial validation selects among those so far)``,
    trials in start order (two run at a time, so the time axis is the order they began)."""
    return [(x, posthoc[i][metric]) for x, i in _selection_path(summary)]


def _short_config(config: dict[str, Any], space: dict[str, list[Any]]) -> str:
    """The sampled settings of a trial, e.g. ``lr=0.005 batch_size=16 epochs=4``."""
    flat = flat_settings(config)
    return " ".join(
        f"{k}={flat[k]:g}" if isinstance(flat[k], float) else f"{k}={flat[k]}" for k in space
    )


def _cell_entry(sweep_dir: Path) -> dict[str, Any]:
    summary = read_json(sweep_dir / "sweep.json")
    task, arm, split = summary["task"], summary["model"], summary["split"]
    spec = get_task(task)
    metric = spec.target_metric
    posthoc = posthoc_test(sweep_dir)
    selected = next(t for t in summary["trials"] if t["id"] == summary["selected"])
    on_test = max(posthoc.values(), key=lambda m: m[metric])
    final = summary.get("final") or {}
    runs = final.get("runs", [])
    curve = anytime_curve(summary, posthoc, metric)
    first_at_target = next(
        (x for x, i in _selection_path(summary) if spec.reached(posthoc[i])), None
    )
    cfg = TrainConfig.from_dict(selected["config"])
    return {
        "task": task,
        "arm": arm,
        "split": split,
        "trials": len(summary["trials"]),
        "tuning_cpu_s": summary["spent_s"],
        "budget_s": summary["budget_s"],
        "cpu_utilisation": summary.get("cpu_utilisation"),
        "selected": selected["id"],
        "selected_config": _short_config(selected["config"], summary["search_space"]),
        "epochs_run": selected["epochs_run"],
        "params": count_params(build_model(cfg.model)),
        "selection_metric": summary["metric"],
        "val": selected["val"][summary["metric"]],
        "metric": metric,
        "test": [r["test"][metric] for r in runs],
        "solved": sum(r["solved"] for r in runs),
        "seeds": [r["seed"] for r in runs],
        "final_train_time_s": [r["train_time_s"] for r in runs],
        "selected_on_test": on_test[metric],
        "first_at_target_cpu_s": first_at_target,
        "curve": curve,
        "paper": PAPER.get((task, arm, split), "n/a"),
    }


def _rule(summary: dict[str, Any]) -> str:
    """The selection rule a sweep used (older sweep.json files predate the key)."""
    return str(summary.get("selection_rule", LEGACY_RULE))


def _selection_path(summary: dict[str, Any]) -> list[tuple[float, str]]:
    """After each trial (start order): the tuning seconds spent so far and the id validation
    selects among the trials so far (the running best under ``select_trial``'s rule)."""
    path: list[tuple[float, str]] = []
    spent, best, rule = 0.0, None, _rule(summary)
    for trial in summary["trials"]:
        spent += trial["train_time_s"]
        best = trial if best is None else select_trial([best, trial], summary["task"], rule)
        path.append((spent, best["id"]))
    return path


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if metric == "iou" else f"{100 * value:.1f}%"


def _mean_std(metric: str, values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return _fmt(metric, values[0])
    return f"{_fmt(metric, statistics.fmean(values))} ± {_fmt(metric, statistics.stdev(values))}"


def _constructions() -> list[str]:
    """The hand-set networks' weight counts and their scores on every centre (computed here)."""
    lines = ["| task | weights | score on all 3136 centres |", "|---|---|---|"]
    data = NotSoClevr()
    for task in TASKS:
        model = build_construction(task)
        spec = get_task(task)
        metrics, _ = spec.evaluate(model, *task_tensors(data, task))
        shown = ", ".join(f"{k} {v:.6g}" for k, v in metrics.items() if k != "loss")
        lines.append(f"| {task} | {count_params(model)} | {shown} |")
    return lines


def _figure(task: str, entries: list[dict[str, Any]], out: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SPLITS), figsize=(10, 3.6), squeeze=False)
    for ax, split in zip(axes[0], SPLITS, strict=True):
        for e in entries:
            if e["split"] != split:
                continue
            xs = [x / 60 for x, _ in e["curve"]]
            ys = [y for _, y in e["curve"]]
            colour = COLOURS.get(e["arm"])
            ax.step(xs, ys, where="post", color=colour, label=e["arm"])
            if e["test"]:
                mean = statistics.fmean(e["test"])
                std = statistics.stdev(e["test"]) if len(e["test"]) > 1 else 0.0
                ax.errorbar([xs[-1]], [mean], yerr=[std], fmt="o", color=colour, capsize=3)
        ax.set_title(f"{task} / {split}", fontsize=9)
        ax.set_xlabel("tuning CPU-minutes (trials in start order)")
        ax.set_ylabel("test " + get_task(task).target_metric)
        ax.set_ylim(-0.02, 1.02)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    name = f"fair_{task}.png"
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name


def build_fair_report(out: str | Path, command: str | None = None) -> Path:
    """Write ``out/REPORT.md``, ``out/results.json`` and one figure per task from the sweeps."""
    out = Path(out)
    settings = read_json(out / "fair.json")["settings"]
    sweep_dirs = [p.parent for p in sorted((out / "sweeps").glob("*/sweep.json"))]
    done = [d for d in sweep_dirs if read_json(d / "sweep.json").get("final_done")]
    if not done:
        raise FileNotFoundError(
            f"no finished sweep under {out / 'sweeps'}; run `coordconv reproduce --fair --out {out}`"
        )
    entries = [_cell_entry(d) for d in done]
    by_cell = {(e["task"], e["arm"], e["split"]): e for e in entries}
    budget = settings["budget_min"]
    first = read_json(done[0] / "sweep.json")
    finals = sorted((done[0] / "final" / "runs").glob("*/result.json"))
    versions = read_json(finals[0])["versions"] if finals else first.get("versions", {})
    missing = [
        f"{t}/{a}/{s}" for t in TASKS for s in SPLITS for a in ARM_ORDER if (t, a, s) not in by_cell
    ]
    rules = "; ".join(RULES[r] for r in sorted({_rule(read_json(d / "sweep.json")) for d in done}))
    md = [
        "# The fair comparison: every arm tuned with the same budget",
        "",
        f"Every arm of every task and split was tuned by `coordconv sweep` on Ray Tune with "
        f"**{budget:g} CPU-minutes of training** (trials on one thread each; evaluation not "
        f"counted), random search over its search space (`sweep.SEARCH_SPACES`) with ASHA early "
        f"stopping on the validation metric (grace 2 epochs, reduction factor 3). Trials fit on "
        f"the training part minus its validation part and never evaluate test. The trial that "
        f"validation selects (`selection.select_trial`: {rules}) was retrained on the whole "
        f"training part "
        f"for {settings['final_seeds']} fresh seeds (100+), stopping at the epoch the trial "
        f"reached; only those runs are scored on test (**test** below, mean ± std over seeds; "
        f"**solved**: seeds with train and test at the target).",
        "",
        "Selection metric on validation: accuracy (classification), mean pixel error "
        "(regression), IoU (rendering). Targets as in the paper reproduction: classification "
        "100%, regression 100% and < 0.5 px, rendering IoU >= 0.99.",
        "",
        "*Selected on test* is what the paper did for its baselines (best of the sweep by test "
        "accuracy): the best test score among the trials' own weights, computed after selection "
        "and shown only to compare; it is optimistic by construction.",
        "",
    ]
    if missing:
        md += [
            f"**Not run yet** ({len(missing)} of {len(missing) + len(entries)}): {', '.join(missing)}.",
            "",
        ]
    for task in TASKS:
        rows = [e for e in entries if e["task"] == task]
        if not rows:
            continue
        metric = get_task(task).target_metric
        md += [
            f"## {task.capitalize()}",
            "",
            "| split | arm | trials | tuning CPU-min | selected config | epochs | params | val "
            f"{rows[0]['selection_metric']} | test {metric} | solved | selected on test | paper | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for split in SPLITS:
            coord = by_cell.get((task, "coordconv", split))
            for arm in ARM_ORDER:
                e = by_cell.get((task, arm, split))
                if e is None:
                    continue
                verdict = "—"
                if arm != "coordconv" and coord is not None:
                    verdict = fair_verdict(
                        (coord["solved"], len(coord["test"])), (e["solved"], len(e["test"])), budget
                    )
                val = (
                    f"{e['val']:.3g}"
                    if e["selection_metric"] == "mean_pixel_error"
                    else _fmt(metric, e["val"])
                )
                md.append(
                    f"| {split} | {arm} | {e['trials']} | {e['tuning_cpu_s'] / 60:.1f} | "
                    f"`{e['selected_config']}` | {e['epochs_run']} | {e['params']:,} | {val} | "
                    f"{_mean_std(metric, e['test'])} | {e['solved']}/{len(e['test'])} | "
                    f"{_fmt(metric, e['selected_on_test'])} | {e['paper']} | {verdict} |"
                )
        md += ["", *_speed_lines(task, by_cell), "", f"![{task}]({_figure(task, rows, out)})", ""]
    md += [
        "## Hand-set networks (no training)",
        "",
        "`coordconv.experiments.notsoclevr.constructions`: CoordConv networks with every weight written "
        "down, scored here on every centre of the canvas:",
        "",
        *_constructions(),
        "",
        "## Environment",
        "",
        "- "
        + ", ".join(f"{k} {versions[k]}" for k in ("coordconv", "torch", "python") if k in versions)
        + f", {versions.get('platform', '?')} ({versions.get('processor', '?')}), "
        f"{first['cores']} CPU cores for Ray",
        "- CPU utilisation of each sweep (busy core-seconds / cores x wall seconds): "
        + ", ".join(
            f"{e['task']}/{e['arm']}/{e['split']} {100 * e['cpu_utilisation']:.0f}%"
            for e in entries
            if e["cpu_utilisation"] is not None
        ),
        f"- regenerate: `{command or f'coordconv reproduce --fair --budget-min {budget:g} --out {out}'}`; "
        f"rebuild this page: `coordconv report {out}`",
        "",
    ]
    return write_report(out, md, {"settings": settings, "cells": entries, "versions": versions})


def _speed_lines(task: str, by_cell: dict[tuple[str, str, str], dict[str, Any]]) -> list[str]:
    """Tuning CPU time until the validation-selected trial first met the target on test."""
    lines = [
        "Tuning CPU time until the validation-selected trial's own weights first met the target "
        "on test (post hoc, the curves below):",
        "",
        "| split | " + " | ".join(ARM_ORDER) + " |",
        "|---|" + "---|" * len(ARM_ORDER),
    ]
    for split in SPLITS:
        cells = []
        for arm in ARM_ORDER:
            e = by_cell.get((task, arm, split))
            if e is None:
                cells.append("not run")
            elif e["first_at_target_cpu_s"] is None:
                cells.append(f"not reached in {e['tuning_cpu_s'] / 60:.1f} min")
            else:
                cells.append(f"{e['first_at_target_cpu_s'] / 60:.2f} min")
        lines.append(f"| {split} | " + " | ".join(cells) + " |")
    return lines
