"""Figures of notebook 04: two-stage learning curves, side-by-side metrics, and the neurons most
correlated with the tumour label with their activation maps (confusion matrices: plots.classifier)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from brainmri.neurons import NeuronAnalysis


def plot_two_stage_curves(histories: dict[str, dict[str, list[float]]], metric: str = "accuracy") -> plt.Figure:
    """Loss and ``metric`` per epoch, train and validation, the stages one after another.

    ``histories`` maps a stage name to its Keras history; a dashed line marks each change of stage.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key in zip(axes, ("loss", metric)):
        start = 0
        for i, (stage, history) in enumerate(histories.items()):
            epochs = np.arange(start + 1, start + len(history[key]) + 1)
            ax.plot(epochs, history[key], "o-", color=f"C{i}", label=f"{stage}: train")
            ax.plot(epochs, history[f"val_{key}"], "s--", color=f"C{i}", alpha=0.7, label=f"{stage}: validation")
            if start:
                ax.axvline(start + 0.5, color="grey", ls=":", lw=1)
            start += len(history[key])
        ax.set(xlabel="epoch", ylabel=key, title=key)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_metric_bars(table: dict[str, dict[str, float]], metrics: tuple[str, ...] = ("accuracy", "precision", "recall", "f1")) -> plt.Figure:
    """Grouped bars: one group per metric, one bar per model (``table[model][metric]``)."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    width = 0.8 / len(table)
    for i, (name, row) in enumerate(table.items()):
        positions = np.arange(len(metrics)) + (i - (len(table) - 1) / 2) * width
        values = [row[m] for m in metrics]
        bars = ax.bar(positions, values, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(np.arange(len(metrics)), metrics)
    ax.set(ylim=(0, 1.08), ylabel="validation score (macro average)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_neuron_correlations(analysis: NeuronAnalysis) -> plt.Figure:
    """Every neuron's correlation with the tumour label, sorted, the chosen top neurons marked."""
    corr = analysis.correlation
    valid = np.flatnonzero(~np.isnan(corr))
    order = valid[np.argsort(corr[valid])]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(np.arange(len(order)), corr[order], color="grey", lw=1)
    rank = {int(n): r for r, n in enumerate(order)}
    for name, colour in (("tumour", "C3"), ("no_tumour", "C0")):
        idx = analysis.top[name]
        ax.scatter([rank[int(i)] for i in idx], corr[idx], color=colour, zorder=3,
                   label=f"top {name.replace('_', ' ')}: " + ", ".join(str(int(i)) for i in idx))
    ax.axhline(0, color="black", lw=0.5)
    ax.set(xlabel=f"neurons sorted by r ({analysis.constant_neurons} constant neurons left out)",
           ylabel="Pearson r with tumour", title=f"{len(analysis.labels)} scans, feature map {analysis.feature_shape}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_neuron_maps(images: np.ndarray, maps: np.ndarray, neurons: np.ndarray, analysis: NeuronAnalysis,
                     scan_titles: list[str]) -> plt.Figure:
    """Rows: example scans; first column the scan, then each neuron's map upsampled over it.

    ``maps`` is ``(N, len(neurons), h, w)`` from :func:`brainmri.neurons.neuron_maps`. Each
    neuron's colour scale is shared across scans, so the rows can be compared.
    """
    n_scans, n_neurons = maps.shape[:2]
    fig, axes = plt.subplots(n_scans, n_neurons + 1, figsize=(1.7 * (n_neurons + 1), 1.8 * n_scans), squeeze=False)
    side = images.shape[1]
    for row in range(n_scans):
        scan = images[row, ..., 0] if images.shape[-1] == 1 else images[row].mean(axis=-1)
        axes[row, 0].imshow(scan, cmap="gray")
        axes[row, 0].set_title(scan_titles[row], fontsize=8)
        for col, neuron in enumerate(neurons, start=1):
            ax = axes[row, col]
            ax.imshow(scan, cmap="gray")
            ax.imshow(maps[row, col - 1], cmap="inferno", alpha=0.55, vmin=maps[:, col - 1].min(), vmax=maps[:, col - 1].max(),
                      extent=(-0.5, side - 0.5, side - 0.5, -0.5), interpolation="bilinear")
            if row == 0:
                ax.set_title(f"neuron {int(neuron)}\nr = {analysis.correlation[neuron]:+.2f}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig
