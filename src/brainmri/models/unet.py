"""A small U-Net for tumour masks, trained from scratch or on the encoder of a trained classifier.

Both variants take raw pixels in ``[0, 255]`` (standardised inside, like the classifiers) and
return ``mask``: one sigmoid per pixel, shape (B, H, W, 1). The decoder is shared: starting from
the deepest feature map, upsample to the next skip connection's resolution, concatenate it, and
apply two 3x3 conv-BN-ReLU layers.

:func:`unet_from_classifier` reuses a classifier as the encoder: its last layer at each spatial
resolution becomes a skip connection, and the weights are *copied* (the classifier is left
untouched when the U-Net trains).

Loss: binary cross-entropy + soft Dice (:func:`bce_dice_loss`), registered so a saved model loads
without custom objects.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from brainmri.hardware import jit_compile
from brainmri.models.layers import PerImageStandardization

DICE_SMOOTH = 1.0


@keras.saving.register_keras_serializable(package="brainmri")
def soft_dice(y_true, y_pred):
    """Per-image soft Dice of probabilities, smoothed so that two empty masks score 1."""
    y_true = ops.cast(y_true, y_pred.dtype)
    axes = tuple(range(1, len(y_pred.shape)))
    intersection = ops.sum(y_true * y_pred, axis=axes)
    total = ops.sum(y_true, axis=axes) + ops.sum(y_pred, axis=axes)
    return (2 * intersection + DICE_SMOOTH) / (total + DICE_SMOOTH)


@keras.saving.register_keras_serializable(package="brainmri")
def bce_dice_loss(y_true, y_pred):
    """Pixel-wise binary cross-entropy plus (1 - soft Dice), per image."""
    y_true = ops.cast(y_true, y_pred.dtype)
    bce = ops.mean(keras.losses.binary_crossentropy(y_true, y_pred), axis=(1, 2))
    return bce + 1 - soft_dice(y_true, y_pred)


@keras.saving.register_keras_serializable(package="brainmri")
def dice_metric(y_true, y_pred):
    """Dice of the mask thresholded at 0.5 (per image; two empty masks score 1)."""
    return soft_dice(y_true, ops.cast(y_pred >= 0.5, y_pred.dtype))


def _conv_block(x, filters: int, name: str):
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def _decoder(inputs, skips: list, filters: int, name: str) -> keras.Model:
    """``skips`` from full resolution down to the deepest map; returns the model with a ``mask`` output."""
    x = skips[-1]
    for level in range(len(skips) - 2, -1, -1):
        skip = skips[level]
        ratio = skip.shape[1] // x.shape[1]
        if ratio * x.shape[1] != skip.shape[1] or skip.shape[2] != ratio * x.shape[2]:
            raise ValueError(f"{name}: cannot upsample {tuple(x.shape[1:3])} to {tuple(skip.shape[1:3])} by an integer factor")
        # float32 under any policy: TensorFlow computes a bilinear resize's gradient in float32,
        # which XLA refuses to mix with the float16 gradients around it.
        x = layers.UpSampling2D(ratio, interpolation="bilinear", dtype="float32", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skip])
        x = _conv_block(x, filters * 2 ** min(level, 3), f"dec{level}")
    mask = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="mask")(x)
    return keras.Model(inputs, mask, name=name)


def build_unet(input_shape: tuple[int, int, int], *, base_filters: int = 16, depth: int = 3, name: str = "unet") -> keras.Model:
    """U-Net from scratch: ``depth`` poolings, ``base_filters * 2**level`` channels per level."""
    h, w, c = (int(d) for d in input_shape)
    if h % 2**depth or w % 2**depth or c not in (1, 3) or depth < 1:
        raise ValueError(f"{name}: input sides {(h, w)} must be divisible by 2**depth = {2**depth}, channels 1 or 3; got {input_shape}")
    inputs = keras.Input((h, w, c), name="image")
    x = PerImageStandardization(name="standardize")(inputs)
    skips = []
    for level in range(depth):
        x = _conv_block(x, base_filters * 2**level, f"enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    skips.append(_conv_block(x, base_filters * 2**depth, "bottleneck"))
    return _decoder(inputs, skips, base_filters, name)


def resolution_taps(model: keras.Model) -> list:
    """The last layer output at each spatial resolution (sides > 1), from the finest to the coarsest."""
    taps: dict[tuple[int, int], object] = {}
    for layer in model.layers:
        if isinstance(layer, (keras.layers.InputLayer, keras.Model)):
            continue
        shape = layer.output.shape
        if len(shape) == 4 and shape[1] > 1 and shape[2] > 1:
            taps[(shape[1], shape[2])] = layer.output
    return sorted(taps.values(), key=lambda t: -t.shape[1])


def classifier_encoder(classifier: keras.Model, input_shape: tuple[int, int, int] | None = None) -> keras.Model:
    """A copy of ``classifier`` up to its last feature map, one output per resolution, weights included.

    ``input_shape`` rebuilds it for another image size: the convolutional body of a classifier
    that ends in global pooling does not depend on the size, so the same weights apply.
    """
    taps = resolution_taps(classifier)
    if len(taps) < 2 or taps[0].shape[1] != classifier.input_shape[1]:
        raise ValueError(
            f"classifier {classifier.name!r} needs feature maps at the input resolution and below to "
            f"serve as a U-Net encoder; found resolutions {[tuple(t.shape[1:3]) for t in taps]}"
        )
    shared = keras.Model(classifier.inputs, taps, name="encoder")
    config = shared.get_config()
    if input_shape is not None:
        input_layers = [layer for layer in config["layers"] if layer["class_name"] == "InputLayer"]
        input_layers[0]["config"]["batch_shape"] = [None, *(int(d) for d in input_shape)]
    encoder = keras.Model.from_config(config)  # new layers: training the U-Net leaves the classifier alone
    encoder.set_weights(shared.get_weights())
    return encoder


def unet_from_classifier(classifier: keras.Model, *, input_shape: tuple[int, int, int] | None = None,
                         decoder_filters: int = 16, name: str = "unet_from_classifier") -> keras.Model:
    """A U-Net whose encoder starts from the trained ``classifier`` (see :func:`classifier_encoder`)."""
    encoder = classifier_encoder(classifier, input_shape)
    inputs = keras.Input(encoder.input_shape[1:], name="image")
    return _decoder(inputs, list(encoder(inputs)), decoder_filters, name)


def compile_unet(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=bce_dice_loss, metrics=[dice_metric],
                  jit_compile=jit_compile())
    return model
