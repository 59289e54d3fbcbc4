"""The judge of decoded images: a classifier's P(tumour), or P(one class), of ``[0, 1]`` images.

A classifier takes ``[0, 255]`` at its own size and channel count; :func:`to_classifier_input` is
the one bridge from decoder space to it.

A classifier trained on scans is out of its domain on decodings (smoother, without the scanner's
texture): :func:`judge_scores` measures how it reads them, and :func:`load_or_finetune_judge`
fine-tunes a copy on decodings of training scans, cached in the run registry, so that edits are
judged by a model that knows what a decoded healthy scan looks like (the original stays as a second
opinion).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from brainmri import config
from brainmri.data import NO_TUMOUR
from brainmri.hardware import jit_compile
from brainmri.models.loading import load_classifier
from brainmri.models.vae import reconstruct
from brainmri.train import TrainedClassifier, VAERun
from brainmri.train.registry import (
    fingerprint, find_run, mark_finished, new_run_dir, run_key, start_run, write_json_atomic,
)

JUDGE_CODE_VERSION = 1  # part of every fine-tuned judge's run key: bump when the fine-tuning changes
JUDGE_FILE = "judge.keras"


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
            return 1.0 - out[:, self.class_names.index(NO_TUMOUR)]
        return out[:, self.class_names.index(self.target)]

    def predict(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        return np.concatenate([self(images[i:i + batch_size]).numpy() for i in range(0, len(images), batch_size)])

    def probabilities(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """The classifier's own outputs (softmax over its classes, or P(tumour)) for ``[0, 1]`` images."""
        return np.concatenate([
            keras.ops.convert_to_numpy(self.model(to_classifier_input(images[i:i + batch_size], self.image_size,
                                                                      self.channels), training=False))
            for i in range(0, len(images), batch_size)])


def judge_scores(scorer: TumourScorer, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """How a judge reads ``images`` (``[0, 1]`` grayscale, e.g. decodings) whose true classes are
    ``labels`` (indices into ``scorer.class_names``): accuracy over its classes, tumour-vs-none ROC
    AUC of P(tumour), and mean P(tumour) of the healthy and of the tumour scans."""
    labels = np.asarray(labels).astype(int)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    tumour = labels != scorer.class_names.index(NO_TUMOUR)
    if tumour.all() or not tumour.any():
        raise ValueError("judge scores need healthy and tumour scans among the labels")
    outputs = scorer.probabilities(images)
    p_tumour = scorer.predict(images)
    predicted = (outputs[:, 0] >= 0.5).astype(int) if scorer.binary else outputs.argmax(axis=1)
    truth = tumour.astype(int) if scorer.binary else labels
    return {"accuracy": float((predicted == truth).mean()), "tumour_auc": float(roc_auc_score(tumour, p_tumour)),
            "healthy_mean_p_tumour": float(p_tumour[~tumour].mean()),
            "tumour_mean_p_tumour": float(p_tumour[tumour].mean()), "n": int(len(labels))}


def finetune_judge(model: keras.Model, images: np.ndarray, labels: np.ndarray, *, epochs: int = 2,
                   batch_size: int = 32, learning_rate: float = 1e-4, seed: int = config.SEED):
    """A copy of ``model`` fine-tuned on ``images`` (``[0, 1]`` grayscale, e.g. decodings of training
    scans) with their class indices ``labels``: cross-entropy, Adam at a small rate, the model's own
    augmentation and batch normalisation in training mode. The original is left unchanged.
    Returns ``(copy, history)``."""
    keras.utils.set_random_seed(seed)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    size, channels = model.inputs[0].shape[1], model.inputs[0].shape[-1]
    binary = model.outputs[0].shape[-1] == 1
    x = np.concatenate([to_classifier_input(images[i:i + 256], size, channels).numpy()
                        for i in range(0, len(images), 256)])
    y = np.asarray(labels, np.float32).reshape(-1, 1) if binary else \
        np.eye(model.outputs[0].shape[-1], dtype=np.float32)[np.asarray(labels).astype(int)]
    copy.compile(optimizer=keras.optimizers.Adam(learning_rate),
                 loss=keras.losses.BinaryCrossentropy() if binary else keras.losses.CategoricalCrossentropy(),
                 metrics=["accuracy"], jit_compile=jit_compile())
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed).batch(batch_size)
    history = copy.fit(data, epochs=epochs, verbose=0).history
    return copy, {name: [float(v) for v in values] for name, values in history.items()}


@dataclass
class JudgeRun:
    """A judge fine-tuned on one VAE's decodings, its training history and where it is saved."""
    model: keras.Model
    path: Path
    loaded: bool
    history: dict[str, list[float]]


def load_or_finetune_judge(vae_run: VAERun, classifier: TrainedClassifier, x_train: np.ndarray,
                           labels_train: np.ndarray, *, epochs: int = 2, batch_size: int = 32,
                           learning_rate: float = 1e-4, seed: int = config.SEED, verbose: bool = True) -> JudgeRun:
    """The classifier of ``classifier`` fine-tuned on the VAE's reconstructions of ``x_train`` (VAE
    inputs) with their labels: found in the run registry (``runs/judge/``), keyed by the VAE run,
    the classifier run, these scans and the settings, else trained and saved there."""
    settings = {"kind": "judge", "vae_run": vae_run.run_key, "classifier_run": classifier.config["run_key"],
                "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
                "version": JUDGE_CODE_VERSION}
    key = run_key(settings, fingerprint(x_train, np.asarray(labels_train)))
    found = find_run(key)
    if found is not None:
        if verbose:
            print(f"loading the judge fine-tuned in {found}")
        return JudgeRun(load_classifier(found / JUDGE_FILE), found / JUDGE_FILE, True,
                        json.loads((found / "history.json").read_text()))
    run_dir = new_run_dir("judge", "decodings", key)
    if verbose:
        print(f"fine-tuning a copy of the judge on decodings into {run_dir}")
    start_run(run_dir, {"run_key": key, "kind": "judge", "recipe": settings, "class_names": classifier.class_names,
                        "n_train": int(len(x_train))})
    decoded = reconstruct(vae_run.vae, x_train)
    model, history = finetune_judge(classifier.model, decoded, labels_train, epochs=epochs, batch_size=batch_size,
                                    learning_rate=learning_rate, seed=seed)
    model.save(run_dir / JUDGE_FILE)
    write_json_atomic(run_dir / "history.json", history)
    mark_finished(run_dir, JUDGE_FILE)
    return JudgeRun(model, run_dir / JUDGE_FILE, False, history)
