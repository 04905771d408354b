"""Overhead of CoordConv2d over a plain nn.Conv2d, beside the concat reference (AddCoords + conv).

For each configuration the three layers are measured in the same run, in interleaved rounds
(best of ``--rounds``): forward time in train mode, forward + backward time (upstream gradient
``randn_like(output)``; the input requires grad, as for a layer inside a network), eval-mode
forward under ``torch.no_grad()`` (ours with ``cache_coord_map=True``: frozen weights) and the
activation memory autograd keeps for backward: the bytes of the distinct tensor storages saved
(``saved_tensors_hooks``), parameters excluded (deterministic). Ratios are printed against the
plain conv of the same configuration; ``--compile`` adds rows for ``torch.compile``d layers
(compiled CoordConv and compiled concat vs compiled plain conv, forward + backward).

    python benchmarks/layer_overhead.py            # the whole grid (several minutes on 2 cores)
    python benchmarks/layer_overhead.py --quick    # the two headline configurations
    python benchmarks/layer_overhead.py --compile  # the compiled rows only
    python benchmarks/layer_overhead.py --device cuda  # on a GPU (timings synchronised)
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from coordconv import AddCoords, CoordConv2d


@dataclass(frozen=True)
class Case:
    channels: int
    size: int
    batch: int
    kernel: int

    @property
    def out_channels(self) -> int:
        return max(32, self.channels)


def layers(case: Case) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    c, o, k = case.channels, case.out_channels, case.kernel
    ours = CoordConv2d(c, o, k, padding=k // 2)
    ours.cache_coord_map = True  # used only in eval mode
    return {
        "plain": nn.Conv2d(c, o, k, padding=k // 2),
        "concat": nn.Sequential(AddCoords(2), nn.Conv2d(c + 2, o, k, padding=k // 2)),
        "ours": ours,
    }


def activation_bytes(layer: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd saves for backward in one forward, parameters
    excluded (their memory exists anyway)."""
    params = {p.untyped_storage().data_ptr() for p in layer.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x)
    return sum(saved.values())


def best_time(fn: Callable[[], object], repeats: int, device: str = "cpu") -> float:
    """Best wall time of ``fn`` over ``repeats`` calls (the GPU's queue drained around each)."""

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    best = float("inf")
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def measure(
    case: Case, rounds: int, compiled: bool = False, device: str = "cpu"
) -> dict[str, dict[str, float]]:
    mods = {name: layer.to(device) for name, layer in layers(case).items()}
    if compiled:
        torch._dynamo.reset()
        mods = {name: torch.compile(layer) for name, layer in mods.items()}  # type: ignore[misc]
    x = torch.randn(
        case.batch, case.channels, case.size, case.size, device=device, requires_grad=True
    )
    upstream = torch.randn(case.batch, case.out_channels, case.size, case.size, device=device)
    work = case.batch * case.size**2 * max(case.channels, case.out_channels)
    repeats = max(1, min(20, 4_000_000 // work))
    results: dict[str, dict[str, float]] = {name: {} for name in mods}
    if not compiled:
        for name, layer in mods.items():
            results[name]["saved_bytes"] = activation_bytes(layer.train(), x)

    def fwd(layer: nn.Module) -> None:
        layer(x)

    def fwd_bwd(layer: nn.Module) -> None:
        layer(x).backward(upstream)

    def eval_fwd(layer: nn.Module) -> None:
        with torch.no_grad():
            layer(x)

    timed = [("forward_backward", fwd_bwd)]
    if not compiled:
        timed.insert(0, ("forward", fwd))
    for layer in mods.values():  # warm-up (allocator, kernels, caches, compilation)
        for _ in range(2):
            fwd_bwd(layer.train())
            if not compiled:
                eval_fwd(layer.eval())
    for _ in range(rounds):
        for name, layer in mods.items():
            layer.train()
            for key, fn in timed:
                t = best_time(lambda fn=fn, layer=layer: fn(layer), repeats, device)
                results[name][key] = min(results[name].get(key, t), t)
            if not compiled:
                layer.eval()
                t = best_time(lambda layer=layer: eval_fwd(layer), repeats, device)
                results[name]["eval_forward"] = min(results[name].get("eval_forward", t), t)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the two headline cases")
    parser.add_argument("--compile", action="store_true", help="torch.compile rows only")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (best of)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--json", default=None, help="also write all numbers to this file")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        cases = [Case(3, 64, 32, 3), Case(64, 64, 32, 3)]
    elif args.compile:
        cases = [Case(3, 64, 1, 3), Case(3, 64, 32, 3), Case(64, 64, 32, 3), Case(3, 64, 32, 1)]
    else:
        grid = itertools.product([1, 3, 16, 64], [64, 128], [1, 32], [1, 3])
        cases = [Case(*values) for values in grid]
    mode = "torch.compile, " if args.compile else ""
    where = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else f"{torch.get_num_threads()} threads"
    )
    print(f"torch {torch.__version__}, {mode}{where}, best of {args.rounds}")
    print("ratios to plain conv, each as concat/ours; plain ms = plain forward+backward")
    metrics = ["forward_backward"] if args.compile else ["forward", "forward_backward"]
    metrics += [] if args.compile else ["eval_forward", "saved_bytes"]
    titles = {"forward": "fwd", "forward_backward": "fwd+bwd", "eval_forward": "eval fwd"}
    titles["saved_bytes"] = "saved mem"
    head = "".join(f" {titles[m]:>11} |" for m in metrics)
    print(f"| {'C->out':<7} | {'HxW':<7} | {'N':>3} | {'k':>2} | {'plain ms':>9} |{head}")
    print("|" + "|".join("-" * w for w in (9, 9, 5, 4, 11, *[13] * len(metrics))) + "|")
    rows = []
    for case in cases:
        r = measure(case, args.rounds, compiled=args.compile, device=args.device)
        p = r["plain"]

        def ratio(metric: str, r: dict[str, dict[str, float]] = r) -> str:
            base = r["plain"][metric]
            return f"{r['concat'][metric] / base:5.2f}/{r['ours'][metric] / base:5.2f}"

        cells = "".join(f" {ratio(m):>11} |" for m in metrics)
        print(
            f"| {f'{case.channels}->{case.out_channels}':<7} | {f'{case.size}x{case.size}':<7} | "
            f"{case.batch:>3} | {case.kernel:>2} | {p['forward_backward'] * 1e3:9.2f} |{cells}",
            flush=True,
        )
        rows.append({"case": asdict(case), "results": r})
    if args.json:
        with open(args.json, "w") as f:
            info = {"torch": torch.__version__, "threads": args.threads, "compile": args.compile}
            info["device"] = where
            json.dump({**info, "rows": rows}, f)


if __name__ == "__main__":
    main()
