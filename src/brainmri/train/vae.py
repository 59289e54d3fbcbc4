"""Train the VAE and the conditional VAE through the run registry, resumably.

The models themselves (architecture, losses, ``train_step``) live in :mod:`brainmri.models.vae`;
this module decides when to train one, where its run lives and how it is found again.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from brainmri import config, hardware
from brainmri.models.vae import VAE, build_vae, latent_size, make_vae_dataset, one_hot
from brainmri.train.loop import RunState
from brainmri.train.registry import (
    fingerprint, find_run, mark_finished, new_run_dir, read_config, read_history, run_key, start_run,
    write_json_atomic,
)

# The VAE trainer's code version, part of every VAE run key: bump it when a change to the training
# code changes what the same settings produce. (2: the time budget became the one rule all trainers
# share, and runs moved into the registry. 3: normalised encoder and decoder, resize-then-convolve
# decoder, Gaussian likelihood with a fitted variance, per-scan intensity normalisation. 4: the SSIM
# term's blur done as two one-dimensional passes, equal to tf.image.ssim's up to rounding.)
VAE_CODE_VERSION = 4
MODEL_FILE = "vae.keras"


@dataclass
class VAERun:
    """A trained VAE, its per-epoch history and times, its model file, and whether it was loaded."""
    vae: VAE
    history: dict[str, list[float]]
    path: Path
    loaded: bool
    epoch_seconds: list[float]

    @property
    def run_key(self) -> str:
        """The registry key of the run (what judges fine-tuned on its decodings are keyed by)."""
        return read_config(self.path.parent)["run_key"]


def vae_settings(image_size: int, *, filters, latent_dim: int, latent_channels: int, epochs: int, batch_size: int,
                 beta: float, kl_warmup_epochs: float, reconstruction: str, ssim_weight: float, num_classes: int,
                 seed: int) -> dict[str, Any]:
    """The VAE's recipe: everything besides the data that decides the trained model. Real-valued settings
    are stored as floats, so that ``ssim_weight=1`` and ``ssim_weight=1.0`` name the same run."""
    return dict(arch="cvae" if num_classes else "vae", image_size=image_size, filters=list(filters),
                latent_dim=latent_dim, latent_channels=latent_channels, epochs=epochs, batch_size=batch_size, beta=float(beta),
                kl_warmup_epochs=float(kl_warmup_epochs), reconstruction=reconstruction, ssim_weight=float(ssim_weight),
                num_classes=num_classes, seed=seed, version=VAE_CODE_VERSION)


def load_vae_run(run_dir: Path) -> VAERun:
    """A finished VAE run directory as a :class:`VAERun` (``loaded=True``)."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return VAERun(hardware.apply_jit_compile(keras.saving.load_model(run_dir / MODEL_FILE)), read_history(run_dir / "history.csv"),
                  run_dir / MODEL_FILE, True, metrics["epoch_seconds"])


def load_or_train_vae(x_train: np.ndarray, x_val: np.ndarray, *, labels_train: np.ndarray | None = None,
                      labels_val: np.ndarray | None = None, num_classes: int = 0,
                      latent_dim: int | None = None, latent_channels: int | None = None, filters=None,
                      epochs: int | None = None, batch_size: int | None = None, beta: float = 1.0,
                      kl_warmup_epochs: float = 2.0, reconstruction: str = "gaussian",
                      ssim_weight: float | None = None, time_budget_min: float | None = None, seed: int = config.SEED,
                      force_train: bool = False, verbose: int = 0) -> VAERun:
    """The VAE trained on these images with these settings: found in the run registry, else trained.

    Images are VAE inputs (see :func:`brainmri.models.vae.to_unit_grayscale`); pass ``num_classes``
    and integer or one-hot labels for the conditional VAE. ``latent_channels`` > 0 makes the latent
    spatial (that many maps at ``1 / 2**len(filters)`` of the image side, flattened; ``latent_dim``
    becomes their length); they and the encoder widths ``filters`` default to the profile's.
    ``time_budget_min`` stops training before an epoch that would end past it and is part of the
    run's key (the registry's one budget rule).
    An interrupted training resumes where it stopped when called again with the same arguments.
    ``force_train`` trains again from scratch (the benchmark does). ``ssim_weight`` defaults to the
    profile's: on the real data (a spatial latent of 2 maps on 16 x 16, seed 42) weight 3 gave
    whole-image validation SSIM 0.683 in 22 epochs, where the likelihood alone gave 0.633 in 20 epochs
    and 0.662 in 38; 4 maps with weight 3 gave 0.749 in 22.
    """
    profile = config.get_profile()
    latent_dim = latent_dim or profile.vae_latent_dim
    latent_channels = profile.vae_latent_channels if latent_channels is None else latent_channels
    filters = tuple(filters or profile.vae_filters)
    latent_dim = latent_size(x_train.shape[1], latent_dim, latent_channels, len(filters))
    epochs = epochs or profile.vae_epochs
    ssim_weight = profile.vae_ssim_weight if ssim_weight is None else ssim_weight
    batch_size = batch_size or profile.batch_size
    if num_classes and (labels_train is None or labels_val is None):
        raise ValueError("the conditional VAE (num_classes > 0) needs labels_train and labels_val")
    y_train = one_hot(labels_train, num_classes) if num_classes else None
    y_val = one_hot(labels_val, num_classes) if num_classes else None
    settings = vae_settings(x_train.shape[1], filters=filters, latent_dim=latent_dim, latent_channels=latent_channels,
                            epochs=epochs, batch_size=batch_size, beta=beta, kl_warmup_epochs=kl_warmup_epochs,
                            reconstruction=reconstruction, ssim_weight=ssim_weight, num_classes=num_classes, seed=seed)
    data = fingerprint(x_train, y_train, x_val, y_val)
    key = run_key(settings, data, time_budget_min)
    run_dir = new_run_dir("vae", settings["arch"], key)
    if force_train:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        found = find_run(key)
        if found is not None:
            return load_vae_run(found)
    start_run(run_dir, {"run_key": key, "kind": settings["arch"], "recipe": settings, "data_fingerprint": data,
                        "time_budget_min": time_budget_min, "precision": hardware.precision(),
                        "n_train": int(len(x_train)), "n_val": int(len(x_val))})
    return _train_vae(run_dir, settings, x_train, y_train, x_val, y_val, time_budget_min, verbose)


def _train_vae(run_dir: Path, settings: dict[str, Any], x_train, y_train, x_val, y_val,
               time_budget_min: float | None, verbose: int) -> VAERun:
    steps_per_epoch = int(np.ceil(len(x_train) / settings["batch_size"]))
    with hardware.model_scope():
        vae = build_vae(settings["image_size"], settings["latent_dim"], num_classes=settings["num_classes"],
                        latent_channels=settings["latent_channels"], filters=tuple(settings["filters"]),
                        beta=settings["beta"], kl_warmup_steps=int(settings["kl_warmup_epochs"] * steps_per_epoch),
                        reconstruction=settings["reconstruction"], ssim_weight=settings["ssim_weight"],
                        seed=settings["seed"])
    run = RunState(run_dir, settings["epochs"], time_budget_min=time_budget_min)
    start = time.perf_counter()
    vae.fit(make_vae_dataset(x_train, y_train, batch_size=settings["batch_size"], seed=settings["seed"]),
            validation_data=make_vae_dataset(x_val, y_val, batch_size=settings["batch_size"], shuffle=False),
            epochs=run.epochs_to_run, callbacks=run.callbacks(), shuffle=False,  # the dataset shuffles itself
            verbose=verbose)
    vae.save(run_dir / MODEL_FILE)
    write_json_atomic(run_dir / "metrics.json", {
        "epochs_run": len(run.clock.seconds), "epoch_seconds": run.clock.seconds,
        "train_seconds_this_session": time.perf_counter() - start,
    })
    mark_finished(run_dir, MODEL_FILE)
    return VAERun(vae, run.history(), run_dir / MODEL_FILE, False, list(run.clock.seconds))
