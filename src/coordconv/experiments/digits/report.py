"""The digits demo's REPORT.md: a pure function of a runs folder (never trains).

``build_digits_report(out)`` reads ``out/runs/*/result.json`` of one head (the regressor's task
``digits`` or the detector's ``detection``; and, for the error maps, ``examples.npz``) and writes
``out/REPORT.md``, ``out/results.json`` and figures: per split and variant the test scores as
mean +- std over seeds, validation centre error, parameters, training time; per CoordConv
variant against the plain network the mean difference with its 95% interval and a verdict
(:func:`~coordconv.experiments.digits.detection.compare_variants`, margins fixed here before
the runs); seeds that stray from their cell, by name; validation curves; the test centre error
per position; sample canvases.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coordconv.experiments.core.config import flat_settings
from coordconv.experiments.core.io import read_json, write_json
from coordconv.experiments.core.report import (
    cell_of,
    load_runs,
    mean_std,
    save_figure,
    write_report,
)
from coordconv.experiments.digits.data import (
    BAND,
    DIGIT,
    FRAGMENTS,
    NOISE,
    SPLITS,
    make_digit_canvases,
)
from coordconv.experiments.digits.detection import LOOSE, RADIUS, compare_variants
from coordconv.experiments.digits.localiser import HEADS, VARIANTS
from coordconv.experiments.digits.source import DIGITS_PER_CANVAS

__all__ = [
    "CENTRE_MARGIN",
    "HEAD_REPORTS",
    "RATE_MARGIN",
    "build_digits_report",
    "is_digits_folder",
    "strays",
    "summarise_digits",
]

# Equivalence margins, fixed before the 10-seed runs: a CoordConv variant is "equivalent" to
# the plain net when the 95% interval of the difference lies inside +-margin.
CENTRE_MARGIN = 0.25  # px of mean test centre error: a quarter of a pixel
RATE_MARGIN = 0.03  # share within 2 px (regressor) / F1 at 2 px (detector): 3 points

MAP_BIN = 8  # px: the error maps average centres over MAP_BIN x MAP_BIN cells
STRAY_Z = 3.0  # a seed strays when its robust z-score (median, 1.4826 MAD) exceeds this ...
STRAY_FLOOR = {  # ... and lies this far from its cell's median (per score)
    "centre_error": CENTRE_MARGIN,
    "class_accuracy": 0.05,
    "f1": RATE_MARGIN,
    "within_2px": RATE_MARGIN,
}


@dataclass(frozen=True)
class HeadReport:
    """What a head's report shows: its task, title, table scores ``(key, label, format, lower
    is better)``, the compared scores ``(key, margin, lower is better)`` and the scores whose
    straying seeds are named."""

    task: str
    title: str
    scores: tuple[tuple[str, str, str, bool], ...]
    compared: tuple[tuple[str, float, bool], ...]
    watched: tuple[str, ...]


HEAD_REPORTS = {
    "regressor": HeadReport(
        "digits",
        "does CoordConv help a ResNet-style localiser?",
        (
            ("centre_error", "centre error (px)", "{:.2f}", True),
            ("median_centre_error", "median (px)", "{:.2f}", True),
            ("within_2px", "within 2 px", "{:.1%}", False),
            ("box_iou", "box IoU", "{:.3f}", False),
            ("class_accuracy", "class accuracy", "{:.1%}", False),
        ),
        (("centre_error", CENTRE_MARGIN, True), ("within_2px", RATE_MARGIN, False)),
        ("centre_error", "within_2px", "class_accuracy"),
    ),
    "detector": HeadReport(
        "detection",
        "does CoordConv help a detector?",
        (
            ("f1", "F1 at 2 px", "{:.1%}", False),
            ("recall", "recall", "{:.1%}", False),
            ("precision", "precision", "{:.1%}", False),
            ("centre_error", "centre error (px)", "{:.2f}", True),
            ("class_accuracy", "class accuracy (found)", "{:.1%}", False),
            ("class_f1", "F1 with class", "{:.1%}", False),
        ),
        (("centre_error", CENTRE_MARGIN, True), ("f1", RATE_MARGIN, False)),
        ("centre_error", "f1", "class_accuracy"),
    ),
}


def is_digits_folder(out: str | Path) -> bool:
    """Whether ``out/runs`` holds digits runs of either head (what ``coordconv report``
    dispatches on)."""
    first = next(iter(sorted(Path(out, "runs").glob("*/result.json"))), None)
    return first is not None and first.parent.name.split("-")[0] in HEADS


def with_class_f1(metrics: dict[str, float]) -> dict[str, float]:
    """A detector's metrics plus ``class_f1``: F1 of the digits found within 2 px *with the
    right class` (its recall ``correct / digits = recall x class_accuracy``, its precision
    ``correct / predictions = precision x class_accuracy``); other metrics pass through."""
    if "f1" not in metrics:
        return metrics
    recall = metrics["recall"] * metrics["class_accuracy"]
    precision = metrics["precision"] * metrics["class_accuracy"]
    f1 = 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0
    return {**metrics, "class_f1": f1}


def _by_cell(runs: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """``(split, variant)`` -> its runs (one per seed), in seed order."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: r["config"]["seed"]):
        _, kind, split = cell_of(run["config"])
        cells[split, kind].append(run)
    return cells


def strays(seeds: list[int], values: list[float], floor: float) -> list[tuple[int, float]]:
    """The ``(seed, value)`` pairs whose robust z-score (from the median and 1.4826 x the
    median absolute deviation) exceeds ``STRAY_Z`` and that lie more than ``floor`` from the
    median: seeds the report names instead of averaging them away."""
    if len(values) < 3:
        return []
    median = statistics.median(values)
    spread = 1.4826 * statistics.median(abs(v - median) for v in values)
    return [
        (seed, v)
        for seed, v in zip(seeds, values, strict=True)
        if abs(v - median) > floor and (spread == 0 or abs(v - median) > STRAY_Z * spread)
    ]


def summarise_digits(runs: list[dict[str, Any]], head: str = "regressor") -> dict[str, Any]:
    """``split/variant`` -> seeds, train and test scores per seed, val centre error, params,
    time, each CoordConv variant's comparisons with the plain net, and straying seeds."""
    spec = HEAD_REPORTS[head]
    summary: dict[str, Any] = {}
    for (split, kind), group in sorted(_by_cell(runs).items()):
        seeds = [r["config"]["seed"] for r in group]
        finals = [{p: with_class_f1(r["final"][p]) for p in ("train", "test")} for r in group]
        test = {k: [f["test"][k] for f in finals] for k, *_ in spec.scores}
        summary[f"{split}/{kind}"] = {
            "split": split,
            "variant": kind,
            "seeds": seeds,
            "finished": all(r.get("finished") for r in group),
            "test": test,
            "train": {k: [f["train"][k] for f in finals] for k, *_ in spec.scores},
            "val_centre_error": [r["final"]["val"]["centre_error"] for r in group],
            "params": group[0]["params"],
            "train_cpu_s": [_training_seconds(r) for r in group],
            "epochs_run": [r["epochs_run"] for r in group],
            "strays": {
                key: found
                for key in spec.watched
                if (found := strays(seeds, test[key], STRAY_FLOOR[key]))
            },
        }
    for split in SPLITS:
        plain = summary.get(f"{split}/plain")
        for kind in VARIANTS:
            entry = summary.get(f"{split}/{kind}")
            if entry is None or plain is None or kind == "plain":
                continue
            entry["comparison"] = {}
            # paired by seed: a seed's variant starts from that seed's plain weights (convert),
            # with the same batch order and canvases
            common = sorted(set(plain["seeds"]) & set(entry["seeds"]))
            if len(common) < 2:
                continue
            for key, margin, lower in spec.compared:
                a, b = (
                    [dict(zip(e["seeds"], e["test"][key], strict=True))[s] for s in common]
                    for e in (plain, entry)
                )
                c = compare_variants(a, b, margin, lower, paired=True)
                unpaired = compare_variants(a, b, margin, lower, paired=False)
                entry["comparison"][key] = {
                    "difference": c.difference,
                    "low": c.low,
                    "high": c.high,
                    "margin": margin,
                    "seeds": common,
                    "verdict": c.verdict,
                    # the same seeds as independent samples (Welch): what the pairing changes
                    "unpaired": {
                        "low": unpaired.low,
                        "high": unpaired.high,
                        "verdict": unpaired.verdict,
                    },
                }
    return summary


def _fmt(key: str, value: float) -> str:
    return f"{value:+.2f} px" if key == "centre_error" else f"{100 * value:+.1f} pts"


def _versus(entry: dict[str, Any], key: str) -> str:
    c = entry.get("comparison", {}).get(key)
    if c is None:
        return "—"
    return f"{_fmt(key, c['difference'])} [{_fmt(key, c['low'])}, {_fmt(key, c['high'])}]: {c['verdict']}"


def _table(split: str, summary: dict[str, Any], spec: HeadReport) -> list[str]:
    header = " | ".join(label for _, label, _, _ in spec.scores)
    compared = " | ".join(f"vs plain: {key}" for key, _, _ in spec.compared)
    lines = [
        f"| variant | params | {header} | val centre error (px) | training CPU-s | {compared} |",
        "|---|---|" + "---|" * (len(spec.scores) + 2 + len(spec.compared)),
    ]
    for kind in VARIANTS:
        e = summary.get(f"{split}/{kind}")
        if e is None:
            continue
        scores = " | ".join(mean_std(e["test"][k], fmt.format) for k, _, fmt, _ in spec.scores)
        versus = " | ".join(_versus(e, key) for key, _, _ in spec.compared)
        lines.append(
            f"| {kind} | {e['params']:,} | {scores} | "
            f"{mean_std(e['val_centre_error'], '{:.2f}'.format)} | "
            f"{mean_std(e['train_cpu_s'], '{:.0f}'.format)} | {versus} |"
        )
    return lines


def _verdict_lines(summary: dict[str, Any], spec: HeadReport) -> list[str]:
    """The verdicts counted over every (split, CoordConv variant), per compared score."""
    lines = ["## Verdict", ""]
    for key, margin, _ in spec.compared:
        verdicts = [
            e["comparison"][key]["verdict"]
            for e in summary.values()
            if key in e.get("comparison", {})
        ]
        unpaired = [
            e["comparison"][key]["unpaired"]["verdict"]
            for e in summary.values()
            if "unpaired" in e.get("comparison", {}).get(key, {})
        ]
        lines.append(
            f"- test {key} (margin ±{margin:g}): of {len(verdicts)} comparisons of a CoordConv "
            f"variant with the plain network (variant x split): {_tally(verdicts)}"
            + (f" (unpaired, Welch: {_tally(unpaired)})" if unpaired else "")
        )
    return lines


def _tally(verdicts: list[str]) -> str:
    counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
    return ", ".join(f"{n} {v}" for v, n in counts.items()) or "none"


def _stray_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    for name, e in summary.items():
        for key, found in e.get("strays", {}).items():
            median = statistics.median(e["test"][key])
            for seed, value in found:
                lines.append(
                    f"- {name} seed {seed}: test {key} {value:.3g} (the cell's median "
                    f"{median:.3g}); kept in the means above"
                )
    return lines or ["- none"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    save_figure(fig, path)
    _plt().close(fig)


def _curves(cells: dict[tuple[str, str], list[dict[str, Any]]], path: Path) -> None:
    """Validation centre error per epoch, mean over seeds, one panel per split."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(SPLITS), figsize=(11, 3.6), sharey=True)
    for ax, split in zip(axes, SPLITS, strict=True):
        for kind in VARIANTS:
            group = cells.get((split, kind))
            if not group:
                continue
            scored = [[h for h in r["history"] if "val" in h] for r in group]
            points = min(len(s) for s in scored)
            epochs = [h["epoch"] for h in scored[0][:points]]
            mean = [
                statistics.mean(s[i]["val"]["centre_error"] for s in scored) for i in range(points)
            ]
            ax.plot(epochs, mean, marker="o", ms=3, label=kind)
        ax.set_yscale("log")
        ax.set_title(f"{split}: validation centre error (mean over seeds)", fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("px")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def _positions(ex: Any) -> tuple[np.ndarray, np.ndarray]:
    """Test digits' true centres ``(M, 2)`` and centre errors ``(M,)`` from a run's
    examples.npz (the regressor's one digit per canvas, or the detector's slots)."""
    test = ex["is_test"]
    if "slot_error" in ex:
        centres, errors = ex["centres"][test].reshape(-1, 2), ex["slot_error"][test].reshape(-1)
        shown = ~np.isnan(errors)
        return centres[shown], errors[shown]
    return ex["centre"][test], ex["centre_error"][test]


def _run_error_map(run: dict[str, Any], edges: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """One run's test centre errors summed, and its test digits counted, per map cell (rows y,
    columns x): from its examples.npz, kept beside it as ``error_map.json`` (a few hundred bytes,
    committed) so that a rebuild where the npz is absent (a clean clone) still draws the run;
    None when neither exists."""
    run_dir = Path(run["dir"])
    npz, kept = run_dir / "examples.npz", run_dir / "error_map.json"
    if npz.exists():
        centres, errors = _positions(np.load(npz))
        x, y = centres[:, 0], centres[:, 1]
        total = np.histogram2d(y, x, bins=[edges, edges], weights=errors)[0]
        count = np.histogram2d(y, x, bins=[edges, edges])[0]
        write_json(
            kept, {"edges": edges.tolist(), "total": total.tolist(), "count": count.tolist()}
        )
        return total, count
    if kept.exists():
        data = read_json(kept)
        if data["edges"] == edges.tolist():
            return np.asarray(data["total"]), np.asarray(data["count"])
    return None


def _error_maps(
    cells: dict[tuple[str, str], list[dict[str, Any]]], canvas: int, path: Path
) -> dict[tuple[str, str], tuple[tuple[int, ...], int]]:
    """Mean test centre error per position of the true centre (test canvases only), averaged
    over the seeds whose per-position errors exist (:func:`_run_error_map`); one row per split,
    one column per variant. Returns cell -> (the seeds drawn, how many ran); empty (nothing
    drawn) when a cell has no seed to draw."""
    # bins on multiples of MAP_BIN: the quadrant border (canvas / 2) is an edge
    edges = np.arange(0, canvas - DIGIT // 2 + 1, MAP_BIN, dtype=float)
    maps: dict[tuple[str, str], np.ndarray] = {}
    drawn: dict[tuple[str, str], tuple[tuple[int, ...], int]] = {}
    kept = {
        (split, kind): [
            (r["config"]["seed"], _run_error_map(r, edges)) for r in cells.get((split, kind), [])
        ]
        for split in SPLITS
        for kind in VARIANTS
    }  # every run's map is kept, even when a cell without any leaves the figure undrawn
    for (split, kind), group in kept.items():
        found = {seed: m for seed, m in group if m is not None}
        if not found:
            return {}
        total = sum(t for t, _ in found.values())
        count = sum(c for _, c in found.values())
        maps[split, kind] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        drawn[split, kind] = (tuple(sorted(found)), len(group))
    plt = _plt()
    top = max(float(np.nanmax(m)) for m in maps.values())
    fig, axes = plt.subplots(len(SPLITS), len(VARIANTS), figsize=(13, 6.6))
    for (split, kind), ax in zip(maps, axes.flat, strict=True):
        extent = (edges[0], edges[-1], edges[-1], edges[0])
        image = ax.imshow(maps[split, kind], cmap="magma", vmin=0, vmax=top, extent=extent)
        if split == "quadrant":  # the held-out test quadrant
            middle = canvas / 2
            ax.plot(
                [middle, edges[-1], edges[-1], middle, middle],
                [middle, middle, edges[-1], edges[-1], middle],
                "c--",
                lw=1,
            )
        ax.set_title(f"{split} / {kind}", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("centre x", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("centre y", fontsize=8)
    label = "mean test centre error (px)"
    if any(
        kind == "detection"
        for kind, *_ in (cell_of(r["config"]) for g in cells.values() for r in g)
    ):
        label += f"; a missed digit counts {LOOSE:g}"
    fig.colorbar(image, ax=axes, shrink=0.8, label=label)
    _save(fig, path)
    return drawn


def _training_seconds(run: dict[str, Any]) -> float:
    """A run's CPU seconds of training, or its wall seconds when it predates recording CPU
    time: wall time grows while a run is paused or shares its cores, CPU time does not."""
    return float(run.get("cpu_time_s", run["wall_time_s"]))


def _machine_lines(runs: list[dict[str, Any]]) -> list[str]:
    """Where the runs trained, when more than one kind of CPU did (training seconds compare
    only within a CPU): per CPU the runs and their median training speed."""
    speeds: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        if r.get("examples_per_s"):
            speeds[r["versions"].get("cpu", "CPU not recorded")].append(r["examples_per_s"])
    if len(speeds) < 2:
        return []
    return [
        "- the runs trained on more than one machine, so the training CPU-seconds above mix CPUs: "
        + "; ".join(
            f"{cpu}: {len(v)} runs, median {statistics.median(v):.0f} examples/s"
            for cpu, v in sorted(speeds.items())
        )
    ]


def _seeds_drawn(drawn: dict[tuple[str, str], tuple[tuple[int, ...], int]]) -> str:
    """Which seeds an error-map figure averages, in words."""
    if not drawn:
        return (
            "the seeds present when the figure was drawn (a later rebuild found a cell without any)"
        )
    if all(len(seeds) == of for seeds, of in drawn.values()):
        return "all seeds"
    shares = ", ".join(
        f"{split}/{kind} {len(seeds)} of {of} (seeds {', '.join(map(str, seeds))})"
        for (split, kind), (seeds, of) in drawn.items()
    )
    return (
        f"the seeds whose per-position errors were kept ({shares}; the others' "
        "examples.npz were not kept). The panels average different seeds, so they are not "
        "comparable seed for seed, and a panel's mean can differ from its cell's in the tables"
    )


def _samples(split_seed: int, canvas: int, max_digits: int, path: Path) -> None:
    """Eight test canvases per split, true centres marked: drawn by the runs' rules and seed,
    from a small draw of their own (not the runs' canvases, which need the full count)."""
    plt = _plt()
    fig, axes = plt.subplots(2, 8, figsize=(13, 3.8))
    for row, split in zip(axes, SPLITS, strict=True):
        data = make_digit_canvases(
            split, canvas=canvas, canvases=40, seed=split_seed, max_digits=max_digits
        )
        for ax, i in zip(row, data.parts["test"].tolist(), strict=False):
            k = int(data.counts[i])
            ax.imshow(data.images[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.plot(*data.centres[i, :k].T.tolist(), "r+", ms=8, ls="none")
            ax.set_title(
                f"{split}: {' '.join(str(c) for c in data.labels[i, :k].tolist())}", fontsize=8
            )
            ax.axis("off")
    fig.tight_layout()
    _save(fig, path)


_SHARED_CAVEATS = [
    "One draw of the canvases (split seed 0) for every run, the same test canvases scoring "
    "every run: the intervals say how much training randomness moves the numbers, not how much "
    "another draw of digits, positions or test canvases would.",
    "scikit-learn's digits are split into the fit / validation / test pools by image, not by "
    "writer: a writer's hand can appear on both sides.",
    "The epochs were chosen on validation with one tuning seed, for plain and all-CoordConv "
    "alike (`digits.grid.TUNED_EPOCHS`), by the mean validation error over the tuning runs: "
    "where the rule fell back to its longest count that mean was still falling, and where it "
    "stopped earlier single tuning runs can still be falling or rising at the chosen count (the "
    "tuning reports, docs/digits-report/tuning/); every variant got the same budget.",
]
# what one error-map sample is, per head
_MAP_UNITS = {"regressor": "", "detector": f" (per digit, a missed one counting {LOOSE:g} px)"}
# the quadrant split's validation part, per ``validation_rule``, in words (``data.position_regions``)
_VALIDATION_PARTS = {
    "band": "validation digits lie in the band one step inside the training part toward it "
    "(`validation_rule='band'`)",
    "corners": "validation digits lie in the two corner blocks off the test quadrant's diagonal "
    "(`validation_rule='corners'`, the rule before the band: it asks for no step toward the "
    "test quadrant)",
}


def _band_caveats(canvas: int, head: str) -> list[str]:
    """What the band validation rule (``data.position_regions``) leaves out of fitting, and why
    its quadrant validation errors understate the test's."""
    detector = [
        "The band validation part extrapolates in position, but its centres fall in map cells "
        "that training fills too (the test's cells never are): for the detector it asks for "
        "unseen sub-cell offsets, a milder extrapolation than the test's."
    ]
    middle, last = canvas / 2, canvas - DIGIT + (DIGIT - 1) / 2  # the largest centre coordinate
    return [
        "The quadrant split's validation band is held out of fitting too: the nets fit digits "
        f"centred at most {BAND * canvas:g} px in on at least one axis ({BAND:g} of the canvas), "
        f"are validated in the band out to {middle:g} px and tested beyond it (both centre "
        f"coordinates > {middle:g} px, up to {last:g}). Validation asks for a step "
        f"of {middle - BAND * canvas:g} px of the test's kind, the test for up to "
        f"{last - middle:g} px more, so quadrant validation errors understate test errors "
        "(compare the two columns); runs made with the corner-block rule fitted the band, and "
        "their quadrant numbers are not comparable with these.",
        *(detector if head == "detector" else []),
    ]


_CAVEATS = {
    "regressor": [
        "Global average pooling after a zero-padded ResNet: the plain net can read absolute "
        "position from the borders (Islam et al. 2020; Kayhan & van Gemert 2020).",
    ],
    "detector": [
        "The quadrant split may be tilted against CoordConv here (a hypothesis, not tested): "
        "every training canvas marks the four test cells of the stride-16 map empty, a rule "
        "coordinate channels make easy to learn. The plain net reads position from its zero "
        "padding too and also falls far on this split, and CoordConv at the input (which gives "
        "every later layer coordinates) stays level with it: only converting every layer fell "
        "further.",
        "One operating point (objectness above 0.5, one cell per digit, no Gaussian spread or "
        "average precision): variants calibrated differently are compared at that point only.",
    ],
}


def head_of(runs: list[dict[str, Any]]) -> str:
    """The one head whose runs ``runs`` are (a folder holds one head's runs)."""
    tasks = {cell_of(r["config"])[0] for r in runs}
    if len(tasks) != 1 or not tasks <= set(HEADS):
        raise ValueError(
            f"a digits report reads one head's runs; found tasks {sorted(tasks)} (the detector's "
            "runs go in a folder of their own, e.g. docs/digits-report/detector)"
        )
    return HEADS[tasks.pop()]


_INTRO = {
    "regressor": "the network predicts the class and the centre of the one digit on each canvas "
    "(global average pooling, then a linear layer)",
    "detector": "each canvas holds 1 to 3 digits that never overlap; a CenterNet-style head on the "
    "stride-16 map predicts per cell an objectness, the centre's offset and the class, decoded "
    f"to centres (cells above 0.5, a detection within 8 px of a more confident one dropped). A "
    f"digit is found when a prediction lies within {RADIUS:g} px (recall, precision, F1, class "
    f"accuracy of the found digits); the centre error is per digit, to the closest prediction "
    f"within {LOOSE:g} px, a missed digit counting {LOOSE:g} px",
}


def build_digits_report(out: str | Path, command: str | None = None) -> Path:
    """Write ``out/REPORT.md``, ``out/results.json`` and figures from ``out/runs``."""
    out = Path(out)
    loaded = [r for r in load_runs(out / "runs") if cell_of(r["config"])[0] in HEADS]
    runs = [r for r in loaded if r.get("finished")]
    running = len(loaded) - len(runs)
    if not runs:
        raise FileNotFoundError(f"no digits runs under {out / 'runs'}: run `coordconv digits`")
    head = head_of(runs)
    spec = HEAD_REPORTS[head]
    if command is None and (out / "results.json").exists():  # a rebuild keeps the command
        command = read_json(out / "results.json").get("command")
    summary = summarise_digits(runs, head)
    first = runs[0]["config"]
    canvas, split_seed = first["model"]["canvas"], first["data"]["split_seed"]
    cells = _by_cell(runs)
    _curves(cells, out / "digits_curves.png")
    maps = _error_maps(cells, canvas, out / "digits_error_maps.png")
    _samples(split_seed, canvas, DIGITS_PER_CANVAS[spec.task], out / "digits_samples.png")
    flat = flat_settings(first)
    settings = {
        k: flat[k]
        for k in (
            "epochs",
            "batch_size",
            "lr",
            "lr_schedule",
            "weight_decay",
            "canvases",
            "validation_rule",
        )
    }
    seeds = sorted({r["config"]["seed"] for r in runs})
    per_cell = sorted({len(e["seeds"]) for e in summary.values()})
    counts = f"{per_cell[0]}" if len(per_cell) == 1 else f"{per_cell[0]}-{per_cell[-1]}"
    md = [
        f"# Digits on a canvas: {spec.title}",
        "",
        f"Handwritten digits (scikit-learn's 1797 8x8 digits, upscaled to {DIGIT}x{DIGIT}) on "
        f"{canvas}x{canvas} canvases with {FRAGMENTS} fragments of other digits and Gaussian "
        f"noise (std {NOISE}); {_INTRO[head]}. Test canvases show digit images never seen in "
        "training; on the quadrant split their centres lie in the bottom-right quadrant, where "
        f"no training digit is centred (the dashed square below), and "
        f"{_VALIDATION_PARTS[settings['validation_rule']]}.",
        "",
        "![samples](digits_samples.png)",
        "",
        f"One recipe for every variant (`digits.DIGITS_RECIPE`, with the epochs chosen on "
        f"validation by the tuning in `digits.grid.TUNED_EPOCHS`; as run): {settings}, model width "
        f"{first['model']['width']}, {len(runs)} finished runs, {counts} seeds per cell "
        f"(seeds {seeds[0]}-{seeds[-1]}). Test numbers are mean ± std over seeds; nothing was "
        "chosen on them.",
        "",
    ]
    if running:
        md += [
            f"**Partial**: {running} more runs of this grid are unfinished and not counted here; "
            "the numbers change as they land.",
            "",
        ]
    md += [*_verdict_lines(summary, spec), ""]
    md += [
        "Verdict vs plain, per score: the mean difference (variant - plain) over the seeds both "
        "have, with its 95% interval, paired by seed (a seed's CoordConv variant starts from that "
        "seed's plain weights, `convert()` adding zero coordinate weights, and sees the same "
        "canvases in the same order: Student's t on the per-seed differences; the pairing "
        "replaced Welch's unpaired interval after the first 10-seed detector runs had finished, "
        "so the unpaired verdicts are counted beside it, and a verdict that differs between "
        "the two rests on the pairing); *better* / *worse* "
        "when the interval excludes 0 on that side, *equivalent within ±margin* when it lies "
        f"inside the margin (fixed before the runs: {CENTRE_MARGIN:g} px of centre error, "
        f"{RATE_MARGIN:.0%} of the rate), otherwise *inconclusive* (too few seeds to tell). The "
        "intervals cover training randomness on one draw of the canvases, and the comparisons "
        "(3 variants x 2 splits x 2 scores) are not corrected for multiplicity: read a lone "
        "*better* or *worse* at the edge of its interval with care.",
        "",
    ]
    for split in SPLITS:
        md += [f"## {split}", "", *_table(split, summary, spec), ""]
    md += [
        "## Seeds that stray",
        "",
        f"A seed whose test {', '.join(spec.watched)} lies more than {STRAY_Z:g} robust "
        "standard deviations (1.4826 x MAD) from its cell's median, and farther than "
        + ", ".join(f"{STRAY_FLOOR[k]:g} ({k})" for k in spec.watched)
        + ":",
        "",
        *_stray_lines(summary),
        "",
        "## Learning curves",
        "",
        "![validation curves](digits_curves.png)",
        "",
        "## Where the errors are",
        "",
    ]
    if maps or (out / "digits_error_maps.png").exists():
        md += [
            f"Mean centre error per {MAP_BIN}x{MAP_BIN} px cell of the true centre, over the test "
            f"canvases{_MAP_UNITS[head]} of {_seeds_drawn(maps)}, from each run's examples.npz, "
            "kept as its error_map.json.",
            "",
            "![error maps](digits_error_maps.png)",
        ]
    else:
        md.append(
            "(error maps need the runs' examples.npz or error_map.json, which this folder "
            "does not hold)"
        )
    env = runs[0]["versions"]
    md += ["", "## How far to trust it", ""]
    band = settings["validation_rule"] == "band" and any(
        e["split"] == "quadrant" for e in summary.values()
    )
    caveats = (*_CAVEATS[head], *(_band_caveats(canvas, head) if band else []), *_SHARED_CAVEATS)
    md += [f"- {line}" for line in caveats]
    md += [
        "",
        "## Environment",
        "",
        f"- coordconv {env['coordconv']}, torch {env['torch']}, python {env['python']}, "
        f"{' / '.join(sorted({r['versions']['platform'] for r in runs}))} ({env['processor']}); "
        f"{first['threads']} thread(s) per run",
        f"- training time of all runs: {sum(map(_training_seconds, runs)) / 60:.1f} CPU-min"
        + (
            " (wall time for the runs that predate CPU-time recording)"
            if any("cpu_time_s" not in r for r in runs)
            else ""
        ),
        *_machine_lines(runs),
    ]
    md += ["", "## Reproduce", ""]
    if command:
        md.append(f"- regenerate: `{command}`")
    md += [f"- rebuild this page only: `coordconv report {out}`", ""]
    results = {
        "head": head,
        "cells": summary,
        "versions": env,
        "settings": settings,
        "margins": {"centre_error": CENTRE_MARGIN, "rate": RATE_MARGIN},
        "command": command,
    }
    return write_report(out, md, results)
