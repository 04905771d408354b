"""The digits demo's REPORT.md: a pure function of a runs folder (never trains).

``build_digits_report(out)`` reads ``out/runs/digits-*/result.json`` (and, for the error maps,
``examples.npz``) and writes ``out/REPORT.md``, ``out/results.json`` and figures: per split and
variant the test centre error (mean, median, share within 2 px), class accuracy and box IoU as
mean +- std over seeds, validation centre error, parameters, training time, and the verdict of each
CoordConv variant against the plain network (:func:`digits_verdict`); validation curves; the
mean centre error per position; sample canvases.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from coordconv.experiments.core.config import flat_settings
from coordconv.experiments.core.io import read_json
from coordconv.experiments.core.report import (
    cell_of,
    load_runs,
    mean_std,
    save_figure,
    write_report,
)
from coordconv.experiments.digits.data import DIGIT, FRAGMENTS, NOISE, SPLITS, make_digit_canvases
from coordconv.experiments.digits.localiser import VARIANTS

__all__ = [
    "SCORES",
    "build_digits_report",
    "digits_verdict",
    "is_digits_folder",
    "summarise_digits",
]

# Test scores in the table: key in result.json, label, format, lower is better.
SCORES = (
    ("centre_error", "centre error (px)", "{:.2f}", True),
    ("median_centre_error", "median (px)", "{:.2f}", True),
    ("within_2px", "within 2 px", "{:.1%}", False),
    ("box_iou", "box IoU", "{:.3f}", False),
    ("class_accuracy", "class accuracy", "{:.1%}", False),
)
MAP_BIN = 8  # px: the error maps average centres over MAP_BIN x MAP_BIN cells


MIN_SEEDS_FOR_VERDICT = 3


def digits_verdict(plain: list[float], variant: list[float], lower_is_better: bool = True) -> str:
    """Does a CoordConv variant beat the plain localiser? From one score per seed (e.g. the test
    centre error of each run).

    *better* when every seed of the variant beats every seed of the plain network, *worse* when
    every plain seed beats every variant seed, otherwise *no clear difference*. With 3 seeds
    each, complete separation happens by chance with probability 1/20 per direction (a rank
    test at p = 0.05); with fewer than 3 seeds per arm no verdict is given.
    """
    if min(len(plain), len(variant)) < MIN_SEEDS_FOR_VERDICT:
        return f"n/a (needs >= {MIN_SEEDS_FOR_VERDICT} seeds per arm)"
    sign = 1.0 if lower_is_better else -1.0
    plain_s, variant_s = [sign * v for v in plain], [sign * v for v in variant]
    if max(variant_s) < min(plain_s):
        return "better"
    if min(variant_s) > max(plain_s):
        return "worse"
    return "no clear difference"


def is_digits_folder(out: str | Path) -> bool:
    """Whether ``out/runs`` holds digits runs (what ``coordconv report`` dispatches on)."""
    first = next(iter(sorted(Path(out, "runs").glob("*/result.json"))), None)
    return first is not None and first.parent.name.startswith("digits-")


def _by_cell(runs: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """``(split, variant)`` -> its digits runs (one per seed)."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        task, kind, split = cell_of(run["config"])
        if task == "digits":
            cells[split, kind].append(run)
    return cells


def summarise_digits(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """``split/variant`` -> seeds, test scores per seed, val centre error, params, time, verdicts."""
    summary: dict[str, Any] = {}
    for (split, kind), group in sorted(_by_cell(runs).items()):
        summary[f"{split}/{kind}"] = {
            "split": split,
            "variant": kind,
            "seeds": [r["config"]["seed"] for r in group],
            "finished": all(r.get("finished") for r in group),
            "test": {k: [r["final"]["test"][k] for r in group] for k, *_ in SCORES},
            "val_centre_error": [r["final"]["val"]["centre_error"] for r in group],
            "params": group[0]["params"],
            "train_time_s": [r["wall_time_s"] for r in group],
            "epochs_run": [r["epochs_run"] for r in group],
        }
    for split in SPLITS:
        plain = summary.get(f"{split}/plain")
        for kind in VARIANTS:
            entry = summary.get(f"{split}/{kind}")
            if entry is None or plain is None or kind == "plain":
                continue
            entry["verdict"] = {
                key: digits_verdict(plain["test"][key], entry["test"][key], lower)
                for key, _, _, lower in SCORES
                if key in ("centre_error", "box_iou")
            }
    return summary


def _table(split: str, summary: dict[str, Any]) -> list[str]:
    header = " | ".join(label for _, label, _, _ in SCORES)
    lines = [
        f"| variant | params | {header} | val centre error (px) | training s | "
        "vs plain: centre error / box IoU |",
        "|---|---|" + "---|" * len(SCORES) + "---|---|---|",
    ]
    for kind in VARIANTS:
        e = summary.get(f"{split}/{kind}")
        if e is None:
            continue
        scores = " | ".join(mean_std(e["test"][k], fmt.format) for k, _, fmt, _ in SCORES)
        verdict = e.get("verdict")
        versus = f"{verdict['centre_error']} / {verdict['box_iou']}" if verdict else "—"
        lines.append(
            f"| {kind} | {e['params']:,} | {scores} | "
            f"{mean_std(e['val_centre_error'], '{:.2f}'.format)} | "
            f"{mean_std(e['train_time_s'], '{:.0f}'.format)} | {versus} |"
        )
    return lines


def _verdict_lines(summary: dict[str, Any]) -> list[str]:
    """The verdicts counted over every (split, CoordConv variant), per score."""
    lines = ["## Verdict", ""]
    for key, label in (("centre_error", "test centre error"), ("box_iou", "test box IoU")):
        verdicts = [e["verdict"][key] for e in summary.values() if "verdict" in e]
        counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
        tally = ", ".join(f"{n} {v}" for v, n in counts.items())
        lines.append(
            f"- {label}: of {len(verdicts)} comparisons of a CoordConv variant with the plain "
            f"network (variant x split): {tally or 'none'}"
        )
    return lines


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


def _error_maps(
    cells: dict[tuple[str, str], list[dict[str, Any]]], canvas: int, path: Path
) -> bool:
    """Mean centre error per position (every canvas: fit, val and test), averaged over seeds;
    one row per split, one column per variant. False (nothing drawn) without examples.npz."""
    edges = np.arange(DIGIT / 2 - 0.5, canvas - DIGIT / 2 + MAP_BIN, MAP_BIN)
    maps: dict[tuple[str, str], np.ndarray] = {}
    for split in SPLITS:
        for kind in VARIANTS:
            group = cells.get((split, kind), [])
            files = [Path(r["dir"], "examples.npz") for r in group]
            if not group or not all(f.exists() for f in files):
                return False
            total, count = 0.0, 0.0
            for f in files:
                ex = np.load(f)
                x, y = ex["centre"][:, 0], ex["centre"][:, 1]
                total += np.histogram2d(y, x, bins=[edges, edges], weights=ex["centre_error"])[0]
                count += np.histogram2d(y, x, bins=[edges, edges])[0]
            maps[split, kind] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
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
    fig.colorbar(image, ax=axes, shrink=0.8, label="mean centre error (px)")
    _save(fig, path)
    return True


def _samples(split_seed: int, canvas: int, path: Path) -> None:
    """Eight test canvases per split, true centres marked: drawn by the runs' rules and seed,
    from a small draw of their own (not the runs' canvases, which need the full count)."""
    plt = _plt()
    fig, axes = plt.subplots(2, 8, figsize=(13, 3.8))
    for row, split in zip(axes, SPLITS, strict=True):
        data = make_digit_canvases(split, canvas=canvas, canvases=40, seed=split_seed)
        for ax, i in zip(row, data.parts["test"].tolist(), strict=False):
            ax.imshow(data.images[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.plot(*data.centres[i].tolist(), "r+", ms=8)
            ax.set_title(f"{split}: {int(data.labels[i])}", fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    _save(fig, path)


def build_digits_report(out: str | Path, command: str | None = None) -> Path:
    """Write ``out/REPORT.md``, ``out/results.json`` and figures from ``out/runs``."""
    out = Path(out)
    runs = [r for r in load_runs(out / "runs") if cell_of(r["config"])[0] == "digits"]
    if not runs:
        raise FileNotFoundError(f"no digits runs under {out / 'runs'}: run `coordconv digits`")
    if command is None and (out / "results.json").exists():  # a rebuild keeps the command
        command = read_json(out / "results.json").get("command")
    summary = summarise_digits(runs)
    first = runs[0]["config"]
    canvas, split_seed = first["model"]["canvas"], first["data"]["split_seed"]
    cells = _by_cell(runs)
    _curves(cells, out / "digits_curves.png")
    maps = _error_maps(cells, canvas, out / "digits_error_maps.png")
    _samples(split_seed, canvas, out / "digits_samples.png")
    flat = flat_settings(first)
    settings = {
        k: flat[k]
        for k in ("epochs", "batch_size", "lr", "lr_schedule", "weight_decay", "canvases")
    }
    md = [
        "# Digits on a canvas: does CoordConv help a ResNet-style localiser?",
        "",
        f"Handwritten digits (scikit-learn's 1797 8x8 digits, upscaled to {DIGIT}x{DIGIT}) on "
        f"{canvas}x{canvas} canvases with {FRAGMENTS} fragments of other digits and Gaussian "
        f"noise (std {NOISE}); the network predicts the class and the centre. Test canvases show "
        "digit images never seen in training; on the quadrant split their centres lie in the "
        "bottom-right quadrant, where no training digit is centred (the dashed square below).",
        "",
        "![samples](digits_samples.png)",
        "",
        f"One recipe for every variant (`digits.DIGITS_RECIPE`, fixed on validation): {settings}, "
        f"model width {first['model']['width']}, {len(runs)} runs, seeds "
        f"{sorted({r['config']['seed'] for r in runs})}. Test numbers are mean ± std over seeds; "
        "nothing was chosen on them.",
        "",
    ]
    md += [*_verdict_lines(summary), ""]
    for split in SPLITS:
        md += [f"## {split}", "", *_table(split, summary), ""]
    md += [
        "Verdict vs plain (per score): *better* when every seed of the variant beats every seed "
        "of the plain network (a rank test at p = 0.05 with 3 seeds each), *worse* the other way "
        "round, otherwise *no clear difference*.",
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
            f"Mean centre error per {MAP_BIN}x{MAP_BIN} px cell of the true centre, over every "
            "canvas of the run (fitting ones included) and all seeds, drawn from the runs' "
            "examples.npz (not committed: a rebuild without them keeps the figure as drawn).",
            "",
            "![error maps](digits_error_maps.png)",
        ]
    else:
        md.append("(error maps need the runs' examples.npz, which this folder does not hold)")
    env = runs[0]["versions"]
    md += [
        "",
        "## Environment",
        "",
        f"- coordconv {env['coordconv']}, torch {env['torch']}, python {env['python']}, "
        f"{env['platform']} ({env['processor']}); {first['threads']} thread(s) per run",
        f"- training time of all runs: {sum(r['wall_time_s'] for r in runs) / 60:.1f} min",
    ]
    md += ["", "## Reproduce", ""]
    if command:
        md.append(f"- regenerate: `{command}`")
    md += [f"- rebuild this page only: `coordconv report {out}`", ""]
    results = {"cells": summary, "versions": env, "settings": settings, "command": command}
    return write_report(out, md, results)
