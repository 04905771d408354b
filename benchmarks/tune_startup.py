"""Per-trial start-up cost of a sweep on Ray Tune: worker processes started afresh for every
trial (``reuse_actors=False``, the sweeps before) against reused ones (``reuse_actors=True``).

Each trial trains the engine's smallest run (regression mlp, a 16 px canvas, one epoch: a few
milliseconds of training), so a trial's wall time is nearly all overhead: Ray's scheduling, and
without reuse a new process importing torch and the engine. Both settings run in one process,
on the same local Ray, ``--trials`` trials each, as many at a time as there are CPUs; the
printout is wall seconds per trial and its ratio.

    python benchmarks/tune_startup.py --trials 20
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any


def trainable(config: dict[str, Any]) -> None:
    from ray import tune

    from coordconv.experiments.core.config import make_config
    from coordconv.experiments.core.train import train

    cfg = make_config("regression", "mlp", "uniform", canvas=16, square=3, epochs=1, threads=1)
    out = os.path.join(config["dir"], tune.get_context().get_trial_id())
    result = train(cfg, out)
    tune.report({"epoch": 1, "loss": result["final"]["train"]["loss"]})


def seconds_per_trial(trials: int, reuse: bool, storage: str) -> float:
    from ray import tune

    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={"dir": storage, "i": tune.grid_search(list(range(trials)))},
        tune_config=tune.TuneConfig(reuse_actors=reuse),
        run_config=tune.RunConfig(name=f"reuse-{reuse}", storage_path=storage, verbose=0),
    )
    started = time.perf_counter()
    grid = tuner.fit()
    if grid.num_errors:
        raise RuntimeError(f"{grid.num_errors} trials failed: {grid.errors[0]}")
    return (time.perf_counter() - started) / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    import ray

    ray.init(
        address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False
    )
    try:
        with tempfile.TemporaryDirectory() as storage:
            fresh = seconds_per_trial(args.trials, False, storage)
            reused = seconds_per_trial(args.trials, True, storage)
    finally:
        ray.shutdown()
    print(f"{args.trials} trials, {os.cpu_count()} CPUs: wall s per trial")
    print(f"fresh worker per trial  {fresh:.2f}")
    print(f"reused workers          {reused:.2f}  ({fresh / reused:.1f}x less)")


if __name__ == "__main__":
    main()
