"""Pseudo-segmentation: Grad-CAM heatmaps thresholded into masks, and a U-Net trained on them.

The only supervision is the class label: for a scan labelled with a tumour, the pseudo-mask is
the thresholded Grad-CAM of that class; a scan labelled ``notumor`` gets an empty mask. On the
phantom the true masks are known, so the pseudo-masks and the U-Net can be scored against them;
on real scans only against the pseudo-masks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from brainmri import config, results
from brainmri.config import SEED
from brainmri.data import NO_TUMOUR, DataSource, SplitArrays, load_dataset
from brainmri.data.locate import phantom_key
from brainmri.data.phantom import ensure_phantom, load_phantom_masks
from brainmri.explain.gradcam import Explainer, heatmaps_in_batches
from brainmri.explain.localization import binarize, dice, iou
from brainmri.models.unet import compile_unet
from brainmri.train import RunState, registry


def load_phantom(profile: config.Profile | None = None, *, task: str = "multiclass", image_size: int | None = None,
                 color: str | None = None, capped: bool = True, record_provenance: bool = True) -> SplitArrays:
    """The synthetic phantom (true tumour masks known), whatever ``BRAINMRI_DATA`` says, at the
    classifier's image size and colour unless ``image_size`` and ``color`` say otherwise, each class
    capped at ``profile.max_per_class`` unless ``capped`` is False.

    Results saved afterwards record the phantom as their data; a notebook whose results are about
    real scans and uses the phantom only as a control passes ``record_provenance=False``.
    """
    profile = profile or config.get_profile()
    root = ensure_phantom(config.data_dir() / "phantom" / phantom_key(profile),
                          per_class=profile.phantom_per_class, image_size=profile.phantom_image_size)
    if record_provenance:
        results.set_data_source("phantom", root)
    source = DataSource(root, "phantom", f"synthetic phantom at {root}")
    return load_dataset(source, image_size=image_size or profile.image_size, color=color or profile.color, task=task,
                        val_fraction=profile.val_fraction, max_per_class=profile.max_per_class if capped else None)


class MaskedScans(NamedTuple):
    """Float32 images, labels, true masks (uint8 (N, S, S)) and which scans hold a tumour."""

    x: np.ndarray
    y: np.ndarray
    masks: np.ndarray
    tumour: np.ndarray


def phantom_sample(phantom: SplitArrays, n_train: int | None, rng: np.random.Generator) -> tuple[MaskedScans, MaskedScans]:
    """The phantom scans a U-Net learns and is scored on: ``n_train`` training scans drawn from ``rng``
    (:func:`training_subset`) and every validation scan, each with its true mask."""
    picked = training_subset(len(phantom.x_train), n_train, rng)
    size = phantom.x_train.shape[1]
    notumor = phantom.class_names.index(NO_TUMOUR)

    def masked(x, y, paths):
        return MaskedScans(x.astype("float32"), y, load_phantom_masks(paths, size), y != notumor)

    return (masked(phantom.x_train[picked], phantom.y_train[picked], [phantom.paths_train[i] for i in picked]),
            masked(phantom.x_val, phantom.y_val, phantom.paths_val))


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


# The U-Net trainer's code version, part of its run key: bump it when a change to train_unet
# changes what the same model, data and settings produce.
UNET_CODE_VERSION = 1


def train_unet(model: keras.Model, x_train, m_train, x_val, m_val, *, epochs: int, batch_size: int,
               seed: int = SEED, verbose: int | str = 2, run_dir: str | Path | None = None) -> dict[str, list[float]]:
    """Fit a compiled U-Net on (images, masks) and return its history.

    The learning rate set at compile time decays along a cosine to near 0 by the last epoch: at a
    constant rate a small U-Net's validation Dice swings by 0.1 from one epoch to the next, so the
    epoch that training happens to stop on would decide the score.

    With ``run_dir`` (a folder for this U-Net's runs, e.g. under ``config.runs_dir()``) the training
    is a registry run in ``run_dir/unet-<key>``, keyed by the model's architecture, the data and
    the settings: a finished run is loaded into ``model`` instead of trained, an interrupted one
    resumes after its last completed epoch, and other data or settings train a new run beside it.
    """
    start = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    per_epoch = keras.optimizers.schedules.CosineDecay(start, decay_steps=epochs)
    callbacks = [keras.callbacks.LearningRateScheduler(lambda epoch: float(per_epoch(epoch)))]
    run = None
    if run_dir is not None:
        run_dir = _unet_run_dir(Path(run_dir), model, (x_train, m_train, x_val, m_val),
                                dict(learning_rate=start, epochs=epochs, batch_size=batch_size, seed=seed))
        if registry.is_finished(run_dir):
            model.set_weights(keras.saving.load_model(run_dir / "unet.keras", compile=False).get_weights())
            return registry.read_history(run_dir / "history.csv")
        run = RunState(run_dir, epochs)
        callbacks += run.callbacks()
    keras.utils.set_random_seed(seed)
    history = model.fit(
        segmentation_dataset(x_train, m_train, batch_size=batch_size, training=True, seed=seed),
        validation_data=segmentation_dataset(x_val, m_val, batch_size=batch_size, training=False),
        epochs=run.epochs_to_run if run else epochs, verbose=verbose, callbacks=callbacks,
    )
    if run is None:
        return {k: [float(v) for v in vals] for k, vals in history.history.items()}
    model.save(run.run_dir / "unet.keras")
    registry.write_json_atomic(run.run_dir / "metrics.json", {"epoch_seconds": run.clock.seconds})
    registry.mark_finished(run.run_dir, "unet.keras")
    return run.history()


def _unet_run_dir(root: Path, model: keras.Model, arrays, settings: dict) -> Path:
    """``root/unet-<key>``, its ``config.json`` written unless the run there is finished.

    The key covers the architecture (the model's config, not its optimizer), the compiled learning
    rate, the fit settings, the code version and the images and masks.
    """
    architecture = json.dumps(model.get_config(), sort_keys=True, default=str)
    recipe = {"arch": "unet", "model": registry.fingerprint(np.frombuffer(architecture.encode(), np.uint8)),
              **settings, "version": UNET_CODE_VERSION}
    data = registry.fingerprint(*arrays)
    key = registry.run_key(recipe, data)
    run_dir = root / f"unet-{key}"
    if not registry.is_finished(run_dir):
        registry.start_run(run_dir, {"run_key": key, "kind": "unet", "recipe": recipe, "data_fingerprint": data})
    return run_dir


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


def training_subset(n_scans: int, n_kept: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indexes of ``n_kept`` of ``n_scans`` scans (all of them when ``n_kept`` is None), drawn
    from ``rng``: the U-Net trains on a capped sample of the training split."""
    return np.sort(rng.permutation(n_scans)[:n_kept])


def nonempty_share(masks: np.ndarray) -> float:
    """Share of ``(N, H, W)`` masks with at least one pixel set (on ``notumor`` scans: false alarms)."""
    if len(masks) == 0:
        raise ValueError("nonempty_share: no masks given")
    return float(masks.reshape(len(masks), -1).max(axis=1).mean())


@dataclass
class PseudoSegmentation:
    """One run of the pipeline at the U-Net's size: images, pseudo-masks, and per U-Net its
    training history and its masks predicted for the validation images."""
    x_train: np.ndarray
    x_val: np.ndarray
    pseudo_train: np.ndarray
    pseudo_val: np.ndarray
    histories: dict[str, dict[str, list[float]]]
    predicted_val: dict[str, np.ndarray]


def pseudo_segmentation(explainer: Explainer, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                        class_names: list[str], unets: dict[str, keras.Model], *, threshold: float, size: int,
                        epochs: int, batch_size: int,
                        run_dirs: dict[str, str | Path] | None = None) -> PseudoSegmentation:
    """Pseudo-mask -> U-Net -> predicted masks: thresholded Grad-CAM masks of the labelled class for
    the ``(images, labels)`` of ``train`` and ``val``, images and masks resized to ``size``, then
    each (uncompiled) U-Net of ``unets`` compiled, trained on them with :func:`train_unet` (in its
    ``run_dirs[name]``, if given, to resume or reuse that run) and asked for the validation masks."""
    (x_train, y_train), (x_val, y_val) = train, val
    pseudo_train = resize_masks(pseudo_masks(explainer, x_train, y_train, class_names, threshold=threshold), size)
    pseudo_val = resize_masks(pseudo_masks(explainer, x_val, y_val, class_names, threshold=threshold), size)
    x_train, x_val = resize_images(x_train, size), resize_images(x_val, size)
    histories = {}
    for name, unet in unets.items():
        compile_unet(unet)
        histories[name] = train_unet(unet, x_train, pseudo_train, x_val, pseudo_val, epochs=epochs,
                                     batch_size=batch_size, verbose=0, run_dir=(run_dirs or {}).get(name))
    predicted = {name: predict_masks(unet, x_val) for name, unet in unets.items()}
    return PseudoSegmentation(x_train, x_val, pseudo_train, pseudo_val, histories, predicted)


def score_against_truth(run: PseudoSegmentation, truth: np.ndarray, keep: np.ndarray) -> list[dict]:
    """Table rows: the pseudo-masks and each U-Net's masks against the ``truth`` (at the U-Net's
    size), and each U-Net against the pseudo-masks it learned from; over the scans in ``keep``."""
    rows = [{"masks": "Grad-CAM pseudo-masks", "vs": "true masks", **mask_scores(run.pseudo_val, truth, keep).as_dict()}]
    for name, predicted in run.predicted_val.items():
        rows.append({"masks": f"U-Net, {name}", "vs": "true masks", **mask_scores(predicted, truth, keep).as_dict()})
        rows.append({"masks": f"U-Net, {name}", "vs": "pseudo-masks",
                     **mask_scores(predicted, run.pseudo_val, keep).as_dict()})
    return rows


def real_scan_scores(predicted: np.ndarray, pseudo: np.ndarray, y: np.ndarray, class_names: list[str]) -> dict:
    """A U-Net's masks on real scans, which have no true mask: against the pseudo-masks on the scans
    with a tumour (``vs_pseudo_masks``), and the share of ``notumor`` scans given a mask at all
    (``notumor_scans_with_a_mask``: false alarms)."""
    tumour = np.asarray(y) != class_names.index(NO_TUMOUR)
    return {"vs_pseudo_masks": mask_scores(predicted, pseudo, tumour).as_dict(),
            "notumor_scans_with_a_mask": nonempty_share(predicted[~tumour])}


# Grad-CAM thresholds the phantom's layer-and-threshold sweep tries.
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def threshold_sweep(heatmaps: np.ndarray, truth: np.ndarray, thresholds) -> list[dict[str, float]]:
    """Dice and IoU of the thresholded heatmaps against true masks, for each threshold."""
    rows = []
    for t in thresholds:
        scores = mask_scores(binarize(heatmaps, float(t)), truth)
        rows.append({"threshold": float(t), "dice": scores.dice, "iou": scores.iou})
    return rows


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
