"""benchmarks/rendering_probe.py on tiny runs whose maps and outputs are known by construction."""

import pytest
import torch

from coordconv.experiments.core.config import make_config
from coordconv.experiments.core.train import train
from coordconv.experiments.notsoclevr.data import NotSoClevr, make_split
from coordconv.experiments.notsoclevr.models import PixelSoftmax, build_model


def test_probe_on_a_model_with_known_maps(tmp_path, capsys, load_benchmark):
    """A pointer with zero kernels gives a flat map (1 everywhere, arg-max at pixel 0); a renderer
    whose last layer is a bias of +10 paints everything, so IoU = square area / canvas area."""
    cfg = make_config(
        "rendering",
        "coordconv",
        "quadrant",
        canvas=16,
        square=3,
        epochs=1,
        batch_size=64,
        threads=1,
    )
    train(cfg, tmp_path / "run")
    ckpt_path = tmp_path / "run" / "checkpoint.pt"
    ckpt = torch.load(ckpt_path, weights_only=False)
    model = build_model(cfg.model)
    model.load_state_dict(ckpt["model"])
    convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
    cut = next(i for i, m in enumerate(model) if isinstance(m, PixelSoftmax))
    pointer_last = [m for m in model[:cut] if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        pointer_last.weight.zero_()
        convs[-1].weight.zero_()
        convs[-1].bias.fill_(10.0)
    ckpt["model"] = model.state_dict()
    torch.save(ckpt, ckpt_path)

    load_benchmark("rendering_probe").probe(tmp_path / "run")
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    data = NotSoClevr(16, 3)
    train_idx, test_idx = make_split(data, "quadrant")
    for part, idx in (("train", train_idx), ("test", test_idx)):
        centres = data.centres[idx].double()
        expected_distance = centres.norm(dim=1).mean().item()  # arg-max at pixel (0, 0)
        at_centre = (centres.norm(dim=1) == 0).double().mean().item() * 100
        assert rows[part][1] == f"{at_centre:.1f}%"
        assert float(rows[part][2]) == pytest.approx(expected_distance, abs=0.05)
        assert rows[part][3] == "1.000" and rows[part][5] == "1.000"
        assert float(rows[part][6]) == pytest.approx(9 / 256, abs=1e-4)


def test_probe_refuses_other_tasks(tmp_path, load_benchmark):
    cfg = make_config(
        "classification", "coordconv", "uniform", canvas=16, square=3, epochs=1, threads=1
    )
    train(cfg, tmp_path / "run")
    with pytest.raises(SystemExit, match="needs rendering/coordconv"):
        load_benchmark("rendering_probe").probe(tmp_path / "run")
