import dataclasses

import pytest

from brainmri import config


def test_profile_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV, "full")
    assert config.get_profile().name == "full"


def test_explicit_name_wins_over_environment(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV, "full")
    assert config.get_profile("smoke").name == "smoke"


def test_unknown_profile_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown profile 'huge'.*\['default', 'full', 'smoke'\]"):
        config.get_profile("huge")


def test_smoke_is_the_smallest_profile():
    smoke, default = config.PROFILES["smoke"], config.PROFILES["default"]
    assert smoke.image_size < default.image_size and smoke.epochs < default.epochs


def test_a_spatial_latents_length_must_match_its_grid():
    default = config.PROFILES["default"]
    assert default.vae_latent_dim == (default.vae_image_size // 2 ** len(default.vae_filters)) ** 2 * default.vae_latent_channels
    with pytest.raises(ValueError, match=r"4 latent maps on the 16x16 grid make a code of 1024 numbers, but vae_latent_dim is 512"):
        dataclasses.replace(default, vae_latent_dim=512)
    assert dataclasses.replace(default, vae_latent_channels=0, vae_latent_dim=512).vae_latent_dim == 512  # a vector latent


def test_output_folders_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BRAINMRI_FIGURES_DIR", str(tmp_path / "figs"))
    assert config.figures_dir() == tmp_path / "figs" and (tmp_path / "figs").is_dir()
