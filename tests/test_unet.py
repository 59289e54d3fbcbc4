"""U-Net: shapes, the classifier encoder copy, the BCE + Dice loss, and a saved model round trip."""

import keras
import numpy as np
import pytest

from brainmri.models import build_model
from brainmri.models.unet import (
    bce_dice_loss,
    build_unet,
    compile_unet,
    dice_metric,
    resolution_taps,
    soft_dice,
    unet_from_classifier,
)


def test_unet_output_is_one_probability_per_pixel():
    model = build_unet((32, 32, 1), base_filters=4, depth=3)
    out = model.predict(np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 1)), verbose=0)
    assert out.shape == (2, 32, 32, 1)
    assert out.min() >= 0 and out.max() <= 1


def test_unet_refuses_sides_it_cannot_pool():
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth = 8"):
        build_unet((36, 36, 1), depth=3)


def test_dice_is_one_on_identical_masks_and_loss_is_small():
    masks = np.zeros((3, 16, 16, 1), "float32")
    masks[0, 2:8, 2:8] = 1
    masks[1, 10:, 10:] = 1  # masks[2] stays empty: two empty masks agree
    np.testing.assert_allclose(soft_dice(masks, masks), 1, atol=1e-6)
    np.testing.assert_allclose(dice_metric(masks, masks), 1, atol=1e-6)
    perfect = np.clip(masks, 1e-6, 1 - 1e-6)
    assert np.all(np.asarray(bce_dice_loss(masks, perfect)) < 1e-3)
    assert np.all(np.asarray(bce_dice_loss(masks[:2], 1 - perfect[:2])) > 1)


@pytest.fixture(scope="module")
def classifier():
    keras.utils.set_random_seed(0)
    return build_model("residual_cnn", input_shape=(32, 32, 1), num_classes=4, width=4, stages=2)


def test_classifier_taps_run_from_fine_to_coarse(classifier):
    sides = [t.shape[1] for t in resolution_taps(classifier)]
    deepest = [layer for layer in classifier.layers if len(layer.output.shape) == 4][-1]
    assert sides[0] == 32 and sides[-1] == deepest.output.shape[1]
    assert sides == sorted(set(sides), reverse=True) and len(sides) >= 3


def test_unet_from_classifier_copies_the_encoder_and_leaves_the_classifier_alone(classifier):
    unet = compile_unet(unet_from_classifier(classifier, decoder_filters=4))
    x = np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 1)).astype("float32")
    assert unet.predict(x, verbose=0).shape == (4, 32, 32, 1)
    encoder = unet.get_layer("encoder")
    before = classifier.get_layer("stem_conv").kernel.numpy().copy()
    np.testing.assert_array_equal(encoder.get_layer("stem_conv").kernel.numpy(), before)
    masks = np.zeros((4, 32, 32, 1), "float32")
    masks[:, 8:16, 8:16] = 1
    unet.fit(x, masks, epochs=1, batch_size=4, verbose=0)
    assert not np.allclose(encoder.get_layer("stem_conv").kernel.numpy(), before)
    np.testing.assert_array_equal(classifier.get_layer("stem_conv").kernel.numpy(), before)


def test_saved_unet_loads_without_custom_objects(tmp_path):
    model = compile_unet(build_unet((16, 16, 1), base_filters=2, depth=2))
    x = np.random.default_rng(2).uniform(0, 255, (2, 16, 16, 1)).astype("float32")
    model.save(tmp_path / "unet.keras")
    loaded = keras.models.load_model(tmp_path / "unet.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_classifier_encoder_rebuilt_for_another_size_keeps_the_weights(classifier):
    unet = unet_from_classifier(classifier, input_shape=(16, 16, 1), decoder_filters=4)
    assert unet.output_shape == (None, 16, 16, 1)
    encoder = unet.get_layer("encoder")
    np.testing.assert_array_equal(encoder.get_layer("stage2_block1_a_conv").kernel.numpy(),
                                  classifier.get_layer("stage2_block1_a_conv").kernel.numpy())


def test_a_classifier_without_full_resolution_maps_is_refused():
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(2, 3, strides=2, padding="same")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    with pytest.raises(ValueError, match="feature maps at the input resolution"):
        unet_from_classifier(model)
