"""Choosing the digits demo's recipe on validation (never test): train the plain and the
all-CoordConv localiser on both splits for each ``--lr`` and ``--epochs``, with a tuning seed,
and print the validation centre error and class accuracy of each run (and its training seconds).

How ``train.DIGITS_RECIPE`` was chosen (docs/findings.md):

    python benchmarks/digits_probe.py --lr 0.001 0.002 0.005 --epochs 10 --jobs 2
    python benchmarks/digits_probe.py --lr 0.002 --epochs 20 --jobs 2

Resumable: re-running with the same ``--out`` skips finished runs.
"""

from __future__ import annotations

import argparse
import itertools

from coordconv.experiments.core.config import make_config
from coordconv.experiments.core.grid import run_grid, threads_per_job
from coordconv.experiments.core.io import read_json
from coordconv.experiments.digits.data import SPLITS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, nargs="+", default=[0.002])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="a tuning seed (reported: 100+)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default="runs/digits-probe")
    args = parser.parse_args()
    configs = {}
    for lr, kind, split in itertools.product(args.lr, ("plain", "coordconv-all"), SPLITS):
        cfg = make_config(
            "digits",
            kind,
            split,
            lr=lr,
            epochs=args.epochs,
            eval_every=1,
            seed=args.seed,
            threads=threads_per_job(args.jobs),
        )
        configs[f"{cfg.name}-lr{lr}-e{args.epochs}"] = cfg
    run_grid(args.out, configs, mode="digits-probe", jobs=args.jobs)
    print("run | val centre error (px) | val class accuracy | training s")
    for name in configs:
        result = read_json(f"{args.out}/runs/{name}/result.json")
        val = result["final"]["val"]
        print(
            f"{name} | {val['centre_error']:.2f} | {val['class_accuracy']:.3f} | "
            f"{result['wall_time_s']:.0f}"
        )


if __name__ == "__main__":
    main()
