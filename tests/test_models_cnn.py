"""Model builders: published parameter counts, shapes, outputs, normalisation and .keras round trips."""

import numpy as np
import pytest
import keras

from brainmri.models import ARCHITECTURES, DEFAULT_ARCH, build_model, get_builder
from brainmri.models.layers import PerImageStandardization

SMALL = (32, 32, 1)
# The from-scratch builders of brainmri.models.cnn (transfer models are tested in test_transfer.py).
CNN_ARCHS = [arch for arch in ARCHITECTURES if get_builder(arch).__module__ == "brainmri.models.cnn"]


@pytest.mark.parametrize("arch, expected", [
    ("plain_cnn_1", 33_488), ("plain_cnn_2", 266_364), ("plain_cnn_3", 146_860), ("plain_cnn_4", 9_369_668),
])
def test_plain_cnns_match_published_parameter_counts(arch, expected):
    model = build_model(arch, input_shape=(256, 256, 3), num_classes=4)
    assert model.count_params() == expected


@pytest.mark.parametrize("arch", CNN_ARCHS)
@pytest.mark.parametrize("num_classes, width", [(4, 4), (2, 1)])
def test_every_architecture_gives_probabilities(arch, num_classes, width):
    model = build_model(arch, input_shape=SMALL, num_classes=num_classes)
    x = np.random.default_rng(0).uniform(0, 255, (3, *SMALL)).astype("float32")
    y = model.predict(x, verbose=0)
    assert y.shape == (3, width)
    assert np.all((y >= 0) & (y <= 1))
    if num_classes > 2:
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    else:
        assert model.get_layer("predictions").activation is keras.activations.sigmoid


@pytest.mark.parametrize("arch", CNN_ARCHS)
def test_every_layer_is_named_and_blocks_are_marked(arch):
    model = build_model(arch, input_shape=SMALL, num_classes=4)
    again = build_model(arch, input_shape=SMALL, num_classes=4)
    auto = [a.name for a, b in zip(model.layers, again.layers) if a.name != b.name]
    assert not auto, f"{arch}: layers left with Keras's automatic (numbered) names: {auto}"
    assert any(layer.name.endswith("_out") for layer in model.layers)
    assert model.layers[1].name == "standardize"


@pytest.mark.parametrize("arch", ["residual_cnn", "plain_cnn_2", "binary_cnn"])
def test_keras_round_trip_without_custom_objects(arch, tmp_path):
    model = build_model(arch, input_shape=SMALL, num_classes=4 if arch != "binary_cnn" else 2)
    path = tmp_path / f"{arch}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(1).uniform(0, 255, (2, *SMALL)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(loaded.get_layer("standardize"), PerImageStandardization)


def test_residual_cnn_is_cam_ready_and_scales_with_its_arguments():
    model = build_model("residual_cnn", input_shape=(64, 64, 1), num_classes=4, width=8, depth=2, stages=3)
    gap = model.get_layer("gap")
    assert gap.input.shape[-1] == 8 * 2**2  # last stage: width * 2**(stages - 1) channels
    assert len([l for l in model.layers if l.name.endswith("_out")]) == 3 * 2
    assert any(l.name.endswith("_se_gate") for l in model.layers)
    no_se = build_model("residual_cnn", input_shape=(64, 64, 1), num_classes=4, width=8, depth=2, stages=3, se_ratio=0)
    assert not any("_se_" in l.name for l in no_se.layers)
    assert no_se.count_params() < model.count_params()


def test_residual_cnn_first_stride_sets_the_resolution_of_the_last_maps():
    sides = {stride: build_model("residual_cnn", input_shape=(128, 128, 1), num_classes=4, first_stride=stride)
             .get_layer("gap").input.shape[1] for stride in (1, 2)}
    assert sides == {1: 8, 2: 4}
    with pytest.raises(ValueError, match="first_stride must be 1 or 2"):
        build_model("residual_cnn", input_shape=SMALL, num_classes=4, first_stride=4)


def test_residual_blocks_start_as_the_identity():
    model = build_model("residual_cnn", input_shape=SMALL, num_classes=4, width=4, depth=2, stages=1)
    probe = keras.Model(model.input, [model.get_layer(n).output for n in ("stage1_block1_out", "stage1_block2_out")])
    x = np.random.default_rng(3).uniform(0, 255, (2, *SMALL)).astype("float32")
    block_in, block_out = (np.asarray(t) for t in probe(x, training=False))
    assert block_in.max() > 0
    np.testing.assert_allclose(block_out, block_in, rtol=1e-6)  # zero-initialised last BatchNorm scale


def test_default_arch_and_every_cnn_are_registered():
    assert DEFAULT_ARCH in ARCHITECTURES
    assert set(CNN_ARCHS) == {"residual_cnn", "plain_cnn_1", "plain_cnn_2", "plain_cnn_3", "plain_cnn_4", "binary_cnn"}


def test_unknown_arch_and_bad_input_are_named():
    with pytest.raises(ValueError, match="unknown architecture 'resnet9'"):
        get_builder("resnet9")
    with pytest.raises(ValueError, match="1 or 3 channels"):
        build_model("residual_cnn", input_shape=(32, 32, 2), num_classes=4)
    with pytest.raises(ValueError, match="num_classes must be at least 2"):
        build_model("binary_cnn", input_shape=SMALL, num_classes=1)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*5"):
        build_model("plain_cnn_4", input_shape=(40, 40, 3), num_classes=4)


def test_standardization_removes_brightness_and_contrast():
    layer = PerImageStandardization()
    x = np.random.default_rng(2).uniform(20, 120, (2, 16, 16, 1)).astype("float32")
    y = np.asarray(layer(x))
    np.testing.assert_allclose(y.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(1, 2, 3)), 1, atol=1e-4)
    np.testing.assert_allclose(np.asarray(layer(1.8 * x + 30)), y, atol=1e-4)  # brighter, more contrast


def test_standardization_keeps_constant_images_finite():
    y = np.asarray(PerImageStandardization()(np.full((1, 8, 8, 1), 200.0, "float32")))
    np.testing.assert_array_equal(y, 0.0)
    with pytest.raises(ValueError, match="min_std must be positive"):
        PerImageStandardization(min_std=0)
