"""Edits and walks, measured: P(tumour), flip rate, SSIM to the unedited decoding and head shape
at every step of a curve (an edit ``z + a * v``, a walk, or a conditional VAE's label slide)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from brainmri import shape
from brainmri.latent.judge import TumourScorer
from brainmri.latent.space import WALKS, decode
from brainmri.models.vae import VAE, ssim_per_image

EDIT_STEPS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)  # a in z + a * v; a = 1 moves the healthy mean to the tumour mean


def measure(images: np.ndarray, base: np.ndarray, scorer: TumourScorer, base_p: np.ndarray | None = None) -> dict[str, float]:
    """For one set of generated images: mean P(tumour); tumour rate (share with P >= 0.5); flip rate
    (share called tumour among those whose ``base`` was called healthy: a classifier that already
    calls a blurry decoding tumour does not count as a flip); SSIM to ``base`` (the same codes
    unedited); and the mean head shape. Blank heads are counted, not hidden."""
    p = scorer.predict(images)
    base_p = scorer.predict(base) if base_p is None else base_p
    was_healthy = base_p < 0.5
    table = shape.shape_table(images)
    return {"p_tumour": float(p.mean()), "tumour_rate": float((p >= 0.5).mean()),
            "flip_rate": float((p[was_healthy] >= 0.5).mean()) if was_healthy.any() else float("nan"),
            "base_healthy": int(was_healthy.sum()),
            "ssim": float(ssim_per_image(base, images).mean()),
            **{name: float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
               for name, values in table.items()},
            "blank": int(np.isnan(table["area"]).sum())}


def measure_curve(generate: Callable[[float], np.ndarray], steps, scorer: TumourScorer) -> dict[str, list[float]]:
    """Measure ``generate(a)`` for every ``a`` in ``steps``; ``generate(steps[0])`` is the base.
    An edit is ``lambda a: decode(vae, z + a * v)``; a walk is ``lambda t: decode(vae, slerp(z0, z1, t))``;
    a conditional edit is ``lambda a: decode(cvae, z, (1 - a) * healthy + a * tumour)``."""
    steps = [float(a) for a in steps]
    base = generate(steps[0])
    base_p = scorer.predict(base)
    rows = [measure(generate(a), base, scorer, base_p) for a in steps]
    return {"steps": steps, **{key: [row[key] for row in rows] for key in rows[0]}}


def vector_edit_curve(vae: VAE, z: np.ndarray, v: np.ndarray, scorer: TumourScorer, steps=EDIT_STEPS) -> dict:
    """:func:`measure_curve` of the edit ``decode(z + a * v)``."""
    return measure_curve(lambda a: decode(vae, z + a * v), steps, scorer)


def walk_curve(vae: VAE, z0: np.ndarray, z1: np.ndarray, scorer: TumourScorer, *, kind: str = "slerp",
               steps=np.linspace(0, 1, 7)) -> dict:
    """:func:`measure_curve` along walks from each ``z0`` to its ``z1`` (``kind``: "lerp" or "slerp")."""
    path = WALKS[kind]
    return measure_curve(lambda t: decode(vae, path(z0, z1, [t])[0]), steps, scorer)


def label_edit_curve(cvae: VAE, z: np.ndarray, source: int, target: int, scorer: TumourScorer,
                     steps=np.linspace(0, 1, 5)) -> dict:
    """Guess (1): the conditional VAE's edit keeps ``z`` and slides the label from ``source`` to
    ``target`` (``(1 - a) * onehot(source) + a * onehot(target)``)."""
    eye = np.eye(cvae.num_classes, dtype=np.float32)
    return measure_curve(lambda a: decode(cvae, z, (1 - a) * eye[source] + a * eye[target]), steps, scorer)


def shape_shift(curve: dict, features=("area", "aspect_ratio", "circularity", "brightness")) -> dict[str, float]:
    """Change of each head-shape feature from the first step to the best step of a curve."""
    best = best_step(curve)
    return {name: best[name] - curve[name][0] for name in features}


def best_step(curve: dict[str, list[float]]) -> dict[str, float]:
    """The step with the highest flip rate (the smallest such step on ties), with its measures."""
    i = int(np.nanargmax(curve["flip_rate"])) if np.isfinite(curve["flip_rate"]).any() else 0
    return {key: values[i] for key, values in curve.items()}

