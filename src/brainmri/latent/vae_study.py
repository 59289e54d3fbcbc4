"""How much of a VAE's reconstruction score is its recipe and how much its seed, and which latent
shape keeps more of a scan: the profile's VAE trained with several seeds, and the other latent kind
(a flat vector where the profile's latent is spatial, and the reverse), each scored against PCA with
its own number of dimensions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainmri import config
from brainmri.latent.reconstruction import compare_with_pca
from brainmri.models.vae import PCABaseline, latent_size
from brainmri.train import load_or_train_vae

SCORES = ("vae_val_ssim", "vae_val_ssim_head", "pca_val_ssim", "margin_over_pca", "margin_over_pca_head", "val_kl")
SPREAD_SCORES = ("vae_val_ssim", "vae_val_ssim_head", "margin_over_pca", "val_kl")


@dataclass(frozen=True)
class LatentKind:
    """A latent shape: ``latent_channels`` maps on the encoder's last grid (spatial), or a flat vector
    of ``latent_dim`` numbers (``latent_channels == 0``)."""
    name: str
    latent_dim: int
    latent_channels: int


def latent_kinds(profile: config.Profile) -> tuple[LatentKind, LatentKind]:
    """The profile's latent kind, then the other one at about the same length: a vector as long as
    the spatial latent's flat code, or as many maps on the last grid as fill the vector's length
    (at least one)."""
    n_down, side = len(profile.vae_filters), profile.vae_latent_side
    if profile.vae_latent_channels:
        length = latent_size(profile.vae_image_size, profile.vae_latent_dim, profile.vae_latent_channels, n_down)
        spatial = LatentKind(f"spatial {profile.vae_latent_channels}x{side}x{side}", length, profile.vae_latent_channels)
        return spatial, LatentKind(f"vector {length}", length, 0)
    channels = max(1, round(profile.vae_latent_dim / side**2))
    vector = LatentKind(f"vector {profile.vae_latent_dim}", profile.vae_latent_dim, 0)
    length = latent_size(profile.vae_image_size, profile.vae_latent_dim, channels, n_down)
    return vector, LatentKind(f"spatial {channels}x{side}x{side}", length, channels)


def profile_seeds(profile: config.Profile) -> list[int]:
    """The seeds of the spread: the project's seed (the VAE every other notebook uses) first."""
    return [config.SEED + i for i in range(profile.vae_seeds)]


def reconstruction_study(x_train: np.ndarray, x_val: np.ndarray, seeds_per_kind: dict[LatentKind, list[int]], *,
                         time_budget_min: float | None, fitted_pca: PCABaseline | None = None) -> list[dict]:
    """One row per (latent kind, seed): the VAE with the profile's other settings, found in the run
    registry or trained, and its validation SSIM (whole image and inside the head), PCA's with the
    same number of dimensions, the margins and the mean KL. PCA is fitted once per length, and not at
    all for the length of ``fitted_pca`` (one already fitted on ``x_train``)."""
    pcas: dict[int, PCABaseline] = {} if fitted_pca is None else {fitted_pca.pca.n_components_: fitted_pca}
    rows = []
    for kind, seeds in seeds_per_kind.items():
        for seed in seeds:
            run = load_or_train_vae(x_train, x_val, latent_dim=kind.latent_dim, latent_channels=kind.latent_channels,
                                    time_budget_min=time_budget_min, seed=seed)
            length = run.vae.latent_dim
            report = compare_with_pca(run.vae, x_train, x_val, pca=pcas.get(length))
            pcas[length] = report.pca
            summary = report.summary()
            rows.append({"latent": kind.name, "seed": seed, "latent_dim": length, "epochs_run": len(run.epoch_seconds),
                         **{name: summary[name] for name in SCORES}})
    return rows


def seed_spread(rows: list[dict]) -> list[dict]:
    """Per latent kind: the number of seeds, the epochs they ran (a range when a time budget stopped
    some earlier), and the mean and standard deviation over seeds (NaN for one seed) of SSIM over the
    whole image and in the head, the margin over PCA and the KL."""
    spread = []
    for kind in dict.fromkeys(row["latent"] for row in rows):
        mine = [row for row in rows if row["latent"] == kind]
        epochs = sorted({row["epochs_run"] for row in mine})
        summary = {"latent": kind, "seeds": len(mine),
                   "epochs": str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}-{epochs[-1]}"}
        for name in SPREAD_SCORES:
            values = np.array([row[name] for row in mine], np.float64)
            summary |= {f"{name}_mean": float(values.mean()),
                        f"{name}_sd": float(values.std(ddof=1)) if len(values) > 1 else float("nan")}
        spread.append(summary)
    return spread
