"""Guess (3) of the original experiment, shape and source: a tumour vector from shape-matched
pairs, and one with the directions of brightness, contrast, view and shape projected out."""

from __future__ import annotations

import numpy as np

from brainmri import shape
from brainmri.data.pipeline import head_pixels


def shape_matched_vector(z: np.ndarray, is_tumour: np.ndarray, features: np.ndarray) -> dict:
    """Guess (3): pair every tumour scan with the healthy scan nearest in (standardised) head shape
    and average the code differences, so that shape differences between the groups cancel out.

    Returns the vector and the groups' shape gap (difference of means per feature, in standard
    deviations) before and after matching, which says whether the matching did its job.
    """
    is_tumour = np.asarray(is_tumour, bool)
    finite = np.isfinite(features).all(axis=1)
    if not finite.all():
        raise ValueError(f"{int((~finite).sum())} scans have no head outline (blank); exclude them first")
    scaled = (features - features.mean(0)) / np.maximum(features.std(0), 1e-12)
    tumour, healthy = scaled[is_tumour], scaled[~is_tumour]
    nearest = np.argmin(((tumour[:, None, :] - healthy[None, :, :]) ** 2).sum(-1), axis=1)
    matched = np.flatnonzero(~is_tumour)[nearest]
    return {"vector": (z[is_tumour] - z[matched]).mean(0), "matched_healthy": matched,
            "gap_before": (tumour.mean(0) - healthy.mean(0)).tolist(),
            "gap_after": (tumour.mean(0) - scaled[matched].mean(0)).tolist(),
            "distinct_healthy": int(len(set(matched.tolist())))}



NUISANCES = ("brightness", "contrast", "symmetry", "area", "aspect_ratio", "circularity")


def nuisance_table(images: np.ndarray) -> dict[str, np.ndarray]:
    """What besides a tumour may tell the groups apart, per ``[0, 1]`` grayscale image: the head's
    brightness and shape (:func:`brainmri.shape.shape_table`), contrast (standard deviation of the
    head's pixels, :func:`brainmri.data.pipeline.head_pixels`) and left-right symmetry (correlation of the image
    with its mirror: high for axial and coronal views, lower for sagittal ones: a proxy of the view)."""
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] != 1:
        raise ValueError(f"expected grayscale images (N, S, S, 1), got shape {images.shape}")
    table = shape.shape_table(images)
    flat = images.reshape(len(images), -1)
    head = np.asarray(head_pixels(images)).reshape(len(images), -1)
    contrast = np.array([row[mask].std() if mask.sum() > 1 else np.nan for row, mask in zip(flat, head)])
    mirrored = images[:, :, ::-1].reshape(len(images), -1)
    centred, mirrored = flat - flat.mean(1, keepdims=True), mirrored - mirrored.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        symmetry = (centred * mirrored).sum(1) / np.sqrt((centred ** 2).sum(1) * (mirrored ** 2).sum(1))
    return {name: np.asarray({"contrast": contrast, "symmetry": symmetry}.get(name, table.get(name)), np.float64)
            for name in NUISANCES}


def nuisance_adjusted_vector(z: np.ndarray, is_tumour: np.ndarray, nuisances: dict[str, np.ndarray]) -> dict:
    """The tumour vector with nuisance directions projected out. A linear model
    ``z = b0 + b_t * tumour + sum_k b_k * nuisance_k`` (nuisances standardised) gives each
    nuisance's direction ``b_k`` in latent space, the way the codes move when brightness, contrast,
    view or shape change at fixed tumour status. The naive vector minus its projection on their span
    is what no linear combination of them explains.

    Returns ``vector`` (adjusted), ``regression_vector`` (``b_t``: the tumour difference at equal
    nuisances), ``norm_left`` (|adjusted| / |naive|) and each nuisance direction's cosine with the naive vector.
    """
    is_tumour = np.asarray(is_tumour, bool)
    names = list(nuisances)
    values = np.stack([np.asarray(nuisances[name], np.float64) for name in names], axis=1)
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        raise ValueError(f"{int((~finite).sum())} scans have undefined nuisances (blank heads); exclude them first")
    flat = np.asarray(z, np.float64).reshape(len(z), -1)
    scaled = (values - values.mean(0)) / np.maximum(values.std(0), 1e-12)
    design = np.column_stack([np.ones(len(flat)), is_tumour.astype(np.float64), scaled])
    coefficients, *_ = np.linalg.lstsq(design, flat, rcond=None)
    directions = coefficients[2:]
    naive = flat[is_tumour].mean(0) - flat[~is_tumour].mean(0)
    basis, _ = np.linalg.qr(directions.T)
    adjusted = naive - basis @ (basis.T @ naive)
    norm = max(np.linalg.norm(naive), 1e-12)
    return {"vector": adjusted.reshape(z.shape[1:]).astype(np.float32),
            "regression_vector": coefficients[1].reshape(z.shape[1:]).astype(np.float32),
            "norm_left": float(np.linalg.norm(adjusted) / norm),
            "cosine_with_naive": {name: float(d @ naive / max(np.linalg.norm(d), 1e-12) / norm)
                                  for name, d in zip(names, directions)}}
