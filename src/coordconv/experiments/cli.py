"""``coordconv`` command line: data | train | sweep | reproduce | digits | report (a thin face over
experiments)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from coordconv.experiments.fair.grid import ARM_ORDER, LADDER
from coordconv.experiments.fair.sweep import ARMS
from coordconv.experiments.notsoclevr.data import QUADRANTS, SPLITS, TASKS
from coordconv.experiments.notsoclevr.models import KINDS

app = typer.Typer(
    help="CoordConv: the Not-so-Clevr data, training the paper's toy tasks, the grid and its report.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


# Choices come from the experiments' registry of names (data.TASKS, data.SPLITS, models.KINDS,
# sweep.ARMS).
TaskName = Enum("TaskName", {name: name for name in TASKS}, type=str)  # type: ignore[misc]
ModelName = Enum("ModelName", {name: name for name in KINDS}, type=str)  # type: ignore[misc]
ArmName = Enum("ArmName", {name: name for name in ARMS}, type=str)  # type: ignore[misc]
SplitName = Enum("SplitName", {name: name for name in SPLITS}, type=str)  # type: ignore[misc]
QuadrantName = Enum("QuadrantName", {name: name for name in QUADRANTS}, type=str)  # type: ignore[misc]
QUADRANT_HELP = "the quadrant split's held-out quadrant (y grows downward)"
DEFAULT_QUADRANT = QuadrantName(QUADRANTS[0])


def _progress() -> Progress:
    """A bar with a count, the time left and one line of the latest numbers."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
    )


def _minutes(text: str) -> tuple[float, ...]:
    """``"5,20,80"`` -> ``(5.0, 20.0, 80.0)``; a clear error for anything else."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or any(v <= 0 for v in values):
        raise typer.BadParameter(f"expected CPU-minutes > 0 separated by commas, got {text!r}")
    return values


def _names(text: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    """``"classification,regression"`` -> those names, in ``allowed``'s order; a clear error
    naming the allowed ones for anything else."""
    names = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(names - set(allowed))
    if not names or unknown:
        raise typer.BadParameter(
            f"unknown {what} {', '.join(unknown) or repr(text)}; expected some of "
            f"{', '.join(allowed)}, separated by commas"
        )
    return tuple(name for name in allowed if name in names)


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=2)


@app.command()
def data(
    out: Annotated[Path, typer.Option(help="folder for notsoclevr.npz and notsoclevr.png")] = Path(
        "data"
    ),
    canvas: Annotated[int, typer.Option(help="canvas side in pixels")] = 64,
    square: Annotated[int, typer.Option(help="square side in pixels (odd)")] = 9,
    seed: Annotated[int, typer.Option(help="seed of the uniform split")] = 0,
) -> None:
    """Write Not-so-Clevr (centres, one-hots, squares, both splits with their validation parts)
    to one .npz and a figure."""
    import numpy as np

    from coordconv.experiments.core.io import atomic_write
    from coordconv.experiments.notsoclevr.data import NotSoClevr, make_split, validation_split
    from coordconv.experiments.notsoclevr.report import plot_dataset

    try:
        dataset = NotSoClevr(canvas, square)
    except ValueError as err:
        _fail(str(err))
    arrays = dataset.to_numpy()
    for kind in ("uniform", "quadrant"):
        train_idx, test_idx = make_split(dataset, kind, seed=seed)
        fit_idx, val_idx = validation_split(dataset, kind, train_idx, seed=seed)
        arrays[f"{kind}_train"], arrays[f"{kind}_test"] = train_idx.numpy(), test_idx.numpy()
        arrays[f"{kind}_fit"], arrays[f"{kind}_val"] = fit_idx.numpy(), val_idx.numpy()
    npz = atomic_write(out / "notsoclevr.npz", lambda f: np.savez_compressed(f, **arrays))  # type: ignore[arg-type]
    png = plot_dataset(out / "notsoclevr.png", canvas, square, seed)
    console.print(f"{dataset}: wrote {npz} and {png}")


@app.command()
def train(
    task: Annotated[TaskName, typer.Option(help="which toy task")],
    model: Annotated[ModelName, typer.Option(help="the paper's conv baseline or CoordConv")],
    split: Annotated[SplitName, typer.Option(help="uniform (random 80/20) or quadrant")],
    out: Annotated[Path, typer.Option(help="run folder (checkpoint.pt, result.json)")],
    quadrant: Annotated[QuadrantName, typer.Option(help=QUADRANT_HELP)] = DEFAULT_QUADRANT,
    epochs: Annotated[int | None, typer.Option(help="epochs (default: the recipe's)")] = None,
    seed: Annotated[int, typer.Option(help="model init and batch order")] = 0,
    batch_size: Annotated[int | None, typer.Option(help="batch size")] = None,
    lr: Annotated[float | None, typer.Option(help="peak learning rate")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="L2 on kernels")] = None,
    lr_schedule: Annotated[str | None, typer.Option(help="constant | cosine")] = None,
    width: Annotated[int | None, typer.Option(help="channel multiplier m")] = None,
    kernel: Annotated[int | None, typer.Option(help="deconv kernel of conv baselines")] = None,
    canvas: Annotated[int | None, typer.Option(help="canvas side")] = None,
    square: Annotated[int | None, typer.Option(help="square side (odd)")] = None,
    stop_at_target: Annotated[
        bool | None, typer.Option(help="stop once the training metric meets the target")
    ] = None,
    validation: Annotated[
        bool | None,
        typer.Option(help="fit on the training part minus a validation part; report val metrics"),
    ] = None,
    threads: Annotated[int, typer.Option(help="torch intra-op threads")] = 2,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    flush_denormal: Annotated[
        bool,
        typer.Option(
            help="flush subnormal floats to zero on CPU (off: as the committed runs made before it)"
        ),
    ] = True,
    resume: Annotated[bool, typer.Option(help="continue the run in --out")] = False,
    overwrite: Annotated[bool, typer.Option(help="replace a run already in --out")] = False,
) -> None:
    """Train one model on one task and split; writes result.json and a checkpoint every epoch."""
    from coordconv.experiments.core.config import make_config
    from coordconv.experiments.core.train import NonFiniteLossError, RunExistsError
    from coordconv.experiments.core.train import train as run_training

    overrides: dict[str, Any] = dict(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        lr_schedule=lr_schedule,
        width=width,
        kernel=kernel,
        canvas=canvas,
        square=square,
        stop_at_target=stop_at_target,
        validation=validation,
        flush_denormal=flush_denormal,
    )
    try:
        cfg = make_config(
            task.value,
            model.value,
            split.value,
            seed=seed,
            threads=threads,
            device=device,
            quadrant=quadrant.value,
            **overrides,
        )
    except ValueError as err:
        _fail(str(err))
    console.print(f"config: {json.dumps(asdict(cfg))}")
    with _progress() as bar:
        job = bar.add_task(f"{task.value}/{model.value}/{split.value}", total=cfg.epochs, info="")

        def show(entry: dict[str, Any]) -> None:
            info = " ".join(
                f"{part} {k}={v:.4f}"
                for part in ("train", "val", "test")
                for k, v in entry.get(part, {}).items()
            )
            bar.update(job, completed=entry["epoch"], info=f"{entry['seconds']:.1f}s {info}")

        try:
            result = run_training(cfg, out, resume=resume, overwrite=overwrite, progress=show)
        except (RunExistsError, NonFiniteLossError, ValueError) as err:
            _fail(str(err))
        except KeyboardInterrupt:
            console.print(
                f"interrupted: the last finished epoch is saved; continue with --resume --out {out}"
            )
            raise typer.Exit(code=130) from None
    final = result["final"]
    console.print(
        f"done: train {final['train']}\n      test  {final['test']}\n"
        f"      time to target {final['time_to_target_s']} s, {result['params']:,} params, "
        f"{result['examples_per_s']:.0f} examples/s -> {out / 'result.json'}"
    )


def _sweep_progress(bar: Progress, job: Any) -> Any:
    """A progress callback for sweeps: training budget spent, trials done, best val so far."""

    def show(info: dict[str, Any]) -> None:
        best = "—" if info["best"] is None else f"{info['best']:.4f}"
        bar.update(
            job,
            completed=min(info["spent_s"], info["budget_s"]),
            total=info["budget_s"],
            info=f"{info['trials']} trials ({info.get('running', 0)} running), best val {best}, "
            f"{max(0.0, info['budget_s'] - info['spent_s']):.0f} s of budget left",
        )

    return show


@app.command()
def sweep(
    task: Annotated[TaskName, typer.Option(help="which toy task")],
    model: Annotated[
        ArmName,
        typer.Option(help="which arm: a model kind, or coordconv-paper (the paper's plain space)"),
    ],
    split: Annotated[SplitName, typer.Option(help="uniform or quadrant")],
    out: Annotated[Path, typer.Option(help="sweep folder (sweep.json, trials/, final/)")],
    quadrant: Annotated[QuadrantName, typer.Option(help=QUADRANT_HELP)] = DEFAULT_QUADRANT,
    budget_min: Annotated[
        float, typer.Option(help="CPU-minutes of training for the whole sweep (all trials)")
    ] = 10.0,
    rungs: Annotated[
        str,
        typer.Option(
            help="lower budgets (CPU-minutes, e.g. 5,20) selected from the sweep's prefix"
        ),
    ] = "",
    max_trials: Annotated[int, typer.Option(help="at most this many trials")] = 1000,
    seed: Annotated[int, typer.Option(help="seeds the search and the trials' training")] = 0,
    final_seeds: Annotated[
        int, typer.Option(help="fresh seeds (100, 101, ...) retraining the selected config")
    ] = 3,
    address: Annotated[
        str | None, typer.Option(help="attach to a running Ray cluster (default: local)")
    ] = None,
    resume: Annotated[bool, typer.Option(help="continue the sweep in --out")] = False,
    canvas: Annotated[int | None, typer.Option(help="canvas side (tests use a small one)")] = None,
    square: Annotated[int | None, typer.Option(help="square side (odd)")] = None,
    trials_at_once: Annotated[
        int | None,
        typer.Option(
            help="trials (and final runs) at a time, fixed for the sweep's life "
            "(default: the cluster's CPUs when it starts)"
        ),
    ] = None,
) -> None:
    """Tune one arm on Ray Tune (ASHA on validation) under a CPU-time budget, select on
    validation, retrain the selection on fresh seeds and score only those on test."""
    from coordconv.experiments.fair.sweep import SweepDependencyError, SweepInterrupted, run_sweep

    with _progress() as bar:
        job = bar.add_task(f"sweep {task.value}/{model.value}/{split.value}", total=1, info="")
        try:
            summary = run_sweep(
                task.value,
                model.value,
                split.value,
                out,
                budget_min=budget_min,
                rungs=_minutes(rungs) if rungs else (),
                max_trials=max_trials,
                seed=seed,
                final_seeds=final_seeds,
                address=address,
                resume=resume,
                canvas=canvas,
                square=square,
                quadrant=quadrant.value,
                trials_at_once=trials_at_once,
                on_progress=_sweep_progress(bar, job),
            )
        except (SweepDependencyError, SweepInterrupted, FileExistsError, ValueError) as err:
            _fail(str(err))
        except KeyboardInterrupt:
            console.print(f"interrupted: continue with --resume --out {out}")
            raise typer.Exit(code=130) from None
    selected = next(t for t in summary["trials"] if t["id"] == summary["selected"])
    final = summary.get("final") or {}
    console.print(
        f"{len(summary['trials'])} trials, {summary['spent_s']:.0f} s of training; selected "
        f"{selected['id']} (val {summary['metric']} {selected['val'][summary['metric']]:.4f}); "
        f"final runs: test {final.get('metric')} {final.get('test_mean', float('nan')):.4f} "
        f"± {final.get('test_std', float('nan')):.4f} -> {out / 'sweep.json'}"
    )


@app.command()
def reproduce(
    out: Annotated[Path, typer.Option(help="report folder (runs/ inside)")] = Path("reports/quick"),
    quick: Annotated[
        bool, typer.Option("--quick/--full", help="reduced budget or the full grid")
    ] = True,
    seeds: Annotated[
        int | None, typer.Option(help="seeds per cell (default: 1 quick, 3 full)")
    ] = None,
    jobs: Annotated[
        int, typer.Option(help="worker processes (threads are split between them)")
    ] = 1,
    canvas: Annotated[int | None, typer.Option(help="canvas side (tests use a small one)")] = None,
    epochs: Annotated[int | None, typer.Option(help="override every run's epochs")] = None,
    first_seed: Annotated[
        int, typer.Option(help="seeds run from here (0-9 tuned the recipes: keep them out)")
    ] = 100,
    quadrant: Annotated[QuadrantName, typer.Option(help=QUADRANT_HELP)] = DEFAULT_QUADRANT,
    overwrite: Annotated[
        bool, typer.Option(help="re-run runs in --out that were made with other settings")
    ] = False,
    fair: Annotated[
        bool,
        typer.Option(
            help="the fair comparison: sweep every arm (coordconv, conv, coordconv-paper, mlp, "
            "conv-tiled) of every task and split with the same budgets on Ray Tune"
        ),
    ] = False,
    ladder: Annotated[
        str,
        typer.Option(
            help="--fair: budget rungs, CPU-minutes of tuning per cell; every cell gets the "
            "first, the deciding conv cells climb them all"
        ),
    ] = ",".join(f"{r:g}" for r in LADDER),
    final_seeds: Annotated[
        int, typer.Option(help="--fair: fresh seeds retraining each rung's selected config")
    ] = 5,
    address: Annotated[
        str | None, typer.Option(help="--fair: a running Ray cluster (default: local)")
    ] = None,
    cells_at_once: Annotated[
        int,
        typer.Option(
            min=1,
            help="--fair: cells swept at a time, each by its own driver on the one Ray cluster "
            "(their CPUs shared, each cell keeping its own budget)",
        ),
    ] = 1,
    tasks: Annotated[
        str, typer.Option(help="--fair: only these tasks (comma-separated)")
    ] = ",".join(TASKS),
    splits: Annotated[
        str, typer.Option(help="--fair: only these splits (one (task, split)'s arms per machine)")
    ] = ",".join(SPLITS),
    arms: Annotated[str, typer.Option(help="--fair: only these arms")] = ",".join(ARM_ORDER),
) -> None:
    """Run the whole grid (3 tasks x 2 models x 2 splits x seeds), resumably, then write REPORT.md.

    With --fair: sweep every arm of every cell with equal tuning budgets instead (hours at the
    default budget on a 2-core CPU; resumable), then write the fair REPORT.md."""
    if fair:
        chosen = (
            _names(tasks, TASKS, "tasks"),
            _names(splits, SPLITS, "splits"),
            _names(arms, ARM_ORDER, "arms"),
        )
        _reproduce_fair(out, _minutes(ladder), final_seeds, address, canvas, cells_at_once, chosen)
        return
    from coordconv.experiments.core.grid import run_grid, threads_per_job
    from coordconv.experiments.core.train import NonFiniteLossError
    from coordconv.experiments.notsoclevr.grid import grid
    from coordconv.experiments.notsoclevr.report import build_report

    mode = "quick" if quick else "full"
    common = {k: v for k, v in dict(canvas=canvas, epochs=epochs).items() if v is not None}
    try:
        configs = grid(
            mode,
            seeds,
            threads=threads_per_job(jobs),
            first_seed=first_seed,
            quadrant=quadrant.value,
            **common,
        )
    except ValueError as err:
        _fail(str(err))
    started = time.perf_counter()
    with _progress() as bar:
        job = bar.add_task("grid", total=len(configs), info="")

        def done(name: str, final: dict[str, Any], n: int, total: int) -> None:
            bar.update(job, completed=n, info=f"{name}: test {final['test']}")

        try:
            run_grid(out, configs, mode=mode, jobs=jobs, overwrite=overwrite, on_done=done)
        except (ValueError, NonFiniteLossError) as err:
            _fail(str(err))
        except KeyboardInterrupt:
            console.print(f"interrupted: re-run the same command to resume ({out})")
            raise typer.Exit(code=130) from None
    command = " ".join(["coordconv", *sys.argv[1:]])
    path = build_report(out, command=command)
    console.print(f"grid done in {time.perf_counter() - started:.0f} s -> {path}")


def _reproduce_fair(
    out: Path,
    ladder: tuple[float, ...],
    final_seeds: int,
    address: str | None,
    canvas: int | None,
    cells_at_once: int = 1,
    chosen: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] = (TASKS, SPLITS, ARM_ORDER),
) -> None:
    from coordconv.experiments.fair.grid import cells, run_fair
    from coordconv.experiments.fair.report import build_fair_report
    from coordconv.experiments.fair.sweep import SweepDependencyError, SweepInterrupted

    started = time.perf_counter()
    with _progress() as bar:
        grid = bar.add_task("fair", total=len(cells(*chosen)), info="")
        sweep_job = bar.add_task("sweep", total=1, info="")
        show_sweep = _sweep_progress(bar, sweep_job)

        def progress(name: str, info: dict[str, Any]) -> None:
            if "cells_running" in info:  # concurrent cells: the ledger's tally, cell by cell
                bar.update(
                    grid,
                    info=f"cells: {info['cells_done']} done, {info['cells_running']} running, "
                    f"{info['cells_left']} left",
                )
                info = {"best": None, **info}
            bar.update(sweep_job, description=name)
            show_sweep(info)

        def done(name: str, summary: dict[str, Any]) -> None:
            final = summary.get("final") or {}
            bar.update(
                grid,
                advance=1,
                info=f"{name}: test {final.get('metric')} {final.get('test_mean', 0):.3f}",
            )

        try:
            run_fair(
                out,
                budget_min=min(ladder),
                ladder=ladder,
                final_seeds=final_seeds,
                address=address,
                canvas=canvas,
                cells_at_once=cells_at_once,
                tasks=chosen[0],
                splits=chosen[1],
                arms=chosen[2],
                on_cell=done,
                on_progress=progress,
            )
        except (SweepDependencyError, SweepInterrupted, ValueError, RuntimeError) as err:
            _fail(str(err))
        except KeyboardInterrupt:
            console.print(f"interrupted: re-run the same command to resume ({out})")
            raise typer.Exit(code=130) from None
    # a part of the grid is not how the whole report is regenerated: the report says how
    whole = chosen == (TASKS, SPLITS, ARM_ORDER)
    command = " ".join(["coordconv", *sys.argv[1:]]) if whole else None
    path = build_fair_report(out, command=command)
    console.print(f"fair comparison done in {time.perf_counter() - started:.0f} s -> {path}")


@app.command()
def digits(
    out: Annotated[Path, typer.Option(help="report folder (runs/ inside)")] = Path(
        "reports/digits"
    ),
    head: Annotated[
        str,
        typer.Option(
            help="regressor: one digit, global pooling to its class and centre; detector: 1-3 "
            "digits, a CenterNet-style head on the stride-16 map"
        ),
    ] = "regressor",
    quick: Annotated[
        bool,
        typer.Option(
            "--quick/--full",
            help="quick: 15 epochs, 3 seeds (<= 10 min on 2 cores); full: 10 seeds, the "
            "epochs the head's tuning chose",
        ),
    ] = True,
    tune: Annotated[
        bool,
        typer.Option(
            help="run the tuning grid instead (seed 0, plain and all-CoordConv, 15/30/60/120 "
            "epochs) and report the epochs its validation rule chooses"
        ),
    ] = False,
    seeds: Annotated[
        int | None, typer.Option(help="seeds per variant and split (default: 3 quick, 10 full)")
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(help="worker processes (default: one per CPU, one thread each)"),
    ] = None,
    canvas: Annotated[int | None, typer.Option(help="canvas side (tests use a small one)")] = None,
    canvases: Annotated[int | None, typer.Option(help="override the canvases per run")] = None,
    epochs: Annotated[
        int | None,
        typer.Option(help="override every run's epochs (--tune: the shortest, then x2, x4, x8)"),
    ] = None,
    first_seed: Annotated[int, typer.Option(help="seeds run from here")] = 100,
    overwrite: Annotated[
        bool, typer.Option(help="re-run runs in --out that were made with other settings")
    ] = False,
) -> None:
    """Digits on a canvas: a ResNet-style localiser (or detector), plain and converted to
    CoordConv (input conv, head conv, every conv), on uniform and quadrant splits; resumable,
    then REPORT.md."""
    from coordconv.experiments.core.grid import run_grid, threads_per_job, usable_cpus
    from coordconv.experiments.core.train import NonFiniteLossError
    from coordconv.experiments.digits.data import DigitsDependencyError
    from coordconv.experiments.digits.grid import TUNING_EPOCHS, digits_grid, tuning_grid
    from coordconv.experiments.digits.report import build_digits_report
    from coordconv.experiments.digits.tuning import build_tuning_report

    mode = "tune" if tune else "quick" if quick else "full"
    jobs = usable_cpus() if jobs is None else jobs
    given = dict(canvas=canvas, canvases=canvases, epochs=epochs)
    common = {k: v for k, v in given.items() if v is not None}
    try:
        if tune:
            shortest = common.pop("epochs", TUNING_EPOCHS[0])
            configs = tuning_grid(head, shortest, threads=threads_per_job(jobs), **common)
        else:
            configs = digits_grid(
                mode,
                seeds,
                threads=threads_per_job(jobs),
                first_seed=first_seed,
                head=head,
                **common,
            )
    except ValueError as err:
        _fail(str(err))
    started = time.perf_counter()
    with _progress() as bar:
        job = bar.add_task(f"digits {head}", total=len(configs), info="")

        def done(name: str, final: dict[str, Any], n: int, total: int) -> None:
            scores = final["val"] if tune else final["test"]
            bar.update(
                job,
                completed=n,
                info=f"{name}: {'val' if tune else 'test'} centre error "
                f"{scores['centre_error']:.2f} px, class {scores['class_accuracy']:.1%}",
            )

        try:
            run_grid(
                out,
                configs,
                mode=f"digits-{head}-{mode}",
                jobs=jobs,
                overwrite=overwrite,
                on_done=done,
            )
        except (DigitsDependencyError, ValueError, NonFiniteLossError) as err:
            _fail(str(err))
        except KeyboardInterrupt:
            console.print(f"interrupted: re-run the same command to resume ({out})")
            raise typer.Exit(code=130) from None
    command = " ".join(["coordconv", *sys.argv[1:]])
    path = build_tuning_report(out, command) if tune else build_digits_report(out, command)
    console.print(f"digits done in {time.perf_counter() - started:.0f} s -> {path}")


@app.command()
def report(
    out: Annotated[Path, typer.Argument(help="a folder written by `coordconv reproduce`")],
) -> None:
    """Rebuild REPORT.md, results.json and the figures from OUT/runs (or, for a fair comparison,
    OUT/sweeps; for the digits demo, its runs) without training."""
    from coordconv.experiments.digits.report import build_digits_report, is_digits_folder
    from coordconv.experiments.digits.tuning import build_tuning_report, is_tuning_folder
    from coordconv.experiments.notsoclevr.report import build_report

    try:
        if (out / "fair.json").exists():
            from coordconv.experiments.fair.report import build_fair_report

            path = build_fair_report(out)
        elif is_tuning_folder(out):
            path = build_tuning_report(out)
        elif is_digits_folder(out):
            path = build_digits_report(out)
        else:
            path = build_report(out)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    console.print(f"wrote {path}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
