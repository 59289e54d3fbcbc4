"""Pseudo-masks from Grad-CAM, the paired image/mask pipeline, U-Net training and scoring."""

import keras
import numpy as np
import pytest

from brainmri.explain import GradCAM
from brainmri.models.unet import build_unet, compile_unet
from brainmri.segmentation import (
    mask_scores,
    predict_masks,
    pseudo_masks,
    resize_masks,
    resize_images,
    segmentation_dataset,
    train_unet,
)

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def classifier():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="predictions")(x))


def test_pseudo_masks_are_binary_and_empty_for_notumor():
    x = np.random.default_rng(0).uniform(0, 255, (6, 16, 16, 1)).astype("float32")
    labels = np.array([0, 1, 2, 3, 2, 0])
    explainer = GradCAM(classifier())
    masks = pseudo_masks(explainer, x, labels, CLASSES, threshold=0.5, batch_size=4)
    assert masks.shape == (6, 16, 16) and masks.dtype == np.uint8
    assert masks[labels == 2].sum() == 0
    tumour = labels != 2
    expected = explainer.explain(x[tumour], labels[tumour]).heatmaps >= 0.5
    np.testing.assert_array_equal(masks[tumour], expected)


def test_resizing_keeps_masks_binary():
    masks = np.zeros((2, 8, 8), np.uint8)
    masks[:, :4, :4] = 1
    small = resize_masks(masks, 4)
    assert small.shape == (2, 4, 4) and set(np.unique(small)) == {0, 1} and small[:, :2, :2].all()
    assert resize_images(np.zeros((2, 8, 8, 1), np.uint8), 4).shape == (2, 4, 4, 1)


def test_dataset_pairs_images_and_masks_and_refuses_mismatches():
    x = np.arange(4 * 8 * 8, dtype="float32").reshape(4, 8, 8, 1)
    m = (x[..., 0] > 100).astype(np.uint8)
    for image, mask in segmentation_dataset(x, m, batch_size=4, training=True).unbatch():
        assert np.array_equal(np.asarray(mask)[..., 0], (np.asarray(image)[..., 0] > 100).astype("float32"))
    with pytest.raises(ValueError, match="must match"):
        segmentation_dataset(x, m[:3], batch_size=2, training=False)


def test_unet_learns_a_fixed_square_and_scores_it():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 60, (32, 16, 16, 1)).astype("float32")
    x[:, 4:10, 4:10] += 180
    masks = np.zeros((32, 16, 16), np.uint8)
    masks[:, 4:10, 4:10] = 1
    model = compile_unet(build_unet((16, 16, 1), base_filters=4, depth=2), learning_rate=1e-2)
    history = train_unet(model, x[:24], masks[:24], x[24:], masks[24:], epochs=6, batch_size=8, verbose=0)
    assert history["loss"][-1] < history["loss"][0]
    expected_rates = [1e-2 * 0.5 * (1 + np.cos(np.pi * epoch / 6)) for epoch in range(6)]
    np.testing.assert_allclose(history["learning_rate"], expected_rates, rtol=1e-5)  # cosine decay per epoch
    scores = mask_scores(predict_masks(model, x[24:]), masks[24:])
    assert scores.n == 8 and 0 <= scores.dice <= 1 and scores.iou <= scores.dice
    assert mask_scores(masks, masks).as_dict() == {"dice": 1.0, "iou": 1.0, "n": 32}
    with pytest.raises(ValueError, match="no images selected"):
        mask_scores(masks, masks, keep=np.zeros(32, bool))


def test_threshold_sweep_finds_the_threshold_that_matches_the_truth():
    from brainmri.segmentation import threshold_sweep

    heat = np.zeros((1, 8, 8), np.float32)
    heat[0, :4, :4] = 0.8
    heat[0, :4, 4:] = 0.4
    truth = (heat >= 0.6).astype(np.uint8)
    rows = threshold_sweep(heat, truth, [0.3, 0.6, 0.9])
    assert [r["dice"] for r in rows] == [pytest.approx(2 / 3), 1.0, 0.0]


def test_choose_layer_and_threshold_scans_every_pair():
    from brainmri.segmentation import choose_layer_and_threshold

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="a_out")(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="b_out")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="predictions")(x))
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 1)).astype("float32")
    truth = np.zeros((4, 16, 16), np.uint8)
    truth[:, 4:8, 4:8] = 1
    layer, threshold, rows = choose_layer_and_threshold(model, images, np.array([0, 1, 3, 0]), truth,
                                                        ["a_out", "b_out"], [0.3, 0.6])
    assert len(rows) == 4 and {r["layer"] for r in rows} == {"a_out", "b_out"}
    best = max(rows, key=lambda r: r["dice"])
    assert (layer, threshold) == (best["layer"], best["threshold"])


def test_pseudo_segmentation_runs_the_pipeline_and_scores_it():
    from brainmri.segmentation import nonempty_share, pseudo_segmentation, score_against_truth

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, 16, 16, 1)).astype("float32")
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    explainer = GradCAM(classifier())
    keras.utils.set_random_seed(0)
    unets = {"small": build_unet((8, 8, 1), base_filters=4, depth=2)}
    run = pseudo_segmentation(explainer, (x[:6], labels[:6]), (x[6:], labels[6:]), CLASSES, unets,
                              threshold=0.5, size=8, epochs=1, batch_size=4)
    expected = resize_masks(pseudo_masks(explainer, x[6:], labels[6:], CLASSES, threshold=0.5), 8)
    np.testing.assert_array_equal(run.pseudo_val, expected)
    assert run.x_train.shape == (6, 8, 8, 1) and run.pseudo_train.shape == (6, 8, 8)
    assert run.pseudo_val[0].sum() == 0  # the notumor scan gets an empty mask
    assert len(run.histories["small"]["loss"]) == 1
    np.testing.assert_array_equal(run.predicted_val["small"], predict_masks(unets["small"], run.x_val))
    rows = score_against_truth(run, run.pseudo_val, np.array([False, True]))
    assert [(r["masks"], r["vs"]) for r in rows] == [("Grad-CAM pseudo-masks", "true masks"),
                                                     ("U-Net, small", "true masks"), ("U-Net, small", "pseudo-masks")]
    assert rows[0]["dice"] == 1.0 and rows[0]["n"] == 1 and rows[1]["dice"] == rows[2]["dice"]
    masks = np.zeros((4, 3, 3), np.uint8)
    masks[1, 0, 0] = 1
    assert nonempty_share(masks) == 0.25
    with pytest.raises(ValueError, match="no masks"):
        nonempty_share(masks[:0])


def test_training_subset_is_sorted_seeded_and_capped():
    from brainmri.segmentation import training_subset

    first = training_subset(10, 4, np.random.default_rng(3))
    np.testing.assert_array_equal(first, np.sort(np.random.default_rng(3).permutation(10)[:4]))
    assert len(set(first.tolist())) == 4 and list(first) == sorted(first)
    np.testing.assert_array_equal(training_subset(5, None, np.random.default_rng(0)), np.arange(5))


def test_load_phantom_records_provenance_unless_told_not_to(monkeypatch, tmp_path):
    from brainmri import config, results, segmentation

    calls = []
    monkeypatch.setattr(results, "_data_source", {"kind": "unknown", "root": ""})
    monkeypatch.setattr(segmentation, "ensure_phantom", lambda root, **kwargs: tmp_path / "phantom-abc")
    monkeypatch.setattr(segmentation, "load_dataset", lambda source, **kwargs: calls.append(kwargs) or "data")
    profile = config.get_profile("smoke")
    results.set_data_source("kaggle", tmp_path / "real")
    assert segmentation.load_phantom(profile, image_size=32, color="grayscale", capped=False,
                                     record_provenance=False) == "data"
    assert results.provenance()["data"] == "kaggle"
    assert calls[-1]["image_size"] == 32 and calls[-1]["color"] == "grayscale" and calls[-1]["max_per_class"] is None
    segmentation.load_phantom(profile)
    assert results.provenance()["data"] == "phantom" and results.provenance()["data_folder"] == "phantom-abc"
    assert calls[-1]["image_size"] == profile.image_size and calls[-1]["max_per_class"] == profile.max_per_class


def test_phantom_sample_pairs_each_drawn_scan_with_its_true_mask(tmp_path):
    from brainmri.data import load_dataset
    from brainmri.data.phantom import write_phantom
    from brainmri.segmentation import phantom_sample, training_subset

    phantom = load_dataset(write_phantom(tmp_path, per_class=6, image_size=32, seed=2), image_size=24)
    train, val = phantom_sample(phantom, 5, np.random.default_rng(7))
    picked = training_subset(len(phantom.x_train), 5, np.random.default_rng(7))
    np.testing.assert_array_equal(train.x, phantom.x_train[picked].astype("float32"))
    np.testing.assert_array_equal(train.y, phantom.y_train[picked])
    assert train.x.dtype == np.float32 and len(val.x) == len(phantom.x_val) and val.masks.shape == (len(val.x), 24, 24)
    for part in (train, val):
        has_mask = part.masks.reshape(len(part.masks), -1).max(axis=1) > 0
        np.testing.assert_array_equal(has_mask, part.tumour)
        np.testing.assert_array_equal(part.tumour, np.array(phantom.class_names)[part.y] != "notumor")


def test_real_scan_scores_match_tumour_scans_to_pseudo_masks_and_count_false_alarms():
    from brainmri.segmentation import real_scan_scores

    pseudo = np.zeros((4, 4, 4), np.uint8)
    pseudo[0, :2] = pseudo[1, :2] = 1
    predicted = pseudo.copy()
    predicted[1] = 0  # a missed tumour
    predicted[3, 0, 0] = 1  # a notumor scan given a mask
    scores = real_scan_scores(predicted, pseudo, np.array([0, 1, 2, 2]), CLASSES)
    assert scores["vs_pseudo_masks"]["n"] == 2 and scores["vs_pseudo_masks"]["dice"] == pytest.approx(0.5, abs=1e-3)
    assert scores["notumor_scans_with_a_mask"] == 0.5
