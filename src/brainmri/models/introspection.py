"""Looking inside a classifier: the feature maps of every convolutional block, and what dropout does.

The builders in :mod:`brainmri.models.cnn` name the output of every convolutional block
``..._out``; :func:`feature_maps` reads those layers for one scan.

Dropout as Keras implements it ("inverted" dropout): in training, each value is kept with
probability ``1 - p`` and then divided by ``1 - p``, or set to zero. For a value ``y`` the output
therefore has mean ``y`` (unchanged) and variance ``y**2 * p / (1 - p)`` (growing with ``p``, without
bound as ``p -> 1``). At inference dropout is the identity. :func:`dropout_study` measures both.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from brainmri.config import SEED


def conv_block_names(model: keras.Model) -> list[str]:
    """Names of the layers that end a convolutional block (``..._out``), in model order."""
    names = [layer.name for layer in model.layers if layer.name.endswith("_out")]
    if not names:
        raise ValueError(f"model {model.name!r} has no layer named '..._out'; pass layer_names explicitly")
    return names


def feature_maps(model: keras.Model, image: np.ndarray, layer_names: list[str] | None = None) -> dict[str, np.ndarray]:
    """The output of every convolutional block for one scan: ``name -> (H, W, channels)`` float32.

    ``image`` is one scan as the model takes it, ``(S, S, C)`` raw pixels in ``[0, 255]``.
    """
    image = np.asarray(image, dtype="float32")
    expected = tuple(model.input_shape[1:])
    if image.shape != expected:
        raise ValueError(f"feature_maps: image has shape {image.shape}, model {model.name!r} takes {expected}")
    names = layer_names or conv_block_names(model)
    probe = keras.Model(model.input, [model.get_layer(name).output for name in names])
    outputs = probe(image[None], training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return {name: np.asarray(out, dtype="float32")[0] for name, out in zip(names, outputs)}  # float16/bfloat16 models too


@dataclass
class DropoutStudy:
    """One fixed input through Dense then Dropout(p) in training mode, ``repeats`` times per rate."""

    rates: np.ndarray  # (R,)
    reference: np.ndarray  # (units,) the Dense output without dropout
    samples: np.ndarray  # (R, repeats, units)

    def mean(self) -> np.ndarray:
        return self.samples.astype("float64").mean(axis=1)

    def variance(self) -> np.ndarray:
        return self.samples.astype("float64").var(axis=1)

    def expected_variance(self) -> np.ndarray:
        """``p / (1 - p) * y**2`` per rate and unit."""
        return (self.rates / (1 - self.rates))[:, None] * self.reference[None, :] ** 2

    def table(self) -> list[dict[str, float]]:
        """Per rate: how far the mean moved (relative to the outputs' size) and the variance, measured and expected."""
        scale = np.abs(self.reference).mean()
        return [
            {
                "dropout rate": float(p),
                "mean shift / mean |output|": float(np.abs(mean - self.reference).mean() / scale),
                "variance (mean over units)": float(var.mean()),
                "expected p/(1-p)·y² (mean)": float(expected.mean()),
            }
            for p, mean, var, expected in zip(self.rates, self.mean(), self.variance(), self.expected_variance())
        ]


def dropout_study(x: np.ndarray, rates=(0.0, 0.1, 0.3, 0.5, 0.7), *, units: int = 32, repeats: int = 2000,
                  seed: int = SEED) -> DropoutStudy:
    """Pass the 1-D input ``x`` through a seeded linear Dense layer and Dropout(p), ``repeats`` times.

    Each repetition is one row of a batch, so each draws its own dropout mask. The Dense layer runs
    once, on the batch; the reference (no dropout) is its first row.
    """
    x = np.asarray(x, dtype="float32")
    if x.ndim != 1:
        raise ValueError(f"dropout_study: x must be one 1-D input vector, got shape {x.shape}")
    rates = np.asarray(rates, dtype="float64")
    if np.any((rates < 0) | (rates >= 1)):
        raise ValueError(f"dropout_study: rates must be in [0, 1), got {rates.tolist()}")
    dense = keras.layers.Dense(units, kernel_initializer=keras.initializers.GlorotUniform(seed),
                               bias_initializer="zeros", name="study_dense")
    outputs = dense(np.repeat(x[None], repeats, axis=0))
    reference = np.asarray(outputs[0])
    samples = np.stack([
        np.asarray(keras.layers.Dropout(float(p), seed=seed + k, name=f"study_dropout_{k}")(outputs, training=True))
        for k, p in enumerate(rates)
    ])
    return DropoutStudy(rates=rates, reference=reference, samples=samples)


def dropout_on_image(image: np.ndarray, rates=(0.1, 0.3, 0.5), seed: int = SEED) -> dict[float, np.ndarray]:
    """The scan after Dropout(p) in training mode: pixels zeroed with probability p, the rest scaled by 1/(1-p)."""
    image = np.asarray(image, dtype="float32")
    return {
        float(p): np.asarray(keras.layers.Dropout(float(p), seed=seed + k)(image[None], training=True))[0]
        for k, p in enumerate(rates)
    }
