"""Figures for notebook 01: class balance, image sizes and colour modes, sample grids, augmentation,
and duplicate pairs."""

from __future__ import annotations

from collections import Counter

import matplotlib.pyplot as plt
import numpy as np

from brainmri.data.images import decode_file
from brainmri.data.scan import ScanReport
from brainmri.data.split import examples_per_class


def _show(ax, image, title: str | None = None, fontsize: int = 8):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ax.imshow(image.astype(np.uint8), cmap="gray", vmin=0, vmax=255)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=fontsize)


def plot_class_balance(counts: dict[str, dict[str, int]], *, title: str = "Scans per class") -> plt.Figure:
    """Grouped bars: one group per class, one bar per split, each bar labelled with its count."""
    splits = list(counts)
    classes = list(next(iter(counts.values())))
    width = 0.8 / len(splits)
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(classes), 3.2))
    for k, split in enumerate(splits):
        positions = np.arange(len(classes)) + (k - (len(splits) - 1) / 2) * width
        bars = ax.bar(positions, [counts[split][c] for c in classes], width, label=split)
        ax.bar_label(bars, fontsize=7, padding=1)
    ax.set_xticks(np.arange(len(classes)), classes)
    ax.set_ylabel("scans")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def plot_image_properties(report: ScanReport) -> plt.Figure:
    """Left: width against height of every scan (marker area ~ how many share that size).
    Right: colour modes per class."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6), gridspec_kw={"width_ratios": [1.2, 1]})
    sizes = Counter((f.width, f.height) for f in report.files)
    widths, heights = zip(*sizes)
    n = np.array(list(sizes.values()))
    left.scatter(widths, heights, s=8 + 120 * np.sqrt(n / n.max()), alpha=0.5, edgecolor="none")
    left.set_xlabel("width (px)")
    left.set_ylabel("height (px)")
    left.set_title(f"{len(sizes)} distinct image sizes")
    modes = sorted({f.mode for f in report.files})
    classes = report.class_names
    bottom = np.zeros(len(classes))
    for mode in modes:
        per_class = np.array([sum(f.mode == mode and f.label == c for f in report.files) for c in classes])
        right.bar(classes, per_class, bottom=bottom, label=mode)
        bottom += per_class
    right.set_title("colour mode per class")
    right.legend(frameon=False, fontsize=8)
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def plot_sample_grid(x: np.ndarray, y: np.ndarray, class_names: list[str], *, per_class: int = 6,
                     seed: int = 0, size: float = 1.4) -> plt.Figure:
    """One row per class, ``per_class`` random scans of it (seeded)."""
    y = np.asarray(y)
    picks = examples_per_class(y, per_class, seed)
    fig, axes = plt.subplots(len(class_names), per_class, figsize=(size * per_class, size * len(class_names)),
                             squeeze=False)
    for row, name in enumerate(class_names):
        chosen = picks[y[picks] == row]
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_axis_off()
            if col < len(chosen):
                _show(ax, x[chosen[col]])
        axes[row, 0].text(-0.08, 0.5, name, transform=axes[row, 0].transAxes, rotation=90,
                          ha="right", va="center", fontsize=9)
    fig.subplots_adjust(wspace=0.03, hspace=0.03)
    return fig


def plot_augmentation(images: np.ndarray, augment, *, variants: int = 5, size: float = 1.4) -> plt.Figure:
    """Each row: a scan, then ``variants`` draws of the training augmentation applied to it."""
    fig, axes = plt.subplots(len(images), variants + 1, figsize=(size * (variants + 1), size * len(images)),
                             squeeze=False)
    batch = np.asarray(images, np.float32)
    draws = [np.clip(np.asarray(augment(batch, training=True)), 0, 255) for _ in range(variants)]
    for row in range(len(images)):
        _show(axes[row, 0], images[row], "original" if row == 0 else None)
        for col, draw in enumerate(draws, start=1):
            _show(axes[row, col], draw[row], "augmented" if row == 0 and col == 1 else None)
    fig.subplots_adjust(wspace=0.03, hspace=0.05)
    return fig


def plot_duplicate_groups(report: ScanReport, groups: list[list[int]], *, max_groups: int = 6,
                          max_per_group: int = 4, size: float = 1.5, title: str = "") -> plt.Figure:
    """One row per duplicate group: its scans side by side, titled with split/class/file name."""
    shown = groups[:max_groups]
    cols = max([min(len(g), max_per_group) for g in shown], default=1)
    fig, axes = plt.subplots(max(len(shown), 1), cols, figsize=(size * cols, size * 1.15 * max(len(shown), 1)),
                             squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for row, group in enumerate(shown):
        for col, index in enumerate(group[:max_per_group]):
            pixels, _ = decode_file(report.path(index), 96)
            f = report.files[index]
            _show(axes[row, col], pixels, f"{f.split[:5]}/{f.label}\n{f.relpath.split('/')[-1]}", fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
