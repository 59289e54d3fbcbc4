"""Feature maps of every conv block, and the dropout invariants (mean kept, variance p/(1-p)·y²)."""

import numpy as np
import pytest

from brainmri.models import build_model
from brainmri.models.introspection import (
    conv_block_names, dropout_on_image, dropout_study, feature_maps,
)

IMAGE = np.random.default_rng(0).uniform(0, 255, (32, 32, 1)).astype("float32")


def test_feature_maps_of_every_plain_cnn_block_halve_in_size():
    model = build_model("plain_cnn_2", input_shape=(32, 32, 1), num_classes=4)
    maps = feature_maps(model, IMAGE)
    assert list(maps) == ["block1_out", "block2_out", "block3_out", "block4_out"]
    assert [m.shape for m in maps.values()] == [(16, 16, 4), (8, 8, 8), (4, 4, 16), (2, 2, 16)]
    assert all(np.all(m >= 0) for m in maps.values())  # max-pooled ReLU outputs


def test_feature_maps_of_residual_cnn_match_the_model_layers():
    model = build_model("residual_cnn", input_shape=(32, 32, 1), num_classes=4, width=4, depth=2, stages=2)
    names = conv_block_names(model)
    assert names == ["stage1_block1_out", "stage1_block2_out", "stage2_block1_out", "stage2_block2_out"]
    maps = feature_maps(model, IMAGE)
    assert maps["stage1_block1_out"].shape == (8, 8, 4) and maps["stage2_block2_out"].shape == (4, 4, 8)
    # the last block's maps are what the global average pooling averages
    import keras
    gap = keras.Model(model.input, model.get_layer("gap").output)(IMAGE[None], training=False)
    np.testing.assert_allclose(maps["stage2_block2_out"].mean(axis=(0, 1)), np.asarray(gap)[0], rtol=1e-5, atol=1e-6)


def test_feature_maps_reject_a_wrong_image_and_a_model_without_blocks():
    model = build_model("binary_cnn", input_shape=(32, 32, 1), num_classes=2)
    with pytest.raises(ValueError, match=r"image has shape \(32, 32, 3\)"):
        feature_maps(model, np.zeros((32, 32, 3)))
    import keras
    bare = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense_head")], name="bare")
    with pytest.raises(ValueError, match="model 'bare' has no layer named"):
        conv_block_names(bare)


def test_dropout_keeps_the_mean_and_variance_grows_as_p_over_1_minus_p():
    study = dropout_study(np.linspace(-1, 1, 16), rates=(0.0, 0.2, 0.5, 0.8), units=8, repeats=4000)
    assert study.samples.shape == (4, 4000, 8)
    # p = 0 is the identity, up to rounding: rows of one batched matrix product may round differently
    np.testing.assert_allclose(study.samples[0], np.broadcast_to(study.reference, (4000, 8)), rtol=0, atol=1e-6)
    rows = study.table()
    assert all(row["mean shift / mean |output|"] < 0.1 for row in rows)
    variances = [row["variance (mean over units)"] for row in rows]
    assert variances[0] < 1e-12 and all(a < b for a, b in zip(variances, variances[1:]))
    for row in rows[1:]:
        assert row["variance (mean over units)"] == pytest.approx(row["expected p/(1-p)·y² (mean)"], rel=0.1)
    kept = study.samples[2] != 0  # p = 0.5: survivors are doubled
    np.testing.assert_allclose(study.samples[2][kept], np.broadcast_to(2 * study.reference, (4000, 8))[kept],
                               rtol=1e-5, atol=1e-6)


def test_dropout_on_an_image_zeroes_a_fraction_p_and_rescales_the_rest():
    image = np.full((64, 64, 1), 100.0, "float32")
    dropped = dropout_on_image(image, rates=(0.1, 0.5))
    for p, out in dropped.items():
        zero = out == 0
        assert zero.mean() == pytest.approx(p, abs=0.03)
        np.testing.assert_allclose(out[~zero], 100.0 / (1 - p), rtol=1e-5)
        assert out.mean() == pytest.approx(100.0, rel=0.05)


def test_dropout_study_rejects_bad_arguments():
    with pytest.raises(ValueError, match="one 1-D input vector"):
        dropout_study(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"rates must be in \[0, 1\)"):
        dropout_study(np.zeros(3), rates=(0.5, 1.0))


def test_figures_have_a_row_per_block_and_a_panel_per_rate():
    from brainmri.plots.classifier_inspection import plot_dropout_images, plot_dropout_study, plot_feature_maps

    model = build_model("plain_cnn_1", input_shape=(32, 32, 1), num_classes=4)
    figure = plot_feature_maps(IMAGE, feature_maps(model, IMAGE), channels=3)
    assert len(figure.axes) == 4 * (3 + 1)
    study = dropout_study(np.ones(4), rates=(0.0, 0.5), units=3, repeats=50)
    assert len(plot_dropout_study(study).axes) == 3  # variance, its twin for the mean shift, histograms
    assert len(plot_dropout_images(IMAGE, dropout_on_image(IMAGE, rates=(0.2, 0.4))).axes) == 3
