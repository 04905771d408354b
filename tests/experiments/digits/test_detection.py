"""The detector's building blocks against hand-computed values: heatmap targets and their
decoding, matching at a radius, the scores, and the seed-comparison rule (every branch)."""

import math

import pytest
import torch

from coordconv.experiments.digits.detection import (
    compare_variants,
    decode_centres,
    detection_scores,
    heatmap_targets,
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
    found, scores = decode_centres(logits, offsets, 16)
    torch.testing.assert_close(found, torch.tensor([[63.0, 50.5], [7.5, 7.5], [40.0, 20.0]]))
    assert scores[0] > scores[1] == scores[2] > 0.5
    assert len(decode_centres(torch.full((4, 4), -1.0), offsets, 16)[0]) == 0


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
    scores = detection_scores(canvases, radius=2.0)
    assert scores == pytest.approx(
        {"centre_error": 0.75, "recall": 2 / 3, "precision": 2 / 3, "class_accuracy": 0.5}
    )
    empty = detection_scores(
        [(torch.zeros(0, 2), torch.zeros(0), torch.zeros(0, 2), torch.zeros(0))]
    )
    assert all(math.isnan(v) for v in empty.values())


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
