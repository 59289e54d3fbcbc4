"""How well a VAE reconstructs scans, against PCA with as many dimensions: SSIM over the whole
image and inside the head, and the KL its codes pay.

About half of a slice is black background, which any decoder that outputs black there reproduces
perfectly; SSIM inside the head mask (:func:`head_masks`: the slice's largest outer contour, filled,
as :mod:`brainmri.shape` finds it) scores the anatomy alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from brainmri import config
from brainmri.models.vae import VAE, PCABaseline, kl_divergence, reconstruct, ssim_per_image
from brainmri.shape import head_contour


def head_masks(images: np.ndarray) -> np.ndarray:
    """Boolean head masks ``(N, S, S)`` of ``[0, 1]`` (or uint8) slices: Otsu threshold, largest outer
    contour, filled (:func:`brainmri.shape.head_contour`); all False for a blank slice."""
    masks = np.zeros(np.asarray(images).shape[:3], np.uint8)
    for mask, image in zip(masks, images):
        contour = head_contour(image)
        if contour is not None:
            cv2.drawContours(mask, [contour], -1, 1, thickness=cv2.FILLED)
    return masks.astype(bool)


def mean_kl(vae: VAE, x: np.ndarray, batch_size: int = 64) -> float:
    """Mean KL (nats) of the VAE's posterior from the prior over scans ``x`` (plain VAE)."""
    kl = [np.asarray(kl_divergence(*vae.encode(x[i:i + batch_size]))) for i in range(0, len(x), batch_size)]
    return float(np.concatenate(kl).mean())


@dataclass
class ReconstructionReport:
    """Validation reconstructions of the VAE and of PCA with the VAE's latent size, their per-scan
    SSIM over the whole image (``ssim``) and inside the head (``ssim_head``), the VAE's mean KL and
    the fitted PCA."""
    vae_val: np.ndarray
    pca_val: np.ndarray
    ssim: dict[str, np.ndarray]
    ssim_head: dict[str, np.ndarray]
    kl: float
    latent_dim: int
    pca: PCABaseline

    def summary(self) -> dict[str, float]:
        """Means (the head SSIM over scans with a head), and the VAE's margins over PCA."""
        means = {f"{name.lower()}_val_ssim": float(np.mean(s)) for name, s in self.ssim.items()}
        means |= {f"{name.lower()}_val_ssim_head": float(np.nanmean(s)) for name, s in self.ssim_head.items()}
        return {**means, "margin_over_pca": means["vae_val_ssim"] - means["pca_val_ssim"],
                "margin_over_pca_head": means["vae_val_ssim_head"] - means["pca_val_ssim_head"],
                "val_kl": self.kl, "latent_dim": self.latent_dim,
                "scans_without_head": int(np.isnan(self.ssim_head["VAE"]).sum())}


def compare_with_pca(vae: VAE, x_train: np.ndarray, x_val: np.ndarray, seed: int = config.SEED,
                     pca: PCABaseline | None = None) -> ReconstructionReport:
    """Reconstruct the validation scans with the VAE and with PCA fitted on the training scans with
    the VAE's latent size (or ``pca``, one already fitted so); score both against the originals
    (plain VAE)."""
    if pca is None:
        pca = PCABaseline.fit(x_train, vae.latent_dim, seed=seed)
    elif pca.pca.n_components_ != vae.latent_dim:
        raise ValueError(f"the PCA given has {pca.pca.n_components_} components, the VAE's code {vae.latent_dim} numbers")
    recon = {"VAE": reconstruct(vae, x_val), "PCA": pca.reconstruct(x_val)}
    masks = head_masks(x_val)
    return ReconstructionReport(
        recon["VAE"], recon["PCA"], {name: ssim_per_image(x_val, r) for name, r in recon.items()},
        {name: ssim_per_image(x_val, r, masks) for name, r in recon.items()}, mean_kl(vae, x_val), vae.latent_dim, pca)
