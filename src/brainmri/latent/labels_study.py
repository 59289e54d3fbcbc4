"""Guess (1) of the original experiment, labels: two labels may be too few to carve a continuous
space. Condition on a continuous attribute instead (tumour area, from the phantom's masks) and ask
whether the code carries it and whether the decoded change grows with it."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from brainmri import config
from brainmri.latent.probe import ridge_readout
from brainmri.latent.space import decode
from brainmri.models.vae import VAE


def mask_areas(masks: np.ndarray) -> np.ndarray:
    """Tumour area of each mask, as a fraction of the image."""
    masks = np.asarray(masks, np.float64)
    return masks.reshape(len(masks), -1).mean(axis=1)


def area_conditioned_edits(vae: VAE, z_healthy: np.ndarray, z_tumour: np.ndarray, areas: np.ndarray, *,
                           bins: int = 4, alpha: float = 1.0, change_threshold: float = 0.1,
                           seed: int = config.SEED) -> dict:
    """Tumour scans are split into ``bins`` quantile bins of tumour ``areas``; bin ``b``'s vector is
    ``mean(z | tumour in b) - mean(z | healthy)``, and every healthy code is edited by ``alpha`` times
    it. Per bin: the tumours' mean area, the vector's norm, and the decoded change (share of pixels
    changed by more than ``change_threshold``; mean absolute change). If labels were the problem and
    the code carries size, the change grows with the area: Spearman's rho across bins and the
    least-squares slope of each change measure against tumour area (``spearman_changed_area``,
    ``slope_mean_abs_change``, ...) say whether it does. ``area_r2`` is the
    cross-validated R^2 of the area from the tumour codes (does z carry the attribute at all?)."""
    areas = np.asarray(areas, np.float64)
    if len(areas) != len(z_tumour):
        raise ValueError(f"{len(z_tumour)} tumour codes but {len(areas)} areas")
    if len(areas) < bins:
        raise ValueError(f"need at least bins={bins} tumour scans, got {len(areas)}")
    edges = np.quantile(areas, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, areas, side="right") - 1, 0, bins - 1)
    base = decode(vae, z_healthy)
    rows = []
    for b in range(bins):
        members = which == b
        if not members.any():
            continue
        v = z_tumour[members].mean(0) - z_healthy.mean(0)
        change = np.abs(decode(vae, z_healthy + alpha * v) - base)
        rows.append({"bin": b, "n_tumours": int(members.sum()), "mean_area": float(areas[members].mean()),
                     "vector_norm": float(np.linalg.norm(v)),
                     "changed_area": float((change > change_threshold).mean()),
                     "mean_abs_change": float(change.mean())})
    x = np.array([r["mean_area"] for r in rows])
    trend = {f"{stat}_{measure}": value for measure in ("changed_area", "mean_abs_change")
             for stat, value in _trend(x, np.array([r[measure] for r in rows])).items()}
    readout = ridge_readout(z_tumour, areas, folds=min(5, len(areas) // 2), seed=seed) if len(areas) >= 4 else {"r2": float("nan")}
    return {"alpha": alpha, "change_threshold": change_threshold, "bins": rows, **trend, "area_r2": readout["r2"]}


def _trend(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Spearman's rho (NaN with fewer than three points or a constant series) and least-squares slope."""
    varied = len(x) > 2 and np.ptp(x) > 0 and np.ptp(y) > 0
    return {"spearman": float(spearmanr(x, y)[0]) if varied else float("nan"),
            "slope": float(np.polyfit(x, y, 1)[0]) if len(x) > 1 and np.ptp(x) > 0 else float("nan")}
