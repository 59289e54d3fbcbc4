"""The latent space of a VAE: encode to latent means, decode, class means, 2-D maps, the attribute
vector ``mean(tumour) - mean(healthy)``, walks (linear and spherical) and edits ``z + a * v``.

The decoder speaks grayscale ``[0, 1]`` at the VAE's size.
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from brainmri import config
from brainmri.models.vae import VAE, one_hot


def encode_means(vae: VAE, x: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 128) -> np.ndarray:
    """Latent means ``(N, d)``, float32 whatever the precision policy, of ``[0, 1]`` images (labels, one-hot or integer, for a conditional VAE)."""
    labels = one_hot(labels, vae.num_classes) if vae.num_classes else None
    parts = [keras.ops.convert_to_numpy(vae.encode(x[i:i + batch_size],
                                                   None if labels is None else labels[i:i + batch_size])[0])
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts).astype(np.float32, copy=False)


def decode(vae: VAE, z: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 128) -> np.ndarray:
    """Images ``(N, S, S, 1)`` in ``[0, 1]`` (float32 whatever the precision policy); ``labels`` are (mixtures of) one-hot rows when conditional."""
    z = np.asarray(z, np.float32)
    if vae.num_classes and labels is None:
        raise ValueError("a conditional VAE decodes z together with a label (one-hot or mixture)")
    labels = None if labels is None else np.broadcast_to(np.asarray(labels, np.float32), (len(z), vae.num_classes))
    parts = [keras.ops.convert_to_numpy(vae.decode(z[i:i + batch_size],
                                                   None if labels is None else labels[i:i + batch_size]))
             for i in range(0, len(z), batch_size)]
    return np.concatenate(parts).astype(np.float32, copy=False)


def class_means(z: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict[str, np.ndarray]:
    """Mean latent vector of each class present."""
    labels = np.asarray(labels)
    return {name: z[labels == k].mean(axis=0) for k, name in enumerate(class_names) if (labels == k).any()}


def embed_2d(z: np.ndarray, seed: int = config.SEED) -> dict[str, np.ndarray]:
    """Two 2-D views of latent codes: PCA (linear, global) and t-SNE (local neighbourhoods).

    t-SNE runs on one thread: next to TensorFlow's thread pools, OpenMP oversubscription made it
    about 20x slower on a busy two-core machine."""
    perplexity = float(min(30, max(2, (len(z) - 1) // 3)))
    with threadpool_limits(1):
        tsne = TSNE(2, perplexity=perplexity, init="pca", max_iter=500, random_state=seed).fit_transform(z)
    return {"PCA of latent means": PCA(2, random_state=seed).fit_transform(z), "t-SNE of latent means": tsne}


def attribute_vector(z: np.ndarray, is_tumour: np.ndarray) -> np.ndarray:
    """``mean(z | tumour) - mean(z | healthy)``: the naive "tumour direction"."""
    is_tumour = _both_groups(is_tumour)
    return z[is_tumour].mean(axis=0) - z[~is_tumour].mean(axis=0)


def _both_groups(is_tumour: np.ndarray) -> np.ndarray:
    """``is_tumour`` as booleans, refused unless it holds both tumour and healthy samples."""
    is_tumour = np.asarray(is_tumour, bool)
    if is_tumour.all() or not is_tumour.any():
        raise ValueError(f"need both tumour and healthy samples, got {int(is_tumour.sum())} of {len(is_tumour)} tumour")
    return is_tumour


def latent_grid(vae: VAE) -> tuple[int, int, int]:
    """``(side, side, maps)`` of a spatial latent, whose flat codes are these maps in row-major order."""
    try:
        return tuple(vae.encoder.get_layer("z_mean_map").output.shape[1:])
    except ValueError:
        raise ValueError(f"{vae.name!r} has a vector latent: it has no grid of cells") from None


def local_attribute_vector(z: np.ndarray, is_tumour: np.ndarray, points: np.ndarray, grid: tuple[int, int, int],
                           window: float = 0.4, length: float | None = None) -> np.ndarray:
    """The tumour vector of a spatial latent, kept local. Each tumour code's deviation from the
    healthy mean code is cut out in a square of cells centred on its tumour (``points``: one (row,
    column) per code, as fractions of the side, e.g. the centroids of an explainer's maps); the
    squares, aligned on their tumours, are averaged and placed at the tumours' median cell, zero
    elsewhere. The square's side is about ``window`` of the grid's (odd, at least 3 cells); with
    ``length``, the vector is rescaled to that norm (e.g. the global vector's, so that the two
    differ in where they put their change, not in how much).

    The global vector averages tumours at every position into one diffuse change; this one says
    what a tumour looks like in the code around it, in one place."""
    side, _, maps = grid
    is_tumour = _both_groups(is_tumour)
    if len(points) != len(z):
        raise ValueError(f"one tumour position per code is needed: {len(points)} positions for {len(z)} codes")
    codes = np.asarray(z, np.float32).reshape(len(z), side, side, maps)
    radius = max(1, round(window * side / 2))
    cells = np.clip((np.asarray(points)[is_tumour] * side).astype(int), 0, side - 1)
    padded = np.pad(codes[is_tumour] - codes[~is_tumour].mean(0), ((0, 0), (radius, radius), (radius, radius), (0, 0)))
    offsets = np.arange(2 * radius + 1)
    rows = cells[:, 0, None, None] + offsets[None, :, None]
    cols = cells[:, 1, None, None] + offsets[None, None, :]
    stamp = padded[np.arange(len(cells))[:, None, None], rows, cols].mean(0)
    vector = np.zeros((side + 2 * radius, side + 2 * radius, maps), np.float32)
    row, col = np.median(cells, axis=0).astype(int)
    vector[row:row + 2 * radius + 1, col:col + 2 * radius + 1] = stamp
    vector = vector[radius:radius + side, radius:radius + side].reshape(-1)
    return vector if length is None else with_norm(vector, length)


def with_norm(vectors: np.ndarray, length: float) -> np.ndarray:
    """``vectors`` rescaled to Euclidean norm ``length``: one flat vector, or a stack of them along the first axis
    (each code flattened, so a spatial latent is measured like any other)."""
    vectors = np.asarray(vectors, np.float32)
    rows = vectors.reshape(1 if vectors.ndim == 1 else len(vectors), -1)
    norms = np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    return (rows / norms * np.float32(length)).reshape(vectors.shape)


def lerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``(T, ..., d)`` points ``(1 - t) z0 + t z1``."""
    t = np.asarray(t, np.float32).reshape((-1,) + (1,) * np.ndim(z0))
    return (1 - t) * z0 + t * z1


def slerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Spherical interpolation along the great circle between ``z0`` and ``z1`` (last axis), with the
    norm interpolated linearly; falls back to :func:`lerp` for (anti)parallel vectors.

    Under a Gaussian prior most mass sits near a shell of radius ~sqrt(d); a straight line between two
    codes cuts through the low-norm middle, which the decoder rarely saw. Slerp stays on the shell.
    """
    z0, z1 = np.asarray(z0, np.float32), np.asarray(z1, np.float32)
    t = np.asarray(t, np.float32).reshape((-1,) + (1,) * z0.ndim)
    n0, n1 = np.linalg.norm(z0, axis=-1, keepdims=True), np.linalg.norm(z1, axis=-1, keepdims=True)
    u0, u1 = z0 / np.maximum(n0, eps), z1 / np.maximum(n1, eps)
    omega = np.arccos(np.clip((u0 * u1).sum(-1, keepdims=True), -1.0, 1.0))
    sin = np.sin(omega)
    safe = sin > 1e-4
    w0 = np.where(safe, np.sin((1 - t) * omega) / np.where(safe, sin, 1.0), 1 - t)
    w1 = np.where(safe, np.sin(t * omega) / np.where(safe, sin, 1.0), t)
    direction = w0 * u0 + w1 * u1
    direction /= np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), eps)
    return direction * ((1 - t) * n0 + t * n1)


WALKS = {"lerp": lerp, "slerp": slerp}


def edit(z: np.ndarray, v: np.ndarray, alphas) -> np.ndarray:
    """``(A, N, d)``: every code moved by every ``a * v``."""
    return np.asarray(z)[None] + np.asarray(alphas, np.float32)[:, None, None] * np.asarray(v)[None, None]
