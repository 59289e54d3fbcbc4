"""Claim: training images per second of each architecture on this CPU, with the smallest plain CNN
as the baseline (the recorded ratio says how many times slower per image the default model is).

For ``plain_cnn_1``, ``plain_cnn_2``, ``residual_cnn`` (with ``train.DEFAULT_ARCH_KWARGS``) and
``efficientnetb0`` (``weights=None``; its builder freezes the backbone, as transfer learning's
first stage trains it): 128 px grayscale, batch 32, built and compiled as training does
(``train.build_classifier``, ``train.compile_classifier`` with a ``default_recipe``), one untimed
warm-up step and one untimed round, then a fixed number of training steps (``train_on_batch``:
the compiled training step without ``fit``'s per-call set-up) in three rounds, the architectures
taking turns, on in-memory, un-augmented scans (real training scans when ``BRAINMRI_DATA`` points
at them, capped per class; else the phantom), so the input pipeline costs nothing here (see
``bench_input_pipeline.py`` for that).

    BRAINMRI_DATA=/work/shared/data/brain-tumor-mri-dataset .venv/bin/python benchmarks/bench_train_throughput.py
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from brainmri import config, train
from brainmri.benchmarking import timed, write_benchmark
from brainmri.data import load_dataset, resolve_data_root
from brainmri.data.pipeline import encode_labels

IMAGE_SIZE = 128
BATCH_SIZE = 32
MAX_PER_CLASS = 64  # 256 training scans, cycled through STEPS batches
STEPS = 36
ROUNDS = 3  # the architectures take turns, STEPS // ROUNDS steps at a time
ARCHITECTURES = {  # arch -> builder arguments
    "plain_cnn_1": {},
    "plain_cnn_2": {},
    "residual_cnn": train.DEFAULT_ARCH_KWARGS["residual_cnn"],
    "efficientnetb0": {"weights": None},
}


def compiled_model(arch: str, arch_kwargs: dict, batches: list, num_classes: int):
    """``arch`` built and compiled as training does, after one untimed warm-up step."""
    recipe = train.default_recipe(arch=arch, arch_kwargs=dict(arch_kwargs), image_size=IMAGE_SIZE,
                                  color="grayscale", batch_size=BATCH_SIZE)
    model = train.build_classifier(recipe, num_classes)
    train.compile_classifier(model, recipe, steps_per_epoch=STEPS)
    model.train_on_batch(*batches[0])
    return model


def time_rounds(models: dict, batches: list) -> dict[str, list[float]]:
    """Seconds per round of ``STEPS // ROUNDS`` training steps, the models taking turns round by round
    (so a change in machine load hits all alike)."""
    per_round = len(batches) // ROUNDS
    laps = {arch: [] for arch in models}
    for start in range(0, per_round * ROUNDS, per_round):
        for arch, model in models.items():
            lap = {}
            with timed(lap, arch):
                for images, labels in batches[start:start + per_round]:
                    model.train_on_batch(images, labels)
            laps[arch].append(lap[arch])
    return laps


def main() -> None:
    data = load_dataset(resolve_data_root(), image_size=IMAGE_SIZE, color="grayscale",
                        max_per_class=MAX_PER_CLASS)
    num_classes = len(data.class_names)
    cycle = np.arange(STEPS * BATCH_SIZE) % len(data.x_train)
    x = data.x_train[cycle].astype(np.float32)
    y = encode_labels(data.y_train[cycle], num_classes)
    batches = [(tf.constant(x[i:i + BATCH_SIZE]), tf.constant(y[i:i + BATCH_SIZE]))
               for i in range(0, len(x), BATCH_SIZE)]

    models = {arch: compiled_model(arch, kwargs, batches, num_classes) for arch, kwargs in ARCHITECTURES.items()}
    time_rounds(models, batches[:len(batches) // ROUNDS])  # one untimed round: the first after the builds ran ~2x slow
    load_before = os.getloadavg()
    laps = time_rounds(models, batches)
    seconds = {arch: sum(arch_laps) for arch, arch_laps in laps.items()}
    per_arch = {
        arch: {"images_per_second": len(x) / seconds[arch], "seconds_per_1000_images": 1000 * seconds[arch] / len(x),
               "round_seconds": laps[arch], "parameters": int(model.count_params()),
               "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
               "arch_kwargs": dict(ARCHITECTURES[arch])}
        for arch, model in models.items()
    }
    print(f"training throughput on {data.source.kind} data ({data.source.root}), {STEPS} steps of {BATCH_SIZE}: "
          + ", ".join(f"{arch} {r['images_per_second']:.0f} images/s" for arch, r in per_arch.items()))
    write_benchmark(
        "train_throughput", baseline="plain_cnn_1", candidate="residual_cnn", seconds=seconds,
        extra={"data": data.source.kind, "data_root": str(data.source.root), "n_scans": len(data.x_train),
               "max_per_class": MAX_PER_CLASS, "image_size": IMAGE_SIZE, "color": "grayscale",
               "batch_size": BATCH_SIZE, "steps": STEPS, "rounds": ROUNDS, "images": len(x), "architectures": per_arch,
               "efficientnetb0_backbone": "frozen, as the builder returns it (head-only training)",
               "cpu_count": os.cpu_count(), "load_average_1_5_15_before": load_before,
               "load_average_1_5_15_after": os.getloadavg(), "profile": config.get_profile().name},
    )


if __name__ == "__main__":
    main()
