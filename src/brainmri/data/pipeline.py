"""``tf.data`` input pipelines: shuffled batches, Keras augmentation layers on training data only,
prefetching.

The intensity augmentation is deliberately generous: the project is also scored on a brighter,
higher-contrast re-processed copy of the test set, and a classifier that has only seen one
scanner's intensity range does not transfer.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from brainmri.config import SEED

ROTATION_DEGREES = 10
ZOOM = 0.15
TRANSLATION = 0.05
BRIGHTNESS = 0.25  # fraction of the 0..255 range, either way
CONTRAST = 0.3


def augmentation(seed: int = SEED) -> keras.Sequential:
    """The training augmentation, as Keras preprocessing layers on float32 pixels in [0, 255].

    Geometric: horizontal flip (the brain is roughly symmetric), rotation up to 10 degrees, zoom up
    to 15%, translation up to 5%, filling with black like the scanner background. Intensity:
    brightness and contrast jitter, clipped back to [0, 255].
    """
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed, name="flip"),
        keras.layers.RandomRotation(ROTATION_DEGREES / 360, fill_mode="constant", seed=seed + 1, name="rotate"),
        keras.layers.RandomZoom(ZOOM, fill_mode="constant", seed=seed + 2, name="zoom"),
        keras.layers.RandomTranslation(TRANSLATION, TRANSLATION, fill_mode="constant", seed=seed + 3, name="translate"),
        keras.layers.RandomBrightness(BRIGHTNESS, value_range=(0, 255), seed=seed + 4, name="brightness"),
        keras.layers.RandomContrast(CONTRAST, value_range=(0, 255), seed=seed + 5, name="contrast"),
    ], name="augment")


def encode_labels(y: np.ndarray, num_classes: int) -> np.ndarray:
    """One-hot float32 (N, K) for K > 2 classes; float32 (N, 1) for a binary task."""
    y = np.asarray(y).astype(np.int64).reshape(-1)
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}], found {y.min()}..{y.max()}")
    if num_classes == 2:
        return y.astype(np.float32)[:, None]
    return np.eye(num_classes, dtype=np.float32)[y]


def make_tf_dataset(x: np.ndarray, y: np.ndarray, batch_size: int = 32, training: bool = False, *,
                    num_classes: int, seed: int = SEED, augment: bool | None = None) -> tf.data.Dataset:
    """Batches of (float32 images in [0, 255], encoded labels).

    ``training`` shuffles (seeded, reshuffled each epoch) and augments; ``augment`` overrides the
    latter (e.g. ``training=True, augment=False`` for a plain shuffled pipeline).
    """
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    if x.ndim != 4:
        raise ValueError(f"images must be (N, S, S, C), got shape {x.shape}")
    augment = training if augment is None else augment
    labels = encode_labels(y, num_classes)
    ds = tf.data.Dataset.from_tensor_slices((x, labels))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda images, target: (tf.cast(images, tf.float32), target),
                                  num_parallel_calls=tf.data.AUTOTUNE)
    if augment:
        layers = augmentation(seed)
        ds = ds.map(lambda images, target: (tf.clip_by_value(layers(images, training=True), 0.0, 255.0), target),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
