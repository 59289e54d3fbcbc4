"""Deletion / insertion curves, average drop and the baseline maps, on models whose answers are known."""

import keras
import numpy as np
import pytest

from brainmri.explain import CAM, GradCAM, GradCAMPlusPlus
from brainmri.explain.faithfulness import (
    DEFAULT_STEPS,
    auc_differences,
    average_drop_and_increase,
    beats,
    blurred,
    faithfulness_table,
    gaussian_maps,
    localization_maps,
    perturbation_curve,
    random_maps,
    rank_explainers,
    saliency_ranks,
    score_chosen_map,
)

SIZE = 8


def quadrant_brightness_model():
    """One 'sigmoid' output = mean brightness of the top-left 4x4 quadrant / 255: P(class 1) is known."""
    inputs = keras.Input((SIZE, SIZE, 1))
    p = keras.layers.Lambda(lambda x: keras.ops.mean(x[:, :4, :4, :], axis=(1, 2)) / 255.0)(inputs)
    return keras.Model(inputs, p)


def constant_model(p=0.7):
    inputs = keras.Input((SIZE, SIZE, 1))
    out = keras.layers.Lambda(lambda x: keras.ops.zeros_like(x[:, 0, 0, :]) + p)(inputs)
    return keras.Model(inputs, out)


def quadrant_map(n=2):
    maps = np.zeros((n, SIZE, SIZE), dtype="float32")
    maps[:, :4, :4] = 1
    return maps


def white(n=2):
    return np.full((n, SIZE, SIZE, 1), 255, dtype="float32")


def test_deletion_of_the_right_pixels_has_the_known_area():
    # 16 of 64 pixels carry the answer: p falls linearly to 0 by a quarter of the pixels, area 1/8.
    curve = perturbation_curve(quadrant_brightness_model(), white(), quadrant_map(), 1, mode="deletion", steps=16)
    np.testing.assert_allclose(curve.probabilities[:, :6], [[1, 0.75, 0.5, 0.25, 0, 0]] * 2, atol=1e-6)
    np.testing.assert_allclose(curve.auc, [0.125, 0.125], atol=1e-6)


def test_deletion_of_the_wrong_pixels_first_scores_worse():
    model = quadrant_brightness_model()
    right = perturbation_curve(model, white(), quadrant_map(), 1, mode="deletion", steps=16).auc
    wrong = perturbation_curve(model, white(), 1 - quadrant_map(), 1, mode="deletion", steps=16).auc
    # The wrong map deletes 48 irrelevant pixels first: p stays 1 for 3/4 of the curve, area 7/8.
    np.testing.assert_allclose(wrong, [0.875, 0.875], atol=1e-6)
    assert np.all(right < wrong)


def test_insertion_of_the_right_pixels_rises_first():
    model = quadrant_brightness_model()
    x = np.zeros((2, SIZE, SIZE, 1), dtype="float32")
    x[:, :4, :4] = 255
    right = perturbation_curve(model, x, quadrant_map(), 1, mode="insertion", steps=16)
    wrong = perturbation_curve(model, x, 1 - quadrant_map(), 1, mode="insertion", steps=16)
    np.testing.assert_allclose(right.probabilities[:, -1], 1, atol=1e-6)
    np.testing.assert_allclose(right.probabilities[:, 4], 1, atol=1e-6)  # a quarter inserted: all of it
    assert np.all(right.auc > wrong.auc)


def test_a_model_that_ignores_its_input_has_flat_curves():
    model, x, maps = constant_model(0.7), white(3), random_maps(3, (SIZE, SIZE), seed=1)
    for mode in ("deletion", "insertion"):
        np.testing.assert_allclose(perturbation_curve(model, x, maps, 1, mode=mode).auc, 0.7, atol=1e-6)
    assert average_drop_and_increase(model, x, maps, 1) == (0.0, 0.0)


def test_average_drop_of_a_half_map_is_fifty_percent():
    maps = np.full((2, SIZE, SIZE), 0.5, dtype="float32")
    drop, increase = average_drop_and_increase(quadrant_brightness_model(), white(), maps, 1)
    assert drop == pytest.approx(50.0, abs=1e-4) and increase == 0.0
    drop0, _ = average_drop_and_increase(quadrant_brightness_model(), white(), maps, 0)  # P(0) = 1 - p
    assert drop0 == pytest.approx(0.0)


def test_baseline_maps():
    g = gaussian_maps(2, (9, 9))
    assert g.shape == (2, 9, 9) and g.max() == 1 and g[0, 4, 4] == 1 and g.min() == 0
    r1, r2 = random_maps(3, (16, 16), seed=4), random_maps(3, (16, 16), seed=4)
    np.testing.assert_array_equal(r1, r2)
    assert r1.shape == (3, 16, 16) and r1.min() >= 0 and r1.max() <= 1
    assert not np.allclose(r1[0], r1[1])


def test_ties_are_broken_at_random_not_in_raster_order():
    ranks = saliency_ranks(np.zeros((1, SIZE, SIZE)))
    assert sorted(ranks.ravel()) == list(range(SIZE * SIZE))
    assert ranks[0, 0].max() > SIZE  # the top row is not deleted first
    ranks = saliency_ranks(quadrant_map(1))
    assert ranks[0, :4, :4].max() == 15


def test_blur_keeps_shape_and_mean():
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 1)).astype("float32")
    b = blurred(x)
    assert b.shape == x.shape and b.std() < x.std()


def test_table_and_beats():
    model, x = quadrant_brightness_model(), white()
    maps = {"right": quadrant_map(), "wrong": 1 - quadrant_map()}
    rows, curves = faithfulness_table(model, x, maps, 1, steps=8)
    assert [r["map"] for r in rows] == ["right", "wrong"]
    assert set(curves["right"]) == {"deletion", "insertion"}
    assert beats(rows, "right", ("wrong",))["deletion_auc"]
    assert not beats(rows, "wrong", ("right",))["deletion_auc"]


def test_auc_differences_favour_the_right_map_on_both_curves():
    model = quadrant_brightness_model()
    x = quadrant_map(6)[..., None] * 255  # bright where the model reads, so a blur lowers its output
    maps = {"right": quadrant_map(6), "wrong": 1 - quadrant_map(6), "same": quadrant_map(6)}
    _, curves = faithfulness_table(model, x, maps, 1, steps=8)
    rows = auc_differences(curves, "right", ("wrong", "same"), resamples=200)
    assert [(r["vs"], r["measure"]) for r in rows] == [
        ("wrong", "deletion_auc"), ("wrong", "insertion_auc"), ("same", "deletion_auc"), ("same", "insertion_auc")]
    for row in rows[:2]:  # deleting / inserting the quadrant the model reads first wins, on every scan
        assert row["low"] > 0 and row["low"] <= row["advantage"] <= row["high"]
    for row in rows[2:]:
        assert row["advantage"] == row["low"] == row["high"] == 0.0


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="heatmaps \\(B, H, W\\)"):
        perturbation_curve(constant_model(), white(), np.zeros((2, 4, 4)), 0)
    with pytest.raises(ValueError, match="mode must be"):
        perturbation_curve(constant_model(), white(), quadrant_map(), 0, mode="reveal")


def fine_and_coarse_model():
    """Brightness read through a full-resolution layer ("fine_out") and a 1x1 summary of it ("coarse_out").

    P(class 1) rises with mean brightness. Grad-CAM at the fine layer marks the bright pixels;
    at the coarse layer its map is one value, flat, so its pixel order is arbitrary.
    """
    inputs = keras.Input((SIZE, SIZE, 1))
    fine = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", name="fine_out")(inputs)
    coarse = keras.layers.AveragePooling2D(SIZE, name="coarse_out")(fine)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(coarse)
    head = keras.layers.Dense(2, activation="softmax", name="head")
    outputs = head(pooled)
    head.set_weights([np.array([[-0.05, 0.05]], np.float32), np.zeros(2, np.float32)])
    return keras.Model(inputs, outputs)


def test_rank_explainers_puts_the_layer_that_localises_first():
    x = np.zeros((4, SIZE, SIZE, 1), np.float32)
    x[:, :4, :4] = 255.0
    rows = rank_explainers(fine_and_coarse_model(), x, 1, ["coarse_out", "fine_out"],
                           explainers=(GradCAM, GradCAMPlusPlus), steps=8)
    assert len(rows) == 4 and {row["layer"] for row in rows[:2]} == {"fine_out"}
    assert {row["method"] for row in rows[:2]} == {"Grad-CAM", "Grad-CAM++"}
    assert rows[0]["map"] == f"{rows[0]['method']} @ fine_out"
    keys = [(row["measures_beating_baselines"], row["insertion_minus_deletion"]) for row in rows]
    assert keys == sorted(keys, reverse=True)
    assert rows[0]["measures_beating_baselines"] > rows[-1]["measures_beating_baselines"]
    assert np.isclose(keys[0][1], rows[0]["insertion_auc"] - rows[0]["deletion_auc"])


def test_rank_explainers_counts_measures_against_baselines_scored_on_the_same_images():
    x = np.zeros((4, SIZE, SIZE, 1), np.float32)
    x[:, :4, :4] = 255.0
    model = fine_and_coarse_model()
    rows = rank_explainers(model, x, 1, ["fine_out"], explainers=(GradCAM,), steps=8)
    maps = {"fine": GradCAM(model, layer="fine_out").explain(x, 1).heatmaps,
            "random": random_maps(4, (SIZE, SIZE)), "centred Gaussian": gaussian_maps(4, (SIZE, SIZE))}
    table, _ = faithfulness_table(model, x, maps, 1, steps=8)
    expected = sum(beats(table, "fine", ("random", "centred Gaussian")).values())
    assert [row["map"] for row in rows] == ["Grad-CAM @ fine_out"]
    assert rows[0]["measures_beating_baselines"] == expected


def test_rank_explainers_needs_a_layer_and_an_explainer():
    with pytest.raises(ValueError, match="at least one layer"):
        rank_explainers(fine_and_coarse_model(), white(), 1, [])
    with pytest.raises(ValueError, match="one explainer"):
        rank_explainers(fine_and_coarse_model(), white(), 1, ["fine_out"], explainers=())


def test_score_chosen_map_merges_cam_into_grad_cam_and_summarises_the_chosen_map():
    x = np.zeros((4, SIZE, SIZE, 1), np.float32)
    x[:, :4, :4] = 255.0
    model, classes = fine_and_coarse_model(), np.ones(4, int)
    chosen = rank_explainers(model, x, classes, ["fine_out"], explainers=(GradCAM,), steps=8)[0]
    report = score_chosen_map(model, x, classes, chosen, [GradCAM(model), CAM(model)])
    assert report.cam_equals_grad_cam
    assert [row["map"] for row in report.rows] == ["Grad-CAM", "Grad-CAM @ fine_out", "random", "centred Gaussian"]
    assert set(report.wins) == {"Grad-CAM", "Grad-CAM @ fine_out"}
    summary = report.summary()
    assert summary["n_scans"] == 4 and summary["chosen_map"] == "Grad-CAM @ fine_out"
    assert summary["chosen_layer"] == "fine_out" and summary["steps"] == DEFAULT_STEPS
    assert report.wins["Grad-CAM @ fine_out"]["insertion_auc"] and "insertion_auc" in summary["chosen_beats_both_on"]
    assert [row["vs"] for row in summary["chosen_auc_advantage"]][::2] == ["random", "centred Gaussian"]


def test_localization_maps_holds_each_method_every_earlier_block_the_chosen_map_and_the_baselines():
    x = np.zeros((3, SIZE, SIZE, 1), np.float32)
    x[:, :4, :4] = 255.0
    model, classes = fine_and_coarse_model(), np.ones(3, int)
    chosen = {"map": "Grad-CAM++ @ fine_out", "method": "Grad-CAM++", "layer": "fine_out"}
    maps = localization_maps(model, x, classes, chosen)
    assert list(maps) == ["Grad-CAM", "Grad-CAM++", "CAM", "Grad-CAM @ fine_out", "Grad-CAM++ @ fine_out",
                          "random", "centred Gaussian"]
    assert all(m.shape == (3, SIZE, SIZE) for m in maps.values())
    np.testing.assert_allclose(maps["Grad-CAM++ @ fine_out"], GradCAMPlusPlus(model, layer="fine_out").explain(x, classes).heatmaps)
    assert maps["Grad-CAM++ @ fine_out"][:, :4, :4].min() > maps["Grad-CAM++ @ fine_out"][:, 4:, 4:].max()
