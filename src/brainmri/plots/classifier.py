"""Classifier figures: learning curves, confusion matrices, ROC curve, the sweep's parallel coordinates,
the robustness suite, the reliability diagram, and one scan's prediction with its explanation.

(Feature maps and the dropout study are in :mod:`brainmri.plots.classifier_inspection`.)
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from brainmri.plots.explain import overlay


def plot_learning_curves(history: dict[str, list[float]], metrics=("loss", "accuracy", "f1")) -> plt.Figure:
    """One panel per metric: training and validation per epoch (validation's best epoch marked)."""
    shown = [m for m in metrics if m in history]
    if not shown:
        raise ValueError(f"history has none of {list(metrics)}; it has {sorted(history)}")
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.4), squeeze=False)
    for ax, name in zip(axes[0], shown):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], "o-", ms=3, label="train (augmented)")
        if f"val_{name}" in history:
            val = np.asarray(history[f"val_{name}"])
            best = int(np.argmin(val) if name == "loss" else np.argmax(val))
            ax.plot(epochs, val, "s-", ms=3, label="validation")
            ax.plot(epochs[best], val[best], "k*", ms=10, label=f"best validation {val[best]:.3f}")
        ax.set_xlabel("epoch")
        ax.set_title({"f1": "macro F1"}.get(name, name))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_confusion_matrices(matrices: dict[str, Any], class_names: list[str]) -> plt.Figure:
    """Side by side, one per title: counts, coloured by the fraction of each true class (row)."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.4 * len(matrices), 4.0), squeeze=False)
    for ax, (title, matrix) in zip(axes[0], matrices.items()):
        counts = np.asarray(matrix)
        fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
        for (i, j), n in np.ndenumerate(counts):
            ax.text(j, i, str(n), ha="center", va="center", fontsize=9,
                    color="white" if fractions[i, j] > 0.6 else "black")
        ticks = range(len(class_names))
        ax.set_xticks(ticks, class_names, rotation=35, ha="right", fontsize=8)
        ax.set_yticks(ticks, class_names, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        accuracy = np.trace(counts) / max(counts.sum(), 1)
        ax.set_title(f"{title} (accuracy {accuracy:.3f}, n = {counts.sum()})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray, float]]) -> plt.Figure:
    """ROC curves of P(tumour), one per label: ``{label: (fpr, tpr, auc)}``."""
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    for label, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="chance")
    ax.set_xlabel("false-positive rate (no tumour called tumour)")
    ax.set_ylabel("true-positive rate")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_parallel_coordinates(rows: list[dict[str, Any]], params: list[str], score: str) -> plt.Figure:
    """One line per trained model through its hyperparameters (one axis each) to its score.

    Each axis spans the values tried; categorical-looking axes (few values) are evenly spaced and
    labelled with the values. Line colour is the score; the best model is drawn thickest.
    """
    if not rows:
        raise ValueError("no sweep rows to plot")
    axes_names = [*params, score]
    positions = np.zeros((len(rows), len(axes_names)))
    tick_labels = []
    for j, name in enumerate(axes_names):
        values = [row[name] for row in rows]
        if name == score:
            low, high = min(values), max(values)
            span = high - low or 1.0
            positions[:, j] = [(v - low) / span for v in values]
            tick_labels.append([(0.0, f"{low:.3f}"), (1.0, f"{high:.3f}")])
            continue
        levels = sorted(set(values))
        step = 1 / max(len(levels) - 1, 1)
        positions[:, j] = [levels.index(v) * step for v in values]
        tick_labels.append([(k * step, f"{v:g}") for k, v in enumerate(levels)])
    scores = np.array([row[score] for row in rows])
    colours = plt.cm.viridis((scores - scores.min()) / (np.ptp(scores) or 1.0))
    fig, ax = plt.subplots(figsize=(1.6 * len(axes_names) + 1, 4.0))
    best = int(np.argmax(scores))
    for i in np.argsort(scores):
        ax.plot(range(len(axes_names)), positions[i], color=colours[i], lw=3.5 if i == best else 1.6, alpha=0.9)
    for j, ticks in enumerate(tick_labels):
        ax.axvline(j, color="0.4", lw=0.8)
        for y, text in ticks:
            ax.text(j + 0.04, y, text, fontsize=8, va="center")
    ax.set_xticks(range(len(axes_names)), axes_names)
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(axes_names) - 0.6)
    ax.set_ylim(-0.08, 1.08)
    sm = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(scores.min(), scores.max()))
    fig.colorbar(sm, ax=ax, label=score, pad=0.02)
    fig.tight_layout()
    return fig


def plot_robustness(rows: list[dict[str, Any]]) -> plt.Figure:
    """One panel per pipeline: accuracy and tumour-vs-none accuracy against its strength, mildest
    first, with the clean scans' accuracy as a dotted line (rows of ``evaluate.robustness_rows``)."""
    clean = next((row for row in rows if row["pipeline"] == "none"), None)
    names = list(dict.fromkeys(row["pipeline"] for row in rows if row["pipeline"] != "none"))
    if not names:
        raise ValueError("no pipeline rows to plot")
    columns = min(4, len(names))
    lines = -(-len(names) // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, 2.8 * lines), squeeze=False, sharey=True)
    low = min(row["accuracy"] for row in rows)
    for ax, name in zip(axes.ravel(), names):
        chosen = [row for row in rows if row["pipeline"] == name]
        steps = range(len(chosen))
        ax.plot(steps, [row["accuracy"] for row in chosen], "o-", label="accuracy")
        if chosen[0].get("binary_accuracy") is not None:
            ax.plot(steps, [row["binary_accuracy"] for row in chosen], "s--", ms=4, label="tumour vs none")
        if clean is not None:
            ax.axhline(clean["accuracy"], color="0.4", ls=":", lw=1, label="clean accuracy")
        ax.set_xticks(list(steps), [f"{row['strength']:g}" for row in chosen])
        ax.set_xlabel(chosen[0]["parameter"], fontsize=8)
        ax.set_title(name, fontsize=10)
        ax.set_ylim(max(0.0, low - 0.05), 1.005)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names):]:
        ax.set_axis_off()
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def plot_reliability(diagrams: dict[str, tuple[list[dict[str, Any]], float]]) -> plt.Figure:
    """Reliability diagrams side by side, ``{title: (reliability bins, ECE)}``: per confidence bin,
    the accuracy of its scans (bars) against the diagonal of perfect calibration, and how many
    scans fall in it (the grey bars below, on the right axis)."""
    fig, axes = plt.subplots(1, len(diagrams), figsize=(4.0 * len(diagrams), 3.8), squeeze=False)
    for ax, (title, (bins, ece)) in zip(axes[0], diagrams.items()):
        width = bins[0]["upper"] - bins[0]["lower"]
        centres = [b["lower"] + width / 2 for b in bins]
        filled = [b for b in bins if b["n"]]
        ax.bar([b["lower"] + width / 2 for b in filled], [b["accuracy"] for b in filled], width=width * 0.9,
               color="tab:blue", alpha=0.45, label="accuracy")
        ax.plot([b["confidence"] for b in filled], [b["confidence"] for b in filled], "r.", ms=6,
                label="mean confidence")
        ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfect calibration")
        counts = ax.twinx()  # drawn behind the accuracy bars, in the lower third of the panel
        counts.bar(centres, [b["n"] for b in bins], width=width * 0.4, color="0.5", alpha=0.6)
        counts.set_ylim(0, 3.2 * max(max(b["n"] for b in bins), 1))
        counts.set_ylabel("scans (grey)", fontsize=8)
        ax.set_zorder(counts.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("confidence (top-class probability)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{title} (ECE {ece:.3f})", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def plot_prediction(scan: np.ndarray, heatmap: np.ndarray | None, title: str) -> plt.Figure:
    """The scan and, when given, the explanation overlaid on it; ``title`` (the prediction) above both."""
    panels = 1 if heatmap is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 3.5), squeeze=False)
    image = np.asarray(scan)
    axes[0, 0].imshow(image[..., 0] if image.shape[-1] == 1 else image.astype(np.uint8), cmap="gray")
    axes[0, 0].set_title("scan", fontsize=9)
    if heatmap is not None:
        axes[0, 1].imshow(overlay(image, heatmap))
        axes[0, 1].set_title("explanation", fontsize=9)
    for ax in axes[0]:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
