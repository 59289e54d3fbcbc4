"""The judge of decoded images: a classifier's P(tumour), or P(one class), of ``[0, 1]`` images.

A classifier takes ``[0, 255]`` at its own size and channel count; :func:`to_classifier_input` is
the one bridge from decoder space to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from brainmri.data import NO_TUMOUR


def to_classifier_input(images, image_size: int, channels: int) -> tf.Tensor:
    """The one bridge from decoder space to a classifier: ``[0, 1]`` grayscale at any size ->
    ``float32`` pixels in ``[0, 255]`` at ``image_size`` with ``channels`` (gray tiled to RGB).
    Differentiable, so gradient ascent flows through it."""
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4 or images.shape[-1] != 1:
        raise ValueError(f"expected grayscale images (N, S, S, 1), got shape {images.shape}")
    if images.shape[1] != image_size or images.shape[2] != image_size:
        images = tf.image.resize(images, (image_size, image_size), method="bilinear")
    if channels == 3:
        images = tf.tile(images, (1, 1, 1, 3))
    elif channels != 1:
        raise ValueError(f"classifier channels must be 1 or 3, got {channels}")
    return tf.clip_by_value(images, 0.0, 1.0) * 255.0


@dataclass
class TumourScorer:
    """P(tumour) or P(one class) of ``[0, 1]`` grayscale images under a classifier that may be binary
    (one sigmoid unit = P(tumour)) or multiclass (softmax; P(tumour) = 1 - P(notumor))."""
    model: keras.Model
    class_names: list[str]
    target: str | None = None  # None: any tumour; else one class name

    def __post_init__(self):
        self.image_size = self.model.inputs[0].shape[1]
        self.channels = self.model.inputs[0].shape[-1]
        self.binary = self.model.outputs[0].shape[-1] == 1
        if self.target is not None and self.target not in self.class_names:
            raise ValueError(f"target class {self.target!r} is not one of the classifier's classes {self.class_names}")
        if self.binary and self.target not in (None, self.class_names[-1]):
            raise ValueError(f"a binary classifier only scores {self.class_names[-1]!r}, not {self.target!r}")

    def __call__(self, images) -> tf.Tensor:
        """Differentiable ``(N,)`` probabilities."""
        out = self.model(to_classifier_input(images, self.image_size, self.channels), training=False)
        if self.binary:
            return out[:, 0]
        if self.target is None:
            return 1.0 - out[:, self.class_names.index(NO_TUMOUR)]
        return out[:, self.class_names.index(self.target)]

    def predict(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        return np.concatenate([self(images[i:i + batch_size]).numpy() for i in range(0, len(images), batch_size)])
