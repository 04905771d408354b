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
import math
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
from coordconv.experiments.fair.sweep import ARMS, finished_within, states_at
from coordconv.experiments.notsoclevr.constructions import build_construction
from coordconv.experiments.notsoclevr.data import (
    SPLITS,
    TASKS,
    NotSoClevr,
    task_tensors,
)
from coordconv.experiments.notsoclevr.models import build_model
from coordconv.experiments.notsoclevr.source import NotSoClevrData
from coordconv.experiments.notsoclevr.verdicts import (
    FIT_MARGIN,
    GAP_MARGIN,
    NEAR_MARGIN,
    PAPER,
    baseline_verdict,
)

__all__ = [
    "anytime_curve",
    "build_fair_report",
    "coordconv_verdict",
    "fair_verdict",
    "machines_differ",
    "main_machine",
    "posthoc_test",
    "selection_path",
    "wilson_interval",
]

COLOURS = {
    "coordconv": "tab:blue",
    "coordconv-paper": "tab:cyan",
    "conv": "tab:orange",
    "mlp": "tab:green",
    "conv-tiled": "tab:red",
}
COORDCONV_ARMS = ("coordconv", "coordconv-paper")
# One CPU's reference speeds further apart than this make a baseline's verdict name the
# difference (one CPU model read 134-193 steps/s, 1.44x, across the committed report's cells,
# with the load beside each worker).
MACHINE_SPEED_MARGIN = 1.5
PAPER_SPEEDUP = "150x"  # the paper: CoordConv trains to its result ~150x faster (classification)


def coordconv_verdict(solved: int, n: int, budget: str) -> str:
    """A CoordConv arm: the claim is that it solves the task (train and test at the target)."""
    if n < 1:
        return "no final runs"
    if solved == n:
        return f"supported at {budget}: CoordConv solves it ({solved}/{n})"
    if solved == 0:
        return f"contradicted at {budget}: CoordConv does not solve it (0/{n})"
    return f"mixed at {budget}: CoordConv solves it on {solved}/{n} seeds"


def fair_verdict(coordconv: dict[str, tuple[int, int]], baseline: str) -> str:
    """The paper's claim on one baseline cell under equal tuning budgets: the baseline's own
    verdict (``verdicts.baseline_verdict``: train and test judged together), qualified by the
    CoordConv arms of the same task and split (arm -> ``(seeds solved, final seeds)``). The claim
    holds where some CoordConv arm solves every seed; it is contradicted when no arm solves a
    seed, and only mixed when the best arm solves some. Whenever the arms disagree (one space
    solves it, the other does not), the verdict names each, so a reader sees which search space
    the claim rests on."""
    arms = {arm: counts for arm, counts in coordconv.items() if counts[1] > 0}
    if not arms or baseline == "no final runs":
        return "no final runs"
    named = ", ".join(f"{arm} {solved}/{n}" for arm, (solved, n) in arms.items())
    shares = [solved / n for solved, n in arms.values()]
    if max(shares) == 0:
        return f"contradicted: CoordConv does not solve it ({named}); baseline {baseline}"
    if max(shares) < 1:  # the baseline solving it contradicts the claim anyway
        if baseline.startswith("contradicted"):
            return baseline
        return f"mixed: CoordConv solves {named}; baseline {baseline}"
    if min(shares) < 1:
        return f"{baseline}; CoordConv solves it in one search space only ({named})"
    return baseline


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


def _rule(summary: dict[str, Any]) -> str:
    """The selection rule a sweep used (older sweep.json files predate the key)."""
    return str(summary.get("selection_rule", LEGACY_RULE))


def _arm(summary: dict[str, Any]) -> str:
    return str(summary.get("arm", summary["model"]))


def _finish_order(summary: dict[str, Any]) -> list[tuple[float, dict[str, Any]]]:
    """``(tuning seconds spent when the trial finished, trial)`` in finishing order (a trial
    the ledger has no time for finished last, as the rungs count it: in the top rung only);
    sweeps made before the ledger: start order, each trial's time added in turn."""
    trials = summary["trials"]
    if any(t.get("finished_at_s") is not None for t in trials):
        end = summary["spent_s"]
        timed = [
            (t["finished_at_s"] if t.get("finished_at_s") is not None else end, t) for t in trials
        ]
        return sorted(timed, key=lambda p: p[0])
    path, spent = [], 0.0
    for trial in trials:
        spent += trial["train_time_s"]
        path.append((spent, trial))
    return path


def selection_path(summary: dict[str, Any]) -> list[tuple[float, str]]:
    """After each trial finished: the tuning seconds spent so far and the trial validation
    selects among those finished (``select_trial``'s rule; ties to the first started)."""
    order = {t["id"]: i for i, t in enumerate(summary["trials"])}
    done: list[dict[str, Any]] = []
    path = []
    for spent, trial in _finish_order(summary):
        done.append(trial)
        done.sort(key=lambda t: order[t["id"]])
        path.append((spent, select_trial(done, summary["task"], _rule(summary))["id"]))
    return path


def anytime_curve(
    summary: dict[str, Any], posthoc: dict[str, dict[str, float]], metric: str
) -> list[tuple[float, float]]:
    """``(tuning CPU-seconds, test metric of the trial validation selects among those finished
    so far)`` at every trial's finish."""
    return [(x, posthoc[i][metric]) for x, i in selection_path(summary)]


def _first_at(
    summary: dict[str, Any], posthoc: dict[str, dict[str, float]], good: Any
) -> float | None:
    """Tuning seconds until the validation-selected trial's own weights first scored ``good``
    on test (post hoc), or None."""
    return next((x for x, i in selection_path(summary) if good(posthoc[i])), None)


def _rungs(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The sweep's rungs (one for sweeps made before the ladder)."""
    if "rungs" in summary:
        return list(summary["rungs"])
    return [
        {
            "budget_min": summary["budget_s"] / 60.0,
            "trials": len(summary["trials"]),
            "spent_s": summary["spent_s"],
            "selected": summary["selected"],
            "final": summary.get("final"),
        }
    ]


def _short_config(config: dict[str, Any], space: dict[str, list[Any]]) -> str:
    """The sampled settings of a trial, e.g. ``lr=0.005 batch_size=16 epochs=4``."""
    flat = flat_settings(config)
    return " ".join(
        f"{k}={flat[k]:g}" if isinstance(flat[k], float) else f"{k}={flat[k]}" for k in space
    )


def _sweep_entries(sweep_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One entry per rung of a sweep, and the sweep's tuning statistics (trials at the target
    on validation, the spread of their validation metric, the anytime curve)."""
    summary = read_json(sweep_dir / "sweep.json")
    task, arm, split = summary["task"], _arm(summary), summary["split"]
    spec = get_task(task)
    metric = spec.target_metric
    posthoc = posthoc_test(sweep_dir)
    by_id = {t["id"]: t for t in summary["trials"]}
    rungs = _rungs(summary)
    entries = []
    for rung in rungs:
        top = rung is rungs[-1]
        final = rung.get("final") or {}
        runs = final.get("runs", [])
        selected = by_id.get(rung["selected"]) if rung["selected"] else None
        within = [t for t in summary["trials"] if top or finished_within(t, rung["budget_min"])]
        entry: dict[str, Any] = {
            "task": task,
            "arm": arm,
            "split": split,
            "budget_min": rung["budget_min"],
            "top_rung": top,
            "trials": rung["trials"],
            "tuning_cpu_s": rung["spent_s"],
            "budget_s": rung["budget_min"] * 60.0,
            "cpu_utilisation": summary.get("cpu_utilisation") if top else None,
            "selected": rung["selected"],
            "metric": metric,
            "selection_metric": summary["metric"],
            "train": [r["train"][metric] for r in runs],
            "test": [r["test"][metric] for r in runs],
            "train_metrics": [r["train"] for r in runs],
            "test_metrics": [r["test"] for r in runs],
            "solved": sum(r["solved"] for r in runs),
            "seeds": [r["seed"] for r in runs],
            "final_train_time_s": [r["train_time_s"] for r in runs],
            "selected_on_test": max((posthoc[t["id"]][metric] for t in within), default=None),
            "machines": summary.get("machines", {}),
            "paper": PAPER.get((task, ARMS.get(arm, arm), split), "n/a")
            if arm != "coordconv-paper"
            else "n/a",
        }
        if selected is not None:
            cfg = TrainConfig.from_dict(selected["config"])
            entry.update(
                selected_config=_short_config(selected["config"], summary["search_space"]),
                # the selected state: the epoch and validation score it had at the rung
                epochs_run=rung.get("epoch") or selected["epochs_run"],
                params=count_params(build_model(cfg.model)),
                val=(rung.get("val") or selected["val"])[summary["metric"]],
            )
        entries.append(entry)
    vals = [t["val"][summary["metric"]] for t in summary["trials"]]
    first = rungs[0]
    # the trials as a sweep of the first rung's budget would have held them
    early = (
        summary["trials"] if len(rungs) == 1 else states_at(summary["trials"], first["budget_min"])
    )
    tuning = {
        "task": task,
        "arm": arm,
        "split": split,
        "trials": len(vals),
        "at_target_on_val": sum(spec.reached(t["val"]) for t in summary["trials"]),
        "first_rung": {
            "budget_min": first["budget_min"],
            "trials": len(early),
            "at_target_on_val": sum(spec.reached(t["val"]) for t in early),
        },
        "val_quartiles": statistics.quantiles(vals, n=4, method="inclusive")
        if len(vals) > 1
        else vals * 3,
        "val_range": [min(vals), max(vals)] if vals else [],
        "first_at_target_cpu_s": _first_at(summary, posthoc, spec.reached),
        "curve": anytime_curve(summary, posthoc, metric),
        "spent_s": summary["spent_s"],
        "selection_metric": summary["metric"],
    }
    return entries, tuning


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


def _val_text(selection_metric: str, metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3g} px" if selection_metric == "mean_pixel_error" else _fmt(metric, value)


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


def _figure(
    task: str,
    entries: list[dict[str, Any]],
    tuning: dict[tuple[str, str, str], dict[str, Any]],
    out: Path,
) -> str:
    """Per split: the test metric of the validation-selected trial (post hoc, a step line per
    arm) against tuning CPU-minutes on a log axis; the final runs' mean ± std at each rung."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    fig, axes = plt.subplots(1, len(SPLITS), figsize=(11, 3.8), squeeze=False)
    for ax, split in zip(axes[0], SPLITS, strict=True):
        for arm in ARM_ORDER:
            t = tuning.get((task, arm, split))
            if t is None or not t["curve"]:
                continue
            colour = COLOURS.get(arm)
            xs = [max(x, 1.0) / 60 for x, _ in t["curve"]]
            ys = [y for _, y in t["curve"]]
            ax.step(xs, ys, where="post", color=colour, label=arm, alpha=0.8)
            for e in entries:
                if e["arm"] == arm and e["split"] == split and e["test"]:
                    mean = statistics.fmean(e["test"])
                    std = statistics.stdev(e["test"]) if len(e["test"]) > 1 else 0.0
                    ax.errorbar(
                        [e["budget_min"]], [mean], yerr=[std], fmt="o", color=colour, capsize=3
                    )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{task} / {split}", fontsize=9)
        ax.set_xlabel("tuning CPU-minutes (log)")
        ax.set_ylabel("test " + get_task(task).target_metric)
        ax.set_ylim(-0.02, 1.02)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(
        "lines: the validation-selected trial's own weights on test (post hoc); "
        "markers: final runs at each rung (mean ± std)",
        fontsize=8,
    )
    fig.tight_layout()
    name = f"fair_{task}.png"
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name


def _budget_text(minutes: float) -> str:
    return f"{minutes:g} CPU-min"


def _verdicts(entries: list[dict[str, Any]]) -> None:
    """Fill each entry's ``verdict``: CoordConv arms by ``coordconv_verdict``, baselines by
    ``baseline_verdict`` qualified by the CoordConv arms at their lowest rung (``fair_verdict``).
    A machine difference is named against the arm that solves the most seeds."""
    partners: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for e in sorted(entries, key=lambda e: (ARM_ORDER.index(e["arm"]), -e["budget_min"])):
        if e["arm"] in COORDCONV_ARMS:
            partners.setdefault((e["task"], e["split"]), {})[e["arm"]] = e
    for e in entries:
        n, budget = len(e["test"]), _budget_text(e["budget_min"])
        if e["arm"] in COORDCONV_ARMS:
            e["verdict"] = coordconv_verdict(e["solved"], n, budget)
            continue
        baseline = baseline_verdict(e["task"], e["train_metrics"], e["test_metrics"], budget)
        arms = partners.get((e["task"], e["split"]))
        if not arms:
            e["verdict"] = baseline
            continue
        e["verdict"] = fair_verdict(
            {arm: (p["solved"], len(p["test"])) for arm, p in arms.items()}, baseline
        )
        best = max(arms.values(), key=lambda p: p["solved"] / max(len(p["test"]), 1))
        difference = machines_differ(e, best)
        if difference:
            e["verdict"] += (
                f" (machines differ: {difference}, so a CPU-minute bought them unequal work)"
            )


def main_machine(entry: dict[str, Any]) -> tuple[str, float] | None:
    """The CPU name and reference speed (``core.machine.reference_speed``) of the machine that
    ran most of a cell's trial epochs, or None where the sweep did not record it."""
    machines = entry.get("machines") or {}
    if not machines:
        return None
    cpu, main = max(machines.items(), key=lambda item: item[1]["trial_epochs"])
    return cpu, float(main["reference_steps_per_s"])


def machines_differ(baseline: dict[str, Any], partner: dict[str, Any]) -> str | None:
    """Why a baseline's CPU-minute and its CoordConv partner's are not the same work, or None:
    their main machines have different CPUs, or the same CPU read more than
    ``MACHINE_SPEED_MARGIN`` apart (the reference speed varies up to ~1.44x on one CPU model
    with the load beside it, so a smaller gap between equal CPUs is noise, not a machine)."""
    mine, theirs = main_machine(baseline), main_machine(partner)
    if mine is None or theirs is None:
        return None
    (my_cpu, my_speed), (their_cpu, their_speed) = mine, theirs
    ratio = max(my_speed, their_speed) / min(my_speed, their_speed)
    if my_cpu == their_cpu and ratio <= MACHINE_SPEED_MARGIN:
        return None
    if my_cpu == their_cpu:
        return (
            f"its trials ran at {my_speed:.0f}, the {partner['arm']} arm's at {their_speed:.0f} "
            f"reference steps/s on the same CPU ({my_cpu})"
        )
    return (
        f"its trials ran on {my_cpu} at {my_speed:.0f}, the {partner['arm']} arm's on {their_cpu} at "
        f"{their_speed:.0f} reference steps/s"
    )


def _machine_lines(entries: list[dict[str, Any]]) -> list[str]:
    """Per cell, the CPUs its trials ran on and their reference speeds."""
    cells: dict[str, str] = {}
    for e in entries:
        machines = e.get("machines") or {}
        cells[f"{e['task']}/{e['arm']}/{e['split']}"] = (
            "; ".join(
                f"{cpu}: {m['reference_steps_per_s']:.0f} steps/s ({m['trial_epochs']} trial epochs)"
                for cpu, m in sorted(machines.items())
            )
            or "not recorded (swept before machines were kept)"
        )
    return [
        "## Machines",
        "",
        "Budgets are CPU-minutes, and this project's machines differ about 3x in speed. Each "
        "trial's worker measures `core.machine.reference_speed` (training steps per CPU-second "
        "of a fixed small conv net, one thread) once, beside the other trials: on one machine "
        "it varies with that load (one CPU model read 134-193 steps/s, 1.44x, across the first "
        "report made this way). A baseline's verdict names the difference "
        "when its cell and its CoordConv partner ran mostly on different CPUs, or on the same "
        f"CPU more than {MACHINE_SPEED_MARGIN:g}x apart in speed (only where both sweeps "
        "recorded it).",
        "",
        *(f"- {cell}: {text}" for cell, text in cells.items()),
        "",
    ]


def _speed(
    task: str,
    split: str,
    entries: list[dict[str, Any]],
    tuning: dict[tuple[str, str, str], dict[str, Any]],
) -> dict[str, Any] | None:
    """Tuning CPU-seconds until each arm's validation-selected trial's own weights first
    reached, on test (post hoc; the lines of the figures), (a) the target and (b) the best the
    conv arm's reached within its top rung; the conv/CoordConv ratios against the faster
    CoordConv arm (lower bounds where conv never got there; n/a where conv's best is 0, which
    every curve has from its first point); and, read on the rungs' final runs instead, the first
    rung whose conv final runs reached the target and the first whose test mean reached conv's
    best."""
    conv = sorted(
        (e for e in entries if (e["task"], e["arm"], e["split"]) == (task, "conv", split)),
        key=lambda e: e["budget_min"],
    )
    if not conv or not conv[-1]["top_rung"] or (task, "coordconv", split) not in tuning:
        return None
    top = conv[-1]
    curve = [v for x, v in tuning[(task, "conv", split)]["curve"] if x <= top["budget_s"]]
    if not curve:
        return None
    best = max(curve)
    arms: dict[str, Any] = {}
    for arm in ("coordconv", "coordconv-paper", "conv"):
        t = tuning.get((task, arm, split))
        if t is not None:
            arms[arm] = {
                "target_cpu_s": t["first_at_target_cpu_s"],
                "baseline_best_cpu_s": next((x for x, v in t["curve"] if v >= best), None),
                "spent_s": t["spent_s"],
            }

    def ratio(which: str) -> str:
        if which == "baseline_best_cpu_s" and best <= 0:
            return "n/a (conv's best is 0)"
        reached = [
            (a[which], arm) for arm, a in arms.items() if arm != "conv" and a[which] is not None
        ]
        if not reached:
            return "neither CoordConv arm got there"
        c, arm = min(reached)
        b = arms["conv"][which]
        if b is None:
            spent = arms["conv"]["spent_s"]
            bound = math.floor(spent / max(c, 1e-9))
            return f"> {bound}x ({arm}; conv not there in {spent / 60:.3g} CPU-min)"
        return f"{b / max(c, 1e-9):.1f}x ({arm})"

    solving = next((e for e in conv if e["solved"]), None)
    # reaching a best of 0 says nothing (every run has it)
    at_best = next((e for e in conv if best > 0 and statistics.fmean(e["test"]) >= best), None)
    return {
        "task": task,
        "split": split,
        "conv_best_trial_test": best,
        "conv_top_rung_min": top["budget_min"],
        "arms": arms,
        "ratio_target": ratio("target_cpu_s"),
        "ratio_baseline_best": ratio("baseline_best_cpu_s"),
        "conv_finals_first_solved": None
        if solving is None
        else {
            "budget_min": solving["budget_min"],
            "solved": solving["solved"],
            "seeds": len(solving["test"]),
        },
        "conv_finals_first_at_best": None
        if at_best is None
        else {"budget_min": at_best["budget_min"], "test_mean": statistics.fmean(at_best["test"])},
    }


def _minutes(seconds: float | None, spent_s: float) -> str:
    return f"not in {spent_s / 60:.1f}" if seconds is None else f"{seconds / 60:.2f}"


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
    entries: list[dict[str, Any]] = []
    tuning: dict[tuple[str, str, str], dict[str, Any]] = {}
    for d in done:
        rows, stats = _sweep_entries(d)
        entries += rows
        key = (stats["task"], stats["arm"], stats["split"])
        tuning[key] = stats
    _verdicts(entries)
    budget = settings["budget_min"]
    ladder = settings.get("ladder", [budget])
    environments = _environments(done)
    swept = {
        (x["task"], x["arm"], x["split"])
        for x in (read_json(d / "sweep.json") for d in sweep_dirs if d not in done)
    }
    missing = [
        f"{t}/{a}/{s}" + (" (swept; final runs pending)" if (t, a, s) in swept else "")
        for t in TASKS
        for s in SPLITS
        for a in ARM_ORDER
        if (t, a, s) not in tuning
    ]
    rules = "; ".join(RULES[r] for r in sorted({_rule(read_json(d / "sweep.json")) for d in done}))
    ladder_text = ", ".join(f"{r:g}" for r in ladder)
    climbing = ", ".join("/".join(c) for c in settings.get("ladder_cells", []))
    md = [
        "# The fair comparison: every arm tuned with the same budget"
        + (" (the deciding baselines also with more)" if len(ladder) > 1 else ""),
        "",
    ]
    if "ladder" not in settings:
        md += [
            "> **Made by coordconv 0.1, before the budget ladder**: one rung; budgets in "
            "wall-clock training seconds of two concurrent one-thread trials (not CPU time); "
            "every trial trained with seed 0 and every cell's sampler from the same random "
            "state; ASHA grace 2 for every arm and the critics' earlier spaces (`mlp` up to 300 "
            "epochs, `conv-tiled` k in {3, 5}, width in {1, 2}; no input scaling for the regression "
            "baselines); no `coordconv-paper` arm. The "
            "paragraph below describes the current protocol; the rows are these sweeps, judged "
            "by the current verdict rule.",
            "",
        ]
    md += [
        f"Every arm of every task and split was tuned by `coordconv sweep` on Ray Tune with "
        f"**{budget:g} CPU-minutes of training** (CPU time of the trials' training steps, one "
        f"thread each; evaluation not counted), random search over its search space "
        f"(`sweep.SEARCH_SPACES`) with ASHA early stopping on the validation metric (grace 2 "
        f"epochs, 1 for conv-tiled; reduction factor 3). Trials fit on the training part minus "
        f"its validation part, each with its own seed, and never evaluate test. "
        + (
            f"**The budget ladder**: the cells that decide the claim ({climbing}) were swept to "
            f"the top rung of {ladder_text} CPU-minutes; the selection at a lower rung B is the "
            f"best validation trial over every trial's state at B (its last epoch whose result "
            f"arrived within B, by the sweep's own ledger, with that epoch's validation score: "
            f"what a sweep stopped at B would have held, the trials it would have cut "
            f"included), so one sweep gives every rung; its final runs stop at that epoch. "
            if len(ladder) > 1
            else ""
        )
        + f"At each rung the trial that validation selects (`selection.select_trial`: {rules}) "
        f"was retrained on the whole training part for {settings['final_seeds']} fresh seeds "
        f"(100+), stopping at the epoch the trial reached (their training is outside the "
        f"budget); only those runs are scored on test (**train** and **test** below, mean ± "
        f"std over seeds; **solved**: seeds with train and test at the target).",
        "",
        "Selection metric on validation: accuracy (classification), mean pixel error "
        "(regression), IoU (rendering). Targets as in the paper reproduction: classification "
        "100%, regression 100% and < 0.5 px, rendering IoU >= 0.99.",
        "",
        f"**Verdicts** (`verdicts.baseline_verdict`, the quick report's rule too): per seed, a "
        f"baseline *solves* (train and test at the target), *nearly solves* (train within "
        f"{FIT_MARGIN:g} of the target, test within {NEAR_MARGIN:g}), *fails to generalise* "
        f"(train within {FIT_MARGIN:g} of the target, test more than {GAP_MARGIN:g} below "
        f"train: the paper's failure), *falls short* (train at the target, test short of it "
        f"but within {GAP_MARGIN:g} of train) or *underfits* (otherwise: the budget bought no "
        f"fit). All seeds solve or nearly solve: *contradicted*; all fail to generalise: "
        f"*supported*; all underfit, or all fall short: *inconclusive*; else *mixed*. A "
        f"baseline's claim also needs a CoordConv arm to solve the cell on every seed: "
        f"*contradicted* when neither CoordConv arm solves a seed, *mixed* when the better "
        f"solves some; where one arm solves it and the other does not, the verdict names both "
        f"(the claim then rests on one search space, and CoordConv had two sweeps to the "
        f"baseline's one). A baseline that solves the cell stays *contradicted* whatever "
        f"CoordConv does. The rule leans to the baseline: its near-solves count against the "
        f"claim, while CoordConv counts strict solves only; and a baseline's verdict at a "
        f"higher rung compares it, at that budget, with CoordConv at CoordConv's lowest rung. "
        f"`coordconv-paper` is CoordConv swept over the "
        f"paper's plain space (lr, L2, batch, epochs, schedule; none of this project's "
        f"switches).",
        "",
        "*Selected on test* is what the paper did for its baselines (best of the sweep by test "
        "accuracy): the best test score among the trials' own last weights (the trials whose "
        "last result arrived within the rung: the trials keep no earlier weights), computed "
        "after selection and shown only to compare. It picks on test, so it is optimistic as a "
        "selection among those weights, but it is no upper bound on the final runs: the trials' "
        "weights trained on the fit part only, and a trial still running at the rung does not "
        "count, so it can sit far below the final runs (or read — where none had finished).",
        "",
    ]
    if missing:
        md += [
            f"**Not finished yet** ({len(missing)} of {len(missing) + len(tuning)}): "
            f"{', '.join(missing)}.",
            "",
        ]
    speeds = []
    for task in TASKS:
        rows = [e for e in entries if e["task"] == task]
        if not rows:
            continue
        metric = get_task(task).target_metric
        md += [
            f"## {task.capitalize()}",
            "",
            "| split | arm | CPU-min | trials | selected config | epochs | params | val "
            f"{rows[0]['selection_metric']} | train {metric} | test {metric} | solved | "
            "selected on test | paper | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for split in SPLITS:
            for arm in ARM_ORDER:
                for e in sorted(
                    (r for r in rows if (r["arm"], r["split"]) == (arm, split)),
                    key=lambda r: r["budget_min"],
                ):
                    md.append(_row(e, metric))
        md += ["", f"![{task}]({_figure(task, rows, tuning, out)})", ""]
        for split in SPLITS:
            speed = _speed(task, split, entries, tuning)
            if speed is not None:
                speeds.append(speed)
    md += _speed_lines(speeds) + _tuning_lines(tuning) + _machine_lines(entries)
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
        *(f"- {env}: {', '.join(cells)}" for env, cells in environments.items()),
        "- CPU utilisation of each sweep (busy core-seconds / cores x wall seconds): "
        + ", ".join(
            f"{e['task']}/{e['arm']}/{e['split']} {100 * e['cpu_utilisation']:.0f}%"
            for e in entries
            if e["cpu_utilisation"] is not None
        ),
        f"- regenerate: {f'`{command}`' if command else _command(settings, out)}; "
        f"rebuild this page: `coordconv report {out}`",
        "",
    ]
    results = {
        "settings": settings,
        "cells": entries,
        "tuning": list(tuning.values()),
        "speed": speeds,
        "environments": environments,
    }
    return write_report(out, md, results)


def _environments(sweep_dirs: list[Path]) -> dict[str, list[str]]:
    """Each distinct software and machine the sweeps ran on -> the cells that ran there (read
    from a final run's ``versions``, or the sweep's where it has none)."""
    environments: dict[str, list[str]] = {}
    for d in sweep_dirs:
        summary = read_json(d / "sweep.json")
        finals = sorted((d / "final").glob("**/runs/*/result.json"))
        versions = read_json(finals[0])["versions"] if finals else summary.get("versions", {})
        text = ", ".join(
            f"{k} {versions[k]}" for k in ("coordconv", "torch", "python") if k in versions
        ) + (
            f", {versions.get('platform', '?')} ({versions.get('cpu', versions.get('processor', '?'))}), "
            f"{summary['cores']} CPU cores for Ray"
        )
        environments.setdefault(text, []).append(d.name)
    return environments


def _command(settings: dict[str, Any], out: Path) -> str:
    """The command that made a fair comparison with these settings, as Markdown."""
    if "ladder" not in settings:  # made before the ladder, by coordconv 0.1
        return (
            f"`coordconv reproduce --fair --budget-min {settings['budget_min']:g} --final-seeds "
            f"{settings['final_seeds']} --out {out}` (coordconv 0.1, before the budget ladder: "
            f"one rung, trial seed 0, wall-clock budgets)"
        )
    ladder = ",".join(f"{r:g}" for r in settings["ladder"])
    return (
        f"`coordconv reproduce --fair --ladder {ladder} --final-seeds "
        f"{settings['final_seeds']} --out {out}`"
    )


def _row(e: dict[str, Any], metric: str) -> str:
    """One rung of one arm as a table row."""
    params = f"{e['params']:,}" if "params" in e else "—"
    cells = [
        e["split"],
        e["arm"],
        f"{e['budget_min']:g}",
        str(e["trials"]),
        f"`{e['selected_config']}`" if "selected_config" in e else "—",
        str(e.get("epochs_run", "—")),
        params,
        _val_text(e["selection_metric"], metric, e.get("val")),
        _mean_std(metric, e["train"]),
        _mean_std(metric, e["test"]),
        f"{e['solved']}/{len(e['test'])}",
        _fmt(metric, e["selected_on_test"]),
        e["paper"],
        e["verdict"],
    ]
    return "| " + " | ".join(cells) + " |"


def _speed_lines(speeds: list[dict[str, Any]]) -> list[str]:
    if not speeds:
        return []
    lines = [
        "## The speed claim",
        "",
        f"The paper: CoordConv reaches its result about {PAPER_SPEEDUP} faster. Here: CPU-minutes "
        "of tuning until the validation-selected trial's own weights first met, on test (post "
        "hoc; the lines of the figures), (a) the target and (b) the best the conv arm's met "
        "within its top rung (column *conv best*); the ratio is conv over the faster CoordConv "
        "arm (named), a lower bound (>) where conv never got there, n/a where conv's best is 0 "
        "(every curve starts there). Not the paper's measure: its ~150x compares the training "
        "time of single models; these compare tuning CPU-time, search included, read off one "
        "sweep per arm (another sweep draws other configurations in another order), on the "
        "machines the cells ran on (see *Machines*). A curve moves only when a trial finishes, "
        "so where the conv arm's best is low, (b) can fall below 1x: its first trial finished "
        "before CoordConv's first, which already solved the task.",
        "",
        "**The curves flatter CoordConv.** Trial weights are trained on the training part minus "
        "its validation part, and a trial counts only once it finishes; a rung's final runs "
        "(the whole training part, fresh seeds, stopped at the selected epoch) can do better "
        "earlier. The last two columns read the final runs instead: the first rung whose conv "
        "final runs reached the target, and the first whose test mean reached *conv best*. "
        "Where one is given, conv's final runs had it within that rung's CPU-minutes, which caps "
        "conv's side of the ratio, whatever its curve says (CoordConv's side, read off its "
        "curve, could shrink the same way).",
        "",
        "| task | split | conv best | CoordConv (a) | coordconv-paper (a) | conv (a) | "
        "ratio (a) | CoordConv (b) | coordconv-paper (b) | conv (b) | ratio (b) | "
        "conv finals at the target | conv finals at conv best |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in speeds:
        metric = get_task(s["task"]).target_metric
        cells = []
        for which in ("target_cpu_s", "baseline_best_cpu_s"):
            for arm in ("coordconv", "coordconv-paper", "conv"):
                a = s["arms"].get(arm)
                cells.append("—" if a is None else _minutes(a[which], a["spent_s"]))
            cells.append(s["ratio_target" if which == "target_cpu_s" else "ratio_baseline_best"])
        none_by = f"none by {s['conv_top_rung_min']:g} CPU-min"
        first = s["conv_finals_first_solved"]
        cells.append(
            none_by
            if first is None
            else f"first at {first['budget_min']:g} CPU-min ({first['solved']}/{first['seeds']} seeds)"
        )
        at_best = s.get("conv_finals_first_at_best")
        cells.append(
            "n/a"
            if s["conv_best_trial_test"] <= 0
            else none_by
            if at_best is None
            else f"first at {at_best['budget_min']:g} CPU-min "
            f"(mean {_fmt(metric, at_best['test_mean'])})"
        )
        lines.append(
            f"| {s['task']} | {s['split']} | {_fmt(metric, s['conv_best_trial_test'])} in "
            f"{s['conv_top_rung_min']:g} CPU-min | " + " | ".join(cells) + " |"
        )
    return [*lines, ""]


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial share (``z`` = 1.96: 95%); (0, 1) for n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _tuning_lines(tuning: dict[tuple[str, str, str], dict[str, Any]]) -> list[str]:
    """How easy good hyperparameters are to find: per arm and cell, the share of sampled
    configurations at the target on validation, and the spread of their validation metric."""
    lines = [
        "## How often a sampled configuration works",
        "",
        'A widely read CoordConv tutorial: *"when using coordconv, it took much less time to find '
        "good hyperparameters\"*. Per arm and cell, the share of the sweep's trials at the target "
        "on validation (trials ASHA stopped early included: they are configurations the search "
        "tried), with a 95% interval on the share (Wilson; a handful of trials says little), "
        "the same within the first rung alone (each trial as it stood at that budget; the "
        "ladder's cells ran many more trials, most stopped by ASHA after a few epochs), and the "
        "quartiles of their validation metric:",
        "",
        "| task | split | arm | trials | at target on val | 95% interval | within the first "
        "rung | val quartiles (25/50/75%) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task in TASKS:
        for split in SPLITS:
            for arm in ARM_ORDER:
                t = tuning.get((task, arm, split))
                if t is None:
                    continue
                metric = get_task(task).target_metric
                quartiles = " / ".join(
                    _val_text(t["selection_metric"], metric, q) for q in t["val_quartiles"]
                )
                share = t["at_target_on_val"] / t["trials"] if t["trials"] else 0.0
                low, high = wilson_interval(t["at_target_on_val"], t["trials"])
                early = t["first_rung"]
                lines.append(
                    f"| {task} | {split} | {arm} | {t['trials']} | {t['at_target_on_val']} "
                    f"({100 * share:.0f}%) | {100 * low:.0f}-{100 * high:.0f}% | "
                    f"{early['at_target_on_val']}/{early['trials']} in "
                    f"{early['budget_min']:g} CPU-min | {quartiles} |"
                )
    return [*lines, ""]
