"""How fast the machine that swept a committed fair cell was, compared with this one.

Fair budgets are CPU-minutes, and this project's machines differ up to ~3x in speed; sweeps
made before ``sweep.json`` kept ``machines`` (``core.machine.reference_speed``) say nothing of
theirs. This replays the first epochs of a few of each cell's trials here, with the trial's own
config and seed (one thread, as the trials ran), and compares the CPU-seconds those epochs took
in the sweep (its ``ledger.jsonl``: cumulative ``train_time_s``) with the CPU-seconds here. A
ratio above 1 means the sweep's machine was slower: at the same budget it trained fewer epochs.

    python benchmarks/machine_replay.py docs/fair-report --trials 3 --epochs 2 --json out.json

The sweep's trials ran two at a time on two cores; the replays run one at a time, so shared
caches and memory bandwidth favour the replay slightly.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from coordconv.experiments.core.config import TrainConfig
from coordconv.experiments.core.io import read_json
from coordconv.experiments.core.machine import cpu_name, reference_speed
from coordconv.experiments.core.train import train
from coordconv.experiments.fair.sweep import read_ledger


def recorded_seconds(ledger: list[dict[str, Any]], trial: str, epochs: int) -> float | None:
    """The trial's cumulative training CPU-seconds after ``epochs`` epochs in its sweep."""
    for record in ledger:
        if record["trial"] == trial and record["epoch"] == epochs:
            return float(record["train_time_s"])
    return None


def replay_seconds(config: dict[str, Any], epochs: int) -> float:
    """CPU-seconds of the config's first ``epochs`` training epochs here (same seed, schedule)."""
    cfg = TrainConfig.from_dict({**config, "stop_epoch": epochs})
    with tempfile.TemporaryDirectory() as out:
        result = train(cfg, out)
    return sum(entry["cpu_seconds"] for entry in result["history"])


def replay_cell(sweep_dir: Path, trials: int, epochs: int) -> dict[str, Any]:
    """Recorded / replayed CPU-seconds for the cell's first ``trials`` trials that ran at least
    ``epochs`` epochs; the cell's ratio is their median."""
    summary = read_json(sweep_dir / "sweep.json")
    ledger = read_ledger(sweep_dir)
    rows = []
    for trial in sorted(summary["trials"], key=lambda t: t["id"]):
        if len(rows) == trials:
            break
        recorded = recorded_seconds(ledger, trial["id"], epochs)
        if recorded is None or trial["config"]["epochs"] < epochs:
            continue
        here = replay_seconds(trial["config"], epochs)
        rows.append({"trial": trial["id"], "recorded_s": recorded, "here_s": here})
    ratios = [r["recorded_s"] / r["here_s"] for r in rows]
    return {
        "cell": sweep_dir.name,
        "recorded_machines": summary.get("machines") or None,
        "trials": rows,
        "ratio": statistics.median(ratios) if ratios else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fair_dir", type=Path, help="a fair comparison folder (sweeps/ inside)")
    parser.add_argument("--trials", type=int, default=3, help="trials replayed per cell")
    parser.add_argument("--epochs", type=int, default=2, help="epochs replayed per trial")
    parser.add_argument("--cells", nargs="*", help="sweep folder names (default: all)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    names = args.cells or sorted(p.name for p in (args.fair_dir / "sweeps").iterdir() if p.is_dir())
    here = {"cpu": cpu_name(), "reference_steps_per_s": reference_speed()}
    print(
        f"this machine: {here['cpu']}, reference speed {here['reference_steps_per_s']:.0f} steps/s"
    )
    cells = []
    for name in names:
        cell = replay_cell(args.fair_dir / "sweeps" / name, args.trials, args.epochs)
        cells.append(cell)
        spread = ", ".join(f"{r['recorded_s'] / r['here_s']:.2f}" for r in cell["trials"])
        ratio = "n/a" if cell["ratio"] is None else f"{cell['ratio']:.2f}x"
        print(f"{name}: sweep CPU-s / here CPU-s = {ratio} (trials: {spread})")
    if args.json:
        args.json.write_text(
            json.dumps({"here": here, "epochs": args.epochs, "cells": cells}, indent=1) + "\n"
        )


if __name__ == "__main__":
    main()
