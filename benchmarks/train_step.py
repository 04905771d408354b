"""What a training step costs inside the engine, with and without flushing denormals.

Per task and arm: ms per training step inside ``train()`` (epoch seconds / steps), the bare model
step (forward, backward, Adam) timed on the run's first batch from a fresh model, and the last
epoch's time over the first's. A run whose weights, activations or Adam moments drift into
subnormal floats shows as an engine step far above the bare one and a last/first ratio > 1.

Each measurement runs in its own fresh process, one after another: the flush flag is per thread
and torch's worker threads copy it when they start, so it cannot be switched inside one process.
Nothing is asserted: the table is for the README.

    python benchmarks/train_step.py                     # 3 epochs per run, ~15 minutes on 2 cores
    python benchmarks/train_step.py --tasks rendering --epochs 2 --json /tmp/steps.json
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from coordconv.experiments.core.config import make_config
from coordconv.experiments.core.io import write_json
from coordconv.experiments.core.registry import get_task
from coordconv.experiments.core.train import load_data, make_optimizer, train, versions
from coordconv.experiments.notsoclevr.data import TASKS
from coordconv.experiments.notsoclevr.models import PAPER_KINDS, build_model


def measure(task: str, arm: str, flush: bool, epochs: int, threads: int, steps: int) -> dict:
    """One cell in this (fresh) process: the engine's epochs, then the bare step."""
    recipe = make_config(task, arm, "uniform", threads=threads, flush_denormal=flush)
    cfg = make_config(
        task,
        arm,
        "uniform",
        threads=threads,
        flush_denormal=flush,
        stop_epoch=min(epochs, recipe.epochs),  # the recipe's schedule, cut short
        eval_last_only=True,  # time training, not evaluation
    )
    with tempfile.TemporaryDirectory() as out:
        result = train(cfg, Path(out) / "run")
    seconds = [entry["seconds"] for entry in result["history"]]
    data = load_data(cfg)
    per_epoch = math.ceil(len(data.fit_idx) / cfg.batch_size)

    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    first = data.fit_idx[: cfg.batch_size]
    x, y = data.inputs[first], data.targets[first]
    x = x.to(memory_format=layout) if x.ndim == 4 else x
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(memory_format=layout)  # type: ignore[call-overload]
    optimizer = make_optimizer(cfg, model)
    loss_of = get_task(task, cfg.canvas).loss
    times = []
    for _ in range(steps + 5):  # 5 warm-up steps
        started = time.perf_counter()
        loss = loss_of(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    bare_ms = 1000 * sorted(times[5:])[len(times[5:]) // 2]  # median
    engine_ms = 1000 * sum(seconds) / (len(seconds) * per_epoch)
    return {
        "task": task,
        "arm": arm,
        "flush_denormal": flush,
        "denormal_flush_share": result["denormal_flush_share"],
        "epochs": len(seconds),
        "epoch_seconds": seconds,
        "steps_per_epoch": per_epoch,
        "engine_ms_per_step": engine_ms,
        "bare_ms_per_step": bare_ms,
        "engine_over_bare": engine_ms / bare_ms,
        "last_over_first_epoch": seconds[-1] / seconds[0],
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| task | arm | flush | engine ms/step | bare ms/step | engine/bare | last/first epoch "
        "| epoch s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        epochs = ", ".join(f"{s:.1f}" for s in r["epoch_seconds"])
        lines.append(
            f"| {r['task']} | {r['arm']} | {'on' if r['flush_denormal'] else 'off'} "
            f"| {r['engine_ms_per_step']:.1f} | {r['bare_ms_per_step']:.1f} "
            f"| {r['engine_over_bare']:.2f} | {r['last_over_first_epoch']:.2f} | {epochs} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), help="tasks to time")
    parser.add_argument("--arms", nargs="+", default=list(PAPER_KINDS), help="model kinds")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per engine run")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--steps", type=int, default=40, help="bare steps timed (median)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    rows = []
    spawn = multiprocessing.get_context("spawn")
    for task, arm, flush in itertools.product(args.tasks, args.arms, (False, True)):
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
            row = fresh.submit(measure, task, arm, flush, args.epochs, args.threads, args.steps)
            rows.append(row.result())
        r = rows[-1]
        print(
            f"{task}/{arm} flush={flush}: engine {r['engine_ms_per_step']:.1f} ms/step, "
            f"bare {r['bare_ms_per_step']:.1f}, last/first {r['last_over_first_epoch']:.2f}",
            flush=True,
        )
    print()
    print(table(rows))
    if args.json:
        write_json(args.json, {"versions": versions(), "threads": args.threads, "rows": rows})


if __name__ == "__main__":
    main()
