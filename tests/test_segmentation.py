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
    from brainmri.segmentation import best_threshold, threshold_sweep

    heat = np.zeros((1, 8, 8), np.float32)
    heat[0, :4, :4] = 0.8
    heat[0, :4, 4:] = 0.4
    truth = (heat >= 0.6).astype(np.uint8)
    rows = threshold_sweep(heat, truth, [0.3, 0.6, 0.9])
    assert [r["dice"] for r in rows] == [pytest.approx(2 / 3), 1.0, 0.0]
    assert best_threshold(rows) == 0.6


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
