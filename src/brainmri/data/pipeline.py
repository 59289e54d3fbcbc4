"""``tf.data`` input pipelines: shuffled batches, Keras augmentation layers on training data only,
prefetching.

The intensity augmentation is deliberately generous: the project is also scored on a re-processed
copy of the test set, and a classifier that has only seen one scanner's intensity range and one
framing does not transfer (:func:`random_head_crop` covers the framing).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from brainmri.config import SEED

ROTATION_DEGREES = 10
ZOOM = 0.15
TRANSLATION = 0.05
BRIGHTNESS = 0.25  # fraction of the 0..255 range, either way
CONTRAST = 0.3


@keras.saving.register_keras_serializable(package="brainmri")
class RandomAffine(keras.layers.Layer):
    """Random horizontal flip, rotation, zoom and shift of each image, as one bilinear warp.

    Keras's ``RandomFlip``, ``RandomRotation``, ``RandomZoom`` and ``RandomTranslation`` each
    resample the whole batch: chained, they cost three warps and interpolate three times, blurring
    the scan a little more each time. Composing the four into one output-to-input matrix per image
    gives the same distribution of transforms with a single resampling (``benchmarks/
    bench_input_pipeline.py`` measures the difference). Pixels that come from outside the image are
    black, like the scanner background. At inference (``training=False``) it is the identity.
    """

    def __init__(self, rotation_degrees: float = 10.0, zoom: float = 0.15, translation: float = 0.05,
                 flip: bool = True, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if rotation_degrees < 0 or not 0 <= zoom < 1 or not 0 <= translation < 1:
            raise ValueError(f"{self.name}: need rotation_degrees >= 0 and zoom, translation in [0, 1), got "
                             f"{rotation_degrees}, {zoom}, {translation}")
        self.rotation_degrees, self.zoom, self.translation, self.flip = rotation_degrees, zoom, translation, flip
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, batch, limit: float):
        return keras.random.uniform((batch,), -limit, limit, seed=self.seed_generator)

    def transforms(self, batch, height, width):
        """(batch, 8) rows ``[a0, a1, a2, b0, b1, b2, 0, 0]`` for ``keras.ops.image.affine_transform``.

        For an output pixel ``p``, the input pixel is ``c + scale * R(angle) @ F @ (p - c) - shift``,
        with ``c`` the image centre and ``F`` the optional horizontal mirror.
        """
        angle = self._uniform(batch, math.radians(self.rotation_degrees))
        scale = 1.0 + self._uniform(batch, self.zoom)  # input pixels per output pixel: above 1 zooms out
        mirror = ops.ones((batch,))
        if self.flip:
            mirror = ops.sign(self._uniform(batch, 1.0))
        shift_x = self._uniform(batch, self.translation) * width
        shift_y = self._uniform(batch, self.translation) * height
        cos, sin = scale * ops.cos(angle), scale * ops.sin(angle)
        a0, a1, b0, b1 = mirror * cos, -sin, mirror * sin, cos
        cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
        a2 = cx - a0 * cx - a1 * cy - shift_x
        b2 = cy - b0 * cx - b1 * cy - shift_y
        zeros = ops.zeros((batch,))
        return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def call(self, images, training=True):
        if not training:
            return images
        shape = ops.shape(images)
        height, width = ops.cast(shape[1], "float32"), ops.cast(shape[2], "float32")
        matrices = self.transforms(shape[0], height, width)
        return ops.image.affine_transform(images, matrices, interpolation="bilinear", fill_mode="constant",
                                          fill_value=0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation_degrees": self.rotation_degrees, "zoom": self.zoom,
                "translation": self.translation, "flip": self.flip, "seed": self.seed}


def augmentation(seed: int = SEED) -> keras.Sequential:
    """The training augmentation, as Keras preprocessing layers on float32 pixels in [0, 255].

    Geometric, in one warp (:class:`RandomAffine`): horizontal flip (the brain is roughly
    symmetric), rotation up to 10 degrees, zoom up to 15%, translation up to 5%. Intensity:
    brightness and contrast jitter, clipped back to [0, 255]. The layers compute in float32 whatever
    the global dtype policy: under ``mixed_float16`` (a GPU, see ``brainmri.hardware``) they would
    otherwise hand float16 pixels to the rest of the input pipeline.
    """
    return keras.Sequential([
        RandomAffine(ROTATION_DEGREES, ZOOM, TRANSLATION, flip=True, seed=seed, name="geometry", dtype="float32"),
        keras.layers.RandomBrightness(BRIGHTNESS, value_range=(0, 255), seed=seed + 4, name="brightness",
                                      dtype="float32"),
        keras.layers.RandomContrast(CONTRAST, value_range=(0, 255), seed=seed + 5, name="contrast", dtype="float32"),
    ], name="augment")


HEAD_THRESHOLD = 0.1  # of each scan's brightest pixel: darker pixels are background


def head_pixels(images):
    """``(N, S, S)`` booleans: the pixels brighter than :data:`HEAD_THRESHOLD` of their scan's brightest
    (channels averaged), roughly the head; the background of a slice is black."""
    images = tf.convert_to_tensor(images, tf.float32)
    grey = tf.reduce_mean(images, axis=-1)
    return grey > HEAD_THRESHOLD * tf.reduce_max(grey, axis=[1, 2], keepdims=True)


def head_boxes(images, margin=0.0):
    """Each scan's head bounding box, widened by ``margin`` (a fraction of the side, per scan or one for all).

    Returns ``(N, 4)`` boxes ``[y1, x1, y2, x2]`` in ``[0, 1]`` for ``tf.image.crop_and_resize``. The
    head is :func:`head_pixels`; a blank scan keeps the whole image.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    mask = head_pixels(images)
    margin = tf.broadcast_to(tf.cast(margin, tf.float32), tf.shape(images)[:1])

    def extent(occupied, length):
        index = tf.range(length, dtype=tf.float32)
        n = tf.cast(length, tf.float32)
        first = tf.reduce_min(tf.where(occupied, index, n), axis=1)
        last = tf.reduce_max(tf.where(occupied, index, -1.0), axis=1)
        empty = first > last
        low = tf.where(empty, 0.0, first / (n - 1.0) - margin)
        high = tf.where(empty, 1.0, last / (n - 1.0) + margin)
        return tf.clip_by_value(low, 0.0, 1.0), tf.clip_by_value(high, 0.0, 1.0)

    top, bottom = extent(tf.reduce_any(mask, axis=2), tf.shape(images)[1])
    left, right = extent(tf.reduce_any(mask, axis=1), tf.shape(images)[2])
    return tf.stack([top, left, bottom, right], axis=1)


def crop_to_boxes(images, boxes):
    """Each scan cropped to its box and resized back to the scan's size (bilinear), float32."""
    images = tf.convert_to_tensor(images, tf.float32)
    return tf.image.crop_and_resize(images, boxes, tf.range(tf.shape(images)[0]), tf.shape(images)[1:3])


def random_head_crop(images, probability: float, max_margin: float = 0.1):
    """With ``probability``, a scan is cropped to its head (a random margin up to ``max_margin``).

    Re-processed copies of brain MRI datasets are often cropped to the head and resized to a square;
    this teaches the classifier that framing. The other scans pass unchanged.
    """
    batch = tf.shape(images)[0]
    boxes = head_boxes(images, tf.random.uniform([batch], 0.0, max_margin))
    keep = tf.random.uniform([batch, 1]) >= probability
    boxes = tf.where(keep, tf.constant([[0.0, 0.0, 1.0, 1.0]]), boxes)
    return crop_to_boxes(images, boxes)


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
                    num_classes: int, seed: int = SEED, augment: bool | None = None,
                    head_crop: float = 0.0) -> tf.data.Dataset:
    """Batches of (float32 images in [0, 255], encoded labels).

    ``training`` shuffles (seeded, reshuffled each epoch) and augments; ``augment`` overrides the
    latter (e.g. ``training=True, augment=False`` for a plain shuffled pipeline). When augmenting,
    ``head_crop`` is the share of scans first cropped to their head (:func:`random_head_crop`).
    """
    if not 0.0 <= head_crop <= 1.0:
        raise ValueError(f"head_crop is a probability, got {head_crop}")
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
    if augment and head_crop > 0:
        ds = ds.map(lambda images, target: (random_head_crop(images, head_crop), target),
                    num_parallel_calls=tf.data.AUTOTUNE)
    if augment:
        layers = augmentation(seed)
        ds = ds.map(lambda images, target: (tf.clip_by_value(layers(images, training=True), 0.0, 255.0), target),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
