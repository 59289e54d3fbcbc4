"""Figures for notebook 02: kernels, filtered scans, and the hand-written convolution against libraries."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from brainmri.convolution import rescale_for_display


def plot_kernels(kernels: dict[str, np.ndarray]) -> plt.Figure:
    """Each kernel as a heat map with its values written in the cells (centre = tap (0, 0))."""
    fig, axes = plt.subplots(1, len(kernels), figsize=(3.2 * len(kernels), 3.2), squeeze=False)
    for ax, (name, kernel) in zip(axes[0], kernels.items()):
        limit = np.abs(kernel).max()
        ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
        for (row, col), value in np.ndenumerate(kernel):
            colour = "white" if abs(value) > 0.6 * limit else "black"
            ax.text(col, row, f"{value:.2g}", ha="center", va="center", fontsize=8, color=colour)
        kc = kernel.shape[0] // 2
        ticks = range(kernel.shape[0])
        ax.set_xticks(ticks, [str(t - kc) for t in ticks])
        ax.set_yticks(ticks, [str(t - kc) for t in ticks])
        ax.set_xlabel("j")
        ax.set_ylabel("i")
        ax.set_title(f"{name}\nsum {kernel.sum():.3g}")
    fig.tight_layout()
    return fig


def plot_filtered(scans: dict[str, np.ndarray], filtered: dict[str, dict[str, np.ndarray]]) -> plt.Figure:
    """One row per scan: the scan, then each kernel's output rescaled to [0, 1] for display."""
    kernel_names = list(next(iter(filtered.values())))
    columns = 1 + len(kernel_names)
    fig, axes = plt.subplots(len(scans), columns, figsize=(2.8 * columns, 2.8 * len(scans)), squeeze=False)
    for row, (label, image) in zip(axes, scans.items()):
        row[0].imshow(image, cmap="gray", vmin=0, vmax=255)
        row[0].set_title(f"{label} (input)")
        for ax, name in zip(row[1:], kernel_names):
            out = filtered[label][name]
            ax.imshow(rescale_for_display(out), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{name}\nrange [{out.min():.0f}, {out.max():.0f}]", fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_against_references(outputs: dict[str, np.ndarray], reference: str) -> plt.Figure:
    """Top: each implementation's output; bottom: its absolute difference from ``reference``.

    Outputs share one symmetric colour scale (blue negative, red positive) so that a sign flip,
    the mark of a forgotten kernel flip, is visible at a glance.
    """
    names = list(outputs)
    limit = max(np.abs(out).max() for out in outputs.values())
    fig, axes = plt.subplots(2, len(names), figsize=(3.0 * len(names), 6.2), squeeze=False)
    for col, name in enumerate(names):
        axes[0, col].imshow(outputs[name], cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[0, col].set_title(name, fontsize=9)
        difference = np.abs(outputs[name] - outputs[reference])
        axes[1, col].imshow(difference, cmap="magma", vmin=0, vmax=max(limit, 1e-12))
        axes[1, col].set_title(f"|difference from {reference}|\nmax {difference.max():.3g}", fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig
