"""The VAE on the real Training data at the default profile, against PCA with as many dimensions.

Trains (or loads from ``runs/``) the profile's VAE once per seed (three seeds by default, one
time-budgeted training each) and records, per seed and as mean and spread: validation SSIM over
the whole image and inside the head mask for the VAE and for PCA, the VAE's mean validation KL,
its epochs and training seconds; the ratio is the PCA fit's time against one VAE epoch.

    BRAINMRI_DATA=/work/shared/data/brain-tumor-mri-dataset .venv/bin/python benchmarks/bench_vae.py [seed ...]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from brainmri import benchmarking, config
from brainmri.data import load_dataset, resolve_data_root
from brainmri.latent.reconstruction import compare_with_pca
from brainmri.models.vae import PCABaseline, to_unit_grayscale
from brainmri.train import load_or_train_vae

SEEDS = (config.SEED, 1, 2)
MEASURES = ("vae_val_ssim", "vae_val_ssim_head", "pca_val_ssim", "pca_val_ssim_head", "margin_over_pca", "val_kl")


def main(seeds=SEEDS) -> None:
    profile = config.get_profile()
    data = load_dataset(resolve_data_root(), image_size=profile.image_size, color=profile.color,
                        task="multiclass", val_fraction=profile.val_fraction, max_per_class=profile.max_per_class)
    x_train = to_unit_grayscale(data.x_train, profile.vae_image_size)
    x_val = to_unit_grayscale(data.x_val, profile.vae_image_size)
    per_seed = {}
    for seed in seeds:
        run = load_or_train_vae(x_train, x_val, time_budget_min=profile.vae_time_budget_min, seed=seed, verbose=2)
        per_seed[seed] = {**compare_with_pca(run.vae, x_train, x_val).summary(), "epochs": len(run.epoch_seconds),
                          "train_seconds": float(np.sum(run.epoch_seconds)),
                          "epoch_seconds": float(np.median(run.epoch_seconds)), "loaded": run.loaded}
        print(seed, per_seed[seed], flush=True)
    start = time.perf_counter()
    PCABaseline.fit(x_train, run.vae.latent_dim)
    pca_seconds = time.perf_counter() - start
    spread = {name: {"mean": float(np.mean([s[name] for s in per_seed.values()])),
                     "sd": float(np.std([s[name] for s in per_seed.values()], ddof=1)) if len(seeds) > 1 else 0.0}
              for name in MEASURES}
    benchmarking.write_benchmark(
        "vae_training", baseline="vae_epoch", candidate="pca_fit",
        seconds={"vae_epoch": float(np.median([s["epoch_seconds"] for s in per_seed.values()])),
                 "pca_fit": pca_seconds},
        extra={"image_size": profile.vae_image_size, "latent_dim": run.vae.latent_dim,
               "latent_channels": profile.vae_latent_channels, "time_budget_min": profile.vae_time_budget_min,
               "n_train": len(x_train), "n_val": len(x_val), "seeds": {str(k): v for k, v in per_seed.items()},
               "spread": spread, "data": data.source.kind},
    )


if __name__ == "__main__":
    main(tuple(int(s) for s in sys.argv[1:]) or SEEDS)
