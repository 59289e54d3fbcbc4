"""Guess (2) of the original experiment, position: do per-location tumour vectors put a change
where their tumours are, unlike the global vector (whose tumours at many positions might average
out)? Tumour positions come from mask centroids (phantom) or Grad-CAM peaks (real scans)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from sklearn.cluster import KMeans

from brainmri import config
from brainmri.explain.gradcam import GradCAM
from brainmri.latent.space import decode
from brainmri.models.vae import VAE


def mask_centroids(masks: np.ndarray) -> np.ndarray:
    """``(N, 2)`` (row, column) centroid of each mask, as fractions of the image side."""
    masks = np.asarray(masks, np.float64)
    if masks.ndim == 4:
        masks = masks[..., 0]
    total = masks.sum(axis=(1, 2))
    if (total <= 0).any():
        raise ValueError(f"{int((total <= 0).sum())} masks are empty; a centroid needs some mass")
    rows, cols = np.mgrid[:masks.shape[1], :masks.shape[2]]
    return np.stack([(masks * rows).sum((1, 2)) / total / masks.shape[1],
                     (masks * cols).sum((1, 2)) / total / masks.shape[2]], axis=1)


def heatmap_peaks(heatmaps: np.ndarray) -> np.ndarray:
    """``(N, 2)`` (row, column) of each heatmap's maximum, as fractions of the side."""
    heatmaps = np.asarray(heatmaps)
    flat = heatmaps.reshape(len(heatmaps), -1).argmax(axis=1)
    rows, cols = np.unravel_index(flat, heatmaps.shape[1:3])
    return np.stack([(rows + 0.5) / heatmaps.shape[1], (cols + 0.5) / heatmaps.shape[2]], axis=1)


def gradcam_peaks(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Where the classifier looks on real scans (no masks there): the Grad-CAM peak of its predicted
    class, per scan, as (row, column) fractions. ``images`` are the classifier's own inputs."""
    explainer = GradCAM(model)
    maps = [explainer.explain(images[i:i + batch_size].astype(np.float32)).heatmaps
            for i in range(0, len(images), batch_size)]
    return heatmap_peaks(np.concatenate(maps))


def location_groups(points: np.ndarray, k: int, seed: int = config.SEED) -> np.ndarray:
    """Group tumours by where they are: k-means on their (row, column) positions."""
    if len(points) < k:
        raise ValueError(f"need at least k={k} tumour positions, got {len(points)}")
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(points)


@dataclass
class PositionStudy:
    """What :func:`position_experiment` found: ``summary`` (per group and mean, ready to save) and
    the images behind it: the unedited decodings ``base`` and, per vector ("global v", "group g v"),
    the decoded edits, with the mean tumour position ``centres`` of each group vector."""
    summary: dict
    groups: np.ndarray  # (n_tumours,) location group of each tumour
    base: np.ndarray
    edits: dict[str, np.ndarray]
    centres: dict[str, list[float]]


def position_experiment(vae: VAE, z_healthy: np.ndarray, z_tumour: np.ndarray, tumour_points: np.ndarray,
                        *, k: int = 4, alpha: float = 1.5, region_masks: np.ndarray | None = None,
                        seed: int = config.SEED) -> PositionStudy:
    """Tumours are grouped by position (``tumour_points``, see :func:`location_groups`). For group
    ``g``, ``v_g = mean(z | tumour in g) - mean(z | healthy)``; healthy codes are edited by
    ``alpha * v_g`` and by ``alpha * v_global`` and we measure the distance from the centroid of
    the change to the group's mean tumour position (fractions of the side; lower is better), and,
    with ``region_masks`` (tumour masks, phantom only), the share of the change inside the region
    where the group's tumours lie (higher is better; chance = its area).
    """
    groups = location_groups(tumour_points, k, seed)
    v_global = z_tumour.mean(0) - z_healthy.mean(0)
    base = decode(vae, z_healthy)
    edits = {"global v": decode(vae, z_healthy + alpha * v_global)}
    global_change = np.abs(edits["global v"] - base)[..., 0]
    global_centroid = mask_centroids(global_change + 1e-12)
    rows, centres = [], {}
    for g in range(k):
        members = groups == g
        centre = tumour_points[members].mean(0)
        name = f"group {g} v"
        edits[name] = decode(vae, z_healthy + alpha * (z_tumour[members].mean(0) - z_healthy.mean(0)))
        change = np.abs(edits[name] - base)[..., 0]
        row = {"group": g, "n_tumours": int(members.sum()), "centre": centre.tolist(),
               "distance_group_vector": float(np.linalg.norm(mask_centroids(change + 1e-12) - centre, axis=1).mean()),
               "distance_global_vector": float(np.linalg.norm(global_centroid - centre, axis=1).mean())}
        if region_masks is not None:
            region = _group_region(region_masks[members], base.shape[1])
            row.update(region_area=float(region.mean()),
                       inside_group_vector=float((change * region).sum() / change.sum()),
                       inside_global_vector=float((global_change * region).sum() / global_change.sum()))
        rows.append(row)
        centres[name] = row["centre"]
    summary = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]
               if key.startswith(("distance", "inside", "region"))}
    return PositionStudy({"alpha": alpha, "k": k, "groups": rows, "mean": summary}, groups, base, edits, centres)


def _group_region(masks: np.ndarray, size: int) -> np.ndarray:
    """Pixels covered by at least 10% of a group's tumour masks, at the decoder's size."""
    frequency = np.asarray(masks, np.float32).mean(0)
    if frequency.shape[0] != size:
        frequency = tf.image.resize(frequency[..., None], (size, size)).numpy()[..., 0]
    return (frequency >= 0.1).astype(np.float32)

