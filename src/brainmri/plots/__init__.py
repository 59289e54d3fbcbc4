"""Figure helpers. Every figure a notebook shows is written by :func:`save_fig` to ``figures/``.

Domain figures live in submodules (``plots.data``, ``plots.classifier``, ``plots.explain``,
``plots.latent``); this module keeps what they share.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from brainmri import config, results


def save_fig(fig: plt.Figure, name: str, *, dpi: int = 110) -> Path:
    """Save ``fig`` as ``figures/<name>.png``, record its provenance, and return the path."""
    if not name or "/" in name or name.endswith(".png"):
        raise ValueError(f"figure name must be a bare name like 'cnn_confusion', got {name!r}")
    path = config.figures_dir() / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    results.record_figure(name)
    return path
