"""Claim: the tf.data input pipeline training uses delivers augmented batches faster than a legacy
Keras ``ImageDataGenerator``-style loader, measured in the same run.

``ImageDataGenerator`` is gone in Keras 3, so the baseline is a faithful small stand-in: a Python
generator that, per batch, takes scans one at a time from the uint8 arrays, gives each a random
horizontal flip, rotation (up to 10 degrees) and zoom (up to 15%) as one affine warp, and a
brightness shift, then stacks them (what ``ImageDataGenerator.flow`` did). The recorded baseline
warps with cv2; the same loader warping with ``scipy.ndimage.affine_transform`` (the call Keras 2
made) is timed alongside. The candidate is ``train.training_dataset(..., augment=True)``: the
data layer's Keras augmentation layers (flip, rotation, zoom and translation as one warp, then
brightness and contrast jitter) plus a random gamma, batched and prefetched by tf.data; the same
pipeline without augmentation is timed too.
All read the same arrays (real training scans when ``BRAINMRI_DATA`` points at them, capped per
class; else the phantom), batch 32, shuffle every epoch, and are fully consumed for the same
number of epochs, taking turns epoch by epoch, after one untimed warm-up batch each.

    BRAINMRI_DATA=/work/shared/data/brain-tumor-mri-dataset .venv/bin/python benchmarks/bench_input_pipeline.py
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np
from scipy import ndimage

from brainmri import config
from brainmri.benchmarking import timed, write_benchmark
from brainmri.data import load_dataset, resolve_data_root
from brainmri.data.pipeline import BRIGHTNESS, ROTATION_DEGREES, ZOOM, encode_labels
from brainmri.train import training_dataset

IMAGE_SIZE = 128
BATCH_SIZE = 32
MAX_PER_CLASS = 100  # 400 training scans
EPOCHS = 16
_SWAP = np.array([[0.0, 1.0], [1.0, 0.0]])  # (x, y) <-> (row, column)


def warp_cv2(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    size = image.shape[0]
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def warp_scipy(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The same warp as :func:`warp_cv2`, by ``ndimage.affine_transform`` (output-to-input, row-column)."""
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))
    return ndimage.affine_transform(image, _SWAP @ inverse[:2, :2] @ _SWAP, _SWAP @ inverse[:2, 2],
                                    order=1, mode="constant", cval=0.0)


def augment_one(image: np.ndarray, rng: np.random.Generator, warp) -> np.ndarray:
    """One (S, S, 1) scan, as ``ImageDataGenerator.random_transform`` did it: flip, one affine warp, brightness."""
    image = image[..., 0].astype(np.float32)
    if rng.random() < 0.5:
        image = np.ascontiguousarray(image[:, ::-1])
    centre = image.shape[0] / 2
    matrix = cv2.getRotationMatrix2D((centre, centre), rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES),
                                     rng.uniform(1 - ZOOM, 1 + ZOOM))
    shifted = warp(image, matrix) + 255 * rng.uniform(-BRIGHTNESS, BRIGHTNESS)
    return np.clip(shifted, 0, 255)[..., None]


def generator_batches(x: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, warp):
    """One epoch of shuffled, augmented batches built image by image (``ImageDataGenerator.flow``)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
        chosen = order[start:start + batch_size]
        yield np.stack([augment_one(x[i], rng, warp) for i in chosen]), labels[chosen]


def consume(batches) -> int:
    """Pull every batch; return the number of images delivered."""
    return sum(int(images.shape[0]) for images, _ in batches)


def main() -> None:
    data = load_dataset(resolve_data_root(), image_size=IMAGE_SIZE, color="grayscale",
                        max_per_class=MAX_PER_CLASS)
    x, y = data.x_train, data.y_train
    num_classes = len(data.class_names)
    labels = encode_labels(y, num_classes)
    pipelines = {"tf_data": training_dataset(x, y, num_classes=num_classes, batch_size=BATCH_SIZE, augment=True),
                 "tf_data_no_augment": training_dataset(x, y, num_classes=num_classes, batch_size=BATCH_SIZE,
                                                        augment=False)}
    loaders = {"imagedatagenerator_cv2": warp_cv2, "imagedatagenerator_scipy": warp_scipy}

    for dataset in pipelines.values():
        next(iter(dataset))  # warm-up, untimed
    for warp in loaders.values():
        next(generator_batches(x, labels, BATCH_SIZE, config.SEED, warp))
    epoch_of = {name: (lambda epoch, warp=warp: generator_batches(x, labels, BATCH_SIZE, config.SEED + epoch, warp))
                for name, warp in loaders.items()}
    epoch_of.update({name: (lambda epoch, dataset=dataset: dataset) for name, dataset in pipelines.items()})
    load_before = os.getloadavg()
    seconds, images = dict.fromkeys(epoch_of, 0.0), dict.fromkeys(epoch_of, 0)
    for epoch in range(EPOCHS):  # loaders take turns epoch by epoch, so a change in machine load hits all alike
        for name, batches in epoch_of.items():
            lap = {}
            with timed(lap, name):
                images[name] += consume(batches(epoch))
            seconds[name] += lap[name]
    if len(set(images.values())) != 1:
        raise AssertionError(f"the loaders delivered different numbers of images: {images}")

    n_images = images["tf_data"]
    images_per_second = {name: n_images / s for name, s in seconds.items()}
    print(f"input pipeline on {data.source.kind} data ({data.source.root}): {len(x)} scans x {EPOCHS} epochs; "
          + ", ".join(f"{name} {rate:.0f} images/s" for name, rate in images_per_second.items()))
    write_benchmark(
        "input_pipeline", baseline="imagedatagenerator_cv2", candidate="tf_data", seconds=seconds,
        extra={"data": data.source.kind, "data_root": str(data.source.root), "n_train": len(x),
               "max_per_class": MAX_PER_CLASS, "image_size": IMAGE_SIZE, "batch_size": BATCH_SIZE,
               "epochs": EPOCHS, "batches": EPOCHS * math.ceil(len(x) / BATCH_SIZE), "images": n_images,
               "images_per_second": images_per_second,
               "candidate_extra_work": "translation, contrast jitter and random gamma, not in the baseline",
               "cv2_threads": cv2.getNumThreads(), "cpu_count": os.cpu_count(),
               "load_average_1_5_15_before": load_before, "load_average_1_5_15_after": os.getloadavg(),
               "profile": config.get_profile().name},
    )


if __name__ == "__main__":
    main()
