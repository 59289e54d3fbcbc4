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


def test_output_folders_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BRAINMRI_FIGURES_DIR", str(tmp_path / "figs"))
    assert config.figures_dir() == tmp_path / "figs" and (tmp_path / "figs").is_dir()
