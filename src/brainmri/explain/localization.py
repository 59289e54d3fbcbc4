"""Where does a heatmap point, against a known mask? Pointing game, IoU and Dice; and the split
of scans that keeps choosing a map apart from judging it.

Used on the synthetic phantom, whose tumour masks are known, and to score the U-Net of the
pseudo-segmentation experiment. Masks are ``{0, 1}`` arrays of shape (B, H, W).
"""

from __future__ import annotations

import cv2
import numpy as np

from brainmri.config import SEED


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


def localization_table(maps: dict[str, np.ndarray], masks: np.ndarray, threshold: float = 0.5) -> list[dict]:
    """One row per map: the share of pointing-game hits and the mean IoU of the map thresholded at
    ``threshold`` (column ``iou_at_<threshold>``) against ``masks``."""
    return [{"map": name, "pointing_game": float(pointing_game(heatmaps, masks).mean()),
             f"iou_at_{threshold:g}": float(heatmap_iou(heatmaps, masks, threshold).mean())}
            for name, heatmaps in maps.items()]


def selection_and_evaluation(n_scans: int, n: int | None, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint seeded sets of ``n`` scan indexes each (sorted; ``n`` is capped at half the scans,
    None or 0 means half): choose a map on the first, judge the choice on the second. Choosing on
    the scans it is judged on would flatter the choice."""
    n = min(n or n_scans, n_scans // 2)
    if n < 1:
        raise ValueError(f"need at least two scans to split into selection and evaluation, got {n_scans}")
    order = np.random.default_rng(seed).permutation(n_scans)
    return np.sort(order[n:2 * n]), np.sort(order[:n])
