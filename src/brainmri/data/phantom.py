"""A deterministic synthetic dataset of axial brain-like slices, in the Kaggle layout, with tumour masks.

It is the offline default (no download needed), the test fixture, and ground truth for the
localisation experiments. Each slice has a skull ring, textured tissue, ventricles, a smooth
intensity bias and noise; the tumour classes follow distinct priors:

- glioma: irregular, heterogeneous, inside one hemisphere;
- meningioma: round and bright, against the skull;
- pituitary: small, on the midline, low in the slice;
- notumor: no lesion (an all-zero mask).

Scans go to ``<root>/dataset/{Training,Testing}/<class>/*.png`` and masks to a parallel tree
``<root>/masks/...`` so that a scan of the dataset never sees them. Same seed, same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from brainmri.config import SEED
from brainmri.data.scan import CLASS_NAMES

PHANTOM_CLASSES = tuple(CLASS_NAMES)
_SPLIT_PREFIX = {"Training": "Tr", "Testing": "Te"}
_MANIFEST = "phantom.json"


def _smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-ish texture: white noise blurred at ``scale`` (a fraction of the image)."""
    sigma = max(scale * size, 0.5)
    noise = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), sigma)
    return noise / (noise.std() + 1e-6)


def _ellipse(x, y, cx, cy, ax, ay, angle=0.0) -> np.ndarray:
    """Normalised radius: < 1 inside the ellipse."""
    c, s = np.cos(angle), np.sin(angle)
    u, v = (x - cx) * c + (y - cy) * s, -(x - cx) * s + (y - cy) * c
    return np.sqrt((u / ax) ** 2 + (v / ay) ** 2)


def _blob(x, y, cx, cy, radius, rng, roughness) -> np.ndarray:
    """A closed blob whose radius varies with angle by a few random harmonics (0 = a disc)."""
    theta = np.arctan2(y - cy, x - cx)
    r = np.full_like(theta, radius)
    for k in range(2, 6):
        r += radius * roughness * rng.uniform(-1, 1) / k * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return np.hypot(x - cx, y - cy) < r


def _tumour(label: str, x, y, head: dict, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Boolean tumour mask and its mean brightness for one class prior."""
    ax, ay = head["ax"] * 0.9, head["ay"] * 0.9
    if label == "glioma":
        side = rng.choice([-1.0, 1.0])
        cx, cy = head["cx"] + side * ax * rng.uniform(0.3, 0.55), head["cy"] + ay * rng.uniform(-0.4, 0.3)
        return _blob(x, y, cx, cy, rng.uniform(0.12, 0.22), rng, roughness=0.9), rng.uniform(0.62, 0.75)
    if label == "meningioma":
        radius = rng.uniform(0.1, 0.17)
        angle = rng.uniform(-np.pi * 0.95, -np.pi * 0.05)  # upper half, against the convexity
        reach = 1.0 - radius / min(ax, ay) * 0.9
        cx, cy = head["cx"] + ax * reach * np.cos(angle), head["cy"] + ay * reach * np.sin(angle)
        return _blob(x, y, cx, cy, radius, rng, roughness=0.1), rng.uniform(0.88, 0.98)
    if label == "pituitary":
        cx, cy = head["cx"] + rng.uniform(-0.03, 0.03), head["cy"] + ay * rng.uniform(0.4, 0.55)
        return _blob(x, y, cx, cy, rng.uniform(0.05, 0.085), rng, roughness=0.3), rng.uniform(0.7, 0.85)
    return np.zeros_like(x, dtype=bool), 0.0


def render_slice(label: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic slice: (uint8 image (size, size), uint8 {0, 1} tumour mask)."""
    if label not in PHANTOM_CLASSES:
        raise ValueError(f"phantom class must be one of {PHANTOM_CLASSES}, got {label!r}")
    coords = np.linspace(-1, 1, size, dtype=np.float32)
    x, y = np.meshgrid(coords, coords)
    head = dict(cx=rng.uniform(-0.05, 0.05), cy=rng.uniform(-0.05, 0.05),
                ax=rng.uniform(0.68, 0.8), ay=rng.uniform(0.8, 0.9), angle=rng.uniform(-0.12, 0.12))
    r = _ellipse(x, y, head["cx"], head["cy"], head["ax"], head["ay"], head["angle"])
    image = np.zeros((size, size), np.float32)
    image[(r >= 0.9) & (r < 1.0)] = 0.85  # skull
    brain = r < 0.9
    white = r < 0.6
    image[brain] = 0.42 + 0.06 * _smooth_noise(rng, size, 0.03)[brain]
    image[white] += 0.08
    for side in (-1, 1):  # lateral ventricles
        vr = _ellipse(x, y, head["cx"] + side * 0.09, head["cy"] - 0.05, 0.06, 0.2, side * 0.35)
        image[vr < 1] = 0.15
    lesion, brightness = _tumour(label, x, y, head, rng)
    lesion &= brain
    if lesion.any():
        image[lesion] = brightness + 0.08 * _smooth_noise(rng, size, 0.02)[lesion]
    bias = 1.0 + 0.15 * (rng.uniform(-1, 1) * x + rng.uniform(-1, 1) * y)
    image = image * bias + np.abs(rng.normal(0, 0.03, image.shape))
    pixels = np.clip(image * 255, 0, 255).astype(np.uint8)
    return pixels, lesion.astype(np.uint8)


def _write_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), pixels):
        raise OSError(f"could not write {path}")


def _split_counts(per_class: int) -> dict[str, int]:
    return {"Training": per_class, "Testing": max(1, per_class // 4)}


def write_phantom(root: Path, *, per_class: int, image_size: int, seed: int = SEED) -> Path:
    """Write the phantom under ``root`` (``dataset/`` and ``masks/``); return ``root / "dataset"``.

    Every slice draws from its own generator seeded by (seed, split, class, index), so a file
    does not change when the counts change.
    """
    for s, (split, count) in enumerate(_split_counts(per_class).items()):
        for c, label in enumerate(PHANTOM_CLASSES):
            for i in range(count):
                rng = np.random.default_rng([seed, s, c, i])
                pixels, mask = render_slice(label, image_size, rng)
                name = f"{_SPLIT_PREFIX[split]}-{label}-{i:04d}.png"
                _write_png(root / "dataset" / split / label / name, pixels)
                _write_png(root / "masks" / split / label / name, mask)
    settings = dict(per_class=per_class, image_size=image_size, seed=seed)
    (root / _MANIFEST).write_text(json.dumps(settings) + "\n")
    return root / "dataset"


def ensure_phantom(root: Path, *, per_class: int, image_size: int, seed: int = SEED) -> Path:
    """The phantom at ``root``, generated once; concurrent callers never see a half-written tree."""
    root = Path(root)
    if (root / _MANIFEST).exists():
        return root / "dataset"
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        write_phantom(staging, per_class=per_class, image_size=image_size, seed=seed)
        os.rename(staging, root)
    except OSError:
        if not (root / _MANIFEST).exists():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / "dataset"


def mask_path(scan_path: str | Path) -> Path:
    """The ground-truth mask of a phantom scan: ``.../dataset/<split>/<class>/x.png`` -> ``.../masks/...``."""
    scan_path = Path(scan_path)
    parts = scan_path.parts
    if len(parts) < 4 or parts[-4] != "dataset":
        raise ValueError(f"{scan_path} is not a phantom scan (expected .../dataset/<split>/<class>/<file>)")
    return scan_path.parents[3] / "masks" / Path(*parts[-3:])


def load_phantom_masks(paths, image_size: int) -> np.ndarray:
    """Ground-truth masks of phantom scans, uint8 {0, 1}, shape (N, S, S), aligned with ``paths``."""
    masks = np.zeros((len(paths), image_size, image_size), np.uint8)
    for i, path in enumerate(paths):
        source = mask_path(path)
        mask = cv2.imread(str(source), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise FileNotFoundError(f"no ground-truth mask for {path}: {source} is missing or unreadable")
        masks[i] = cv2.resize(mask, (image_size, image_size), interpolation=cv2.INTER_NEAREST) > 0
    return masks
