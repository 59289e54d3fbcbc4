"""Guess (2) of the original experiment, position. First the positive control: is a tumour's
position readable from its code at all (cross-validated ridge regression from z to the mask
centroid, on the phantom)? Then: do per-location tumour vectors put their change where their
tumours are, unlike the global vector? Measured by the share of the change inside the group's
tumour region divided by the region's area (1 = chance), with bootstrap intervals over the edited
scans. Tumour positions and regions come from masks (phantom) or, on real scans, from the explainer
notebook 05 found faithful (its thresholded maps)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from sklearn.cluster import KMeans

from brainmri import config, results
from brainmri.explain.gradcam import EXPLAINERS, Explainer, GradCAM, block_outputs
from brainmri.latent.probe import ridge_readout
from brainmri.latent.space import decode
from brainmri.models.vae import VAE
from brainmri.stats import bootstrap_interval


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


def position_readout(z: np.ndarray, centroids: np.ndarray, *, folds: int = 5, seed: int = config.SEED) -> dict:
    """The positive control: is a tumour's position readable from its code? Cross-validated ridge
    R^2 from codes to mask centroids (row, column), over both coordinates and each alone."""
    scores = ridge_readout(z, centroids, folds=folds, seed=seed)
    return {**scores, "r2_row": scores["r2_per_target"][0], "r2_col": scores["r2_per_target"][1]}


def faithful_explainer(model: keras.Model, results_name: str = "05_faithfulness") -> tuple[Explainer, dict]:
    """The explainer notebook 05 found faithful (``chosen_method`` at ``chosen_layer`` in
    ``results/<results_name>.json``) for ``model``, and a note of where the choice came from. Without
    that file, or when the layer is not in this model, Grad-CAM at the model's first block output
    (the finest map available) is used and the note says so."""
    try:
        record = results.load_results(results_name)
        method, layer = record["chosen_method"], record["chosen_layer"]
    except FileNotFoundError:
        method, layer, source = None, None, f"results/{results_name}.json not found"
    else:
        source = f"results/{results_name}.json"
    blocks = block_outputs(model)
    if method in EXPLAINERS and layer in blocks:
        return EXPLAINERS[method](model, layer=layer), {"method": method, "layer": layer, "source": source}
    if method is not None:
        source += f" names {method} @ {layer}, which this classifier lacks"
    layer = blocks[0] if blocks else None
    explainer = GradCAM(model, layer=layer)
    return explainer, {"method": explainer.name, "layer": explainer.layer, "source": f"fallback ({source})"}


def explainer_regions(explainer: Explainer, images: np.ndarray, threshold: float = 0.5,
                      batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Where the classifier looks on real scans (no masks there): each scan's map of its predicted
    class thresholded at ``threshold`` (a pseudo-mask) and that region's map-weighted centroid, as
    (row, column) fractions (the image centre for a flat map, which has no region). A centroid of
    the region, not the map's single peak: a coarse map's peak often sits on the image border.
    ``images`` are the classifier's own inputs."""
    images = np.asarray(images, np.float32)
    maps = np.concatenate([explainer.explain(images[i:i + batch_size]).heatmaps for i in range(0, len(images), batch_size)])
    regions = (maps >= threshold).astype(np.uint8)
    return regions, mask_centroids(maps * regions + 1e-12)


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
    with ``region_masks`` (the tumours' masks or pseudo-masks), the enrichment of the change in the
    group's region: per edited scan, the share of its change inside the region divided by the
    region's area (1 = no more than chance; higher = the change lands there). ``mean`` holds the
    averages over groups, with 95% bootstrap intervals over the edited scans for the enrichment.
    """
    groups = location_groups(tumour_points, k, seed)
    v_global = z_tumour.mean(0) - z_healthy.mean(0)
    base = decode(vae, z_healthy)
    edits = {"global v": decode(vae, z_healthy + alpha * v_global)}
    global_change = np.abs(edits["global v"] - base)[..., 0]
    global_centroid = mask_centroids(global_change + 1e-12)
    rows, centres, enrichment = [], {}, {"group_vector": [], "global_vector": []}
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
            for key, ratio in (("group_vector", region_enrichment(change, region)),
                               ("global_vector", region_enrichment(global_change, region))):
                enrichment[key].append(ratio)
                row[f"enrichment_{key}"] = float(np.nanmean(ratio))
            row["region_area"] = float(region.mean())
        rows.append(row)
        centres[name] = row["centre"]
    summary = {key: float(np.nanmean([r[key] for r in rows])) for key in rows[0]
               if key.startswith(("distance", "enrichment", "region"))}
    for key, ratios in enrichment.items():
        if ratios:
            per_scan = np.nanmean(np.stack(ratios), axis=0)  # each edited scan, averaged over groups
            summary[f"enrichment_{key}_95"] = bootstrap_interval(per_scan[np.isfinite(per_scan)], seed=seed)
    return PositionStudy({"alpha": alpha, "k": k, "groups": rows, "mean": summary}, groups, base, edits, centres)


def region_enrichment(change: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Per image, the share of ``|change|`` inside ``region`` divided by the region's share of the
    image: 1 when the change is spread evenly, up to ``1 / area`` when all of it is inside.
    NaN for an image without change or an empty region."""
    change = np.abs(np.asarray(change, np.float64))
    area = float(np.asarray(region, np.float64).mean())
    total = change.sum(axis=(1, 2))
    inside = (change * region).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((total > 0) & (area > 0), inside / total / max(area, 1e-12), np.nan)


def _group_region(masks: np.ndarray, size: int) -> np.ndarray:
    """Pixels covered by at least 10% of a group's tumour masks, at the decoder's size."""
    frequency = np.asarray(masks, np.float32).mean(0)
    if frequency.shape[0] != size:
        frequency = tf.image.resize(frequency[..., None], (size, size)).numpy()[..., 0]
    return (frequency >= 0.1).astype(np.float32)

