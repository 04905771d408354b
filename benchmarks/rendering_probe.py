"""Does a trained CoordConv renderer point? Probe the map between its pointer and its renderer.

The paper's rendering model is a pointer (the classification stack) -> a softmax over the pixels
-> a small conv renderer. If the pointer points, the map peaks at the square's centre and the
translation-equivariant renderer paints the square around it. This prints, per split part, how
far the map's arg-max lies from the centre, the mean map value inside vs outside the square
(inside < outside: the pointer draws the square as a *dip* instead of pointing) and the IoU.

    python benchmarks/rendering_probe.py reports/quick/runs/rendering-coordconv-quadrant-s0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from coordconv.experiments.core.config import TrainConfig
from coordconv.experiments.core.registry import get_task
from coordconv.experiments.notsoclevr.data import NotSoClevr, task_tensors
from coordconv.experiments.notsoclevr.models import PixelSoftmax, build_model


@torch.no_grad()
def probe(run: Path) -> None:
    ckpt = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    cfg = TrainConfig.from_dict(ckpt["config"])
    if (cfg.task, cfg.kind) != ("rendering", "coordconv"):
        raise SystemExit(
            f"{run} is a {cfg.task}/{cfg.kind} run; the probe needs rendering/coordconv"
        )
    model = build_model(cfg.model)
    model.load_state_dict(ckpt["model"])
    model.eval()
    cut = next(i for i, m in enumerate(model) if isinstance(m, PixelSoftmax))

    data = NotSoClevr(cfg.canvas, cfg.data.square)
    inputs, squares = task_tensors(data, "rendering")
    maps = model[: cut + 1](inputs).flatten(1)
    outputs = model[cut + 1 :](maps.view(-1, 1, cfg.canvas, cfg.canvas))
    iou = get_task("rendering", cfg.canvas).scores(outputs, squares)["iou"]
    peak = maps.argmax(dim=1)
    peak_xy = torch.stack([peak % cfg.canvas, peak // cfg.canvas], dim=1)
    distance = (peak_xy - data.centres).float().norm(dim=1)
    inside = squares.flatten(1) > 0.5
    mean_inside = (maps * inside).sum(1) / inside.sum(1)
    mean_outside = (maps * ~inside).sum(1) / (~inside).sum(1)

    train_idx, test_idx = cfg.data.train_test(data)
    print(f"{run}: {cfg.split} split, seed {cfg.seed}, epochs {ckpt['state']['epoch']}")
    print("part    arg-max at centre  arg-max distance (px)  map inside / outside square  IoU")
    for part, idx in (("train", train_idx), ("test", test_idx)):
        print(
            f"{part:<7} {(distance[idx] == 0).float().mean():17.1%}  {distance[idx].mean():21.1f}  "
            f"{mean_inside[idx].mean():13.3f} / {mean_outside[idx].mean():.3f}  {iou[idx].mean():11.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="rendering/coordconv run folders")
    for run in parser.parse_args().runs:
        probe(run)


if __name__ == "__main__":
    main()
