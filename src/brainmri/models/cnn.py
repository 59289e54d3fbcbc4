"""Convolutional classifiers built from scratch: four plain CNNs, a residual CNN, a small binary CNN.

All are functional Keras models with named layers that take raw pixels in ``[0, 255]`` and
standardise each image inside the model (:mod:`brainmri.models.layers`). The output of every
convolutional block is a layer named ``..._out``, which is what
:func:`brainmri.models.introspection.feature_maps` shows.
"""

from __future__ import annotations

import keras
from keras import layers

from brainmri.models.layers import check_input, classifier_output, model_input

# The four published plain CNNs: conv channels per block, units of the hidden dense layer.
PLAIN_CNN_PLANS: dict[str, tuple[tuple[int, ...], int]] = {
    "plain_cnn_1": ((4, 4, 4, 4), 32),
    "plain_cnn_2": ((4, 8, 16, 16), 64),
    "plain_cnn_3": ((4, 8, 16, 32, 32), 64),
    "plain_cnn_4": ((32, 64, 128, 256, 256), 512),
}


def plain_cnn(
    *, input_shape: tuple[int, int, int], num_classes: int, channels: tuple[int, ...], fc_units: int,
    dropout: float = 0.5, name: str = "plain_cnn",
) -> keras.Model:
    """Blocks of conv 3x3 (same) + ReLU + max-pool 2, then Flatten, Dense + ReLU, Dropout, output."""
    shape = check_input(input_shape, num_classes)
    if shape[0] % 2 ** len(channels) or shape[1] % 2 ** len(channels):
        raise ValueError(f"{name}: input sides {shape[:2]} must be divisible by 2**{len(channels)} (one halving per block)")
    inputs, x = model_input(shape)
    for i, filters in enumerate(channels, start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{i}_conv")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_out")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(fc_units, activation="relu", name="fc")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, classifier_output(x, num_classes), name=name)


def _plain_variant(variant: str, input_shape, num_classes, dropout) -> keras.Model:
    channels, fc_units = PLAIN_CNN_PLANS[variant]
    return plain_cnn(input_shape=input_shape, num_classes=num_classes, channels=channels,
                     fc_units=fc_units, dropout=dropout, name=variant)


def plain_cnn_1(*, input_shape, num_classes, dropout: float = 0.5) -> keras.Model:
    """Channels 4-4-4-4, dense 32: 33,488 parameters at 256x256x3 with four classes."""
    return _plain_variant("plain_cnn_1", input_shape, num_classes, dropout)


def plain_cnn_2(*, input_shape, num_classes, dropout: float = 0.5) -> keras.Model:
    """Channels 4-8-16-16, dense 64: 266,364 parameters at 256x256x3 with four classes."""
    return _plain_variant("plain_cnn_2", input_shape, num_classes, dropout)


def plain_cnn_3(*, input_shape, num_classes, dropout: float = 0.5) -> keras.Model:
    """Channels 4-8-16-32-32, dense 64: 146,860 parameters at 256x256x3 with four classes."""
    return _plain_variant("plain_cnn_3", input_shape, num_classes, dropout)


def plain_cnn_4(*, input_shape, num_classes, dropout: float = 0.5) -> keras.Model:
    """Channels 32-64-128-256-256, dense 512: 9,369,668 parameters at 256x256x3 with four classes."""
    return _plain_variant("plain_cnn_4", input_shape, num_classes, dropout)


def squeeze_excite(x, ratio: float, name: str):
    """Squeeze-and-excitation: reweight channels by a gate computed from their global averages.

    The two 1x1 convolutions mix channels only; the gate has ``max(1, channels * ratio)`` units.
    """
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Conv2D(max(1, int(channels * ratio)), 1, activation="relu", name=f"{name}_reduce")(s)
    s = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_gate")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def conv_bn(x, filters: int, kernel: int, stride: int, name: str, activation: bool = True, zero_gamma: bool = False):
    """Conv (no bias, BatchNorm supplies it) + BatchNorm [+ ReLU].

    ``zero_gamma`` starts the BatchNorm scale at zero: a residual branch ending in it is the
    identity at initialisation, which makes deeper stacks train as easily as shallow ones.
    """
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(gamma_initializer="zeros" if zero_gamma else "ones", name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if activation else x


def residual_block(x, filters: int, stride: int, se_ratio: float, name: str):
    """Two 3x3 conv-BN layers, squeeze-and-excitation, plus the input (1x1 projection if the shape changes)."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, stride, f"{name}_proj", activation=False)
    y = conv_bn(x, filters, 3, stride, f"{name}_a")
    y = conv_bn(y, filters, 3, 1, f"{name}_b", activation=False, zero_gamma=True)
    if se_ratio > 0:
        y = squeeze_excite(y, se_ratio, f"{name}_se")
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def residual_cnn(
    *, input_shape: tuple[int, int, int], num_classes: int, width: int = 24, depth: int = 1,
    stages: int = 4, se_ratio: float = 0.25, dropout: float = 0.3, first_stride: int = 2,
    name: str = "residual_cnn",
) -> keras.Model:
    """A compact ResNet with squeeze-and-excitation, ending in global average pooling (CAM-ready).

    A stride-2 stem, then ``stages`` stages of ``depth`` residual blocks each. The first stage
    downsamples by ``first_stride``, every later stage halves the resolution, and each stage doubles
    the channels (``width``, ``2 * width``, ...). With the default ``first_stride=2`` the last
    block's maps are 4x4 at 128 px; ``first_stride=1`` keeps the first stage at the stem's
    resolution (8x8 maps, finer class activation maps, about 3.5 times the compute). Global average pooling,
    dropout and the output layer follow the last block, so the class activation map of a class is
    the last block's feature maps weighted by that class's output weights.
    """
    shape = check_input(input_shape, num_classes)
    if width < 1 or depth < 1 or stages < 1:
        raise ValueError(f"{name}: width, depth and stages must be positive, got {width}, {depth}, {stages}")
    if first_stride not in (1, 2):
        raise ValueError(f"{name}: first_stride must be 1 or 2, got {first_stride}")
    if not 0 <= se_ratio <= 1 or not 0 <= dropout < 1:
        raise ValueError(f"{name}: se_ratio must be in [0, 1] and dropout in [0, 1), got {se_ratio}, {dropout}")
    inputs, x = model_input(shape)
    x = conv_bn(x, width, 3, 2, "stem")
    for stage in range(stages):
        for block in range(depth):
            stride = 1 if block > 0 else (first_stride if stage == 0 else 2)
            x = residual_block(x, width * 2**stage, stride, se_ratio, f"stage{stage + 1}_block{block + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, classifier_output(x, num_classes), name=name)


def binary_cnn(*, input_shape: tuple[int, int, int], num_classes: int = 2, dropout: float = 0.5) -> keras.Model:
    """The small CNN of the first Keras image tutorials: three conv + pool blocks, Dense 64, Dropout.

    Meant for tumour / no tumour (one sigmoid unit), but any number of classes works.
    """
    shape = check_input(input_shape, num_classes)
    inputs, x = model_input(shape)
    for i, filters in enumerate((32, 32, 64), start=1):
        x = layers.Conv2D(filters, 3, activation="relu", name=f"block{i}_conv")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_out")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="fc")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, classifier_output(x, num_classes), name="binary_cnn")
