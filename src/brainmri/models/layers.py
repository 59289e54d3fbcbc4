"""Layers and small building blocks shared by every classifier.

The classifier input is raw ``float32`` pixels in ``[0, 255]`` (CONTRIBUTING.md); normalisation
happens inside the model, in :class:`PerImageStandardization`, so a saved ``.keras`` file is all a
caller needs. Standardising each scan by its own mean and standard deviation also removes any
affine change of brightness and contrast, the usual difference between scans from two sites.
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="brainmri")
class PerImageStandardization(layers.Layer):
    """Map each image to zero mean and unit variance over its pixels and channels.

    ``min_std`` keeps a (nearly) constant image finite: the standard deviation is floored at it.
    Its default of one grey level suits inputs in ``[0, 255]``. The statistics are computed in
    ``float32`` even under a mixed-precision policy: the variance of 8-bit pixels (up to 65,025)
    sits at the edge of the ``float16`` range.
    """

    def __init__(self, min_std: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if min_std <= 0:
            raise ValueError(f"PerImageStandardization: min_std must be positive, got {min_std}")
        self.min_std = float(min_std)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        axes = tuple(range(1, len(x.shape)))
        mean = ops.mean(x, axis=axes, keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(x - mean), axis=axes, keepdims=True))
        return ops.cast((x - mean) / ops.maximum(std, self.min_std), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "min_std": self.min_std}


def check_input(input_shape: tuple[int, int, int], num_classes: int) -> tuple[int, int, int]:
    """Validate what every builder takes: ``(size, size, channels)`` and at least two classes."""
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or shape[0] < 8 or shape[1] < 8 or shape[2] not in (1, 3):
        raise ValueError(
            f"input_shape must be (height, width, channels) with sides >= 8 and 1 or 3 channels, "
            f"got {input_shape!r}"
        )
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2 (2 = binary, one sigmoid unit), got {num_classes}")
    return shape


def model_input(input_shape: tuple[int, int, int]):
    """The ``image`` input (raw pixels in [0, 255]) and its standardised version."""
    inputs = keras.Input(shape=input_shape, name="image")
    return inputs, PerImageStandardization(name="standardize")(inputs)


def classifier_output(x, num_classes: int):
    """``predictions``: one sigmoid unit = P(class 1) for two classes, else a softmax.

    Kept in ``float32`` so that probabilities stay exact under a mixed-precision policy.
    """
    if num_classes == 2:
        return layers.Dense(1, activation="sigmoid", dtype="float32", name="predictions")(x)
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)


# ImageNet channel means (RGB order) that ResNet50's "caffe" preprocessing subtracts.
_IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)


@keras.saving.register_keras_serializable(package="brainmri")
class GrayscaleToRGB(layers.Layer):
    """Repeat a one-channel image three times so that an ImageNet backbone can take it."""

    def call(self, inputs):
        return ops.repeat(inputs, 3, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


@keras.saving.register_keras_serializable(package="brainmri")
class CaffePreprocess(layers.Layer):
    """ResNet50's ImageNet preprocessing on pixels in ``[0, 255]``: RGB to BGR, minus the channel means.

    The same arithmetic as ``keras.applications.resnet50.preprocess_input``, as a registered layer
    so that a saved model loads without custom objects.
    """

    def call(self, inputs):
        bgr = ops.flip(ops.cast(inputs, self.compute_dtype), axis=-1)
        mean_bgr = ops.convert_to_tensor(_IMAGENET_MEAN_RGB[::-1], dtype=self.compute_dtype)
        return bgr - mean_bgr

    def compute_output_shape(self, input_shape):
        return input_shape
