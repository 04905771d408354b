"""How often does a recipe succeed? Train it for many seeds and count.

Runs CoordConv cells (tasks x splits) for ``--seeds`` seeds from ``--first-seed`` through the same
engine as ``coordconv train`` (``--jobs`` processes, ``--threads`` each), printing one line per
finished run and, at the end, per cell: seeds whose final metrics met the task's target on
train *and* on the judged part, seeds that met it at any epoch, the worst final metric and the
slowest time to target (train and the judged part). Resumable: re-running with the same ``--out`` skips finished runs.

Two uses, kept apart by the protocol (docs/findings.md):

* choosing a recipe: ``--validation`` fits on the training part minus its validation part and
  judges on validation only, with the tuning seeds (0-9); ``--set key=value`` tries a variant;
* claiming a rate: without ``--validation`` (the whole training part) on fresh seeds (100+),
  judged on test, with a recipe that is no longer changed.

    python benchmarks/seed_sweep.py --validation --seeds 5 --tasks rendering --set epochs=10
    python benchmarks/seed_sweep.py --first-seed 100 --seeds 10 --out runs/fresh
    python benchmarks/seed_sweep.py --first-seed 120 --quadrants all --records docs/counts/x.json

``--records`` writes every run's final numbers (task, model, split, quadrant, seed, train, val,
test, time to target, held target) as JSON, so the counts can be recomputed from the file.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from coordconv.experiments.core.config import make_config, upgrade_config
from coordconv.experiments.core.grid import run_grid
from coordconv.experiments.core.io import read_json, write_json
from coordconv.experiments.core.registry import get_task
from coordconv.experiments.notsoclevr.data import QUADRANTS, SPLITS, TASKS


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``["epochs=10", "offset_init=false"]`` -> ``{"epochs": 10, "offset_init": False}``."""
    settings = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per cell")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed (tuning: 0-9)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), help="tasks to run")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), help="splits to run")
    parser.add_argument(
        "--quadrants",
        nargs="+",
        default=[QUADRANTS[0]],
        help=f"held-out quadrants of the quadrant split ({', '.join(QUADRANTS)}, or all)",
    )
    parser.add_argument("--records", type=Path, default=None, help="write per-run JSON here")
    parser.add_argument("--model", default="coordconv", help="coordconv or conv")
    parser.add_argument("--validation", action="store_true", help="judge on validation")
    parser.add_argument("--set", nargs="*", default=[], help="recipe overrides key=value")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", default="runs/sweep", help="folder for the runs")
    args = parser.parse_args()
    overrides = parse_settings(args.set)
    part = "val" if args.validation else "test"

    quadrants = list(QUADRANTS) if args.quadrants == ["all"] else args.quadrants
    splits = [
        (split, quadrant)
        for split in args.splits
        for quadrant in (quadrants if split == "quadrant" else [QUADRANTS[0]])
    ]
    configs_list = [
        make_config(
            task,
            args.model,
            split,
            seed=seed,
            threads=args.threads,
            device=args.device,
            validation=args.validation,
            quadrant=quadrant,
            **overrides,
        )
        for task, (split, quadrant), seed in itertools.product(
            args.tasks, splits, range(args.first_seed, args.first_seed + args.seeds)
        )
    ]
    configs = {cfg.name: cfg for cfg in configs_list}

    def done(name: str, final: dict, n: int, total: int) -> None:
        judged = final[part]
        solved = get_task(name.split("-")[0]).reached(judged)
        print(f"[{n}/{total}] {name}: solved={solved} {part}={judged}", flush=True)

    run_grid(args.out, configs, jobs=args.jobs, on_done=done)
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    records = []
    for name, cfg in configs.items():
        result = read_json(Path(args.out, "runs", name, "result.json"))
        where = f"{cfg.split}-{cfg.data.quadrant}" if cfg.split == "quadrant" else cfg.split
        results[f"{cfg.task}/{where}"].append(result)
        records.append(record(result))
    if args.records:
        write_json(args.records, {"settings": overrides, "judged": part, "runs": records})
    seeds = sorted({c.seed for c in configs.values()})
    print(f"\nsettings {overrides or 'recipe'}; judged on {part}; seeds {seeds}")
    print(
        f"| cell | at target at the end (train and {part}) | ever at target | worst final {part} "
        f"| slowest time to target (s) |"
    )
    print("|---|---|---|---|---|")
    for cell, runs in sorted(results.items()):
        task = get_task(cell.split("/")[0])
        times = [time_to_target(r["history"], task, part) for r in runs]
        last = [r["history"][-1] for r in runs]
        solved = sum(task.reached(h["train"]) and task.reached(h[part]) for h in last)
        ever = sum(t is not None for t in times)
        slowest = max((t for t in times if t is not None), default=None)
        worst = min(h[part][task.target_metric] for h in last)
        slowest_txt = "—" if slowest is None else f"{slowest:.1f}"
        print(
            f"| {cell} | {solved}/{len(runs)} | {ever}/{len(runs)} | {worst:.4f} | {slowest_txt} |"
        )


def record(result: dict[str, Any]) -> dict[str, Any]:
    """One run's final numbers, flat, as the committed count files hold them."""
    cfg, final = upgrade_config(result["config"]), result["final"]
    data = cfg["data"]
    return {
        "task": cfg["model"]["task"],
        "model": cfg["model"]["kind"],
        "split": data["split"],
        "quadrant": data["quadrant"] if data["split"] == "quadrant" else None,
        "seed": cfg["seed"],
        "train": final.get("train"),
        "val": final.get("val"),
        "test": final.get("test"),
        "time_to_target_s": final["time_to_target_s"],
        "held_target": final["held_target"],
        "train_time_s": result["wall_time_s"],
        "epochs_run": result["epochs_run"],
        "threads": cfg["threads"],
        "flush_denormal": cfg["flush_denormal"],
        "config": cfg,  # the whole run config: the recipe counted, not only the overrides
    }


def time_to_target(history: list[dict[str, Any]], task: Any, part: str) -> float | None:
    """Training seconds until train and ``part`` first met the target (None: never)."""
    elapsed = 0.0
    for entry in history:
        elapsed += entry["seconds"]
        if task.reached(entry["train"]) and task.reached(entry[part]):
            return elapsed
    return None


if __name__ == "__main__":
    main()
