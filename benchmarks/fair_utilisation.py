"""How busy a fair grid keeps the cores: the same small grid (every arm of one task and split, a
short budget) swept one cell at a time and ``--cells-at-once`` at a time, each into its own
folder; prints each invocation's wall time and utilisation from ``fair.json`` (the machine's,
busy core-seconds of every process over cores x wall, and the trials' own CPU seconds over the
same). Run it on a machine doing nothing else.

    python benchmarks/fair_utilisation.py --budget-min 1 --cells-at-once 1 2
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from coordconv.experiments.core.io import read_json
from coordconv.experiments.fair.grid import run_fair


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="regression")
    parser.add_argument("--split", default="uniform")
    parser.add_argument("--budget-min", type=float, default=1.0)
    parser.add_argument("--final-seeds", type=int, default=2)
    parser.add_argument("--cells-at-once", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default=None, help="keep the grids here (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.out or scratch)
        print("cells at once | wall s | machine busy | trials busy | cells")
        for at_once in args.cells_at_once:
            out = root / f"at-once-{at_once}"
            run_fair(
                out,
                budget_min=args.budget_min,
                ladder=(args.budget_min,),
                ladder_cells=(),
                final_seeds=args.final_seeds,
                tasks=(args.task,),
                splits=(args.split,),
                cells_at_once=at_once,
            )
            run = read_json(out / "fair.json")["invocations"][-1]
            machine = run["machine_utilisation"]
            print(
                f"{at_once} | {run['wall_s']:.0f} | "
                f"{'n/a' if machine is None else f'{machine:.0%}'} | "
                f"{run['trial_utilisation']:.0%} | {len(run['cells'])}"
            )


if __name__ == "__main__":
    main()
