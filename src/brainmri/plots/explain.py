"""Figures for notebooks 05 and 06: heatmap overlays, faithfulness curves, masks, U-Net training."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from brainmri.explain.gradcam import Explanation


def overlay(image: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """(H, W, 3) float RGB in [0, 1]: the scan in grey with the heatmap's colours blended on top."""
    grey = np.asarray(image, dtype=np.float32)
    grey = grey.mean(axis=-1) if grey.ndim == 3 else grey
    span = grey.max() - grey.min()
    grey = (grey - grey.min()) / span if span > 0 else np.zeros_like(grey)
    colours = plt.get_cmap(cmap)(np.clip(heatmap, 0, 1))[..., :3]
    return np.clip((1 - alpha) * grey[..., None] + alpha * colours, 0, 1).astype(np.float32)


def _grey(ax, image, title: str | None = None):
    img = np.asarray(image)
    ax.imshow(img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img.astype(np.uint8), cmap="gray")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)


def explanation_title(result: Explanation, i: int, class_names: list[str]) -> str:
    """'<method>\\npred glioma 0.97' (plus the class explained when it is not the prediction)."""
    title = f"{result.method}\npred {class_names[result.predicted[i]]} {result.predicted_probability[i]:.2f}"
    if result.class_index[i] != result.predicted[i]:
        title += f"\nfor {class_names[result.class_index[i]]} {result.probability[i]:.2f}"
    return title


def plot_explanations(images: np.ndarray, results: list[Explanation], class_names: list[str],
                      labels: np.ndarray | None = None, *, size: float = 1.9) -> plt.Figure:
    """One row per scan: the scan (titled with its true class), then each method's overlay."""
    n, cols = len(images), 1 + len(results)
    fig, axes = plt.subplots(n, cols, figsize=(size * cols, size * 1.15 * n), squeeze=False)
    for i in range(n):
        truth = f"true {class_names[labels[i]]}" if labels is not None else "scan"
        _grey(axes[i, 0], images[i], truth)
        for j, result in enumerate(results, start=1):
            axes[i, j].imshow(overlay(images[i], result.heatmaps[i]))
            axes[i, j].set_axis_off()
            axes[i, j].set_title(explanation_title(result, i, class_names), fontsize=7)
    fig.tight_layout()
    return fig


def plot_faithfulness_curves(curves: dict[str, dict], *, title: str = "") -> plt.Figure:
    """Mean deletion and insertion curves (class probability vs share of pixels), one line per map."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, mode, better in zip(axes, ("deletion", "insertion"), ("lower", "higher")):
        for name, by_mode in curves.items():
            curve = by_mode[mode]
            ax.plot(curve.fractions, curve.probabilities.mean(axis=0), label=f"{name} (AUC {curve.auc.mean():.3f})")
        ax.set_xlabel(f"share of pixels {'deleted' if mode == 'deletion' else 'inserted'}, most salient first")
        ax.set_ylabel("probability of the class")
        ax.set_title(f"{mode} ({better} AUC is better)", fontsize=10)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_mask_rows(images: np.ndarray, columns: dict[str, np.ndarray], *, titles: list[str] | None = None,
                   size: float = 1.8) -> plt.Figure:
    """One row per scan: the scan, then each named mask (N, H, W) drawn in red over it."""
    n, cols = len(images), 1 + len(columns)
    fig, axes = plt.subplots(n, cols, figsize=(size * cols, size * n), squeeze=False)
    for i in range(n):
        _grey(axes[i, 0], images[i], titles[i] if titles else "scan")
        for j, (name, masks) in enumerate(columns.items(), start=1):
            red = np.zeros((*masks[i].shape, 3), np.float32)
            red[..., 0] = 1
            axes[i, j].imshow(overlay(images[i], np.zeros(masks[i].shape), alpha=0))
            axes[i, j].imshow(np.dstack([red, 0.5 * masks[i]]))
            axes[i, j].set_axis_off()
            if i == 0:
                axes[i, j].set_title(name, fontsize=8)
    fig.tight_layout()
    return fig


def plot_thresholds(image: np.ndarray, heatmap: np.ndarray, thresholds: list[float], *, size: float = 2.0) -> plt.Figure:
    """The heatmap and the pseudo-mask it gives at each threshold."""
    fig, axes = plt.subplots(1, 1 + len(thresholds), figsize=(size * (1 + len(thresholds)), size * 1.1))
    axes[0].imshow(overlay(image, heatmap))
    axes[0].set_title("Grad-CAM", fontsize=8)
    axes[0].set_axis_off()
    for ax, t in zip(axes[1:], thresholds):
        ax.imshow(heatmap >= t, cmap="gray")
        ax.set_title(f"heatmap >= {t:.2f}", fontsize=8)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def plot_history(history: dict[str, list[float]], keys: tuple[str, ...] = ("loss", "dice_metric")) -> plt.Figure:
    """Training and validation curves for each key."""
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], marker="o", label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(key, fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
