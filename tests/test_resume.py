"""Training survives interruption: a killed run resumes after its last completed epoch and finishes.

The classifier (``python -m brainmri train``) and the VAE (``train.load_or_train_vae``) train in a
subprocess killed with SIGKILL once the backup records a second epoch, then the same command runs
again; the checks are on the second life: the log line, one history row per epoch, the
optimizer's step count, and (classifier) weights close to an uninterrupted run. The U-Net is
interrupted in-process by an exception at the same point.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from brainmri.cli import main
from brainmri.data.phantom import ensure_phantom
from brainmri.models.loading import load_classifier
from brainmri.models.unet import build_unet, compile_unet
from brainmri.segmentation import train_unet
from brainmri.train import loop

EPOCHS = 4
PHANTOM_PER_CLASS = 12  # smoke profile: 36 training scans, 12 validation scans, 5 steps of 8 per epoch


def _env() -> dict[str, str]:
    """The smoke profile; deterministic ops, so that two runs with the same seed match epoch for epoch."""
    return {**os.environ, "BRAINMRI_PROFILE": "smoke", "PYTHONUNBUFFERED": "1", "TF_DETERMINISTIC_OPS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2"}


def _run(command: list[str], log: Path) -> None:
    with open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=_env(), timeout=600)
    assert done.returncode == 0, log.read_text()[-3000:]


def _history_rows(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split(",") for line in path.read_text().splitlines()[1:] if line.strip()]


def _backed_up_epoch(run_dir: Path) -> int:
    """Epochs completed according to the backup (0 before the first one is written)."""
    try:
        return json.loads((run_dir / "backup" / "training_metadata.json").read_text())["epoch"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _kill_after_two_epochs(command: list[str], run_dirs, log: Path) -> Path:
    """Start ``command``, SIGKILL it once the backup of a run directory in ``run_dirs()`` records two
    epochs (so their rows are in ``history.csv`` too); return that directory."""
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=_env())
        deadline = time.monotonic() + 600
        while not any(_backed_up_epoch(run_dir) >= 2 for run_dir in run_dirs()):
            assert process.poll() is None, f"training ended before it could be killed:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no second epoch within 10 minutes"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
    return next(run_dir for run_dir in run_dirs() if _backed_up_epoch(run_dir) >= 2)


def _epochs_logged(log: Path) -> list[int]:
    """The epoch numbers Keras printed (``Epoch 3/4``), in order."""
    return [int(line.split()[1].split("/")[0]) for line in log.read_text().splitlines() if line.startswith("Epoch ")]


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("phantom") / "tiny"
    return ensure_phantom(root, per_class=PHANTOM_PER_CLASS, image_size=32)


def _train_command(data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "brainmri", "train", "--data", str(data), "--image-size", "32",
            "--epochs", str(EPOCHS), "--batch-size", "8", "--out", str(out)]


def test_killed_cli_training_resumes_after_its_last_epoch_and_ends_near_an_uninterrupted_run(phantom, tmp_path, capsys):
    run_dir, reference = tmp_path / "run", tmp_path / "reference"
    _kill_after_two_epochs(_train_command(phantom, run_dir), lambda: [run_dir], tmp_path / "first.log")
    assert not (run_dir / "finished.json").exists()
    done = _backed_up_epoch(run_dir)
    assert 2 <= done < EPOCHS

    # A half-written run is refused, with one line naming its directory.
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run_dir / "model.keras"), "--data", str(phantom)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"brainmri evaluate: {run_dir} holds an unfinished run (no finished.json): its training was interrupted "
        "or is still going; run the same training again to resume it"]
    assert len(_history_rows(run_dir / "history.csv")) >= done  # a row may be ahead of the backup

    _run(_train_command(phantom, run_dir), tmp_path / "second.log")
    second = (tmp_path / "second.log").read_text()
    assert f"resuming at epoch {done + 1} of {EPOCHS}" in second
    assert _epochs_logged(tmp_path / "second.log") == list(range(done + 1, EPOCHS + 1))
    assert [int(row[0]) for row in _history_rows(run_dir / "history.csv")] == list(range(EPOCHS))
    assert (run_dir / "finished.json").exists() and not (run_dir / "backup").exists()
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_run"] == EPOCHS

    _run(_train_command(phantom, reference), tmp_path / "reference.log")
    resumed, uninterrupted = load_classifier(run_dir / "model.keras"), load_classifier(reference / "model.keras")
    # The step count drives the learning-rate schedule: it continued instead of restarting.
    assert int(resumed.optimizer.iterations) == int(uninterrupted.optimizer.iterations) == EPOCHS * 5
    # With TensorFlow's deterministic ops the epochs before the kill are the uninterrupted run's.
    before_kill = np.array(_history_rows(run_dir / "history.csv")[:done], float)
    np.testing.assert_allclose(before_kill, np.array(_history_rows(reference / "history.csv")[:done], float),
                               rtol=1e-4)
    # Not exact afterwards: a restored run restarts the shuffling and augmentation random streams
    # from the seed, so its later epochs see other batches and augmentations than the uninterrupted
    # run's (the backup holds weights, optimizer and epoch, not the tf.data iterator). From equal
    # weights, each run then takes at most 2 epochs x 5 AdamW steps, each moving a weight by about
    # the learning rate (at most 2e-3): the two can end at most 2 x 10 x 2e-3 = 0.04 apart per
    # weight (measured here: under 0.01).
    for a, b in zip(resumed.trainable_weights, uninterrupted.trainable_weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=0.04, err_msg=a.path)


VAE_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    from brainmri import train
    x = np.random.default_rng(0).random((48, 16, 16, 1)).astype("float32")
    run = train.load_or_train_vae(x[:40], x[40:], latent_dim=2, epochs={epochs}, batch_size=4, verbose=2)
    print(json.dumps({{"loaded": run.loaded, "path": str(run.path), "epochs": len(run.epoch_seconds),
                      "iterations": int(run.vae.optimizer.iterations)}}))
""")


def test_killed_vae_training_resumes_through_load_or_train_vae(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINMRI_RUNS_DIR", str(tmp_path / "runs"))
    command = [sys.executable, "-c", VAE_SCRIPT.format(epochs=EPOCHS)]
    run_dir = _kill_after_two_epochs(command, lambda: list((tmp_path / "runs").glob("vae/vae-*")),
                                     tmp_path / "first.log")
    done = _backed_up_epoch(run_dir)
    assert not (run_dir / "finished.json").exists()

    _run(command, tmp_path / "second.log")
    second = (tmp_path / "second.log").read_text()
    assert f"resuming at epoch {done + 1} of {EPOCHS}" in second
    assert _epochs_logged(tmp_path / "second.log") == list(range(done + 1, EPOCHS + 1))
    result = json.loads(second.strip().splitlines()[-1])
    assert result == {"loaded": False, "path": str(run_dir / "vae.keras"), "epochs": EPOCHS,
                      "iterations": EPOCHS * 10}  # 40 images in batches of 4: the step count continued
    assert [int(row[0]) for row in _history_rows(run_dir / "history.csv")] == list(range(EPOCHS))

    _run(command, tmp_path / "third.log")
    assert json.loads((tmp_path / "third.log").read_text().strip().splitlines()[-1])["loaded"] is True


class _Interrupt(Exception):
    pass


class _InterruptAfterSecondEpoch(keras.callbacks.Callback):
    """Stands in for a kill: training stops with an exception once epoch 2's backup is written."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise _Interrupt


def _tiny_unet():
    keras.utils.set_random_seed(0)
    return compile_unet(build_unet((16, 16, 1), base_filters=4, depth=2), learning_rate=1e-2)


def test_an_interrupted_unet_run_resumes_then_is_loaded(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    x = rng.random((24, 16, 16, 1)).astype("float32")
    masks = (x[..., 0] > 0.5).astype("uint8")
    arrays = (x[:16], masks[:16], x[16:], masks[16:])
    runs = tmp_path / "unet"
    plain_callbacks = loop.RunState.callbacks
    monkeypatch.setattr(loop.RunState, "callbacks", lambda self: [*plain_callbacks(self), _InterruptAfterSecondEpoch()])
    with pytest.raises(_Interrupt):
        train_unet(_tiny_unet(), *arrays, epochs=EPOCHS, batch_size=8, verbose=0, run_dir=runs)
    monkeypatch.setattr(loop.RunState, "callbacks", plain_callbacks)
    (run_dir,) = runs.iterdir()
    assert not (run_dir / "finished.json").exists() and (run_dir / "backup").is_dir()

    capsys.readouterr()
    model = _tiny_unet()
    history = train_unet(model, *arrays, epochs=EPOCHS, batch_size=8, verbose=0, run_dir=runs)
    assert f"resuming at epoch 3 of {EPOCHS}" in capsys.readouterr().out
    assert len(history["loss"]) == EPOCHS and (run_dir / "finished.json").exists()
    assert int(model.optimizer.iterations) == EPOCHS * 2  # 16 images in batches of 8
    # The cosine schedule continued by epoch: the last epoch ran at the schedule's last rate.
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-2 * 0.5 * (1 + np.cos(np.pi * 3 / EPOCHS)))

    again = _tiny_unet()
    assert train_unet(again, *arrays, epochs=EPOCHS, batch_size=8, verbose=0, run_dir=runs) == history
    for a, b in zip(again.weights, model.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = train_unet(_tiny_unet(), *arrays, epochs=2, batch_size=8, verbose=0, run_dir=runs)
    assert len(other["loss"]) == 2 and len(list(runs.iterdir())) == 2  # other settings: a new run beside it
