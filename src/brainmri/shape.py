"""Shape of the head in a slice, from the outline of its mask (OpenCV contours).

Guess (3) of the latent experiment says tumour brains are rounder, so a "tumour" vector may
encode shape instead of a tumour. These statistics make that testable: they are computed the same
way on scans, reconstructions and decoded edits.

The mask is the largest outer contour of the Otsu-thresholded, lightly blurred slice, filled (so
dark ventricles and lesions inside the head do not change its shape).
"""

from __future__ import annotations

import cv2
import numpy as np

SHAPE_FEATURES = ("area", "aspect_ratio", "circularity", "solidity", "brightness")


def _to_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"expected one grayscale image (S, S) or (S, S, 1), got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    if image.min() < 0 or image.max() > 1:
        raise ValueError(f"float images must be in [0, 1], got range [{image.min():.3g}, {image.max():.3g}]")
    return np.round(image * 255).astype(np.uint8)


def head_contour(image: np.ndarray) -> np.ndarray | None:
    """The largest outer contour (``(K, 1, 2)`` int points), or None for a blank slice."""
    pixels = cv2.GaussianBlur(_to_uint8(image), (5, 5), 0)
    if pixels.max() == pixels.min():
        return None
    _, binary = cv2.threshold(pixels, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return max(contours, key=cv2.contourArea) if contours else None


def shape_stats(image: np.ndarray) -> dict[str, float]:
    """Area (fraction of the image), aspect ratio (long / short side of the minimum-area
    rectangle, 1 = as wide as tall), circularity (4 pi area / perimeter^2, 1 = a disc), solidity
    (area / convex hull area) and mean brightness inside the mask (in [0, 1]).

    A blank slice has no head: every feature is NaN (and is counted, not dropped, by callers).
    """
    pixels = _to_uint8(image)
    contour = head_contour(pixels)
    if contour is None or cv2.contourArea(contour) < 4:
        return dict.fromkeys(SHAPE_FEATURES, float("nan"))
    area = cv2.contourArea(contour)
    (_, _), (w, h), _ = cv2.minAreaRect(contour)
    perimeter = cv2.arcLength(contour, closed=True)
    hull_area = cv2.contourArea(cv2.convexHull(contour))
    mask = np.zeros(pixels.shape, np.uint8)
    cv2.drawContours(mask, [contour], -1, 1, thickness=cv2.FILLED)
    return {
        "area": area / pixels.size,
        "aspect_ratio": max(w, h) / max(min(w, h), 1e-6),
        "circularity": 4 * np.pi * area / max(perimeter**2, 1e-6),
        "solidity": area / max(hull_area, 1e-6),
        "brightness": float(pixels[mask > 0].mean()) / 255.0,
    }


def shape_table(images: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`shape_stats` of each image, as one array per feature (``(N,)``, NaN for blank slices)."""
    rows = [shape_stats(image) for image in images]
    return {name: np.array([row[name] for row in rows], dtype=np.float64) for name in SHAPE_FEATURES}


def shape_matrix(images: np.ndarray, features=("area", "aspect_ratio", "circularity")) -> np.ndarray:
    """``(N, F)`` shape features, for matching scans by shape."""
    table = shape_table(images)
    return np.stack([table[name] for name in features], axis=1)


def standardized_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d of two samples (NaN ignored): how many pooled standard deviations apart their means are."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need at least two finite values per group, got {len(a)} and {len(b)}")
    pooled = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    return float((a.mean() - b.mean()) / max(pooled, 1e-12))


def compare_groups(images_a: np.ndarray, images_b: np.ndarray) -> dict[str, dict[str, float]]:
    """Per feature: mean of each group and the standardized difference (a - b)."""
    ta, tb = shape_table(images_a), shape_table(images_b)
    return {
        name: {"mean_a": float(np.nanmean(ta[name])), "mean_b": float(np.nanmean(tb[name])),
               "cohens_d": standardized_difference(ta[name], tb[name])}
        for name in SHAPE_FEATURES
    }
