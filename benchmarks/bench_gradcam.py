"""Batched Grad-CAM (one forward/backward pass for the batch) vs a per-image loop with one tape each.

The loop is what most tutorials do: for every scan, a gradient tape around the model, the gradient
of the class score with respect to the last convolutional maps, and the weighted sum. Both run on
the same model (the default residual CNN, seeded weights: speed does not depend on training) and
the same 32 scans (real validation scans when ``BRAINMRI_DATA`` is set, else the phantom), in one
run, after one warm-up call each; the best of three repeats is recorded, with the largest
difference between the two sets of heatmaps.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from brainmri import config
from brainmri.benchmarking import best_of, write_benchmark
from brainmri.data import load_dataset, resolve_data_root
from brainmri.explain import GradCAM
from brainmri.explain.gradcam import upsample_and_normalise
from brainmri.models import DEFAULT_ARCH, build_model
from brainmri.train import DEFAULT_ARCH_KWARGS

N_SCANS = 32
REPEATS = 3


def per_image_loop(explainer: GradCAM, images: np.ndarray) -> np.ndarray:
    """The tutorial recipe: one tape, one forward and one backward pass per scan."""
    maps = []
    for image in images:
        with tf.GradientTape() as tape:
            activations, features = explainer.tap(image[None], training=False)
            logits = explainer.logits(features)
            score = logits[0, tf.argmax(logits[0])]
        gradients = tape.gradient(score, activations)
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))
        maps.append(upsample_and_normalise(cam, images.shape[1:3])[0])
    return np.stack(maps)


def main() -> None:
    profile = config.get_profile()
    data = load_dataset(resolve_data_root(), image_size=profile.image_size, color=profile.color,
                        val_fraction=profile.val_fraction, max_per_class=profile.max_per_class)
    images = data.x_val[:N_SCANS].astype(np.float32)
    keras.utils.set_random_seed(config.SEED)
    model = build_model(DEFAULT_ARCH, input_shape=images.shape[1:], num_classes=len(data.class_names),
                        **DEFAULT_ARCH_KWARGS.get(DEFAULT_ARCH, {}))
    explainer = GradCAM(model)
    batched = lambda: explainer.explain(images).heatmaps  # noqa: E731
    looped = lambda: per_image_loop(explainer, images)  # noqa: E731
    batched(), looped()  # warm-up: tracing and first allocations are not timed
    t_loop, maps_loop = best_of(REPEATS, looped)
    t_batch, maps_batch = best_of(REPEATS, batched)
    max_diff = float(np.abs(maps_loop - maps_batch).max())
    write_benchmark(
        "gradcam_batched", baseline="per_image_tape_loop", candidate="batched_one_pass",
        seconds={"per_image_tape_loop": t_loop, "batched_one_pass": t_batch},
        extra={"n_scans": len(images), "image_size": int(images.shape[1]), "arch": DEFAULT_ARCH,
               "layer": explainer.layer, "data": data.source.kind, "repeats": REPEATS,
               "max_abs_heatmap_difference": max_diff, "heatmaps_equal_1e-4": max_diff < 1e-4},
    )
    if max_diff >= 1e-4:
        raise SystemExit(f"batched and per-image heatmaps differ by up to {max_diff:.2e}")


if __name__ == "__main__":
    main()
