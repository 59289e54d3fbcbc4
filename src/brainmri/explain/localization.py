"""Where does a heatmap point, against a known mask? Pointing game, IoU and Dice.

Used on the synthetic phantom, whose tumour masks are known, and to score the U-Net of the
pseudo-segmentation experiment. Masks are ``{0, 1}`` arrays of shape (B, H, W).
"""

from __future__ import annotations

import cv2
import numpy as np


def _check_pair(a: np.ndarray, b: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 3 or a.shape != b.shape:
        raise ValueError(f"{what}: expected two (B, H, W) arrays of the same shape, got {a.shape} and {b.shape}")
    return a, b


def binarize(heatmaps: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """uint8 {0, 1} masks: the pixels whose normalised saliency is at least ``threshold``."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    return (np.asarray(heatmaps) >= threshold).astype(np.uint8)


def pointing_game(heatmaps: np.ndarray, masks: np.ndarray, *, tolerance: int = 0) -> np.ndarray:
    """(B,) bool: is each heatmap's maximum inside its mask (grown by ``tolerance`` pixels)?

    Zhang et al. (2016) allow 15 pixels at 224 px; the default here is strict. Every mask must
    contain a target: an image without one cannot be hit or missed, so it is refused by index.
    """
    heatmaps, masks = _check_pair(heatmaps, masks, "pointing_game")
    empty = np.flatnonzero(masks.reshape(len(masks), -1).max(axis=1) == 0)
    if empty.size:
        raise ValueError(f"pointing_game: masks {empty.tolist()} are empty; keep only images with a target")
    if tolerance > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
        masks = np.stack([cv2.dilate(m.astype(np.uint8), kernel) for m in masks])
    flat = heatmaps.reshape(len(heatmaps), -1).argmax(axis=1)
    return masks.reshape(len(masks), -1)[np.arange(len(masks)), flat] > 0


def iou(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(B,) intersection over union of binary masks; two empty masks agree perfectly (1)."""
    predicted, truth = _check_pair(predicted, truth, "iou")
    p, t = predicted.astype(bool), truth.astype(bool)
    inter = (p & t).sum(axis=(1, 2))
    union = (p | t).sum(axis=(1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def dice(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(B,) Dice coefficient 2|P & T| / (|P| + |T|) of binary masks; two empty masks give 1."""
    predicted, truth = _check_pair(predicted, truth, "dice")
    p, t = predicted.astype(bool), truth.astype(bool)
    inter = (p & t).sum(axis=(1, 2))
    total = p.sum(axis=(1, 2)) + t.sum(axis=(1, 2))
    return np.where(total > 0, 2 * inter / np.maximum(total, 1), 1.0)


def heatmap_iou(heatmaps: np.ndarray, masks: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(B,) IoU of the thresholded heatmaps with the masks."""
    return iou(binarize(heatmaps, threshold), masks)
