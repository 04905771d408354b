"""The detector's building blocks against hand-computed values: heatmap targets and their
decoding, matching at a radius, the scores, and the seed-comparison rule (every branch)."""

import math

import pytest
import torch

from coordconv.experiments.core.registry import get_task
from coordconv.experiments.digits.detection import (
    LOOSE,
    canvas_counts,
    compare_variants,
    decode_centres,
    detection_scores,
    heatmap_targets,
    map_targets,
    match_centres,
)


def test_heatmap_targets_put_each_centre_in_its_cell():
    objectness, offsets = heatmap_targets(torch.tensor([[7.5, 7.5], [40.0, 20.0]]), 4, 16)
    assert objectness.nonzero().tolist() == [[0, 0], [1, 2]]  # (row, column): y then x
    torch.testing.assert_close(offsets[:, 0, 0], torch.tensor([7.5 / 16, 7.5 / 16]))
    torch.testing.assert_close(offsets[:, 1, 2], torch.tensor([0.5, 0.25]))
    assert offsets.abs().sum() == pytest.approx(7.5 / 8 + 0.75)
    with pytest.raises(ValueError, match="share a cell"):
        heatmap_targets(torch.tensor([[1.0, 1.0], [15.0, 2.0]]), 4, 16)
    with pytest.raises(ValueError, match="outside"):
        heatmap_targets(torch.tensor([[70.0, 1.0]]), 4, 16)


def test_decoding_the_targets_gives_the_centres_back():
    centres = torch.tensor([[7.5, 7.5], [40.0, 20.0], [63.0, 50.5]])
    objectness, offsets = heatmap_targets(centres, 4, 16)
    logits = torch.where(objectness > 0, 5.0, -5.0)
    logits[3, 3] = 6.0  # the most confident first
    found, scores, cells = decode_centres(logits, offsets, 16)
    torch.testing.assert_close(found, torch.tensor([[63.0, 50.5], [7.5, 7.5], [40.0, 20.0]]))
    assert scores[0] > scores[1] == scores[2] > 0.5
    assert cells.tolist() == [15, 0, 6]  # row * 4 + column
    assert len(decode_centres(torch.full((4, 4), -1.0), offsets, 16)[0]) == 0


def test_decoding_drops_a_less_confident_neighbour():
    # a digit near a cell edge fires two cells: (15.5, 8) from cell (0, 0), (16.5, 8) from (0, 1)
    logits = torch.full((4, 4), -5.0)
    logits[0, 0], logits[0, 1] = 2.0, 3.0
    offsets = torch.zeros(2, 4, 4)
    offsets[:, 0, 0] = torch.tensor([15.5 / 16, 0.5])
    offsets[:, 0, 1] = torch.tensor([0.5 / 16, 0.5])
    found, _, cells = decode_centres(logits, offsets, 16)
    torch.testing.assert_close(found, torch.tensor([[16.5, 8.0]]))
    assert cells.tolist() == [1]
    assert len(decode_centres(logits, offsets, 16, nms=0.5)[0]) == 2  # 1 px apart: both kept


def test_map_targets_for_a_batch_with_empty_slots():
    slots = torch.tensor(
        [[[7.5, 7.5, 3.0], [40.0, 20.0, 9.0], [0.0, 0.0, -1.0]],
         [[63.0, 50.5, 1.0], [0.0, 0.0, -1.0], [0.0, 0.0, -1.0]]]
    )  # fmt: skip
    objectness, offsets, classes = map_targets(slots, 4, 16)
    assert objectness.nonzero().tolist() == [[0, 0, 0], [0, 1, 2], [1, 3, 3]]
    assert classes[0, 0, 0] == 3 and classes[0, 1, 2] == 9 and classes[1, 3, 3] == 1
    assert int((classes >= 0).sum()) == 3
    torch.testing.assert_close(offsets[1, :, 3, 3], torch.tensor([63 / 16 - 3, 50.5 / 16 - 3]))
    single, single_offsets = heatmap_targets(slots[0, :2, :2], 4, 16)
    assert single.equal(objectness[0]) and single_offsets.equal(offsets[0])


def test_matching_pairs_closest_first_within_the_radius():
    predicted = torch.tensor([[0.0, 0.0], [10.0, 10.0], [30.0, 30.0], [1.5, 0.0]])
    true = torch.tensor([[1.0, 0.0], [10.0, 13.0], [50.0, 50.0]])
    # (3, 0) is 0.5 px apart, (0, 0) 1 px: the closer takes the digit; (1, 1) is 3 px: too far
    assert match_centres(predicted, true, radius=2.0) == [(3, 0)]
    assert match_centres(predicted, true, radius=3.0) == [(3, 0), (1, 1)]
    assert match_centres(predicted[:0], true, radius=2.0) == []


def test_scores_against_hand_computed_values():
    canvases = [
        # two digits; one found 1 px off with the right class, one missed; one false alarm
        (torch.tensor([[1.0, 0.0], [40.0, 40.0]]), torch.tensor([3, 5]),
         torch.tensor([[0.0, 0.0], [20.0, 20.0]]), torch.tensor([3, 7])),
        # one digit found 0.5 px off with the wrong class
        (torch.tensor([[10.0, 10.5]]), torch.tensor([1]), torch.tensor([[10.0, 10.0]]),
         torch.tensor([2])),
    ]  # fmt: skip
    scores = detection_scores(canvases)
    # errors: 1 px, the missed digit capped at LOOSE (8 px; the false alarm is 28 px away), 0.5
    assert scores == pytest.approx(
        {
            "f1": 2 / 3,
            "recall": 2 / 3,
            "precision": 2 / 3,
            "centre_error": (1 + LOOSE + 0.5) / 3,
            "located": 2 / 3,
            "class_accuracy": 0.5,
        }
    )
    # nothing predicted: precision, recall, F1 and class accuracy 0, every digit LOOSE off
    none = detection_scores([(torch.zeros(0, 2), torch.zeros(0), canvases[0][2], canvases[0][3])])
    assert none == pytest.approx(
        {"f1": 0, "recall": 0, "precision": 0, "centre_error": LOOSE, "located": 0,
         "class_accuracy": 0}
    )  # fmt: skip


def test_counts_per_slot_mark_found_missed_and_empty():
    counts = canvas_counts(
        torch.tensor([[10.0, 13.0], [40.0, 40.0]]),
        torch.tensor([1, 2]),
        torch.tensor([[40.0, 41.0], [10.0, 10.0]]),  # found 1 px off; located 3 px off
        torch.tensor([2, 5]),
        slots=3,
    )
    assert counts["slot_hit"][:2].tolist() == [1.0, 0.0] and math.isnan(counts["slot_hit"][2])
    assert counts["slot_error"][:2].tolist() == pytest.approx([1.0, 3.0])
    assert math.isnan(counts["slot_error"][2])
    assert {k: float(counts[k]) for k in ("digits", "predicted", "hits", "correct", "located")} == {
        "digits": 2, "predicted": 2, "hits": 1, "correct": 1, "located": 2
    }  # fmt: skip


def _perfect_output(slots: torch.Tensor, size: int = 4, stride: int = 16) -> torch.Tensor:
    """A detector output that decodes exactly to ``slots``' digits."""
    objectness, offsets, classes = map_targets(slots, size, stride)
    logits = torch.full((len(slots), 10, size, size), -5.0)
    logits.scatter_(1, classes.clamp(min=0)[:, None], 5.0)
    return torch.cat([torch.where(objectness > 0, 8.0, -8.0)[:, None], offsets, logits], dim=1)


def test_detection_task_scores_and_loss():
    task = get_task("detection", 64)
    slots = torch.tensor(
        [[[7.5, 7.5, 3.0], [40.0, 20.0, 9.0], [0.0, 0.0, -1.0]],
         [[50.5, 50.5, 1.0], [0.0, 0.0, -1.0], [0.0, 0.0, -1.0]]]
    )  # fmt: skip
    output = _perfect_output(slots)
    metrics, scores = task.evaluate(torch.nn.Identity(), output, slots)
    assert metrics["f1"] == metrics["recall"] == metrics["class_accuracy"] == 1.0
    assert metrics["centre_error"] == pytest.approx(0.0, abs=1e-5)
    assert scores["slot_hit"].shape == (2, 3) and scores["digits"].tolist() == [2.0, 1.0]
    assert task.reached(metrics)
    # the loss falls to (almost) nothing on the perfect output and grows when a digit is missed
    missed = output.clone()
    missed[0, 0, 0, 0] = -8.0
    assert task.loss(output, slots) < 0.01 < task.loss(missed, slots)
    metrics, _ = task.evaluate(torch.nn.Identity(), missed, slots)
    assert metrics["recall"] == pytest.approx(2 / 3) and metrics["precision"] == 1.0


def test_comparison_interval_by_hand():
    # diff 1, standard error sqrt(2/3), Welch dof 4 -> t 2.776
    c = compare_variants([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], margin=1.0)
    half = 2.776 * math.sqrt(2 / 3)
    assert (c.difference, c.low, c.high) == pytest.approx((1.0, 1 - half, 1 + half))
    assert c.verdict == "inconclusive"


@pytest.mark.parametrize(
    ("variant", "want"),
    [
        ([0.50, 0.52, 0.48, 0.51], "better"),  # lower error than plain's ~1.0
        ([1.50, 1.52, 1.48, 1.51], "worse"),
        ([1.01, 0.99, 1.00, 1.02], "equivalent within ±0.1"),
        ([0.2, 1.9, 0.4, 1.7], "inconclusive"),
    ],
)
def test_comparison_verdict_every_branch(variant, want):
    plain = [1.00, 1.02, 0.98, 1.01]
    assert compare_variants(plain, variant, margin=0.1).verdict == want
    # higher-is-better metrics read the other way round
    flipped = {"better": "worse", "worse": "better"}.get(want, want)
    assert compare_variants(plain, variant, margin=0.1, lower_is_better=False).verdict == flipped
    with pytest.raises(ValueError, match="2 seeds"):
        compare_variants([1.0], variant, margin=0.1)


def test_detection_loss_on_canvases_without_digits_is_the_objectness_alone():
    task = get_task("detection", 64)
    empty = torch.tensor([[[0.0, 0.0, -1.0]] * 3])
    output = torch.zeros(1, 13, 4, 4)
    loss = task.loss(output, empty)
    assert torch.isfinite(loss) and loss == pytest.approx(math.log(2.0))  # BCE at logit 0


def test_paired_comparison_by_hand():
    # differences 1.0, 0.9, 1.1: mean 1, sd 0.1, se 0.1 / sqrt(3), 2 dof -> t 4.303
    c = compare_variants([1.0, 2.0, 3.0], [2.0, 2.9, 4.1], margin=0.1, paired=True)
    half = 4.303 * 0.1 / math.sqrt(3)
    assert (c.difference, c.low, c.high) == pytest.approx((1.0, 1 - half, 1 + half))
    assert c.verdict == "worse"  # higher error
    # the same numbers unpaired: the seed-to-seed spread hides the shift
    unpaired = compare_variants([1.0, 2.0, 3.0], [2.0, 2.9, 4.1], margin=0.1)
    assert unpaired.verdict == "inconclusive"
    with pytest.raises(ValueError, match="one value per seed"):
        compare_variants([1.0, 2.0, 3.0], [2.0, 2.9], margin=0.1, paired=True)
