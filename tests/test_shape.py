"""Head-shape statistics from cv2 contours, on drawn shapes whose answers are known."""

import cv2
import numpy as np
import pytest

from brainmri import shape


def _ellipse(size=128, axes=(40, 40), value=200):
    image = np.zeros((size, size), np.uint8)
    cv2.ellipse(image, (size // 2, size // 2), axes, 0, 0, 360, value, thickness=-1)
    return image


def test_a_disc_is_round_and_has_its_area():
    stats = shape.shape_stats(_ellipse(axes=(40, 40)))
    assert stats["aspect_ratio"] == pytest.approx(1.0, abs=0.05)
    assert stats["circularity"] == pytest.approx(1.0, abs=0.12)
    assert stats["solidity"] == pytest.approx(1.0, abs=0.03)
    assert stats["area"] == pytest.approx(np.pi * 40**2 / 128**2, rel=0.05)
    assert stats["brightness"] == pytest.approx(200 / 255, abs=0.02)


def test_an_ellipse_twice_as_tall_has_aspect_two_and_is_less_circular():
    tall = shape.shape_stats(_ellipse(axes=(20, 40)))
    assert tall["aspect_ratio"] == pytest.approx(2.0, rel=0.08)
    assert tall["circularity"] < 0.9


def test_holes_inside_the_head_do_not_change_its_outline():
    image = _ellipse(axes=(40, 40))
    with_hole = image.copy()
    cv2.circle(with_hole, (64, 64), 10, 0, thickness=-1)
    assert shape.shape_stats(with_hole)["area"] == pytest.approx(shape.shape_stats(image)["area"], rel=1e-3)
    head, hole = int((image > 0).sum()), int(((image > 0) & (with_hole == 0)).sum())
    expected = 200 / 255 * (head - hole) / head  # the hole counts as dark head, not as outside
    assert shape.shape_stats(with_hole)["brightness"] == pytest.approx(expected, rel=1e-2)


def test_float_images_give_the_same_answer_and_blank_ones_nan():
    image = _ellipse()
    as_float = (image / 255.0).astype(np.float32)[..., None]
    assert shape.shape_stats(as_float)["area"] == pytest.approx(shape.shape_stats(image)["area"], rel=1e-3)
    blank = shape.shape_table(np.zeros((2, 32, 32, 1), np.float32))
    assert np.isnan(blank["area"]).all() and np.isnan(blank["aspect_ratio"]).all()


def test_bad_images_are_named():
    with pytest.raises(ValueError, match="must be in \\[0, 1\\]"):
        shape.shape_stats(np.full((8, 8), 3.0))
    with pytest.raises(ValueError, match="one grayscale image"):
        shape.shape_stats(np.zeros((2, 8, 8, 3), np.uint8))


def test_group_comparison_reports_the_standardized_difference():
    assert shape.standardized_difference(np.array([1.0, 2, 3]), np.array([1.0, 2, 3])) == 0.0
    assert shape.standardized_difference(np.array([2.0, 3, 4]), np.array([1.0, 2, 3])) == pytest.approx(1.0)
    round_heads = np.stack([_ellipse(axes=(40, 40 + k)) for k in range(3)])
    tall_heads = np.stack([_ellipse(axes=(25, 40 + k)) for k in range(3)])
    table = shape.compare_groups(round_heads, tall_heads)
    assert table["aspect_ratio"]["cohens_d"] < -1 and table["circularity"]["cohens_d"] > 1
    with pytest.raises(ValueError, match="at least two finite values"):
        shape.standardized_difference(np.array([1.0]), np.array([1.0, 2.0]))
