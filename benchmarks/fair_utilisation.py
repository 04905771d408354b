"""How busy a fair grid keeps the cores: the same small grid (every arm of one task and split, a
short budget) swept one cell at a time and ``--cells-at-once`` at a time, each into its own
folder; prints each invocation's wall time and utilisation from ``fair.json`` (the machine's,
busy core-seconds of every process over cores x wall; the work's, the CPU seconds of the trials
and final runs over the same; the trials' own), and the core-seconds by kind of process. Run it
on a machine doing nothing else.

    python benchmarks/fair_utilisation.py --budget-min 1 --cells-at-once 1 2

With ``--nodes 1 2`` each grid instead runs on a Ray cluster of that many nodes of one CPU each,
started as separate processes on this machine (``ray.cluster_utils.Cluster``, as the cluster
tests do): the wall time against the node count is how the grid scales with machines.

    python benchmarks/fair_utilisation.py --budget-min 0.5 --cells-at-once 2 --nodes 1 2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from coordconv.experiments.core.io import read_json
from coordconv.experiments.fair.grid import run_fair


def _kind(pid: str) -> str:
    """What a process is, from its command line: a Ray worker by the task it runs now
    (``ray::ImplicitFunc.train`` is a trial, ``ray::_final_task`` a final run, ``ray::IDLE``
    waiting), Ray's own services by name, a cell driver, or anything else."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    line = b" ".join(argv).decode(errors="replace")
    if line.startswith("ray::"):
        return line.split()[0]
    for name in ("raylet", "gcs_server", "dashboard", "log_monitor", "monitor.py"):
        if name in line:
            return f"ray {name}"
    if "fair.driver" in line:
        return "cell driver"
    if not line.strip():
        return "kernel threads"
    if "fair_utilisation" in line:
        return "this benchmark (grid driver)"
    return "other: " + os.path.basename(argv[0].decode(errors="replace"))


class _CpuByKind(threading.Thread):
    """Core-seconds per kind of process (:func:`_kind`), sampled from ``/proc/<pid>/stat``
    every ``every`` seconds: each process's CPU time since the last sample goes to what it is
    now. Linux only; short-lived processes between samples are missed."""

    def __init__(self, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.every, self.seen, self.by_kind = every, {}, Counter()
        self.halt = threading.Event()
        self.tick = os.sysconf("SC_CLK_TCK")

    def run(self) -> None:
        self._sample(count=False)  # what ran before the start is not the grid's
        while not self.halt.wait(self.every):
            self._sample(count=True)

    def _sample(self, count: bool) -> None:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            used = (int(fields[11]) + int(fields[12])) / self.tick
            if count and used > self.seen.get(pid, 0.0):
                self.by_kind[_kind(pid)] += used - self.seen.get(pid, 0.0)
            self.seen[pid] = used

    def stop(self) -> Counter:
        self.halt.set()
        self.join()
        return self.by_kind


@contextlib.contextmanager
def _cluster(nodes: int | None) -> Iterator[str | None]:
    """The address of a loopback cluster of ``nodes`` one-CPU nodes (None: Ray in-process)."""
    if nodes is None:
        yield None
        return
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="regression")
    parser.add_argument("--split", default="uniform")
    parser.add_argument("--budget-min", type=float, default=1.0)
    parser.add_argument("--final-seeds", type=int, default=2)
    parser.add_argument("--cells-at-once", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--nodes", type=int, nargs="+", default=None, help="loopback cluster sizes (1-CPU nodes)"
    )
    parser.add_argument("--out", default=None, help="keep the grids here (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.out or scratch)
        print("nodes | cells at once | wall s | machine busy | work busy | trials busy | cells")
        for nodes in args.nodes or [None]:
            for at_once in args.cells_at_once:
                out = root / f"nodes-{nodes or 'local'}-at-once-{at_once}"
                sampler = _CpuByKind()
                with _cluster(nodes) as address:
                    sampler.start()
                    _run(out, args, at_once, address)
                by_kind = sampler.stop()
                run = read_json(out / "fair.json")["invocations"][-1]
                machine = run["machine_utilisation"]
                print(
                    f"{nodes or 'local'} | {at_once} | {run['wall_s']:.0f} | "
                    f"{'n/a' if machine is None else f'{machine:.0%}'} | "
                    f"{run['work_utilisation']:.0%} | "
                    f"{run['trial_utilisation']:.0%} | {len(run['cells'])}"
                )
                for cell in run["cells"]:
                    sweep = read_json(out / "sweeps" / cell / "sweep.json")
                    share = sweep["cpu_utilisation"]
                    print(
                        f"    {cell}: {len(sweep['trials'])} trials, sweep wall "
                        f"{sweep['wall_s']:.0f} s, trials busy "
                        f"{'n/a' if share is None else f'{share:.0%}'} of its cores x wall"
                    )
                total = sum(by_kind.values())
                print(f"    core-seconds by process ({total:.0f} in all):")
                for kind, used in by_kind.most_common(12):
                    print(f"      {used:7.1f} s {used / total:4.0%}  {kind}")


def _run(out: Path, args: argparse.Namespace, at_once: int, address: str | None) -> None:
    run_fair(
        out,
        budget_min=args.budget_min,
        ladder=(args.budget_min,),
        ladder_cells=(),
        final_seeds=args.final_seeds,
        tasks=(args.task,),
        splits=(args.split,),
        cells_at_once=at_once,
        address=address,
    )


if __name__ == "__main__":
    main()
