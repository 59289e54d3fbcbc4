"""Gradient ascent to the "purest tumour": in latent space through decoder and judge, and in pixel
space on the judge alone, with a summary of where each ascent ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from brainmri import config
from brainmri.latent.judge import TumourScorer
from brainmri.latent.space import decode, encode_means
from brainmri.models.vae import VAE, ssim_per_image


@dataclass
class Trajectory:
    """Per step (step 0 = the start): codes (None in pixel space), probabilities and images."""
    z: np.ndarray | None  # (T + 1, n, d)
    probability: np.ndarray  # (T + 1, n)
    images: np.ndarray  # (T + 1, n, S, S, 1)


def _ascend(variable: tf.Variable, render: Callable, scorer: TumourScorer, steps: int, learning_rate: float,
            penalty: Callable | None = None):
    """Adam on ``variable`` to maximise ``log P(target | render(variable)) - penalty(variable)``; the
    image and probability are recorded before each update (and once after the last). One compiled
    step, so a hundred steps cost a hundred forward-backward passes and no Python overhead."""
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build([variable])

    @tf.function
    def step(update: bool):
        with tf.GradientTape() as tape:
            image = render(variable)
            p = scorer(image)
            objective = tf.math.log(p + 1e-7) - (penalty(variable) if penalty is not None else 0.0)
            loss = -tf.reduce_sum(objective)
        if update:
            optimizer.apply_gradients([(tape.gradient(loss, variable), variable)])
        return image, p

    values, probs, images = [], [], []
    for i in range(steps + 1):
        values.append(variable.numpy().copy())
        image, p = step(tf.constant(i < steps))
        probs.append(p.numpy())
        images.append(image.numpy())
    return np.stack(values), np.stack(probs).astype(np.float32), np.stack(images).astype(np.float32)


def latent_ascent(vae: VAE, scorer: TumourScorer, *, n: int = 8, steps: int = 100, learning_rate: float = 0.05,
                  prior_weight: float = 0.0, z0: np.ndarray | None = None, label: np.ndarray | None = None,
                  seed: int = config.SEED) -> Trajectory:
    """Maximise ``log P(target | decode(z)) - prior_weight * |z|^2 / 2`` over ``z`` with Adam, from
    ``z0`` or ``n`` draws of ``N(0, I)``. The prior term is the log density of ``z`` under the VAE's
    prior: without it, the ascent may wander where the decoder produces no brain at all."""
    if z0 is None:
        shape = tuple(vae.decoder.inputs[0].shape[1:])
        z0 = np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)
    label = None if label is None else tf.constant(label, tf.float32)
    zs, probs, images = _ascend(
        tf.Variable(z0, dtype=tf.float32), lambda z: vae.decode(z, label), scorer, steps, learning_rate,
        (lambda z: prior_weight * 0.5 * tf.reduce_sum(tf.square(z), axis=-1)) if prior_weight else None)
    return Trajectory(zs, probs, images)


def pixel_ascent(scorer: TumourScorer, start: np.ndarray, *, steps: int = 100, learning_rate: float = 0.05) -> Trajectory:
    """Activation maximisation in pixel space: maximise ``log P(target)`` over the image itself,
    parameterised as ``sigmoid(u)`` so it stays in ``[0, 1]``. Nothing keeps it brain-like."""
    start = np.clip(np.asarray(start, np.float32), 1e-3, 1 - 1e-3)
    _, probs, images = _ascend(tf.Variable(np.log(start / (1 - start))), tf.sigmoid, scorer, steps, learning_rate)
    return Trajectory(None, probs, images)


def ascent_summary(trajectory: Trajectory, vae: VAE, probe=None) -> dict[str, float]:
    """Where an ascent ended: P(target) at start and end; how far from the prior its codes went
    (norm, against ~sqrt(d) typical of N(0, I)); how much the image changed; whether the VAE can
    reconstruct the final image (SSIM of the image to its own reconstruction: high on the data
    manifold, low for adversarial patterns); and, with a latent ``probe``, whether that independent
    judge also calls the final image a tumour."""
    final = trajectory.images[-1]
    z_final = encode_means(vae, final)
    again = decode(vae, z_final)
    summary = {"p_start": float(trajectory.probability[0].mean()), "p_end": float(trajectory.probability[-1].mean()),
               "pixel_change": float(np.abs(final - trajectory.images[0]).mean()),
               "self_ssim": float(ssim_per_image(final, again).mean()),
               "typical_prior_norm": float(np.sqrt(vae.latent_dim))}
    if trajectory.z is not None:
        n = trajectory.z.shape[1]
        summary["z_norm_start"] = float(np.linalg.norm(trajectory.z[0].reshape(n, -1), axis=1).mean())
        summary["z_norm_end"] = float(np.linalg.norm(trajectory.z[-1].reshape(n, -1), axis=1).mean())
    if probe is not None:
        summary["probe_p_end"] = float(probe.predict_proba(z_final)[:, 1].mean())
    return summary



def reference_codes(vae: VAE, x: np.ndarray) -> dict:
    """What an ascent's end is compared with: the typical norm of encoded scans (their latent
    means, mean norm) and the decoded mean code, the "average head"."""
    z = encode_means(vae, x)
    return {"typical_norm": float(np.linalg.norm(z.reshape(len(z), -1), axis=1).mean()),
            "mean_image": decode(vae, z.mean(0, keepdims=True))[0]}


def mean_pairwise_distance(points: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of rows (flattened); 0 for fewer than two."""
    flat = np.asarray(points, np.float64).reshape(len(points), -1)
    if len(flat) < 2:
        return 0.0
    squared = (flat ** 2).sum(1)
    d2 = np.maximum(squared[:, None] + squared[None, :] - 2 * flat @ flat.T, 0.0)
    return float(np.sqrt(d2)[np.triu_indices(len(flat), 1)].mean())


def collapse_diagnostics(trajectory: Trajectory, typical_norm: float, mean_image: np.ndarray,
                         same_image_ssim: float = 0.9) -> dict:
    """Whether the starts of an ascent collapsed onto one point: the final codes' norms against
    ``typical_norm`` (a ratio far below 1 means z went to the origin), the diversity of final
    codes and images (mean pairwise distance; images in RMS pixels) against that of the starts,
    and each final image's SSIM to the decoded mean image (``mean_image``), with the count of
    final images at least ``same_image_ssim`` from it."""
    final = np.asarray(trajectory.images[-1], np.float32)
    n_pixels = np.prod(final.shape[1:])
    to_mean = ssim_per_image(final, np.repeat(np.asarray(mean_image, np.float32)[None], len(final), axis=0))
    out = {"image_diversity_start": mean_pairwise_distance(trajectory.images[0]) / np.sqrt(n_pixels),
           "image_diversity_end": mean_pairwise_distance(final) / np.sqrt(n_pixels),
           "ssim_to_mean_image": to_mean.tolist(), "ssim_to_mean_image_mean": float(to_mean.mean()),
           "like_mean_image": int((to_mean >= same_image_ssim).sum()), "n_starts": int(len(final))}
    if trajectory.z is not None:
        norms = np.linalg.norm(trajectory.z[-1].reshape(len(final), -1), axis=1)
        out.update(final_norms=norms.tolist(), norm_ratio=float(norms.mean() / typical_norm),
                   typical_norm=float(typical_norm), code_diversity_start=mean_pairwise_distance(trajectory.z[0]),
                   code_diversity_end=mean_pairwise_distance(trajectory.z[-1]))
    return out
