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
    return np.stack(values), np.stack(probs), np.stack(images)


def latent_ascent(vae: VAE, scorer: TumourScorer, *, n: int = 8, steps: int = 100, learning_rate: float = 0.05,
                  prior_weight: float = 0.0, z0: np.ndarray | None = None, label: np.ndarray | None = None,
                  seed: int = config.SEED) -> Trajectory:
    """Maximise ``log P(target | decode(z)) - prior_weight * |z|^2 / 2`` over ``z`` with Adam, from
    ``z0`` or ``n`` draws of ``N(0, I)``. The prior term is the log density of ``z`` under the VAE's
    prior: without it, the ascent may wander where the decoder produces no brain at all."""
    if z0 is None:
        z0 = np.random.default_rng(seed).standard_normal((n, vae.latent_dim)).astype(np.float32)
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
        summary["z_norm_start"] = float(np.linalg.norm(trajectory.z[0], axis=1).mean())
        summary["z_norm_end"] = float(np.linalg.norm(trajectory.z[-1], axis=1).mean())
    if probe is not None:
        summary["probe_p_end"] = float(probe.predict_proba(z_final)[:, 1].mean())
    return summary

