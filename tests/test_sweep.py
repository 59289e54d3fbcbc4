"""Sweep and architecture comparison on tiny arrays; the parallel-coordinates figure."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from brainmri import config, sweep, train
from brainmri.plots.classifier import plot_confusion_matrices, plot_learning_curves, plot_parallel_coordinates
from test_train import SIZE, quadrant_data


def test_sample_trials_are_distinct_seeded_and_bounded():
    trials = sweep.sample_trials(6)
    assert len({tuple(sorted(t.items())) for t in trials}) == 6
    assert trials == sweep.sample_trials(6) and trials != sweep.sample_trials(6, seed=1)
    assert all(t[k] in sweep.SEARCH_SPACE[k] for t in trials for k in sweep.SEARCH_SPACE)
    with pytest.raises(ValueError, match="distinct trials"):
        sweep.sample_trials(10_000)


def test_screening_budget_is_a_fraction_of_the_profile():
    assert sweep.screening_budget(config.get_profile("smoke")) == (1, 16, 16)
    epochs, per_class, val_per_class = sweep.screening_budget(config.get_profile("default"))
    assert 1 <= epochs < config.get_profile("default").epochs and (per_class, val_per_class) == (100, 50)


def test_balanced_subset_caps_each_class():
    data = quadrant_data(n_train=32, n_val=16)
    small = sweep.balanced_subset(data, 3)
    assert np.bincount(small.y_train).tolist() == [3, 3, 3, 3]
    assert np.array_equal(small.x_val, data.x_val) and len(small.x_train) == 12
    both = sweep.balanced_subset(data, 3, val_per_class=2)
    assert np.bincount(both.y_val).tolist() == [2, 2, 2, 2] and len(both.x_train) == 12
    assert sweep.balanced_subset(data, None) is data


def test_parameter_count_of_the_published_plain_cnn():
    assert sweep.parameter_count("plain_cnn_1", (256, 256, 3)) == 33_488


def test_sweep_and_comparison_rows_hold_settings_and_scores():
    data = quadrant_data(n_train=16, n_val=8)
    base = train.default_recipe(config.get_profile("smoke"), image_size=SIZE, epochs=1, batch_size=8)
    trial = {"width": 4, "depth": 1, "se_ratio": 0.25, "dropout": 0.0, "learning_rate": 1e-3}
    (row,) = sweep.run_sweep(data, [trial], base)
    assert {k: row[k] for k in trial} == trial
    assert row["parameters"] == sweep.parameter_count("residual_cnn", (SIZE, SIZE, 1), width=4, depth=1, dropout=0.0)
    assert 0 <= row["val_accuracy"] <= 1 and row["seconds_per_epoch"] > 0 and len(row["history"]["loss"]) == 1
    (plain,) = sweep.compare_architectures(data, ["plain_cnn_1"], base, also_count_at=(256, 256, 3))
    assert plain["arch"] == "plain_cnn_1" and plain["parameters"] == sweep.parameter_count("plain_cnn_1", (SIZE, SIZE, 1))
    assert plain["parameters_at_256x256x3"] == 33_488  # the published count, as in test_parameter_count_of_the_published_plain_cnn


def test_parallel_coordinates_draws_one_line_per_model():
    rows = [{"width": w, "dropout": d, "val_accuracy": a} for w, d, a in [(8, 0.0, 0.5), (16, 0.3, 0.9), (32, 0.3, 0.7)]]
    fig = plot_parallel_coordinates(rows, ["width", "dropout"], "val_accuracy")
    lines = [line for line in fig.axes[0].lines if len(line.get_xdata()) == 3]
    assert len(lines) == 3
    best = max(lines, key=lambda line: line.get_linewidth())
    assert list(best.get_ydata()) == [0.5, 1.0, 1.0]  # width 16 of (8, 16, 32); dropout 0.3 of (0, 0.3); top score
    with pytest.raises(ValueError, match="no sweep rows"):
        plot_parallel_coordinates([], ["width"], "val_accuracy")


def test_learning_curves_and_confusion_matrix_figures():
    fig = plot_learning_curves({"loss": [1.0, 0.5], "val_loss": [1.2, 0.7], "accuracy": [0.5, 0.8]})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    with pytest.raises(ValueError, match="history has none"):
        plot_learning_curves({"lr": [0.1]})
    fig = plot_confusion_matrices({"validation": [[3, 1], [0, 4]]}, ["notumor", "tumor"])
    assert "accuracy 0.875" in fig.axes[0].get_title()
