"""make_tf_dataset: batches, label encoding, shuffling, and augmentation on training data only."""

import keras
import numpy as np
import pytest

from brainmri.data.pipeline import (
    RandomAffine, augmentation, crop_to_boxes, encode_labels, head_boxes, make_tf_dataset, random_head_crop,
)


def _images(n=12, size=16, channels=1):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)


def _collect(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_evaluation_batches_are_the_inputs_unchanged():
    x, y = _images(), np.arange(12) % 4
    ds = make_tf_dataset(x, y, batch_size=5, training=False, num_classes=4)
    batches = [b[0].shape[0] for b in ds]
    images, labels = _collect(ds)
    assert batches == [5, 5, 2]
    assert images.dtype == np.float32 and np.array_equal(images, x.astype(np.float32))
    assert labels.shape == (12, 4) and np.array_equal(labels.argmax(1), y) and np.all(labels.sum(1) == 1)


def test_binary_labels_are_one_float_column():
    x, y = _images(6), np.array([0, 1, 1, 0, 1, 0])
    _, labels = _collect(make_tf_dataset(x, y, batch_size=4, num_classes=2))
    assert labels.shape == (6, 1) and labels.dtype == np.float32 and labels.ravel().tolist() == y.tolist()


def test_training_shuffles_every_sample_once_per_epoch_reproducibly():
    x, y = _images(), np.arange(12) % 4
    first = _collect(make_tf_dataset(x, y, batch_size=4, training=True, augment=False, num_classes=4, seed=1))
    again = _collect(make_tf_dataset(x, y, batch_size=4, training=True, augment=False, num_classes=4, seed=1))
    assert np.array_equal(first[0], again[0])
    order = [int(np.flatnonzero((x.astype(np.float32) == img).all(axis=(1, 2, 3)))[0]) for img in first[0]]
    assert sorted(order) == list(range(12)) and order != list(range(12))
    assert np.array_equal(first[1].argmax(1), y[order])


def test_training_augments_within_the_pixel_range():
    x = np.zeros((16, 32, 32, 1), np.uint8)
    x[:, 8:24, 4:14] = 200  # an off-centre bright block: flips, shifts and intensity changes show
    images, _ = _collect(make_tf_dataset(x, np.zeros(16, int), batch_size=8, training=True, num_classes=4))
    assert images.min() >= 0 and images.max() <= 255
    changed = [not np.allclose(img, x[0]) for img in images]
    assert sum(changed) >= 12
    peaks = images.reshape(16, -1).max(axis=1)
    assert peaks.max() - peaks.min() > 10  # brightness/contrast jitter differs between samples


def test_augmentation_is_a_named_stack_of_keras_layers():
    layers = augmentation(seed=0)
    assert [layer.name for layer in layers.layers] == ["geometry", "brightness", "contrast"]
    out = layers(np.full((4, 16, 16, 3), 128, np.float32), training=False)
    assert np.allclose(np.asarray(out), 128)  # inference mode is the identity


@pytest.mark.parametrize("y, k, message", [(np.array([0, 4]), 4, r"\[0, 3\]"), (np.array([0, 1]), 1, "at least 2")])
def test_bad_labels_are_rejected(y, k, message):
    with pytest.raises(ValueError, match=message):
        encode_labels(y, k)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="12 images but 3 labels"):
        make_tf_dataset(_images(), np.zeros(3), num_classes=4)


def _blocks(n=8, size=33):
    x = np.zeros((n, size, size, 1), np.float32)
    x[:, 10:20, 4:12] = 200.0  # off-centre, so mirrors, turns and shifts all move it
    x[:, size // 2, size // 2] = 77.0  # the centre pixel
    return x


def test_random_affine_with_zero_ranges_is_the_identity():
    x = _blocks()
    out = np.asarray(RandomAffine(0, 0, 0, flip=False, seed=0)(x, training=True))
    assert np.allclose(out, x, atol=1e-4)


def test_random_affine_flip_alone_mirrors_some_images_and_keeps_the_rest():
    x = _blocks(16)
    out = np.asarray(RandomAffine(0, 0, 0, flip=True, seed=0)(x, training=True))
    mirrored = [np.allclose(o, x[0, :, ::-1], atol=1e-4) for o in out]
    kept = [np.allclose(o, x[0], atol=1e-4) for o in out]
    assert all(m or k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)


def test_random_affine_turns_and_zooms_about_the_centre():
    x = _blocks(16)
    out = np.asarray(RandomAffine(30, 0.3, 0, flip=True, seed=0)(x, training=True))
    assert np.allclose(out[:, 16, 16, 0], 77.0, atol=1e-3)  # the centre stays where it is
    assert not any(np.allclose(o, x[0], atol=1) for o in out)


def test_random_affine_shifts_stay_within_the_translation_range():
    x = np.zeros((32, 40, 40, 1), np.float32)
    x[:, 18:22, 18:22] = 255.0
    out = np.asarray(RandomAffine(0, 0, 0.1, flip=False, seed=0)(x, training=True))[..., 0]
    rows, cols = np.indices((40, 40))
    centroids = np.stack([(out * rows).sum((1, 2)) / out.sum((1, 2)), (out * cols).sum((1, 2)) / out.sum((1, 2))], 1)
    offsets = np.abs(centroids - 19.5)
    assert offsets.max() <= 4.0 + 1e-3 and offsets.max() > 1.0


def test_random_affine_is_the_identity_at_inference_and_survives_a_keras_round_trip(tmp_path):
    x = _blocks()
    inputs = keras.Input((33, 33, 1))
    model = keras.Model(inputs, RandomAffine(12, 0.1, 0.05, seed=3, name="geometry")(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    layer = loaded.get_layer("geometry")
    assert (layer.rotation_degrees, layer.zoom, layer.translation, layer.flip, layer.seed) == (12, 0.1, 0.05, True, 3)
    assert np.array_equal(np.asarray(loaded(x, training=False)), x)


@pytest.mark.parametrize("kwargs", [dict(rotation_degrees=-1), dict(zoom=1.0), dict(translation=-0.1)])
def test_random_affine_rejects_impossible_ranges(kwargs):
    with pytest.raises(ValueError, match="rotation_degrees >= 0"):
        RandomAffine(**kwargs)


def square_head(size=33, top=8, left=4, side=17, value=200.0):
    """One scan, black but for a bright square (the "head") with its top-left pixel at (top, left)."""
    image = np.zeros((1, size, size, 1), np.float32)
    image[0, top:top + side, left:left + side] = value
    return image


def test_head_boxes_find_the_bright_region_and_keep_blank_scans_whole():
    image = np.concatenate([square_head(), np.zeros((1, 33, 33, 1), np.float32)])
    boxes = head_boxes(image).numpy()
    np.testing.assert_allclose(boxes[0], [8 / 32, 4 / 32, 24 / 32, 20 / 32], atol=1e-6)
    np.testing.assert_allclose(boxes[1], [0, 0, 1, 1])
    widened = head_boxes(image[:1], 0.25).numpy()[0]
    np.testing.assert_allclose(widened, [8 / 32 - 0.25, 0.0, 24 / 32 + 0.25, 20 / 32 + 0.25], atol=1e-6)


def test_crop_to_head_fills_the_frame_with_the_head():
    cropped = crop_to_boxes(square_head(), head_boxes(square_head())).numpy()
    assert cropped.shape == (1, 33, 33, 1)
    np.testing.assert_allclose(cropped, 200.0, atol=1e-3)


def test_random_head_crop_crops_all_or_none_at_the_extreme_probabilities():
    images = np.repeat(square_head(), 4, axis=0)
    np.testing.assert_array_equal(random_head_crop(images, 0.0).numpy(), images)
    cropped = random_head_crop(images, 1.0, max_margin=1e-6).numpy()
    np.testing.assert_allclose(cropped, 200.0, atol=0.1)


def test_head_crop_in_the_training_pipeline_and_its_probability_checked():
    x = np.repeat(square_head(), 8, axis=0).astype(np.uint8)
    batch, _ = next(iter(make_tf_dataset(x, np.zeros(8), batch_size=8, training=True, num_classes=2, head_crop=1.0)))
    assert batch.shape == (8, 33, 33, 1)
    with pytest.raises(ValueError, match="head_crop is a probability"):
        make_tf_dataset(x, np.zeros(8), num_classes=2, head_crop=1.5)
