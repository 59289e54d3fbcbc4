"""What the VAE reads and how its reconstructions are scored: scans to VAE inputs (grayscale,
``[0, 1]``, each scan's intensity normalised), ``tf.data`` batches, deterministic reconstructions,
SSIM (over the whole image or inside a mask) and the PCA baseline with the same latent size.

Re-exported by :mod:`brainmri.models.vae`, where callers import them from.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from sklearn.decomposition import PCA

from brainmri import config

INTENSITY_PERCENTILE = 99.0  # per-scan intensity that maps to 1 (the brightest 1% of pixels clip)


def intensity_scale(x: np.ndarray) -> np.ndarray:
    """Each scan's :data:`INTENSITY_PERCENTILE`-th percentile intensity, ``(N, 1, 1, 1)`` (at least 1/255)."""
    scale = np.percentile(x.reshape(len(x), -1), INTENSITY_PERCENTILE, axis=1)
    return np.maximum(scale, 1.0 / 255.0).astype(np.float32).reshape(-1, 1, 1, 1)


def normalise_intensity(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x / scale clipped to [0, 1], scale)`` with each scan's :func:`intensity_scale`: its bright
    tissue maps to 1 whatever the source's exposure. :func:`restore_intensity` undoes it (exactly,
    but for the brightest 1% of pixels, which clip)."""
    scale = intensity_scale(x)
    return np.clip(x / scale, 0.0, 1.0).astype(np.float32), scale


def restore_intensity(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Normalised images (or their decodings) back at the scans' own intensities, for display."""
    return np.clip(np.asarray(x, np.float32) * scale, 0.0, 1.0)


def to_unit_grayscale(images: np.ndarray, image_size: int | None = None, normalise: bool = True) -> np.ndarray:
    """``uint8 (N, S, S, C)`` -> grayscale ``float32 (N, size, size, 1)`` in ``[0, 1]`` (the VAE's
    input), by default with each scan's intensity normalised (:func:`normalise_intensity`)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected images shaped (N, S, S, 1|3), got {images.shape}")
    x = images.astype(np.float32)
    if images.dtype == np.uint8:
        x /= 255.0
    elif x.min() < 0 or x.max() > 1:
        raise ValueError(f"non-uint8 images must be in [0, 1], got range [{x.min():.3g}, {x.max():.3g}]")
    if x.shape[-1] == 3:
        x = x @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
    if image_size and x.shape[1] != image_size:
        x = tf.image.resize(x, (image_size, image_size), antialias=True).numpy().clip(0, 1)
    return normalise_intensity(x)[0] if normalise else x


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return labels.astype(np.float32)
    return np.eye(num_classes, dtype=np.float32)[labels.astype(int)]


def make_vae_dataset(x: np.ndarray, labels: np.ndarray | None = None, *, batch_size: int = 32,
                     shuffle: bool = True, seed: int = config.SEED) -> tf.data.Dataset:
    """Batches of images (or ``(image, one_hot_label)`` pairs) for ``VAE.fit``."""
    ds = tf.data.Dataset.from_tensor_slices(x if labels is None else (x, labels))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def reconstruct(vae: keras.Model, x: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 64) -> np.ndarray:
    """Deterministic reconstructions (through the latent mean); labels only for the conditional VAE."""
    labels = one_hot(labels, vae.num_classes) if vae.num_classes else None
    parts = []
    for i in range(0, len(x), batch_size):
        label = None if labels is None else labels[i:i + batch_size]
        z_mean, _ = vae.encode(x[i:i + batch_size], label)
        parts.append(keras.ops.convert_to_numpy(vae.decode(z_mean, label)))
    return np.concatenate(parts)


SSIM_WINDOW, SSIM_SIGMA = 11, 1.5  # as tf.image.ssim: an 11-pixel Gaussian window, sigma 1.5, no padding


def _gaussian_taps() -> np.ndarray:
    offsets = np.arange(SSIM_WINDOW, dtype=np.float64) - (SSIM_WINDOW - 1) / 2
    g = np.exp(-offsets**2 / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def _blur(images: tf.Tensor) -> tf.Tensor:
    """The SSIM window's Gaussian blur without padding, as a column pass then a row pass: the same
    sums as one 11x11 convolution in a fifth of the multiplications (and, on a CPU, half the time of
    ``tf.image.ssim``'s forward and backward pass)."""
    taps = tf.constant(_gaussian_taps(), images.dtype)
    column = tf.nn.conv2d(images, tf.reshape(taps, (SSIM_WINDOW, 1, 1, 1)), strides=1, padding="VALID")
    return tf.nn.conv2d(column, tf.reshape(taps, (1, SSIM_WINDOW, 1, 1)), strides=1, padding="VALID")


def local_ssim(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Local SSIM of batches of one-channel ``[0, 1]`` images, ``(N, S - 10, S - 10, 1)``: the map whose
    mean is ``tf.image.ssim`` (same window and constants), one value per window centre (5 pixels in from
    each border). Differentiable; the VAE's SSIM loss term and the SSIM scores are both this."""
    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = _blur(x), _blur(y)
    var_x, var_y = _blur(x * x) - mu_x**2, _blur(y * y) - mu_y**2
    cov = _blur(x * y) - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    structure = (2 * cov + c2) / (var_x + var_y + c2)
    return luminance * structure


def ssim_map(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """:func:`local_ssim` of arrays, ``(N, S - 10, S - 10)``, in float32."""
    return local_ssim(tf.constant(x, tf.float32), tf.constant(x_hat, tf.float32))[..., 0].numpy()


def ssim_per_image(x: np.ndarray, x_hat: np.ndarray, masks: np.ndarray | None = None,
                   batch_size: int = 256) -> np.ndarray:
    """SSIM of each pair of ``[0, 1]`` images: over the whole image, or, with boolean ``masks``
    ``(N, S, S)``, the mean local SSIM over the window centres inside each mask (NaN for an empty mask)."""
    if x.shape != x_hat.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {x_hat.shape}")
    if masks is not None and masks.shape != x.shape[:3]:
        raise ValueError(f"masks must be shaped {x.shape[:3]} like the images, got {masks.shape}")
    scores = []
    for i in range(0, len(x), batch_size):
        local = ssim_map(x[i:i + batch_size], x_hat[i:i + batch_size])
        if masks is None:
            scores.append(local.mean(axis=(1, 2)))
            continue
        edge = (SSIM_WINDOW - 1) // 2
        inside = np.asarray(masks[i:i + batch_size], bool)[:, edge:-edge, edge:-edge]
        counts = inside.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            scores.append(np.where(counts > 0, (local * inside).sum(axis=(1, 2)) / counts, np.nan))
    return np.concatenate(scores).astype(np.float32)


@dataclass
class PCABaseline:
    """Linear autoencoder with the VAE's latent size: the bar the VAE must clear on SSIM."""
    pca: PCA
    image_shape: tuple[int, int, int]

    @classmethod
    def fit(cls, x: np.ndarray, latent_dim: int, seed: int = config.SEED) -> "PCABaseline":
        pca = PCA(n_components=latent_dim, svd_solver="randomized", random_state=seed)
        pca.fit(x.reshape(len(x), -1))
        return cls(pca, tuple(x.shape[1:]))

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.pca.transform(x.reshape(len(x), -1)).astype(np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self.pca.inverse_transform(z).reshape(len(z), *self.image_shape).clip(0, 1).astype(np.float32)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(x))
