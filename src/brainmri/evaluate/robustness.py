"""The robustness suite: scans passed through the pipelines they meet before reaching a model.

Every pipeline is a pure function ``f(x, strength, seed) -> x'`` on uint8 scans ``(N, S, S, C)``
that keeps dtype and shape. Where a strength means "no change" (clip limit 0, gamma 1, factor 1,
sigma 0...), the function returns the scans unchanged there; JPEG has no such quality. Random
pipelines (bias field, noise) draw from ``seed``, so a run is repeatable.

:data:`PIPELINES` names each pipeline with the strengths the suite tries, mildest first, and
:func:`robustness_rows` scores a model on every (pipeline, strength) as table rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np

from brainmri.config import SEED
from brainmri.data.pipeline import crop_to_boxes, head_boxes
from brainmri.evaluate.metrics import classification_metrics, predict_proba


def _check(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 4:
        raise ValueError(f"scans must be uint8 (N, S, S, C), got {x.dtype} {x.shape}")
    return x


def _per_plane(x: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``transform`` applied to every 2-D uint8 plane (each scan, each channel)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        for c in range(x.shape[3]):
            out[i, :, :, c] = transform(np.ascontiguousarray(x[i, :, :, c]))
    return out


def _lookup(x: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """A grey-level curve (256 values) applied to every pixel, rounded and saturated to uint8."""
    table = np.clip(np.rint(curve), 0, 255).astype(np.uint8)
    return table[x]


def clahe(x: np.ndarray, clip_limit: float, seed: int = SEED) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (OpenCV); ``clip_limit`` 0: unchanged.

    Tiles are 16 px (an 8x8 grid at 128 px): OpenCV scales the clip limit by the pixels per tile
    over 256, so smaller tiles would clip every limit to the same value.
    """
    x = _check(x)
    if clip_limit == 0:
        return x.copy()
    grid = max(1, min(8, x.shape[1] // 16))
    operator = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(grid, grid))
    return _per_plane(x, operator.apply)


def histogram_equalisation(x: np.ndarray, amount: float, seed: int = SEED) -> np.ndarray:
    """Global histogram equalisation blended with the scan: ``amount`` 0 unchanged, 1 fully equalised."""
    x = _check(x)
    if not 0 <= amount <= 1:
        raise ValueError(f"histogram equalisation amount must be in [0, 1], got {amount}")
    equalised = _per_plane(x, cv2.equalizeHist).astype(np.float32)
    return np.clip(np.rint((1 - amount) * x + amount * equalised), 0, 255).astype(np.uint8)


def gamma(x: np.ndarray, value: float, seed: int = SEED) -> np.ndarray:
    """``255 (x / 255) ** value``: below 1 lifts the mid-tones, above 1 darkens them; 1: unchanged."""
    x = _check(x)
    if value <= 0:
        raise ValueError(f"gamma must be positive, got {value}")
    return _lookup(x, 255.0 * (np.arange(256) / 255.0) ** value)


def window_level(x: np.ndarray, narrowing: float, seed: int = SEED) -> np.ndarray:
    """A display window ``(1 - narrowing)`` of the full grey range wide, its level moved by the same
    fraction from mid-grey towards the scan's mean, stretched to [0, 255] (outside saturates).

    ``narrowing`` 0 is the full window: unchanged. Larger values raise contrast and clip more.
    """
    x = _check(x)
    if not 0 <= narrowing < 1:
        raise ValueError(f"window narrowing must be in [0, 1), got {narrowing}")
    width = 255.0 * (1 - narrowing)
    means = x.reshape(len(x), -1).mean(axis=1)
    out = np.empty_like(x)
    for i, mean in enumerate(means):
        level = (1 - narrowing) * 127.5 + narrowing * mean
        out[i] = _lookup(x[i], (np.arange(256) - (level - width / 2)) * 255.0 / width)
    return out


def smooth_field(n: int, size: int, seed: int, grid: int = 3) -> np.ndarray:
    """``n`` smooth random fields (N, S, S) scaled to [-1, 1]: a ``grid`` x ``grid`` of Gaussian
    values upsampled bicubically, the slow variation of an MRI coil's sensitivity."""
    rng = np.random.default_rng(seed)
    fields = np.empty((n, size, size), dtype=np.float32)
    for i in range(n):
        coarse = rng.normal(size=(grid, grid)).astype(np.float32)
        fine = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
        fields[i] = fine / max(float(np.abs(fine).max()), 1e-6)
    return fields


def bias_field(x: np.ndarray, amplitude: float, seed: int = SEED) -> np.ndarray:
    """Scans multiplied by ``exp(amplitude * field)``, a smooth field in [-1, 1] per scan: intensity
    varies by up to a factor ``exp(amplitude)`` across the image. ``amplitude`` 0: unchanged."""
    x = _check(x)
    if amplitude == 0:
        return x.copy()
    gain = np.exp(amplitude * smooth_field(len(x), x.shape[1], seed))[..., None]
    return np.clip(np.rint(x * gain), 0, 255).astype(np.uint8)


def jpeg_bytes(plane: np.ndarray, quality: int) -> bytes:
    """One uint8 image (S, S) or (S, S, 3) encoded as JPEG at ``quality`` (1-100)."""
    ok, encoded = cv2.imencode(".jpg", plane, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not JPEG-encode an image of shape {plane.shape}")
    return encoded.tobytes()


def jpeg(x: np.ndarray, quality: float, seed: int = SEED) -> np.ndarray:
    """Every scan saved as JPEG at ``quality`` and decoded again (no quality leaves a scan unchanged)."""
    x = _check(x)
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in [1, 100], got {quality}")
    flag = cv2.IMREAD_GRAYSCALE if x.shape[3] == 1 else cv2.IMREAD_COLOR
    out = np.empty_like(x)
    for i in range(len(x)):
        data = np.frombuffer(jpeg_bytes(x[i] if x.shape[3] == 3 else x[i, :, :, 0], int(quality)), np.uint8)
        out[i] = cv2.imdecode(data, flag).reshape(x.shape[1:])
    return out


def resample(x: np.ndarray, factor: float, seed: int = SEED) -> np.ndarray:
    """Downsampled by ``factor`` (area averaging) and resampled to the original size (bilinear), as a
    low-resolution acquisition or a thumbnail scaled up would be. ``factor`` 1: unchanged."""
    x = _check(x)
    if factor < 1:
        raise ValueError(f"resampling factor must be >= 1, got {factor}")
    if factor == 1:
        return x.copy()
    size = x.shape[1]
    small = max(1, int(round(size / factor)))
    return _per_plane(x, lambda p: cv2.resize(cv2.resize(p, (small, small), interpolation=cv2.INTER_AREA),
                                              (size, size), interpolation=cv2.INTER_LINEAR))


def gaussian_noise(x: np.ndarray, sigma: float, seed: int = SEED) -> np.ndarray:
    """Additive Gaussian noise of ``sigma`` grey levels, rounded and saturated. ``sigma`` 0: unchanged."""
    x = _check(x)
    if sigma < 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    noise = np.random.default_rng(seed).normal(0.0, sigma, size=x.shape)
    return np.clip(np.rint(x + noise), 0, 255).astype(np.uint8)


def head_crop(x: np.ndarray, margin: float, seed: int = SEED) -> np.ndarray:
    """Cropped to the head's bounding box widened by ``margin`` (a fraction of the side) and resized back
    to a square, as copies of this dataset re-processed for other projects are framed."""
    x = _check(x)
    if margin < 0:
        raise ValueError(f"head crop margin must be >= 0, got {margin}")
    cropped = crop_to_boxes(x, head_boxes(x, margin)).numpy()
    return np.clip(np.rint(cropped), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Pipeline:
    """A pipeline of the suite: its function, what its strength means, and the strengths tried."""

    function: Callable[..., np.ndarray]
    strength: str
    strengths: tuple[float, ...]


PIPELINES: dict[str, Pipeline] = {
    "CLAHE": Pipeline(clahe, "clip limit", (1.0, 2.0, 4.0)),
    "histogram equalisation": Pipeline(histogram_equalisation, "amount", (0.33, 0.67, 1.0)),
    "gamma": Pipeline(gamma, "gamma", (0.5, 0.75, 1.5, 2.0)),
    "window/level": Pipeline(window_level, "narrowing", (0.2, 0.4, 0.6)),
    "bias field": Pipeline(bias_field, "log amplitude", (0.2, 0.4, 0.7)),
    "JPEG": Pipeline(jpeg, "quality", (75.0, 40.0, 15.0)),
    "down/re-sampling": Pipeline(resample, "factor", (1.5, 2.0, 3.0)),
    "Gaussian noise": Pipeline(gaussian_noise, "sigma", (4.0, 8.0, 16.0)),
    "head crop": Pipeline(head_crop, "margin", (0.1, 0.05, 0.0)),
}


def robustness_rows(model, x: np.ndarray, y: np.ndarray, class_names: list[str], *,
                    pipelines: dict[str, Pipeline] | None = None, seed: int = SEED,
                    batch_size: int = 64, flip: bool = False) -> list[dict[str, Any]]:
    """Accuracy and tumour-vs-none accuracy of ``model`` on ``x`` through every pipeline and strength.

    The first row is the clean scans (pipeline ``none``); then one row per (pipeline, strength)
    with ``pipeline``, ``strength`` (its meaning in ``parameter``), ``n``, ``accuracy``,
    ``binary_accuracy`` (None for class names without ``notumor``) and ``drop``, clean minus this
    accuracy. ``flip``: score with the test-time flip (:func:`~brainmri.evaluate.metrics.predict_proba`).
    """
    def score(images):
        m = classification_metrics(y, predict_proba(model, images, batch_size, flip=flip), class_names)
        return m["accuracy"], m.get("binary_accuracy")

    clean, clean_binary = score(x)
    rows = [{"pipeline": "none", "parameter": "", "strength": 0.0, "n": int(len(y)), "accuracy": clean,
             "binary_accuracy": clean_binary, "drop": 0.0}]
    for name, pipeline in (pipelines or PIPELINES).items():
        for strength in pipeline.strengths:
            accuracy, binary = score(pipeline.function(x, strength, seed))
            rows.append({"pipeline": name, "parameter": pipeline.strength, "strength": float(strength),
                         "n": int(len(y)), "accuracy": accuracy, "binary_accuracy": binary,
                         "drop": clean - accuracy})
    return rows


def worst_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per pipeline, its row with the lowest accuracy (the strongest damage the suite found)."""
    worst: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["pipeline"] != "none" and (row["pipeline"] not in worst or row["accuracy"] < worst[row["pipeline"]]["accuracy"]):
            worst[row["pipeline"]] = row
    return list(worst.values())
