"""Notebook 07's seed spread and latent-kind comparison, on untrained toy VAEs."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from brainmri import config, latent
from brainmri.latent import reconstruction, vae_study
from brainmri.models import vae as vae_model

SIZE = 16


def test_latent_kinds_put_the_profiles_first_and_match_its_length():
    default = config.PROFILES["default"]  # a spatial latent, 4 maps on a 16 x 16 grid
    spatial, vector = latent.latent_kinds(default)
    assert spatial == latent.LatentKind("spatial 4x16x16", 1024, 4) and vector == latent.LatentKind("vector 1024", 1024, 0)
    as_vector = dataclasses.replace(default, vae_latent_channels=0, vae_latent_dim=512)
    assert latent.latent_kinds(as_vector) == (latent.LatentKind("vector 512", 512, 0),
                                              latent.LatentKind("spatial 2x16x16", 512, 2))
    tiny = dataclasses.replace(default, vae_latent_channels=0, vae_latent_dim=8)  # fewer numbers than grid cells
    assert latent.latent_kinds(tiny)[1] == latent.LatentKind("spatial 1x16x16", 256, 1)


def test_profile_seeds_start_with_the_projects_seed():
    assert latent.profile_seeds(dataclasses.replace(config.PROFILES["default"], vae_seeds=3)) == [config.SEED,
                                                                                                 config.SEED + 1,
                                                                                                 config.SEED + 2]


def test_reconstruction_study_trains_each_kind_and_seed_and_fits_pca_once_per_length(monkeypatch):
    rng = np.random.default_rng(0)
    x_train, x_val = rng.random((40, SIZE, SIZE, 1), np.float32), rng.random((4, SIZE, SIZE, 1), np.float32)
    asked = []

    def fake_vae(x_tr, x_v, *, latent_dim, latent_channels, time_budget_min, seed):
        asked.append((latent_dim, latent_channels, seed, time_budget_min))
        vae = vae_model.build_vae(SIZE, latent_dim, filters=(4, 8), latent_channels=latent_channels, seed=seed)
        return SimpleNamespace(vae=vae, epoch_seconds=[1.0, 1.0])
    fits = []
    real_fit = vae_model.PCABaseline.fit
    monkeypatch.setattr(vae_study, "load_or_train_vae", fake_vae)
    monkeypatch.setattr(vae_model.PCABaseline, "fit", classmethod(
        lambda cls, x, latent_dim, seed=config.SEED: fits.append(latent_dim) or real_fit(x, latent_dim, seed)))
    spatial, vector = latent.LatentKind("spatial 2x4x4", 32, 2), latent.LatentKind("vector 32", 32, 0)
    rows = latent.reconstruction_study(x_train, x_val, {spatial: [42, 43], vector: [42]}, time_budget_min=5.0)
    assert asked == [(32, 2, 42, 5.0), (32, 2, 43, 5.0), (32, 0, 42, 5.0)]
    assert fits == [32]  # one PCA for the three VAEs of one length
    assert [(row["latent"], row["seed"], row["latent_dim"], row["epochs_run"]) for row in rows] == [
        ("spatial 2x4x4", 42, 32, 2), ("spatial 2x4x4", 43, 32, 2), ("vector 32", 42, 32, 2)]
    assert len({row["pca_val_ssim"] for row in rows}) == 1  # the same baseline for all three
    fitted = vae_model.PCABaseline.fit(x_train, 32)
    fits.clear()
    again = latent.reconstruction_study(x_train, x_val, {spatial: [42]}, time_budget_min=5.0, fitted_pca=fitted)
    assert fits == [] and again[0]["pca_val_ssim"] == pytest.approx(rows[0]["pca_val_ssim"])  # the fitted PCA is used
    for row in rows:
        assert row["margin_over_pca"] == pytest.approx(row["vae_val_ssim"] - row["pca_val_ssim"])
        assert -1 <= row["vae_val_ssim"] <= 1 and row["val_kl"] >= 0


def test_seed_spread_gives_mean_and_sample_sd_per_kind():
    row = lambda kind, seed, ssim, epochs=20: {"latent": kind, "seed": seed, "epochs_run": epochs,  # noqa: E731
                                              "vae_val_ssim": ssim, "vae_val_ssim_head": ssim / 2,
                                              "margin_over_pca": ssim - 0.5, "val_kl": 100.0 * seed}
    spread = latent.seed_spread([row("spatial", 1, 0.6), row("spatial", 2, 0.7, 18), row("spatial", 3, 0.8),
                                 row("vector", 1, 0.55)])
    assert [s["epochs"] for s in spread] == ["18-20", "20"]  # a budget that stopped one seed early shows
    assert [s["latent"] for s in spread] == ["spatial", "vector"] and [s["seeds"] for s in spread] == [3, 1]
    assert spread[0]["vae_val_ssim_mean"] == pytest.approx(0.7) and spread[0]["vae_val_ssim_sd"] == pytest.approx(0.1)
    assert spread[0]["vae_val_ssim_head_sd"] == pytest.approx(0.05) and spread[0]["val_kl_mean"] == pytest.approx(200.0)
    assert spread[1]["margin_over_pca_mean"] == pytest.approx(0.05) and np.isnan(spread[1]["vae_val_ssim_sd"])


def test_compare_with_pca_refuses_a_baseline_of_another_length():
    rng = np.random.default_rng(0)
    x = rng.random((10, SIZE, SIZE, 1), np.float32)
    vae = vae_model.build_vae(SIZE, 4, filters=(4, 8))
    with pytest.raises(ValueError, match="3 components, the VAE's code 4 numbers"):
        reconstruction.compare_with_pca(vae, x, x, pca=vae_model.PCABaseline.fit(x, 3))
