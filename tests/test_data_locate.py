"""Where data comes from: explicit path, BRAINMRI_DATA, kagglehub, then the phantom, recorded for provenance."""

import sys
import types

import pytest

from brainmri import config, results
from brainmri.data import locate


@pytest.fixture
def fake_kagglehub(monkeypatch):
    module = types.SimpleNamespace()
    monkeypatch.setitem(sys.modules, "kagglehub", module)
    monkeypatch.delenv(locate.DATA_ENV, raising=False)
    return module


def test_explicit_path_wins_and_is_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv(locate.DATA_ENV, str(tmp_path / "elsewhere"))
    source = locate.resolve_data_root(tmp_path, verbose=False)
    assert (source.kind, source.root) == ("path", tmp_path.resolve())
    assert results.provenance()["data"] == "path" and results.provenance()["data_folder"] == tmp_path.resolve().name


def test_environment_variable_next(tmp_path, monkeypatch):
    monkeypatch.setenv(locate.DATA_ENV, str(tmp_path))
    source = locate.resolve_data_root(verbose=False)
    assert (source.kind, source.root) == ("env", tmp_path.resolve())


@pytest.mark.parametrize("use_env", [False, True])
def test_missing_folder_is_an_error_not_a_fallback(tmp_path, monkeypatch, use_env):
    missing = tmp_path / "nope"
    if use_env:
        monkeypatch.setenv(locate.DATA_ENV, str(missing))
    with pytest.raises(FileNotFoundError, match="nope"):
        locate.resolve_data_root(None if use_env else missing, verbose=False)


def test_kagglehub_download_is_used_when_it_works(tmp_path, fake_kagglehub):
    calls = []
    fake_kagglehub.dataset_download = lambda handle: calls.append(handle) or str(tmp_path)
    source = locate.resolve_data_root(verbose=False)
    assert calls == [locate.KAGGLE_HANDLE]
    assert (source.kind, source.root) == ("kagglehub", tmp_path)
    assert results.provenance()["data"] == "kagglehub"


def test_offline_falls_back_to_the_phantom_loudly(fake_kagglehub, capsys):
    def offline(handle):
        raise ConnectionError("Failed to resolve 'api.kaggle.com'\nmore detail")

    fake_kagglehub.dataset_download = offline
    profile = config.get_profile("smoke")
    source = locate.resolve_data_root(profile=profile)
    printed = capsys.readouterr().out
    assert source.kind == "phantom" and results.provenance()["data"] == "phantom" and results.provenance()["synthetic"]
    assert source.root == config.data_dir() / "phantom" / locate.phantom_key(profile) / "dataset"
    assert (source.root / "Training" / "glioma").is_dir()
    assert "SYNTHETIC PHANTOM" in printed and "ConnectionError: Failed to resolve 'api.kaggle.com'" in printed
    assert "more detail" not in printed  # one readable line
    n_train = len(list((source.root / "Training" / "notumor").glob("*.png")))
    assert n_train == profile.phantom_per_class
