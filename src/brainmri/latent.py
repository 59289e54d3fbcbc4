"""Experiments in a VAE's latent space, each with a number attached.

- encode to latent means, class means, linear and spherical interpolation, the attribute vector
  ``mean(tumour) - mean(healthy)`` and edits ``z + a * v``;
- gradient ascent to the "purest tumour": in latent space through decoder + classifier, and in
  pixel space on the classifier alone;
- transfer: a linear probe on latent means, and the encoder fine-tuned as a classifier backbone;
- measures: flip rate (an independent classifier now says tumour), SSIM to the unedited decoding,
  P(tumour) and head shape along any sweep (:func:`sweep`);
- the three guesses of the original experiment: tumour position (:func:`position_experiment`),
  head shape (:func:`shape_matched_vector`) and too few labels (the conditional VAE, through
  :func:`sweep` with label mixtures).

The decoder speaks grayscale ``[0, 1]`` at the VAE's size; a classifier takes ``[0, 255]`` at its
own size and channel count. :func:`to_classifier_input` is the one bridge between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from brainmri import config, shape
from brainmri.models.vae import VAE, one_hot, ssim_per_image

HEALTHY = "notumor"
EDIT_STEPS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)  # a in z + a * v; a = 1 moves the healthy mean to the tumour mean


# ---------------------------------------------------------------- encode, decode, vectors

def tumour_mask(labels: np.ndarray, class_names: list[str]) -> np.ndarray:
    """Boolean ``(N,)``: True for every class but ``notumor``."""
    if HEALTHY not in class_names:
        raise ValueError(f"class names {list(class_names)} have no {HEALTHY!r} class to call healthy")
    return np.asarray(labels) != list(class_names).index(HEALTHY)


def encode_means(vae: VAE, x: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 128) -> np.ndarray:
    """Latent means ``(N, d)`` of ``[0, 1]`` images (labels, one-hot or integer, for a conditional VAE)."""
    labels = one_hot(labels, vae.num_classes) if vae.num_classes else None
    parts = [keras.ops.convert_to_numpy(vae.encode(x[i:i + batch_size],
                                                   None if labels is None else labels[i:i + batch_size])[0])
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts)


def decode(vae: VAE, z: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 128) -> np.ndarray:
    """Images ``(N, S, S, 1)`` in ``[0, 1]``; ``labels`` are (mixtures of) one-hot rows when conditional."""
    z = np.asarray(z, np.float32)
    if vae.num_classes and labels is None:
        raise ValueError("a conditional VAE decodes z together with a label (one-hot or mixture)")
    labels = None if labels is None else np.broadcast_to(np.asarray(labels, np.float32), (len(z), vae.num_classes))
    parts = [keras.ops.convert_to_numpy(vae.decode(z[i:i + batch_size],
                                                   None if labels is None else labels[i:i + batch_size]))
             for i in range(0, len(z), batch_size)]
    return np.concatenate(parts)


def class_means(z: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict[str, np.ndarray]:
    """Mean latent vector of each class present."""
    labels = np.asarray(labels)
    return {name: z[labels == k].mean(axis=0) for k, name in enumerate(class_names) if (labels == k).any()}


def examples_per_class(labels: np.ndarray, per_class: int, seed: int = config.SEED) -> np.ndarray:
    """Indexes of up to ``per_class`` seeded picks from each class, class by class."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    picks = [rng.permutation(np.flatnonzero(labels == k))[:per_class] for k in np.unique(labels)]
    return np.concatenate(picks)


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
    is_tumour = np.asarray(is_tumour, bool)
    if is_tumour.all() or not is_tumour.any():
        raise ValueError(f"need both tumour and healthy samples, got {int(is_tumour.sum())} of {len(is_tumour)} tumour")
    return z[is_tumour].mean(axis=0) - z[~is_tumour].mean(axis=0)


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


def edit(z: np.ndarray, v: np.ndarray, alphas) -> np.ndarray:
    """``(A, N, d)``: every code moved by every ``a * v``."""
    return np.asarray(z)[None] + np.asarray(alphas, np.float32)[:, None, None] * np.asarray(v)[None, None]


# ---------------------------------------------------------------- the classifier bridge

def to_classifier_input(images, image_size: int, channels: int) -> tf.Tensor:
    """The one bridge from decoder space to a classifier: ``[0, 1]`` grayscale at any size ->
    ``float32`` pixels in ``[0, 255]`` at ``image_size`` with ``channels`` (gray tiled to RGB).
    Differentiable, so gradient ascent flows through it."""
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4 or images.shape[-1] != 1:
        raise ValueError(f"expected grayscale images (N, S, S, 1), got shape {images.shape}")
    if images.shape[1] != image_size or images.shape[2] != image_size:
        images = tf.image.resize(images, (image_size, image_size), method="bilinear")
    if channels == 3:
        images = tf.tile(images, (1, 1, 1, 3))
    elif channels != 1:
        raise ValueError(f"classifier channels must be 1 or 3, got {channels}")
    return tf.clip_by_value(images, 0.0, 1.0) * 255.0


@dataclass
class TumourScorer:
    """P(tumour) or P(one class) of ``[0, 1]`` grayscale images under a classifier that may be binary
    (one sigmoid unit = P(tumour)) or multiclass (softmax; P(tumour) = 1 - P(notumor))."""
    model: keras.Model
    class_names: list[str]
    target: str | None = None  # None: any tumour; else one class name

    def __post_init__(self):
        self.image_size = self.model.inputs[0].shape[1]
        self.channels = self.model.inputs[0].shape[-1]
        self.binary = self.model.outputs[0].shape[-1] == 1
        if self.target is not None and self.target not in self.class_names:
            raise ValueError(f"target class {self.target!r} is not one of the classifier's classes {self.class_names}")
        if self.binary and self.target not in (None, self.class_names[-1]):
            raise ValueError(f"a binary classifier only scores {self.class_names[-1]!r}, not {self.target!r}")

    def __call__(self, images) -> tf.Tensor:
        """Differentiable ``(N,)`` probabilities."""
        out = self.model(to_classifier_input(images, self.image_size, self.channels), training=False)
        if self.binary:
            return out[:, 0]
        if self.target is None:
            return 1.0 - out[:, self.class_names.index(HEALTHY)]
        return out[:, self.class_names.index(self.target)]

    def predict(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        return np.concatenate([self(images[i:i + batch_size]).numpy() for i in range(0, len(images), batch_size)])


# ---------------------------------------------------------------- gradient ascent

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


# ---------------------------------------------------------------- transfer: probe and backbone

def binary_scores(y_true: np.ndarray, p: np.ndarray) -> dict[str, float]:
    y_true = np.asarray(y_true, int)
    return {"accuracy": float(((p >= 0.5) == y_true).mean()),
            "auc": float(roc_auc_score(y_true, p)) if len(set(y_true)) == 2 else float("nan")}


def fit_probe(z: np.ndarray, is_tumour: np.ndarray, seed: int = config.SEED):
    """Logistic regression tumour-vs-healthy on standardised latent means (a scikit-learn pipeline)."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    return probe.fit(z, np.asarray(is_tumour, int))


def linear_probe(z_train: np.ndarray, t_train: np.ndarray, z_val: np.ndarray, t_val: np.ndarray,
                 seed: int = config.SEED) -> dict[str, float]:
    """Validation accuracy and AUC of :func:`fit_probe`."""
    return binary_scores(t_val, fit_probe(z_train, t_train, seed).predict_proba(z_val)[:, 1])


def encoder_classifier(vae: VAE) -> keras.Model:
    """A copy of the (unconditional) encoder with a sigmoid head on ``z_mean``: P(tumour) of a
    ``[0, 1]`` image. The copy leaves the VAE untouched when fine-tuned."""
    if vae.num_classes:
        raise ValueError("the conditional VAE's encoder needs the label it should predict; use the plain VAE")
    encoder = keras.models.clone_model(vae.encoder)
    encoder.set_weights(vae.encoder.get_weights())
    mean_only = keras.Model(encoder.inputs, encoder.outputs[0], name="encoder_mean")
    image = keras.Input(vae.encoder.inputs[0].shape[1:], name="image")
    z_mean = mean_only(image)
    output = keras.layers.Dense(1, activation="sigmoid", name="predictions")(z_mean)
    return keras.Model(image, output, name="encoder_classifier")


def finetune_encoder(vae: VAE, x_train: np.ndarray, t_train: np.ndarray, x_val: np.ndarray, t_val: np.ndarray,
                     *, epochs: int = 1, batch_size: int = 32, learning_rate: float = 3e-4,
                     seed: int = config.SEED) -> dict[str, float]:
    """Fine-tune the encoder end to end as a tumour-vs-healthy classifier; validation scores."""
    keras.utils.set_random_seed(seed)
    model = encoder_classifier(vae)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    model.fit(x_train, np.asarray(t_train, np.float32), epochs=epochs, batch_size=batch_size, verbose=0)
    return binary_scores(t_val, model.predict(x_val, batch_size=128, verbose=0)[:, 0])


# ---------------------------------------------------------------- measures along a sweep

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


def sweep(generate: Callable[[float], np.ndarray], steps, scorer: TumourScorer) -> dict[str, list[float]]:
    """Measure ``generate(a)`` for every ``a`` in ``steps``; ``generate(steps[0])`` is the base.
    An edit is ``lambda a: decode(vae, z + a * v)``; a walk is ``lambda t: decode(vae, slerp(z0, z1, t))``;
    a conditional edit is ``lambda a: decode(cvae, z, (1 - a) * healthy + a * tumour)``."""
    steps = [float(a) for a in steps]
    base = generate(steps[0])
    base_p = scorer.predict(base)
    rows = [measure(generate(a), base, scorer, base_p) for a in steps]
    return {"steps": steps, **{key: [row[key] for row in rows] for key in rows[0]}}


def vector_edit_curve(vae: VAE, z: np.ndarray, v: np.ndarray, scorer: TumourScorer, steps=EDIT_STEPS) -> dict:
    """:func:`sweep` of the edit ``decode(z + a * v)``."""
    return sweep(lambda a: decode(vae, z + a * v), steps, scorer)


def walk_curve(vae: VAE, z0: np.ndarray, z1: np.ndarray, scorer: TumourScorer, *, kind: str = "slerp",
               steps=np.linspace(0, 1, 7)) -> dict:
    """:func:`sweep` along walks from each ``z0`` to its ``z1`` (``kind``: "lerp" or "slerp")."""
    path = {"lerp": lerp, "slerp": slerp}[kind]
    return sweep(lambda t: decode(vae, path(z0, z1, [t])[0]), steps, scorer)


def label_edit_curve(cvae: VAE, z: np.ndarray, source: int, target: int, scorer: TumourScorer,
                     steps=np.linspace(0, 1, 5)) -> dict:
    """Guess (1): the conditional VAE's edit keeps ``z`` and slides the label from ``source`` to
    ``target`` (``(1 - a) * onehot(source) + a * onehot(target)``)."""
    eye = np.eye(cvae.num_classes, dtype=np.float32)
    return sweep(lambda a: decode(cvae, z, (1 - a) * eye[source] + a * eye[target]), steps, scorer)


def shape_shift(curve: dict, features=("area", "aspect_ratio", "circularity", "brightness")) -> dict[str, float]:
    """Change of each head-shape feature from the first step to the best step of a curve."""
    best = best_step(curve)
    return {name: best[name] - curve[name][0] for name in features}


def best_step(curve: dict[str, list[float]]) -> dict[str, float]:
    """The step with the highest flip rate (the smallest such step on ties), with its measures."""
    i = int(np.nanargmax(curve["flip_rate"])) if np.isfinite(curve["flip_rate"]).any() else 0
    return {key: values[i] for key, values in curve.items()}


# ---------------------------------------------------------------- guess (2): position

def mask_centroids(masks: np.ndarray) -> np.ndarray:
    """``(N, 2)`` (row, column) centroid of each mask, as fractions of the image side."""
    masks = np.asarray(masks, np.float64)
    if masks.ndim == 4:
        masks = masks[..., 0]
    total = masks.sum(axis=(1, 2))
    if (total <= 0).any():
        raise ValueError(f"{int((total <= 0).sum())} masks are empty; a centroid needs some mass")
    rows, cols = np.mgrid[:masks.shape[1], :masks.shape[2]]
    return np.stack([(masks * rows).sum((1, 2)) / total / masks.shape[1],
                     (masks * cols).sum((1, 2)) / total / masks.shape[2]], axis=1)


def heatmap_peaks(heatmaps: np.ndarray) -> np.ndarray:
    """``(N, 2)`` (row, column) of each heatmap's maximum, as fractions of the side."""
    heatmaps = np.asarray(heatmaps)
    flat = heatmaps.reshape(len(heatmaps), -1).argmax(axis=1)
    rows, cols = np.unravel_index(flat, heatmaps.shape[1:3])
    return np.stack([(rows + 0.5) / heatmaps.shape[1], (cols + 0.5) / heatmaps.shape[2]], axis=1)


def gradcam_peaks(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Where the classifier looks on real scans (no masks there): the Grad-CAM peak of its predicted
    class, per scan, as (row, column) fractions. ``images`` are the classifier's own inputs."""
    from brainmri.explain.gradcam import GradCAM

    explainer = GradCAM(model)
    maps = [explainer.explain(images[i:i + batch_size].astype(np.float32)).heatmaps
            for i in range(0, len(images), batch_size)]
    return heatmap_peaks(np.concatenate(maps))


def phantom_dataset(profile: config.Profile | None = None):
    """The synthetic phantom (with ground-truth tumour masks), whatever the main data are: guess (2)
    needs to know where each tumour is. Grayscale at the VAE's size; returns ``(data, masks_train)``."""
    from brainmri.data import DataSource, load_dataset, load_phantom_masks
    from brainmri.data.locate import phantom_key
    from brainmri.data.phantom import ensure_phantom

    profile = profile or config.get_profile()
    root = ensure_phantom(config.data_dir() / "phantom" / phantom_key(profile),
                          per_class=profile.phantom_per_class, image_size=profile.phantom_image_size)
    data = load_dataset(DataSource(root, "phantom", f"synthetic phantom at {root}"), image_size=profile.vae_image_size,
                        color="grayscale", task="multiclass", val_fraction=profile.val_fraction)
    return data, load_phantom_masks(data.paths_train, profile.vae_image_size)


def location_groups(points: np.ndarray, k: int, seed: int = config.SEED) -> np.ndarray:
    """Group tumours by where they are: k-means on their (row, column) positions."""
    if len(points) < k:
        raise ValueError(f"need at least k={k} tumour positions, got {len(points)}")
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(points)


def change_centroids(edited: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Where an edit changed the image: centroid of ``|edited - base|``."""
    return mask_centroids(np.abs(edited - base)[..., 0] + 1e-12)


def position_experiment(vae: VAE, z_healthy: np.ndarray, z_tumour: np.ndarray, tumour_points: np.ndarray,
                        *, k: int = 4, alpha: float = 1.5, region_masks: np.ndarray | None = None,
                        seed: int = config.SEED) -> dict:
    """Guess (2): do per-location tumour vectors put a change where their tumours are, unlike the
    global vector (whose tumours at many positions might average out)?

    Tumours are grouped by position (``tumour_points``: mask centroids on the phantom, Grad-CAM
    peaks on real scans). For group ``g``, ``v_g = mean(z | tumour in g) - mean(z | healthy)``;
    healthy codes are edited by ``alpha * v_g`` and by ``alpha * v_global`` and we measure the
    distance from the centroid of the change to the group's mean tumour position (fractions of the
    side; lower is better), and, with ``region_masks`` (tumour masks, phantom only), the share of
    the change inside the region where the group's tumours lie (higher is better; chance = its area).
    """
    groups = location_groups(tumour_points, k, seed)
    v_global = z_tumour.mean(0) - z_healthy.mean(0)
    base = decode(vae, z_healthy)
    global_change = np.abs(decode(vae, z_healthy + alpha * v_global) - base)[..., 0]
    global_centroid = mask_centroids(global_change + 1e-12)
    rows = []
    for g in range(k):
        members = groups == g
        centre = tumour_points[members].mean(0)
        change = np.abs(decode(vae, z_healthy + alpha * (z_tumour[members].mean(0) - z_healthy.mean(0))) - base)[..., 0]
        row = {"group": g, "n_tumours": int(members.sum()), "centre": centre.tolist(),
               "distance_group_vector": float(np.linalg.norm(mask_centroids(change + 1e-12) - centre, axis=1).mean()),
               "distance_global_vector": float(np.linalg.norm(global_centroid - centre, axis=1).mean())}
        if region_masks is not None:
            region = _group_region(region_masks[members], base.shape[1])
            row.update(region_area=float(region.mean()),
                       inside_group_vector=float((change * region).sum() / change.sum()),
                       inside_global_vector=float((global_change * region).sum() / global_change.sum()))
        rows.append(row)
    summary = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]
               if key.startswith(("distance", "inside", "region"))}
    return {"alpha": alpha, "k": k, "groups": rows, "mean": summary}


def _group_region(masks: np.ndarray, size: int) -> np.ndarray:
    """Pixels covered by at least 10% of a group's tumour masks, at the decoder's size."""
    frequency = np.asarray(masks, np.float32).mean(0)
    if frequency.shape[0] != size:
        frequency = tf.image.resize(frequency[..., None], (size, size)).numpy()[..., 0]
    return (frequency >= 0.1).astype(np.float32)


# ---------------------------------------------------------------- guess (3): shape

def shape_matched_vector(z: np.ndarray, is_tumour: np.ndarray, features: np.ndarray) -> dict:
    """Guess (3): pair every tumour scan with the healthy scan nearest in (standardised) head shape
    and average the code differences, so that shape differences between the groups cancel out.

    Returns the vector and the groups' shape gap (difference of means per feature, in standard
    deviations) before and after matching, which says whether the matching did its job.
    """
    is_tumour = np.asarray(is_tumour, bool)
    finite = np.isfinite(features).all(axis=1)
    if not finite.all():
        raise ValueError(f"{int((~finite).sum())} scans have no head outline (blank); exclude them first")
    scaled = (features - features.mean(0)) / np.maximum(features.std(0), 1e-12)
    tumour, healthy = scaled[is_tumour], scaled[~is_tumour]
    nearest = np.argmin(((tumour[:, None, :] - healthy[None, :, :]) ** 2).sum(-1), axis=1)
    matched = np.flatnonzero(~is_tumour)[nearest]
    return {"vector": (z[is_tumour] - z[matched]).mean(0), "matched_healthy": matched,
            "gap_before": (tumour.mean(0) - healthy.mean(0)).tolist(),
            "gap_after": (tumour.mean(0) - scaled[matched].mean(0)).tolist(),
            "distinct_healthy": int(len(set(matched.tolist())))}


def findings_markdown(record: dict, *, judge: str, judge_accuracy: float) -> str:
    """Notebook 09's conclusions as Markdown, every number read from ``record`` (the saved results).

    ``record`` holds the curves' best steps (``best``), the shape change at them
    (``shape_shift_at_best``), the edits, walks and position experiments; ``judge`` names the
    classifier run whose verdicts the flip rates count.
    """
    best, shift = record["best"], record["shape_shift_at_best"]
    naive, matched = best["v (naive)"], best["v (shape-matched)"]
    walks, shape_gap = record["walks"], record["shape_gap_data"]
    reverse_healthy = [1 - f for f in record["reverse_edit"]["tumour_rate"]]
    conditional = max(record["conditional_edits"], key=lambda k: best[k]["flip_rate"])
    pp, pr = record["position_phantom"]["mean"], record["position_real_gradcam"]["mean"]
    return f"""
The judge is the shared classifier ({judge}, validation accuracy {judge_accuracy:.3f} on real scans; its
verdicts on VAE decodings inherit its errors).

**The original edit.** Unedited (a = 0), the classifier already calls {record["naive_edit"]["tumour_rate"][0]:.0%} of the
healthy reconstructions tumour; of the rest, adding a·v flips at most {naive["flip_rate"]:.0%}
(at a = {naive["steps"]:g}, SSIM to the unedited decoding {naive["ssim"]:.2f}). The reverse edit, tumour - a·v,
gets {reverse_healthy[-1]:.0%} of tumour scans called healthy at a = {EDIT_STEPS[-1]:g} (from {reverse_healthy[0]:.0%}).
Along the naive edit (up to the best a) the head's area changes by {shift["v (naive)"]["area"]:+.3f}, its aspect
ratio by {shift["v (naive)"]["aspect_ratio"]:+.3f} and its brightness by {shift["v (naive)"]["brightness"]:+.3f}.
Walking healthy -> tumour, P(tumour) goes from {walks["slerp"]["p_tumour"][0]:.2f} to {walks["slerp"]["p_tumour"][-1]:.2f}
(slerp) and {walks["lerp"]["p_tumour"][0]:.2f} to {walks["lerp"]["p_tumour"][-1]:.2f} (lerp).

**Guess (3), shape.** In the data, tumour heads differ from healthy ones by Cohen's d
{shape_gap["aspect_ratio"]["cohens_d"]:+.2f} in aspect ratio and {shape_gap["circularity"]["cohens_d"]:+.2f} in circularity.
The shape-matched vector flips {matched["flip_rate"]:.0%} (naive: {naive["flip_rate"]:.0%}) and changes aspect
ratio by {shift["v (shape-matched)"]["aspect_ratio"]:+.3f} (naive: {shift["v (naive)"]["aspect_ratio"]:+.3f}).

**Guess (1), labels.** The conditional VAE's label switch flips up to {best[conditional]["flip_rate"]:.0%}
({conditional}, SSIM {best[conditional]["ssim"]:.2f}) against {naive["flip_rate"]:.0%} for the vector.

**Guess (2), position.** On the phantom, the change lands {pp["distance_group_vector"]:.3f} (per-location
vectors) vs {pp["distance_global_vector"]:.3f} (global vector) from the group's tumours (fractions of the
side), with {pp["inside_group_vector"]:.0%} vs {pp["inside_global_vector"]:.0%} of it inside their region (area
{pp["region_area"]:.0%}). On real scans grouped by Grad-CAM peak: {pr["distance_group_vector"]:.3f} vs
{pr["distance_global_vector"]:.3f}.
"""
