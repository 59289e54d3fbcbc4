"""Figures for notebooks 07-09: VAE training, reconstructions vs PCA, latent maps, ascent
trajectories, walks and edit curves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def _show(ax, image, title: str | None = None) -> None:
    ax.imshow(np.squeeze(image), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def plot_vae_history(history: dict[str, list[float]]) -> plt.Figure:
    """Total, reconstruction and KL loss per epoch (train and validation), and the KL weight."""
    keys = ["loss", "reconstruction_loss", "kl_loss", "kl_weight"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3))
    for ax, key in zip(axes, keys):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], marker="o", label="train")
        if f"val_{key}" in history and key != "kl_weight":
            ax.plot(epochs, history[f"val_{key}"], marker="o", label="validation")
        ax.set_title(key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_reconstructions(originals: np.ndarray, rows: dict[str, np.ndarray], scores: dict[str, np.ndarray]) -> plt.Figure:
    """Originals on top, then one row per model (e.g. VAE, PCA) with each image's SSIM."""
    n = len(originals)
    fig, axes = plt.subplots(1 + len(rows), n, figsize=(1.6 * n, 1.7 * (1 + len(rows))), squeeze=False)
    for j in range(n):
        _show(axes[0, j], originals[j], "original" if j == 0 else None)
        for i, (name, images) in enumerate(rows.items(), start=1):
            _show(axes[i, j], images[j], f"{name} SSIM {scores[name][j]:.2f}")
    fig.tight_layout()
    return fig


def plot_image_grid(images: np.ndarray, titles: list[str] | None = None, ncols: int = 8) -> plt.Figure:
    """Images in a grid, with optional titles."""
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.7 * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < len(images):
            _show(ax, images[k], titles[k] if titles else None)
        else:
            ax.axis("off")
    fig.tight_layout()
    return fig


def plot_embedding(points: dict[str, np.ndarray], labels: np.ndarray, class_names: list[str]) -> plt.Figure:
    """2-D embeddings of the latent means (e.g. PCA and t-SNE), coloured by class."""
    fig, axes = plt.subplots(1, len(points), figsize=(4.5 * len(points), 4), squeeze=False)
    for ax, (name, xy) in zip(axes[0], points.items()):
        for k, cls in enumerate(class_names):
            chosen = labels == k
            ax.scatter(xy[chosen, 0], xy[chosen, 1], s=6, alpha=0.6, label=cls)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, -1].legend(fontsize=8, markerscale=2)
    fig.tight_layout()
    return fig


def plot_ascent(trajectories: dict, show_steps: list[int], example: int = 0) -> plt.Figure:
    """Left: P(target) per step (mean and each start) for each trajectory; right: the images of
    one start at chosen steps, one row per trajectory."""
    n_rows = len(trajectories)
    fig = plt.figure(figsize=(4.5 + 1.5 * len(show_steps), 1.8 * max(n_rows, 2)))
    grid = fig.add_gridspec(n_rows, 1 + len(show_steps), width_ratios=[3] + [1] * len(show_steps))
    curve = fig.add_subplot(grid[:, 0])
    for name, trajectory in trajectories.items():
        line, = curve.plot(trajectory.probability.mean(1), linewidth=2, label=name)
        curve.plot(trajectory.probability, color=line.get_color(), alpha=0.2, linewidth=0.8)
    curve.set_xlabel("step")
    curve.set_ylabel("P(target)")
    curve.set_ylim(-0.02, 1.02)
    curve.legend(fontsize=8)
    for r, (name, trajectory) in enumerate(trajectories.items()):
        for c, step in enumerate(show_steps):
            ax = fig.add_subplot(grid[r, 1 + c])
            step = min(step, len(trajectory.images) - 1)
            _show(ax, trajectory.images[step, example], f"{name}\nstep {step}: P {trajectory.probability[step, example]:.2f}")
    fig.tight_layout()
    return fig


def plot_walks(walks: dict[str, np.ndarray], probabilities: dict[str, np.ndarray], steps) -> plt.Figure:
    """Each walk as a row of decoded images (titled with P(tumour)), and all P(tumour) curves."""
    n_cols = len(steps)
    fig, axes = plt.subplots(len(walks) + 1, n_cols, figsize=(1.6 * n_cols, 1.8 * (len(walks) + 1)), squeeze=False)
    for r, (name, images) in enumerate(walks.items()):
        for c in range(n_cols):
            _show(axes[r, c], images[c], f"{name} t={steps[c]:.2f}\nP {probabilities[name][c]:.2f}")
    bottom = fig.add_subplot(len(walks) + 1, 1, len(walks) + 1)
    for ax in axes[-1]:
        ax.remove()
    for name, p in probabilities.items():
        bottom.plot(steps, p, marker="o", label=name)
    bottom.set_xlabel("t (healthy -> tumour)")
    bottom.set_ylabel("P(tumour)")
    bottom.set_ylim(-0.02, 1.02)
    bottom.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_sweep_curves(curves: dict[str, dict[str, list[float]]], keys=("flip_rate", "ssim", "aspect_ratio", "area"),
                      xlabel: str = "a (edit strength)") -> plt.Figure:
    """One panel per measure (flip rate, SSIM to the unedited decoding, head shape), one line per sweep."""
    fig, axes = plt.subplots(1, len(keys), figsize=(3.8 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, curve in curves.items():
            ax.plot(curve["steps"], curve[key], marker="o", label=name)
        ax.set_title(key.replace("_", " "))
        ax.set_xlabel(xlabel)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_shape_groups(tables: dict[str, dict[str, np.ndarray]], features=("area", "aspect_ratio", "circularity", "brightness")) -> plt.Figure:
    """Histogram per shape feature for each group (e.g. healthy vs tumour scans)."""
    fig, axes = plt.subplots(1, len(features), figsize=(3.6 * len(features), 3), squeeze=False)
    for ax, feature in zip(axes[0], features):
        for name, table in tables.items():
            values = table[feature][np.isfinite(table[feature])]
            ax.hist(values, bins=30, alpha=0.5, density=True, label=name)
        ax.set_title(feature.replace("_", " "))
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_difference_maps(base: np.ndarray, edits: dict[str, np.ndarray], centres: dict[str, np.ndarray] | None = None) -> plt.Figure:
    """Mean |edit - base| per vector (where each edit changes the image); a cross marks the
    mean position of the tumours the vector was built from."""
    fig, axes = plt.subplots(1, len(edits), figsize=(2.6 * len(edits), 2.8), squeeze=False)
    for ax, (name, edited) in zip(axes[0], edits.items()):
        change = np.abs(edited - base).mean(0)[..., 0]
        ax.imshow(change, cmap="magma")
        if centres and name in centres:
            row, col = centres[name]
            ax.plot(col * change.shape[1], row * change.shape[0], "c+", markersize=14, markeredgewidth=2)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_null_controls(protocol: dict) -> plt.Figure:
    """The flip rates of the null controls (one histogram per family) against the tumour vector's
    (line, with its Wilson interval shaded) and the controls' 95th percentile (dashed)."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bins = np.linspace(0, 1, 21)
    for name, family in protocol["nulls"].items():
        rates = np.asarray(family["flip_rates"], float)
        ax.hist(rates[np.isfinite(rates)], bins=bins, alpha=0.5, label=f"{name} (n={family['n']})")
    tumour = protocol["tumour_vector"]
    if np.isfinite(tumour["flip_rate"]):
        ax.axvspan(tumour["wilson_95"]["low"], tumour["wilson_95"]["high"], color="crimson", alpha=0.15)
        ax.axvline(tumour["flip_rate"], color="crimson", linewidth=2, label="tumour vector (95% interval)")
    if np.isfinite(protocol["null_p95"]):
        ax.axvline(protocol["null_p95"], color="black", linestyle="--", label="controls' 95th percentile")
    ax.set_xlabel(f"flip rate among edits with SSIM >= {protocol['ssim_floor']:g}")
    ax.set_ylabel("controls")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_enrichment(studies: dict[str, dict]) -> plt.Figure:
    """Per study (e.g. phantom, real scans), the change's enrichment in the tumours' region (share
    inside / area; 1 = chance) for per-location and global vectors, with 95% bootstrap intervals."""
    fig, ax = plt.subplots(figsize=(5, 3))
    width = 0.38
    for i, key in enumerate(("group_vector", "global_vector")):
        means = [study["mean"][f"enrichment_{key}"] for study in studies.values()]
        intervals = np.array([study["mean"][f"enrichment_{key}_95"] for study in studies.values()]).T
        x = np.arange(len(studies)) + (i - 0.5) * width
        ax.bar(x, means, width, label=key.replace("_", " "),
               yerr=[np.subtract(means, intervals[0]), np.subtract(intervals[1], means)], capsize=3)
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(np.arange(len(studies)), list(studies))
    ax.set_ylabel("change in region / region area")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_area_trend(study: dict) -> plt.Figure:
    """The area-conditioned edits: decoded change against the mean tumour area of each bin."""
    rows = study["bins"]
    area = [r["mean_area"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(7, 3))
    for ax, key in zip(axes, ("changed_area", "mean_abs_change")):
        ax.plot(area, [r[key] for r in rows], marker="o")
        ax.set_xlabel("mean tumour area of the bin (fraction of image)")
        ax.set_title(f"{key.replace('_', ' ')} (Spearman {study[f'spearman_{key}']:.2f})", fontsize=9)
    fig.tight_layout()
    return fig
