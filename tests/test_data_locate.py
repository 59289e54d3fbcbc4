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


@pytest.fixture
def offline_in_colab(fake_kagglehub, monkeypatch):
    def offline(handle):
        raise ConnectionError("Failed to resolve 'api.kaggle.com'")

    fake_kagglehub.dataset_download = offline
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.delenv(locate.ALLOW_PHANTOM_ENV, raising=False)


def test_in_colab_a_failed_download_stops_and_names_the_fixes(offline_in_colab, monkeypatch):
    recorded = []
    monkeypatch.setattr(locate, "ensure_phantom", lambda *a, **k: pytest.fail("generated the phantom"))
    monkeypatch.setattr(results, "set_data_source", lambda *a: recorded.append(a))
    with pytest.raises(locate.DataUnavailableError) as stopped:
        locate.resolve_data_root(profile=config.get_profile("smoke"), verbose=False)
    message = str(stopped.value)
    assert "ConnectionError: Failed to resolve 'api.kaggle.com'" in message
    assert all(fix in message for fix in ("online", locate.DATA_ENV, f'{locate.ALLOW_PHANTOM_ENV}"] = "1"'))
    assert recorded == []  # nothing recorded as the data source of later figures


@pytest.mark.parametrize("value", ["1", "true"])
def test_in_colab_the_phantom_is_used_when_opted_in(offline_in_colab, monkeypatch, capsys, value):
    monkeypatch.setenv(locate.ALLOW_PHANTOM_ENV, value)
    source = locate.resolve_data_root(profile=config.get_profile("smoke"))
    assert source.kind == "phantom" and "SYNTHETIC PHANTOM" in capsys.readouterr().out


def test_in_colab_opting_out_again_stops_again(offline_in_colab, monkeypatch):
    monkeypatch.setenv(locate.ALLOW_PHANTOM_ENV, "0")
    with pytest.raises(locate.DataUnavailableError):
        locate.resolve_data_root(profile=config.get_profile("smoke"), verbose=False)


def test_in_colab_a_download_or_a_path_needs_no_opt_in(offline_in_colab, fake_kagglehub, tmp_path, monkeypatch):
    assert locate.resolve_data_root(tmp_path, verbose=False).kind == "path"
    monkeypatch.setenv(locate.DATA_ENV, str(tmp_path))
    assert locate.resolve_data_root(verbose=False).kind == "env"
    monkeypatch.delenv(locate.DATA_ENV)
    fake_kagglehub.dataset_download = lambda handle: str(tmp_path)
    assert locate.resolve_data_root(verbose=False).kind == "kagglehub"
