"""Pointing game, IoU and Dice on masks whose answers are known."""

import numpy as np
import pytest

from brainmri.explain.localization import (binarize, dice, heatmap_iou, iou, localization_table, pointing_game,
                                          selection_and_evaluation)


def square_mask(top, left, side, size=10):
    m = np.zeros((size, size), dtype=np.uint8)
    m[top : top + side, left : left + side] = 1
    return m


def peak_at(y, x, size=10):
    h = np.zeros((size, size), dtype=np.float32)
    h[y, x] = 1
    return h


def test_pointing_game_hits_misses_and_tolerance():
    masks = np.stack([square_mask(2, 2, 3)] * 3)
    heatmaps = np.stack([peak_at(3, 3), peak_at(8, 8), peak_at(5, 4)])
    np.testing.assert_array_equal(pointing_game(heatmaps, masks), [True, False, False])
    np.testing.assert_array_equal(pointing_game(heatmaps, masks, tolerance=1), [True, False, True])


def test_pointing_game_refuses_images_without_a_target():
    masks = np.stack([square_mask(2, 2, 3), np.zeros((10, 10), np.uint8)])
    with pytest.raises(ValueError, match=r"masks \[1\] are empty"):
        pointing_game(np.stack([peak_at(3, 3)] * 2), masks)


def test_iou_and_dice_known_values():
    a = square_mask(0, 0, 4)[None]  # 16 pixels
    b = square_mask(0, 2, 4)[None]  # 16 pixels, 8 shared
    assert iou(a, b)[0] == pytest.approx(8 / 24)
    assert dice(a, b)[0] == pytest.approx(16 / 32)
    assert iou(a, square_mask(6, 6, 4)[None])[0] == 0


def test_identical_masks_score_one_and_two_empty_masks_agree():
    masks = np.stack([square_mask(1, 1, 5), np.zeros((10, 10), np.uint8)])
    np.testing.assert_array_equal(dice(masks, masks), [1, 1])
    np.testing.assert_array_equal(iou(masks, masks), [1, 1])


def test_thresholded_heatmap_iou():
    heat = np.zeros((1, 10, 10), np.float32)
    heat[0, 0:4, 0:4] = 0.9
    heat[0, 0:4, 4:8] = 0.3
    mask = square_mask(0, 0, 4)[None]
    assert heatmap_iou(heat, mask, threshold=0.5)[0] == 1
    assert heatmap_iou(heat, mask, threshold=0.2)[0] == pytest.approx(0.5)
    assert binarize(heat, 0.5).dtype == np.uint8
    with pytest.raises(ValueError, match="threshold must be in"):
        binarize(heat, 0)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="same shape"):
        dice(np.zeros((1, 4, 4)), np.zeros((1, 5, 5)))


def test_localization_table_scores_every_map():
    masks = np.stack([square_mask(2, 2, 3)] * 2)
    maps = {"hit": np.stack([peak_at(3, 3)] * 2), "half": np.stack([peak_at(3, 3), peak_at(8, 8)])}
    rows = localization_table(maps, masks)
    assert [row["map"] for row in rows] == ["hit", "half"]
    assert rows[0]["pointing_game"] == 1.0 and rows[1]["pointing_game"] == 0.5
    assert rows[0]["iou_at_0.5"] == pytest.approx(1 / 9) and set(rows[1]) == {"map", "pointing_game", "iou_at_0.5"}


def test_selection_and_evaluation_are_disjoint_seeded_halves():
    selection, evaluation = selection_and_evaluation(11, None, seed=3)
    assert len(selection) == len(evaluation) == 5 and not set(selection) & set(evaluation)
    assert list(selection) == sorted(selection) and list(evaluation) == sorted(evaluation)
    order = np.random.default_rng(3).permutation(11)
    np.testing.assert_array_equal(evaluation, np.sort(order[:5]))
    np.testing.assert_array_equal(selection, np.sort(order[5:10]))
    assert [len(part) for part in selection_and_evaluation(11, 2)] == [2, 2]
    with pytest.raises(ValueError, match="at least two scans"):
        selection_and_evaluation(1, None)
