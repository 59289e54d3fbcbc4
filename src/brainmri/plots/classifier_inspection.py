"""Figures that look inside a classifier: feature maps per conv block, and the dropout study."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from brainmri.models.introspection import DropoutStudy


def plot_feature_maps(image: np.ndarray, maps: dict[str, np.ndarray], channels: int = 8) -> plt.Figure:
    """The scan, then one row per conv block: its first ``channels`` feature maps, each on its own scale.

    Channels are ranked by mean activation, strongest first, so that a row does not fill with
    channels that are silent for this scan.
    """
    rows = len(maps)
    fig, axes = plt.subplots(rows, channels + 1, figsize=(1.5 * (channels + 1), 1.6 * rows), squeeze=False)
    for row, (name, fmap) in zip(axes, maps.items()):
        row[0].imshow(image[:, :, 0] if image.shape[-1] == 1 else image.astype("uint8"), cmap="gray")
        row[0].set_title(f"{name}\n{fmap.shape[0]}x{fmap.shape[1]}x{fmap.shape[2]}", fontsize=7)
        order = np.argsort(fmap.mean(axis=(0, 1)))[::-1][:channels]
        for ax, channel in zip(row[1:], order):
            ax.imshow(fmap[:, :, channel], cmap="viridis")
            ax.set_title(f"ch {channel}", fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_dropout_study(study: DropoutStudy, unit: int = 0) -> plt.Figure:
    """Left: mean shift and variance against p, measured and p/(1-p)·y²; right: one unit's outputs per p."""
    fig, (ax_var, ax_hist) = plt.subplots(1, 2, figsize=(11, 3.8))
    rows = study.table()
    ax_var.plot(study.rates, [r["variance (mean over units)"] for r in rows], "o-", label="variance, measured")
    ax_var.plot(study.rates, [r["expected p/(1-p)·y² (mean)"] for r in rows], "k--", label="p/(1-p)·y², expected")
    ax_var.set_xlabel("dropout rate p")
    ax_var.set_ylabel("variance over repeats (mean over units)")
    twin = ax_var.twinx()
    twin.plot(study.rates, [r["mean shift / mean |output|"] for r in rows], "s:", color="tab:red", label="|mean shift| / mean |y|")
    twin.set_ylabel("relative mean shift", color="tab:red")
    twin.set_ylim(0, max(0.1, 2 * max(r["mean shift / mean |output|"] for r in rows)))
    ax_var.legend(loc="upper left", fontsize=8)
    twin.legend(loc="center left", fontsize=8)
    for p, samples in zip(study.rates, study.samples[:, :, unit]):
        ax_hist.hist(samples, bins=40, histtype="step", label=f"p = {p:g}")
    ax_hist.axvline(study.reference[unit], color="k", linestyle="--", label="no dropout (= the mean)")
    ax_hist.set_xlabel(f"output of unit {unit}")
    ax_hist.set_ylabel("repeats")
    ax_hist.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_dropout_images(image: np.ndarray, dropped: dict[float, np.ndarray]) -> plt.Figure:
    """The scan and its dropout versions on one grey scale (survivors are brighter: scaled by 1/(1-p))."""
    panels = {"input": image, **{f"dropout p = {p:g}": out for p, out in dropped.items()}}
    top = max(float(np.max(out)) for out in panels.values())
    fig, axes = plt.subplots(1, len(panels), figsize=(2.8 * len(panels), 3.0))
    for ax, (title, pixels) in zip(np.atleast_1d(axes), panels.items()):
        ax.imshow(pixels[:, :, 0] if pixels.shape[-1] == 1 else pixels.mean(axis=-1), cmap="gray", vmin=0, vmax=top)
        ax.set_title(f"{title}\nmean {pixels.mean():.1f}", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig
