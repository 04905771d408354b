"""How often do the CoordConv recipes succeed? Train them for many seeds and count.

Runs every CoordConv cell (3 tasks x 2 splits) for ``--seeds`` seeds through the same engine as
``coordconv train`` (``--jobs`` processes, ``--threads`` each), printing one line per finished run
and, at the end, per cell: seeds whose test metrics met the task's target, and the slowest time
to target. Resumable: re-running with the same ``--out`` skips finished runs.

    python benchmarks/seed_sweep.py --seeds 10 --jobs 8 --out runs/sweep
"""

from __future__ import annotations

import argparse
import itertools
from collections import defaultdict
from pathlib import Path

from coordconv.experiments.io import read_json
from coordconv.experiments.reproduce import SPLITS, TASK_NAMES, run_grid
from coordconv.experiments.tasks import get_task
from coordconv.experiments.train import make_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per cell")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), help="tasks to run")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), help="splits to run")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipes' epochs")
    parser.add_argument("--out", default="runs/sweep", help="folder for the runs")
    args = parser.parse_args()

    configs = {
        f"{task}-coordconv-{split}-s{seed}": make_config(
            task,
            "coordconv",
            split,
            seed=seed,
            threads=args.threads,
            device=args.device,
            epochs=args.epochs,
        )
        for task, split, seed in itertools.product(args.tasks, args.splits, range(args.seeds))
    }

    def done(name: str, final: dict, n: int, total: int) -> None:
        solved = get_task(name.split("-")[0]).reached(final["test"])
        print(f"[{n}/{total}] {name}: solved={solved} test={final['test']}", flush=True)

    run_grid(args.out, configs, jobs=args.jobs, on_done=done)
    results: dict[str, list[tuple[bool, float | None]]] = defaultdict(list)
    for name, cfg in configs.items():
        final = read_json(Path(args.out, "runs", name, "result.json"))["final"]
        solved = get_task(cfg.task).reached(final["test"])
        results[f"{cfg.task}/{cfg.split}"].append((solved, final["time_to_target_s"]))
    print("\n| cell | seeds solved | slowest time to target (s) |\n|---|---|---|")
    for cell, runs in sorted(results.items()):
        times = [t for _, t in runs if t is not None]
        slowest = f"{max(times):.1f}" if times else "—"
        print(f"| {cell} | {sum(s for s, _ in runs)}/{len(runs)} | {slowest} |")


if __name__ == "__main__":
    main()
