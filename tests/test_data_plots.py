"""Notebook 01's figures: each draws what it says from the data it is given."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from brainmri.data.cache import scan_dataset
from brainmri.data.phantom import write_phantom
from brainmri.data.pipeline import augmentation
from brainmri.plots import data as plots


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = write_phantom(tmp_path_factory.mktemp("phantom"), per_class=4, image_size=24)
    return scan_dataset(root, use_cache=False)


def test_class_balance_bars_carry_the_counts(report):
    fig = plots.plot_class_balance(report.counts())
    labels = sorted(int(t.get_text()) for t in fig.axes[0].texts)
    assert labels == [1] * 4 + [4] * 4


def test_image_properties_cover_every_scan(report):
    fig = plots.plot_image_properties(report)
    heights = sum(p.get_height() for p in fig.axes[1].patches)
    assert heights == len(report.files)


def test_sample_grid_shows_only_the_requested_class_per_row():
    x = np.stack([np.full((8, 8, 1), 60 * k, np.uint8) for k in (0, 1, 2, 0, 1, 2)])
    y = np.array([0, 1, 2, 0, 1, 2])
    fig = plots.plot_sample_grid(x, y, ["a", "b", "c"], per_class=2)
    rows = np.array([ax.images[0].get_array().mean() for ax in fig.axes if ax.images]).reshape(3, 2)
    assert rows.tolist() == [[0, 0], [60, 60], [120, 120]]


def test_augmentation_figure_has_originals_and_variants():
    images = np.random.default_rng(0).integers(0, 255, (2, 16, 16, 1), dtype=np.uint8)
    fig = plots.plot_augmentation(images, augmentation(seed=1), variants=3)
    shown = [ax.images[0].get_array() for ax in fig.axes]
    assert len(shown) == 8 and np.array_equal(shown[0], images[0, ..., 0])


def test_duplicate_groups_figure_lists_files(report):
    fig = plots.plot_duplicate_groups(report, [[0, 1], [2, 3]], max_groups=1)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert len(titles) == 2 and report.files[0].relpath.split("/")[-1] in titles[0]
