"""One place for run profiles and project paths.

A profile (``BRAINMRI_PROFILE`` = ``smoke`` | ``default`` | ``full``) sets image sizes, sample counts
and epochs for every notebook, so that the same notebook runs in seconds in CI and for real on data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROFILE_ENV = "BRAINMRI_PROFILE"
SEED = 42


@dataclass(frozen=True)
class Profile:
    name: str
    image_size: int  # classifier input side, pixels
    color: str  # "grayscale" | "rgb"
    max_per_class: int | None  # cap on scans loaded per class and split (None: all)
    batch_size: int
    epochs: int
    val_fraction: float
    phantom_per_class: int  # phantom scans per class in Training (Testing gets a quarter)
    phantom_image_size: int
    sweep_trials: int
    transfer_image_size: int
    transfer_epochs: int  # epochs of each stage (frozen backbone, then last stage unfrozen)
    transfer_max_per_class: int | None  # cap per class and split for the transfer notebook (None: all)
    vae_image_size: int
    vae_latent_dim: int  # length of the flat code (a spatial latent's must equal maps x grid cells: checked)
    vae_latent_channels: int  # > 0: a spatial latent, that many maps (flat length replaces vae_latent_dim)
    vae_filters: tuple[int, ...]  # encoder widths, one halving each: a spatial latent sits at side / 2**len
    vae_epochs: int
    vae_ssim_weight: float  # weight of the (1 - SSIM) term added to the VAE's likelihood (0: none)
    vae_seeds: int  # seeds of notebook 07's spread (the project's seed first, then the next ones)
    vae_time_budget_min: float | None  # per VAE trained by a notebook (part of its run key, like every budget)
    ascent_steps: int
    explain_samples: int  # scans edited and walked per measurement in the latent notebooks
    edit_select_scans: int  # healthy training scans on which notebook 09 chooses each edit's strength
    local_vector_scans: int | None  # training scans whose tumour positions build notebook 09's local vector (None: all)
    faithfulness_samples: int | None  # validation scans per half (layer selection, scoring); None: half of them
    unet_image_size: int  # pseudo-segmentation U-Net input side
    unet_epochs: int
    unet_train_samples: int  # cap on scans the U-Net trains on
    time_budget_min: float | None

    @property
    def vae_latent_side(self) -> int:
        """Side of the VAE's last feature grid (one halving per encoder stage): a spatial latent's grid."""
        return self.vae_image_size // 2 ** len(self.vae_filters)

    def __post_init__(self):
        side = self.vae_latent_side
        if self.vae_latent_channels and self.vae_latent_dim != side * side * self.vae_latent_channels:
            raise ValueError(f"profile {self.name!r}: {self.vae_latent_channels} latent maps on the {side}x{side} grid make a "
                             f"code of {side * side * self.vae_latent_channels} numbers, but vae_latent_dim is {self.vae_latent_dim}")


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", image_size=64, color="grayscale", max_per_class=16, batch_size=16, epochs=1,
        val_fraction=0.25, phantom_per_class=16, phantom_image_size=64, sweep_trials=2,
        transfer_image_size=64, transfer_epochs=1, transfer_max_per_class=16, vae_image_size=64, vae_latent_dim=16,
        vae_latent_channels=1, vae_filters=(16, 32, 64, 128), vae_epochs=1, vae_ssim_weight=3.0, vae_seeds=2,
        vae_time_budget_min=None, ascent_steps=5, explain_samples=8, edit_select_scans=8, local_vector_scans=16, faithfulness_samples=8,
        unet_image_size=32, unet_epochs=1, unet_train_samples=32, time_budget_min=None,
    ),
    "default": Profile(
        name="default", image_size=128, color="grayscale", max_per_class=None, batch_size=32,
        epochs=90, val_fraction=0.15, phantom_per_class=160, phantom_image_size=128,
        sweep_trials=6, transfer_image_size=128, transfer_epochs=3, transfer_max_per_class=300, vae_image_size=128,
        vae_latent_dim=1024, vae_latent_channels=4, vae_filters=(16, 32, 64), vae_epochs=22,
        vae_ssim_weight=3.0, vae_seeds=3, vae_time_budget_min=15.0, ascent_steps=100, explain_samples=64,
        edit_select_scans=256, local_vector_scans=None, faithfulness_samples=None, unet_image_size=64, unet_epochs=25, unet_train_samples=1200,
        time_budget_min=None,
    ),
    "full": Profile(
        name="full", image_size=192, color="grayscale", max_per_class=None, batch_size=32,
        epochs=100, val_fraction=0.15, phantom_per_class=400, phantom_image_size=128,
        sweep_trials=12, transfer_image_size=224, transfer_epochs=10, transfer_max_per_class=None, vae_image_size=128,
        vae_latent_dim=1024, vae_latent_channels=4, vae_filters=(16, 32, 64), vae_epochs=60,
        vae_ssim_weight=3.0, vae_seeds=3, vae_time_budget_min=None, ascent_steps=200, explain_samples=256,
        edit_select_scans=512, local_vector_scans=None, faithfulness_samples=None, unet_image_size=128, unet_epochs=30, unet_train_samples=100000,
        time_budget_min=None,
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """The profile named, else the one in ``BRAINMRI_PROFILE``, else ``default``."""
    name = name or os.environ.get(PROFILE_ENV, "default")
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown profile {name!r} (from {PROFILE_ENV} or argument); "
            f"choose one of {sorted(PROFILES)}"
        ) from None


def project_root() -> Path:
    """The repository root for an editable install (the usual case), else the working directory."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def _dir_from_env(env: str, default: Path) -> Path:
    path = Path(os.environ.get(env, default)).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Downloads, caches and the generated phantom (git-ignored)."""
    return _dir_from_env("BRAINMRI_DATA_DIR", project_root() / "data")


def figures_dir() -> Path:
    """Where :func:`brainmri.plots.save_fig` writes; tests point it at a temporary folder."""
    return _dir_from_env("BRAINMRI_FIGURES_DIR", project_root() / "figures")


def results_dir() -> Path:
    """Metrics and tables (JSON) that the README reads."""
    return _dir_from_env("BRAINMRI_RESULTS_DIR", project_root() / "results")


def runs_dir() -> Path:
    """Trained models and logs written by notebooks and the CLI (git-ignored); the run registry
    (:mod:`brainmri.train.registry`) looks here first. In Colab it can live on Google Drive, so that
    a run survives the runtime and an interrupted one resumes."""
    return _dir_from_env("BRAINMRI_RUNS_DIR", project_root() / "runs")
