"""The run registry: keys, the finished mark, finding runs (the committed classifier included)."""

import json
import shutil

import pytest

from brainmri import config, train
from brainmri.train import loop, registry

COMMITTED = config.project_root() / "models" / "residual_cnn_128_robust"  # the default recipe's run


def _committed_config() -> dict:
    return json.loads((COMMITTED / "config.json").read_text())


def test_the_committed_classifier_keeps_its_key_and_is_found_in_models():
    record = _committed_config()
    assert registry.run_key(record["recipe"], record["data_fingerprint"]) == record["run_key"]
    assert record["recipe"]["version"] == train.RECIPE_VERSION
    assert registry.find_run(record["run_key"]) == COMMITTED  # runs/ (a temporary folder here) has none
    assert train.default_recipe(config.get_profile("default")).to_dict() == record["recipe"]  # notebooks load it


def test_a_time_budget_is_part_of_the_key():
    recipe = train.default_recipe(config.get_profile("smoke")).to_dict()
    keys = {registry.run_key(recipe, "data"), registry.run_key(recipe, "data", 2.5),
            registry.run_key(recipe, "data", 5), registry.run_key(recipe, "other")}
    assert len(keys) == 4
    assert registry.run_key(recipe, "data", 5) == registry.run_key(recipe, "data", 5.0)


def test_vae_settings_given_as_integers_name_the_same_run():
    from brainmri.train.vae import vae_settings

    common = dict(filters=(16, 32), latent_dim=8, latent_channels=0, epochs=2, batch_size=4, reconstruction="gaussian",
                  num_classes=0, seed=1)
    as_ints = vae_settings(32, beta=1, kl_warmup_epochs=2, ssim_weight=1, **common)
    as_floats = vae_settings(32, beta=1.0, kl_warmup_epochs=2.0, ssim_weight=1.0, **common)
    assert registry.run_key(as_ints, "data") == registry.run_key(as_floats, "data")
    assert registry.run_key(vae_settings(32, beta=1, kl_warmup_epochs=2, ssim_weight=3, **common), "data") \
        != registry.run_key(as_ints, "data")


def _run_copy(tmp_path, finished: bool):
    run_dir = tmp_path / "runs" / "classifier" / "copy"
    shutil.copytree(COMMITTED, run_dir)
    if not finished:
        (run_dir / "finished.json").unlink()
    return run_dir


def test_an_unfinished_run_is_skipped_and_refused(tmp_path, capsys):
    run_dir = _run_copy(tmp_path, finished=False)
    key = _committed_config()["run_key"]
    assert registry.find_run(key, roots=[tmp_path / "runs"]) is None
    assert capsys.readouterr().out.strip() == f"skipping the unfinished run in {run_dir} (no finished.json)"
    with pytest.raises(ValueError, match=f"^{run_dir} holds an unfinished run"):
        train.load_run(run_dir)
    registry.mark_finished(run_dir, "model.keras")
    assert registry.find_run(key, roots=[tmp_path / "runs"]) == run_dir


def test_an_unreadable_config_is_skipped_with_a_line_naming_it(tmp_path, capsys):
    run_dir = _run_copy(tmp_path, finished=True)
    damaged = tmp_path / "runs" / "damaged" / "config.json"
    damaged.parent.mkdir()
    damaged.write_text("{not json")
    assert registry.find_run(_committed_config()["run_key"], roots=[tmp_path / "runs"]) == run_dir
    assert capsys.readouterr().out.startswith(f"skipping {damaged}: unreadable")


def test_load_run_checks_the_model_against_its_config(tmp_path):
    run_dir = _run_copy(tmp_path, finished=True)
    run = train.load_run(run_dir)
    assert run.class_names == ["glioma", "meningioma", "notumor", "pituitary"] and run.metrics["accuracy"] > 0.9
    record = _committed_config()
    (run_dir / "config.json").write_text(json.dumps({**record, "class_names": record["class_names"][:3]}))
    with pytest.raises(ValueError, match="disagrees with its model: the model has 4 outputs for the config's 3"):
        train.load_run(run_dir)
    (run_dir / "model.keras").write_bytes(b"PK not a model")
    with pytest.raises(ValueError, match="cannot load model file"):
        train.load_run(run_dir)


def test_start_run_refuses_another_run_or_a_finished_one(tmp_path):
    run_dir = _run_copy(tmp_path, finished=True)
    with pytest.raises(ValueError, match="already holds another run"):
        registry.start_run(run_dir, {"run_key": "0123456789ab"})
    with pytest.raises(ValueError, match="already holds this run, finished"):
        registry.start_run(run_dir, _committed_config())
    with pytest.raises(ValueError, match="holds a finished run"):
        loop.RunState(run_dir, epochs=3)


def test_mark_finished_is_last_and_atomic(tmp_path):
    (tmp_path / "backup").mkdir()
    with pytest.raises(FileNotFoundError, match="model.keras is missing"):
        registry.mark_finished(tmp_path, "model.keras")
    assert not registry.is_finished(tmp_path)
    (tmp_path / "model.keras").write_bytes(b"model")
    registry.mark_finished(tmp_path, "model.keras")
    assert registry.is_finished(tmp_path) and not (tmp_path / "backup").exists()
    assert json.loads((tmp_path / "finished.json").read_text())["model"] == "model.keras"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["finished.json", "model.keras"]  # no temporary file


def test_trim_history_keeps_each_epoch_before_the_restored_one_once(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,1.0\n1,0.8\n2,0.7\n")  # killed after logging epoch 2, before backing it up
    loop.trim_history(path, 2)
    assert path.read_text() == "epoch,loss\n0,1.0\n1,0.8\n"
    assert registry.read_history(path) == {"loss": [1.0, 0.8]}
    loop.trim_history(path, 0)
    assert path.read_text() == "" and registry.read_history(path) == {}


def test_a_backup_damaged_by_a_kill_falls_back_to_the_previous_generation(tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    assert loop.backed_up_epochs(tmp_path) == 0
    (backup / "training_metadata.json").write_text('{"epoch": 3, "ba')  # killed while writing
    with pytest.raises(ValueError, match="damaged and there is no earlier backup"):
        loop.backed_up_epochs(tmp_path)
    (backup / "training_metadata.json.bkp").write_text('{"epoch": 2, "batch": 0}')
    (backup / "latest.weights.h5.bkp").write_bytes(b"epoch 2 weights")
    (backup / "latest.weights.h5").write_bytes(b"epoch 3 weights")
    assert loop.backed_up_epochs(tmp_path) == 2
    assert (backup / "latest.weights.h5").read_bytes() == b"epoch 2 weights"
