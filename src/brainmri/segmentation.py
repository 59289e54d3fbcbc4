"""Pseudo-segmentation: Grad-CAM heatmaps thresholded into masks, and a U-Net trained on them.

The only supervision is the class label: for a scan labelled with a tumour, the pseudo-mask is
the thresholded Grad-CAM of that class; a scan labelled ``notumor`` gets an empty mask. On the
phantom the true masks are known, so the pseudo-masks and the U-Net can be scored against them;
on real scans only against the pseudo-masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from brainmri import config, results
from brainmri.config import SEED
from brainmri.data import DataSource, SplitArrays, load_dataset
from brainmri.data.locate import phantom_key
from brainmri.data.phantom import ensure_phantom
from brainmri.explain.gradcam import Explainer, heatmaps_in_batches
from brainmri.explain.localization import binarize, dice, iou

NO_TUMOUR = "notumor"


def load_phantom(profile: config.Profile | None = None, *, task: str = "multiclass") -> SplitArrays:
    """The synthetic phantom (true tumour masks known), whatever ``BRAINMRI_DATA`` says, at the
    classifier's image size; results saved afterwards record the phantom as their data."""
    profile = profile or config.get_profile()
    root = ensure_phantom(config.data_dir() / "phantom" / phantom_key(profile),
                          per_class=profile.phantom_per_class, image_size=profile.phantom_image_size)
    results.set_data_source("phantom", root)
    source = DataSource(root, "phantom", f"synthetic phantom at {root}")
    return load_dataset(source, image_size=profile.image_size, color=profile.color, task=task,
                        val_fraction=profile.val_fraction, max_per_class=profile.max_per_class)


def pseudo_masks(explainer: Explainer, images: np.ndarray, labels: np.ndarray, class_names: list[str], *,
                 threshold: float = 0.5, batch_size: int = 64) -> np.ndarray:
    """uint8 (N, H, W) masks: thresholded Grad-CAM of the labelled class, empty for ``notumor`` scans."""
    labels = np.asarray(labels)
    masks = np.zeros(images.shape[:3], dtype=np.uint8)
    tumour = np.flatnonzero(labels != class_names.index(NO_TUMOUR)) if NO_TUMOUR in class_names else np.arange(len(labels))
    if tumour.size:
        heat = heatmaps_in_batches(explainer, images[tumour], labels[tumour], batch_size=batch_size)
        masks[tumour] = binarize(heat, threshold)
    return masks


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """float32 (N, size, size, C) bilinear copies of uint8 or float images."""
    return tf.image.resize(tf.convert_to_tensor(images, tf.float32), (size, size), method="bilinear").numpy()


def resize_masks(masks: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, size, size) nearest-neighbour copies of binary masks."""
    resized = tf.image.resize(tf.convert_to_tensor(masks[..., None], tf.uint8), (size, size), method="nearest")
    return resized.numpy()[..., 0].astype(np.uint8)


def segmentation_dataset(images: np.ndarray, masks: np.ndarray, *, batch_size: int, training: bool, seed: int = SEED) -> tf.data.Dataset:
    """(image, mask[..., None]) batches; training shuffles and flips image and mask together."""
    if len(images) != len(masks) or images.shape[1:3] != masks.shape[1:3]:
        raise ValueError(f"images {images.shape} and masks {masks.shape} must match in number and size")
    ds = tf.data.Dataset.from_tensor_slices((images.astype(np.float32), masks[..., None].astype(np.float32)))
    if training:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(_flip_together, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _flip_together(image, mask):
    flip = tf.random.uniform(()) < 0.5
    return tf.cond(flip, lambda: (tf.image.flip_left_right(image), tf.image.flip_left_right(mask)), lambda: (image, mask))


def train_unet(model: keras.Model, x_train, m_train, x_val, m_val, *, epochs: int, batch_size: int,
               seed: int = SEED, verbose: int | str = 2) -> dict[str, list[float]]:
    """Fit a compiled U-Net on (images, masks) and return its history.

    The learning rate set at compile time decays along a cosine to near 0 by the last epoch: at a
    constant rate a small U-Net's validation Dice swings by 0.1 from one epoch to the next, so the
    epoch that training happens to stop on would decide the score.
    """
    keras.utils.set_random_seed(seed)
    start = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    per_epoch = keras.optimizers.schedules.CosineDecay(start, decay_steps=epochs)
    history = model.fit(
        segmentation_dataset(x_train, m_train, batch_size=batch_size, training=True, seed=seed),
        validation_data=segmentation_dataset(x_val, m_val, batch_size=batch_size, training=False),
        epochs=epochs, verbose=verbose,
        callbacks=[keras.callbacks.LearningRateScheduler(lambda epoch: float(per_epoch(epoch)))],
    )
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def predict_masks(model: keras.Model, images: np.ndarray, *, threshold: float = 0.5, batch_size: int = 64) -> np.ndarray:
    """uint8 (N, H, W) masks predicted by the U-Net."""
    probs = model.predict(images.astype(np.float32), batch_size=batch_size, verbose=0)[..., 0]
    return (probs >= threshold).astype(np.uint8)


@dataclass
class MaskScores:
    dice: float
    iou: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"dice": self.dice, "iou": self.iou, "n": self.n}


def mask_scores(predicted: np.ndarray, truth: np.ndarray, keep: np.ndarray | None = None) -> MaskScores:
    """Mean Dice and IoU over the images in ``keep`` (bool (N,); default all)."""
    keep = np.ones(len(truth), bool) if keep is None else np.asarray(keep, bool)
    if not keep.any():
        raise ValueError("mask_scores: no images selected to score")
    return MaskScores(float(dice(predicted[keep], truth[keep]).mean()),
                      float(iou(predicted[keep], truth[keep]).mean()), int(keep.sum()))


def threshold_sweep(heatmaps: np.ndarray, truth: np.ndarray, thresholds) -> list[dict[str, float]]:
    """Dice and IoU of the thresholded heatmaps against true masks, for each threshold."""
    rows = []
    for t in thresholds:
        scores = mask_scores(binarize(heatmaps, float(t)), truth)
        rows.append({"threshold": float(t), "dice": scores.dice, "iou": scores.iou})
    return rows


def best_threshold(rows: list[dict[str, float]]) -> float:
    """The threshold of the sweep with the highest Dice."""
    return max(rows, key=lambda row: row["dice"])["threshold"]


def choose_layer_and_threshold(model: keras.Model, images: np.ndarray, labels: np.ndarray, truth: np.ndarray,
                               layers: list[str], thresholds) -> tuple[str, float, list[dict]]:
    """The Grad-CAM target layer and threshold whose pseudo-masks best match ``truth`` (mean Dice).

    Meant for the phantom, where true masks exist; the choice is then reused on real scans.
    """
    from brainmri.explain.gradcam import GradCAM

    rows = []
    for layer in layers:
        heat = heatmaps_in_batches(GradCAM(model, layer=layer), images, labels)
        rows += [{"layer": layer, **row} for row in threshold_sweep(heat, truth, thresholds)]
    best = max(rows, key=lambda row: row["dice"])
    return best["layer"], best["threshold"], rows
