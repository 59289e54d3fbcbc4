"""Edits and walks, measured: P(tumour), flip rate, SSIM to the unedited decoding and head shape
at every step of a curve (an edit ``z + a * v``, a walk, or a conditional VAE's label slide)."""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np

from brainmri import config, shape
from brainmri.latent.judge import TumourScorer, to_classifier_input
from brainmri.latent.space import WALKS, decode, with_norm
from brainmri.models.vae import VAE, ssim_per_image
from brainmri.stats import kernel_inception_distance, wilson_interval

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



# ----------------------------------------------------------------------------- the fixed protocol

PROTOCOL_STRENGTHS = (0.5, 1.0, 1.5, 2.0, 3.0)  # a in z + a * v, tried on training scans only
SSIM_FLOOR = 0.8  # an edit counts only if its decoding keeps this SSIM to the unedited decoding
NULLS_PER_FAMILY = 100  # shuffled-label vectors, and random directions, each through the protocol


def edit_outcomes(vae: VAE, z: np.ndarray, vectors: np.ndarray, strengths, scorer: TumourScorer, *,
                  base: np.ndarray | None = None, judge_from_ssim: float | None = None,
                  batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """P(tumour) and SSIM to the unedited decoding of every edit ``z_n + a * v`` for every vector,
    strength and scan: two ``(V, A, N)`` arrays. The ``V * A * N`` codes are decoded and judged in
    batches of ``batch_size`` (mixing vectors and strengths in one batch), so a few hundred vectors
    over a few hundred scans cost one pass of decoder and judge per batch; ``base`` (the unedited
    decodings of ``z``) is computed once. With ``judge_from_ssim``, edits below that SSIM are not
    judged (their P is NaN): the protocol would not count them anyway, and the judge is the
    costliest step."""
    z, vectors = np.asarray(z, np.float32), np.asarray(vectors, np.float32)
    strengths = np.asarray(strengths, np.float32)
    if vectors.shape[1:] != z.shape[1:]:
        raise ValueError(f"edit vectors are shaped {vectors.shape[1:]}, codes {z.shape[1:]}: they must match")
    base = decode(vae, z) if base is None else base
    n_v, n_a, n = len(vectors), len(strengths), len(z)
    p, ssim = np.empty(n_v * n_a * n, np.float32), np.empty(n_v * n_a * n, np.float32)
    for start in range(0, len(p), batch_size):
        index = np.arange(start, min(start + batch_size, len(p)))
        v_i, a_i, n_i = np.unravel_index(index, (n_v, n_a, n))
        codes = z[n_i] + strengths[a_i].reshape((-1,) + (1,) * (z.ndim - 1)) * vectors[v_i]
        images = decode(vae, codes, batch_size=batch_size)
        ssim[index] = ssim_per_image(base[n_i], images, batch_size=batch_size)
        judged = np.ones(len(index), bool) if judge_from_ssim is None else ssim[index] >= judge_from_ssim
        p[index] = np.nan
        if judged.any():
            p[index[judged]] = scorer.predict(images[judged], batch_size=batch_size)
    return p.reshape(n_v, n_a, n), ssim.reshape(n_v, n_a, n)


def flip_counts(p: np.ndarray, ssim: np.ndarray, base_p: np.ndarray,
                ssim_floor: float = SSIM_FLOOR) -> tuple[np.ndarray, np.ndarray]:
    """``(flips, kept)`` over the last axis: kept = edits of scans whose unedited decoding the judge
    calls healthy and whose SSIM to it is at least ``ssim_floor``; flips = kept edits called tumour."""
    kept = (ssim >= ssim_floor) & (np.asarray(base_p) < 0.5)
    return (kept & (p >= 0.5)).sum(-1), kept.sum(-1)


def null_vectors(vector_of: Callable[[np.ndarray], np.ndarray], is_tumour: np.ndarray, v: np.ndarray, n: int,
                 seed: int = config.SEED) -> dict[str, np.ndarray]:
    """The controls a tumour vector ``v = vector_of(is_tumour)`` must beat, ``n`` of each, all
    rescaled to ``v``'s length so that they differ from it in direction only: the same recipe
    ``vector_of`` given randomly shuffled tumour labels, and random Gaussian directions on ``v``'s
    support (every coordinate of a dense vector; the cells a local vector changes, so that a local
    edit is compared with local noise)."""
    rng = np.random.default_rng(seed)
    is_tumour = np.asarray(is_tumour, bool)
    v = np.asarray(v, np.float32)
    shuffled = np.stack([vector_of(perm) for perm in (rng.permutation(is_tumour) for _ in range(n))])
    random = rng.standard_normal((n, *v.shape)).astype(np.float32) * (v != 0)
    length = float(np.linalg.norm(v))
    return {"shuffled labels": with_norm(shuffled, length), "random direction": with_norm(random, length)}


def strength_curves(vae: VAE, scorer: TumourScorer, vectors: np.ndarray, z_select: np.ndarray, base: np.ndarray,
                    strengths=PROTOCOL_STRENGTHS, ssim_floor: float = SSIM_FLOOR,
                    batch_size: int = 256) -> dict[str, np.ndarray]:
    """Each vector's kept flips and kept edits at each strength on the selection codes ``z_select``
    (training scans whose unedited decodings ``base`` the judge calls healthy): ``flips`` and ``kept``,
    both ``(V, A)`` over the sorted ``strengths``. Strengths are tried from small to large; a vector
    stops at the first strength at which no edit keeps SSIM >= ``ssim_floor`` (larger ones would push
    the scan further away), which saves most of the cost for the controls: its later strengths are
    not tried (``kept`` 0, ``flips`` -1)."""
    strengths = np.sort(np.asarray(strengths, np.float32))
    flips, kept = np.full((len(vectors), len(strengths)), -1), np.zeros((len(vectors), len(strengths)), int)
    alive = np.full(len(vectors), len(z_select) > 0)
    for j, a in enumerate(strengths):
        rows = np.flatnonzero(alive)
        if not len(rows):
            break
        p, ssim = edit_outcomes(vae, z_select, vectors[rows], [a], scorer, base=base, judge_from_ssim=ssim_floor,
                                batch_size=batch_size)
        flips[rows, j], kept[rows, j] = flip_counts(p[:, 0], ssim[:, 0], np.zeros(len(z_select)), ssim_floor)
        alive[rows[kept[rows, j] == 0]] = False
    return {"strengths": strengths, "flips": flips, "kept": kept}


def choose_strengths(curves: dict[str, np.ndarray]) -> np.ndarray:
    """Each vector's strength from its :func:`strength_curves`: the one with the most kept flips, the
    smallest on ties (so a vector that flips nothing anywhere gets the smallest strength: see
    :func:`selection_curve` to tell such a tie from a choice)."""
    return curves["strengths"][np.argmax(curves["flips"], axis=1)]


def selection_curve(curves: dict[str, np.ndarray], row: int) -> list[dict]:
    """One vector's flips and kept edits per strength tried on the selection scans, as rows."""
    return [{"strength": float(a), "flips": int(f), "kept": int(k),
             "flip_rate": float(f / k) if k else float("nan")}
            for a, f, k in zip(curves["strengths"], curves["flips"][row], curves["kept"][row]) if f >= 0]


def protocol_scores(vae: VAE, scorer: TumourScorer, vectors: np.ndarray, z_select: np.ndarray, z_score: np.ndarray,
                    *, strengths=PROTOCOL_STRENGTHS, ssim_floor: float = SSIM_FLOOR, batch_size: int = 256) -> dict:
    """The protocol for ``V`` vectors at once: each vector's strength is chosen on ``z_select``
    (training codes), then every scan of ``z_score`` (validation codes) is edited at that strength
    and its kept flips counted. Returns per vector: ``strength``, ``flips``, ``kept``, ``flip_rate``
    (NaN when nothing was kept), plus ``n_scored``, ``base_healthy`` (unedited decodings called
    healthy), and ``p`` and ``ssim`` of the scored edits of those scans (only they can count, so only
    they are edited; P is NaN below the SSIM floor, where the judge is not asked)."""
    base_select, base_score = decode(vae, z_select), decode(vae, z_score)
    healthy_select, healthy_score = scorer.predict(base_select) < 0.5, scorer.predict(base_score) < 0.5
    n_v = len(vectors)
    curves = strength_curves(vae, scorer, vectors, z_select[healthy_select], base_select[healthy_select], strengths,
                             ssim_floor, batch_size)
    chosen_strength = choose_strengths(curves)
    p = np.full((n_v, int(healthy_score.sum())), np.nan, np.float32)
    s = np.full_like(p, np.nan)
    for a in np.unique(chosen_strength) if healthy_score.any() else []:  # one batched pass per distinct strength
        rows = np.flatnonzero(chosen_strength == a)
        p_a, s_a = edit_outcomes(vae, z_score[healthy_score], vectors[rows], [a], scorer, base=base_score[healthy_score],
                                 judge_from_ssim=ssim_floor, batch_size=batch_size)
        p[rows], s[rows] = p_a[:, 0], s_a[:, 0]
    flips, kept = flip_counts(p, s, np.zeros(p.shape[1]), ssim_floor)
    rate = np.where(kept > 0, flips / np.maximum(kept, 1), np.nan)
    return {"strength": chosen_strength, "flips": flips, "kept": kept, "flip_rate": rate,
            "n_scored": len(z_score), "base_healthy": int(healthy_score.sum()), "p": p, "ssim": s,
            "selection": curves, "select_healthy": int(healthy_select.sum())}


def compare_vectors(vae: VAE, scorer: TumourScorer, vectors: dict[str, np.ndarray], z_select: np.ndarray,
                    z_score: np.ndarray, *, strengths=PROTOCOL_STRENGTHS, ssim_floor: float = SSIM_FLOOR) -> dict[str, dict]:
    """Named vectors through the same protocol (:func:`protocol_scores`): per vector, the strength
    chosen on ``z_select``, the kept flips on ``z_score``, the flip rate with its Wilson interval."""
    scores = protocol_scores(vae, scorer, np.stack([np.asarray(v, np.float32) for v in vectors.values()]), z_select,
                             z_score, strengths=strengths, ssim_floor=ssim_floor)
    return {name: {"strength": float(scores["strength"][i]), "flips": int(scores["flips"][i]),
                   "kept": int(scores["kept"][i]), "flip_rate": float(scores["flip_rate"][i]),
                   "wilson_95": _interval(wilson_interval(int(scores["flips"][i]), int(scores["kept"][i]))),
                   "median_ssim": _nan_median(scores["ssim"][i]), "vector_norm": float(np.linalg.norm(vectors[name])),
                   "selection_curve": selection_curve(scores["selection"], i)}
            for i, name in enumerate(vectors)}


def edit_protocol(vae: VAE, scorer: TumourScorer, vector_of: Callable[[np.ndarray], np.ndarray], t_train: np.ndarray,
                  z_select: np.ndarray, z_score: np.ndarray, *, n_null: int = NULLS_PER_FAMILY,
                  strengths=PROTOCOL_STRENGTHS, ssim_floor: float = SSIM_FLOOR, seed: int = config.SEED) -> dict:
    """The edit protocol, fixed before any scan is scored: the tumour vector ``vector_of(t_train)``
    (a recipe given the training scans' tumour labels, e.g. ``lambda t: attribute_vector(z_train, t)``)
    and ``n_null`` controls of each kind (:func:`null_vectors`: the recipe on shuffled labels, random
    directions) go through :func:`protocol_scores` alike. Reports the tumour vector's flip rate among
    kept edits with its Wilson interval, and each control family's flip rates and 95th percentile
    (``null_p95``: over both families together), and the :func:`control_verdict`."""
    v = np.asarray(vector_of(np.asarray(t_train, bool)), np.float32)
    nulls = null_vectors(vector_of, t_train, v, n_null, seed)
    names = ["tumour vector"] + [name for name, vs in nulls.items() for _ in vs]
    vectors = np.concatenate([v[None], *nulls.values()])
    scores = protocol_scores(vae, scorer, vectors, z_select, z_score, strengths=strengths, ssim_floor=ssim_floor)
    flips, kept = int(scores["flips"][0]), int(scores["kept"][0])
    family = {name: scores["flip_rate"][[i for i, n in enumerate(names) if n == name]] for name in nulls}
    pooled = np.concatenate(list(family.values()))
    tumour = {"strength": float(scores["strength"][0]), "flips": flips, "kept": kept,
              "flip_rate": float(scores["flip_rate"][0]), "wilson_95": _interval(wilson_interval(flips, kept)),
              "median_ssim": _nan_median(scores["ssim"][0]), "selection_curve": selection_curve(scores["selection"], 0),
              "chosen_by_tie_at_zero": bool(scores["selection"]["flips"][0].max() <= 0)}
    null_rows = {name: {"n": int(len(rates)), "p95": _nan_percentile(rates, 95), "median": _nan_percentile(rates, 50),
                        "no_kept_edit": int(np.isnan(rates).sum()), "flip_rates": rates.tolist()}
                 for name, rates in family.items()}
    return {
        "tumour_vector": tumour, "nulls": null_rows, "verdict": control_verdict(tumour, null_rows),
        "null_p95": _nan_percentile(pooled, 95), "n_scored": scores["n_scored"], "base_healthy": scores["base_healthy"],
        "n_select": int(len(z_select)), "select_healthy": scores["select_healthy"],
        "strengths_tried": [float(a) for a in strengths], "ssim_floor": ssim_floor,
    }


def control_verdict(tumour: dict, nulls: dict) -> str:
    """Whether the tumour vector's flip rate lies above the 95th percentile of every control family, in
    words a sentence can end with: ``"beats its controls"``, ``"does not beat its controls"`` or
    ``"kept no edit"``."""
    if not tumour["kept"]:
        return "kept no edit"
    if all(tumour["flip_rate"] > family["p95"] for family in nulls.values()):
        return "beats its controls"
    return "does not beat its controls"


def _nan_median(values: np.ndarray) -> float:
    return float(np.median(values)) if np.size(values) else float("nan")


def _interval(bounds: tuple[float, float]) -> dict[str, float]:
    """An interval as ``{"low", "high"}``, so saved results (and the README) can name each end."""
    return {"low": bounds[0], "high": bounds[1]}


def _nan_percentile(values: np.ndarray, q: float) -> float:
    """Percentile of the controls that kept any edit (a control with none has no rate: counted apart)."""
    values = np.asarray(values, np.float64)
    return float(np.nanpercentile(values, q)) if np.isfinite(values).any() else float("nan")


def judge_features(model: keras.Model, images: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """The judge's penultimate features (the input of its last dense layer) of ``[0, 1]`` grayscale
    images, bridged to the classifier's input as the judge sees them: the feature space of KID."""
    head = next((layer for layer in reversed(model.layers) if isinstance(layer, keras.layers.Dense)), None)
    if head is None:
        raise ValueError(f"judge {model.name!r} has no dense layer whose input could serve as features")
    features = keras.Model(model.inputs, head.input)
    size, channels = model.inputs[0].shape[1], model.inputs[0].shape[-1]
    return np.concatenate([keras.ops.convert_to_numpy(features(to_classifier_input(images[i:i + batch_size], size,
                                                                                 channels), training=False))
                           for i in range(0, len(images), batch_size)]).reshape(len(images), -1)


def kid_drop(model: keras.Model, edited: np.ndarray, unedited: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How much closer edits bring healthy decodings to ``reference`` (reconstructed real tumour
    scans) in the judge's feature space: KID(edited, reference), KID(unedited, reference) and
    ``drop_fraction`` = 1 - their ratio (1: edits indistinguishable from tumour reconstructions;
    0: no closer; negative: further away)."""
    ref = judge_features(model, reference)
    before = kernel_inception_distance(judge_features(model, unedited), ref)
    after = kernel_inception_distance(judge_features(model, edited), ref)
    return {"kid_unedited": before, "kid_edited": after,
            "drop_fraction": float(1 - after / before) if before > 0 else float("nan")}
