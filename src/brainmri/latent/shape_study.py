"""Guess (3) of the original experiment, shape: a tumour vector from shape-matched pairs."""

from __future__ import annotations

import numpy as np


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

