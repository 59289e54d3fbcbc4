"""Which neurons of a classifier's last feature map go with the label "tumour", and where they fire.

A "neuron" here is one channel of the feature map that feeds global average pooling (for a
transfer classifier, the backbone's output: 4x4x2048 for ResNet50 at 128 px). Pooled over space it
is one number per scan; its Pearson correlation with the binary label (1 = tumour, 0 = no tumour,
as :func:`brainmri.evaluate.tumour_labels` gives it) over a batch of scans says how much that
channel alone separates the two. The most positively correlated channels are the "tumour neurons", the most negative the "no-tumour neurons", and
their unpooled maps show where on a scan they respond.

The feature map is read from the input of the layer named ``gap``, so the same code serves a
nested-backbone transfer model and a flat CNN that ends in global average pooling.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from brainmri.data.split import examples_per_class

POOLING_LAYER = "gap"


def feature_extractor(model: keras.Model, pooling_layer: str = POOLING_LAYER) -> keras.Model:
    """``image -> (B, h, w, C)``: the feature map that the model's global average pooling reduces."""
    try:
        pooling = model.get_layer(pooling_layer)
    except ValueError:
        raise ValueError(
            f"model {model.name!r} has no layer named {pooling_layer!r}; the neurons analysis needs the "
            "global-average-pooling layer that follows the last feature map"
        ) from None
    return keras.Model(model.inputs, pooling.input, name=f"{model.name}_features")


def last_feature_maps(model: keras.Model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """The feature maps that the model's global average pooling reduces, for ``images`` (raw pixels,
    as the model takes them): ``float32 (N, h, w, C)``, predicted in batches."""
    extractor = feature_extractor(model)
    return np.asarray(extractor.predict(np.asarray(images, "float32"), batch_size=batch_size, verbose=0), "float32")


def label_correlation(pooled: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``pooled (N, C)`` with the 0/1 ``labels (N,)``.

    A neuron that does not vary over the batch (a dead ReLU channel, common with random weights)
    has no correlation: its entry is NaN, and :func:`top_neurons` leaves it out.
    """
    pooled = np.asarray(pooled, "float64")
    labels = np.asarray(labels, "float64").reshape(-1)
    if pooled.ndim != 2 or len(pooled) != len(labels):
        raise ValueError(f"need pooled (N, C) and labels (N,); got {pooled.shape} and {labels.shape}")
    if np.unique(labels).size != 2:
        raise ValueError("labels must contain both tumour (1) and no-tumour (0) scans to correlate with")
    centred = pooled - pooled.mean(axis=0)
    label_centred = labels - labels.mean()
    norms = np.sqrt((centred**2).sum(axis=0) * (label_centred**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = centred.T @ label_centred / norms
    corr[norms <= 1e-12 * max(1.0, float(norms.max(initial=0)))] = np.nan
    return corr.astype("float32")


def top_neurons(corr: np.ndarray, k: int = 4) -> dict[str, np.ndarray]:
    """Indices of the ``k`` neurons most correlated with tumour (descending r) and with no tumour (ascending r)."""
    valid = np.flatnonzero(~np.isnan(corr))
    if len(valid) < 2 * k:
        raise ValueError(f"only {len(valid)} neurons vary over the batch; cannot pick {k} for each label")
    order = valid[np.argsort(corr[valid], kind="stable")]
    return {"tumour": order[::-1][:k], "no_tumour": order[:k]}


def example_indices(labels: np.ndarray, per_label: int, seed: int = 0) -> np.ndarray:
    """``per_label`` tumour scans then ``per_label`` no-tumour scans (a seeded choice) from 0/1 ``labels``."""
    labels = np.asarray(labels).reshape(-1)
    for value, name in ((1, "tumour"), (0, "no-tumour")):
        available = int((labels == value).sum())
        if available < per_label:
            raise ValueError(f"asked for {per_label} {name} scans, the labels hold only {available}")
    picks = examples_per_class(labels, per_label, seed)
    return np.concatenate([np.sort(picks[labels[picks] == value]) for value in (1, 0)])


@dataclass
class NeuronAnalysis:
    """The result of :func:`analyse_neurons`."""

    correlation: np.ndarray  # (C,) Pearson r with the tumour label, NaN for constant neurons
    top: dict[str, np.ndarray]  # "tumour" / "no_tumour" -> neuron indices
    labels: np.ndarray  # (N,) 0/1
    feature_shape: tuple[int, int, int]  # (h, w, C) of the feature map

    @property
    def constant_neurons(self) -> int:
        return int(np.isnan(self.correlation).sum())

    def summary(self) -> dict[str, object]:
        """Plain numbers for ``save_results``."""
        return {
            "scans": int(len(self.labels)), "tumour_scans": int(self.labels.sum()),
            "feature_shape": list(self.feature_shape), "constant_neurons": self.constant_neurons,
            "max_abs_r": float(np.nanmax(np.abs(self.correlation))),
            **{f"top_{name}": [{"neuron": int(i), "r": float(self.correlation[i])} for i in idx]
               for name, idx in self.top.items()},
        }


def analyse_neurons(model: keras.Model, images: np.ndarray, labels: np.ndarray, *, k: int = 4, batch_size: int = 32) -> NeuronAnalysis:
    """Correlate every last-feature-map neuron with the 0/1 tumour ``labels`` over ``images``."""
    maps = last_feature_maps(model, images, batch_size)
    corr = label_correlation(maps.mean(axis=(1, 2)), labels)
    return NeuronAnalysis(corr, top_neurons(corr, k), np.asarray(labels).reshape(-1), tuple(maps.shape[1:]))


def neuron_maps(model: keras.Model, images: np.ndarray, neurons: np.ndarray) -> np.ndarray:
    """Activation maps ``(N, len(neurons), h, w)`` of the chosen neurons over a few ``images``, at feature resolution.

    One eager call (no graph to trace), meant for a handful of example scans.
    """
    maps = keras.ops.convert_to_numpy(feature_extractor(model)(np.asarray(images, "float32"), training=False))
    return np.moveaxis(maps[..., np.asarray(neurons)], -1, 1)
