"""Neurons vs label: correlation, top neurons, feature maps of nested-backbone and flat models."""

import keras
import numpy as np
import pytest
from keras import layers

from brainmri import neurons
from brainmri.models import build_model


def planted_model(size: int = 16) -> keras.Model:
    """Channel 0 = the pixel, channel 1 = 255 - pixel, channel 2 = 0 everywhere (a dead neuron)."""
    inputs = keras.Input((size, size, 1), name="image")
    conv = layers.Conv2D(3, 1, activation="relu", name="features")
    x = conv(inputs)
    conv.set_weights([np.array([1.0, -1.0, 0.0], "float32").reshape(1, 1, 1, 3), np.array([0.0, 255.0, 0.0], "float32")])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid", name="predictions")(x))


def planted_scans(n: int = 12, size: int = 16):
    """Dark scans; the tumour ones (every other) carry a bright square."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 40, (n, size, size, 1)).astype("float32")
    labels = np.arange(n) % 2
    images[labels == 1, 4:10, 4:10] = 250
    return images, labels


def test_label_correlation_matches_numpy_and_marks_constant_neurons():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 50)
    pooled = rng.normal(size=(50, 6))
    pooled[:, 2] += 3 * labels
    pooled[:, 4] = 7.0
    corr = neurons.label_correlation(pooled, labels)
    expected = [np.corrcoef(pooled[:, j], labels)[0, 1] for j in (0, 1, 2, 3, 5)]
    np.testing.assert_allclose(corr[[0, 1, 2, 3, 5]], expected, rtol=1e-5)
    assert np.isnan(corr[4])
    assert corr[2] > 0.7


def test_label_correlation_rejects_bad_input():
    with pytest.raises(ValueError, match="both tumour"):
        neurons.label_correlation(np.ones((4, 3)), np.ones(4))
    with pytest.raises(ValueError, match=r"pooled \(N, C\)"):
        neurons.label_correlation(np.ones((4, 3)), np.array([0, 1, 0]))


def test_top_neurons_orders_by_correlation_and_skips_nan():
    corr = np.array([0.1, np.nan, 0.9, -0.8, 0.5, -0.2], "float32")
    top = neurons.top_neurons(corr, k=2)
    assert top["tumour"].tolist() == [2, 4]
    assert top["no_tumour"].tolist() == [3, 5]
    with pytest.raises(ValueError, match="only 5 neurons vary"):
        neurons.top_neurons(corr, k=3)


def test_example_indices_take_both_labels():
    labels = np.array([0, 1, 1, 0, 1, 0, 0])
    idx = neurons.example_indices(labels, 2, seed=3)
    assert labels[idx].tolist() == [1, 1, 0, 0] and len(set(idx.tolist())) == 4
    assert idx.tolist() == neurons.example_indices(labels, 2, seed=3).tolist()
    with pytest.raises(ValueError, match="only 3"):
        neurons.example_indices(labels, 4)


def test_planted_neurons_are_found():
    model = planted_model()
    images, labels = planted_scans()
    analysis = neurons.analyse_neurons(model, images, labels, k=1)
    assert analysis.feature_shape == (16, 16, 3)
    assert analysis.top["tumour"].tolist() == [0]
    assert analysis.top["no_tumour"].tolist() == [1]
    assert analysis.constant_neurons == 1
    summary = analysis.summary()
    assert summary["tumour_scans"] == 6 and summary["top_tumour"][0]["r"] > 0.99


def test_neuron_maps_are_the_unpooled_channels():
    model = planted_model()
    images, _ = planted_scans(4)
    maps = neurons.neuron_maps(model, images, np.array([1, 0]))
    assert maps.shape == (4, 2, 16, 16)
    np.testing.assert_allclose(maps[:, 1], images[..., 0], atol=1e-4)
    np.testing.assert_allclose(maps[:, 0], 255 - images[..., 0], atol=1e-3)


@pytest.mark.parametrize("arch, kwargs", [
    ("efficientnetb0", {"weights": None}),  # nested backbone: the map comes from inside it
    ("residual_cnn", {}),  # flat CNN ending in "gap"
])
def test_feature_extractor_pools_to_the_models_gap(arch, kwargs):
    model = build_model(arch, input_shape=(64, 64, 1), num_classes=4, **kwargs)
    images = np.random.default_rng(2).uniform(0, 255, (3, 64, 64, 1)).astype("float32")
    maps = neurons.last_feature_maps(model, images)
    assert maps.ndim == 4 and maps.shape[1] > 1
    if arch == "efficientnetb0":
        assert maps.shape[1:] == (2, 2, 1280)
    gap = keras.Model(model.inputs, model.get_layer("gap").output)
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), gap.predict(images, verbose=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(neurons.neuron_maps(model, images, np.array([0]))[:, 0], maps[..., 0], rtol=1e-4, atol=1e-5)


def test_feature_extractor_needs_a_pooling_layer():
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, layers.Flatten()(inputs), name="flat")
    with pytest.raises(ValueError, match="'flat' has no layer named 'gap'"):
        neurons.feature_extractor(model)


def test_neuron_figures_mark_the_top_neurons():
    import matplotlib.pyplot as plt

    from brainmri.plots.transfer import plot_neuron_correlations, plot_neuron_maps

    model = planted_model()
    images, labels = planted_scans()
    analysis = neurons.analyse_neurons(model, images, labels, k=1)
    fig = plot_neuron_correlations(analysis)
    assert "1 constant neurons left out" in fig.axes[0].get_xlabel()
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["top tumour: 0", "top no tumour: 1"]
    chosen = np.concatenate([analysis.top["tumour"], analysis.top["no_tumour"]])
    fig2 = plot_neuron_maps(images[:2], neurons.neuron_maps(model, images[:2], chosen), chosen, analysis, ["a", "b"])
    assert len(fig2.axes) == 2 * 3
    assert fig2.axes[1].get_title() == "neuron 0\nr = +1.00"
    plt.close("all")
