"""The fit loop: callbacks every trainer shares, BatchNorm recalibration, and :func:`fit` for classifiers.

Every trainer given a run directory (classifier, VAE, conditional VAE, U-Net, transfer stages)
trains through :class:`RunState`, which makes it resumable: Keras's ``BackupAndRestore`` keeps
weights, optimizer (hence the step count that drives the learning-rate schedules) and epoch in
``run_dir/backup/`` at the end of every epoch; ``history.csv`` is appended to, cut back to the
restored epoch first so that each epoch appears once; the training clock, which enforces the time
budget, keeps the seconds of earlier lives, so a budget counts all of them.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from brainmri.models.loading import load_classifier
from brainmri.train.recipe import Recipe, class_weights, compile_classifier, evaluation_dataset, training_dataset
from brainmri.train.registry import BACKUP, is_finished, read_history, write_json_atomic

HISTORY = "history.csv"


class TrainingClock(keras.callbacks.Callback):
    """Each epoch's wall time (``.seconds``) and, with ``budget_min``, the time budget.

    The budget rule, the same for every trainer: stop before an epoch that would end past
    ``budget_min`` minutes of training, judged by the mean epoch so far. With ``state_path`` the
    epoch times are saved after every epoch and the first ``completed_epochs`` of them restored,
    so the budget continues across restarts instead of starting again.
    """

    def __init__(self, budget_min: float | None = None, *, state_path: Path | None = None,
                 completed_epochs: int = 0):
        super().__init__()
        if budget_min is not None and budget_min <= 0:
            raise ValueError(f"time budget must be positive, got {budget_min} minutes")
        self.budget_min, self.state_path = budget_min, state_path
        saved = json.loads(state_path.read_text()) if state_path is not None and state_path.exists() else {}
        self.seconds: list[float] = saved.get("epoch_seconds", [])[:completed_epochs]
        self.stopped_epoch: int | None = None

    @property
    def budget_spent(self) -> bool:
        """Whether another epoch (of the mean length so far) would end past the budget."""
        if self.budget_min is None or not self.seconds:
            return False
        elapsed = sum(self.seconds)
        return elapsed + elapsed / len(self.seconds) > 60 * self.budget_min

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        if self.state_path is not None:
            write_json_atomic(self.state_path, {"epoch_seconds": self.seconds})
        if self.budget_spent:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            print(f"time budget: stopping after epoch {epoch + 1} ({sum(self.seconds) / 60:.1f} of "
                  f"{self.budget_min} min)")


class _ClearRestoredEpoch(keras.callbacks.Callback):
    """``BackupAndRestore`` leaves the restored epoch on the model (``_initial_epoch``), where the next
    ``fit`` of the same model (a transfer model's second stage) would start from it; clear it."""

    def on_train_end(self, logs=None):
        self.model._initial_epoch = None


def backed_up_epochs(run_dir: Path) -> int:
    """Epochs completed according to the backup in ``run_dir`` (0 without one).

    ``BackupAndRestore`` writes the weights, then ``training_metadata.json``; a kill during the
    second write leaves it damaged, and then both files fall back to the previous generation
    (``*.bkp``, kept with ``double_checkpoint``).
    """
    backup = Path(run_dir) / BACKUP
    metadata = backup / "training_metadata.json"
    if not metadata.exists():
        return 0
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (json.JSONDecodeError, KeyError):
        previous = backup / "training_metadata.json.bkp"
        if not previous.exists():
            raise ValueError(f"{metadata} is damaged and there is no earlier backup; delete {backup} to train "
                             "from the first epoch") from None
        shutil.copyfile(backup / "latest.weights.h5.bkp", backup / "latest.weights.h5")
        shutil.copyfile(previous, metadata)
        return int(json.loads(metadata.read_text())["epoch"])


def trim_history(path: Path, epochs: int) -> None:
    """Keep the header and the rows of the first ``epochs`` epochs of a CSVLogger file."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if line.strip() and int(line.split(",", 1)[0]) < epochs]
    path.write_text("".join(kept) if epochs else "")


class RunState:
    """The resumable part of training in ``run_dir`` for ``epochs`` epochs (see the module docstring).

    Pass :meth:`callbacks` to ``Model.fit`` and :attr:`epochs_to_run` as its ``epochs``. The backup
    is kept after training ends (a run killed before it is marked finished restores its last epoch
    instead of training again); :func:`brainmri.train.registry.mark_finished` removes it.
    """

    def __init__(self, run_dir: str | Path, epochs: int, *, time_budget_min: float | None = None):
        self.run_dir, self.epochs = Path(run_dir), epochs
        if is_finished(self.run_dir):
            raise ValueError(f"{self.run_dir} holds a finished run; train into another directory")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.start = min(backed_up_epochs(self.run_dir), epochs)
        trim_history(self.history_path, self.start)
        self.clock = TrainingClock(time_budget_min, state_path=self.run_dir / BACKUP / "clock.json",
                                   completed_epochs=self.start)
        if self.start:
            print(f"resuming at epoch {self.start + 1} of {epochs} from the backup in {self.run_dir / BACKUP}"
                  if self.start < epochs else f"all {epochs} epochs were done before the interruption; "
                  f"restoring them from {self.run_dir / BACKUP}", flush=True)

    @property
    def history_path(self) -> Path:
        return self.run_dir / HISTORY

    @property
    def epochs_to_run(self) -> int:
        """``epochs``, or the restored epoch when the budget was already spent (fit then only restores)."""
        return self.start if self.clock.budget_spent else self.epochs

    def callbacks(self) -> list[keras.callbacks.Callback]:
        (self.run_dir / BACKUP).mkdir(exist_ok=True)
        return [self.clock, keras.callbacks.CSVLogger(self.history_path, append=True),
                # Two generations: a kill while the weights are being written leaves the previous one.
                keras.callbacks.BackupAndRestore(self.run_dir / BACKUP, double_checkpoint=True,
                                                 delete_checkpoint=False),
                _ClearRestoredEpoch()]

    def history(self) -> dict[str, list[float]]:
        """Every epoch's logs so far, earlier lives included."""
        return read_history(self.history_path)


def _all_layers(layer) -> list:
    """``layer`` and every layer nested in it (functional models can contain models)."""
    return [layer] + [inner for child in getattr(layer, "layers", []) for inner in _all_layers(child)]


def recalibrate_batchnorm(model, x: np.ndarray, *, batch_size: int = 32) -> int:
    """Re-estimate every BatchNormalization layer's moving mean and variance on clean images ``x``.

    During training the moving statistics follow augmented batches (rotated, zoomed, brightened,
    gamma-curved scans), which differ from real scans; at inference that mismatch costs accuracy
    (on the real data, several points). One forward pass in training mode over un-augmented images,
    with each layer's momentum set so that the moving value becomes the plain average over all
    batches, fixes it without touching any weight. Returns the number of layers recalibrated.
    """
    norms = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return 0
    momenta = [layer.momentum for layer in norms]
    batches = tf.data.Dataset.from_tensor_slices(np.asarray(x)).batch(batch_size)
    try:
        for k, images in enumerate(batches):
            for layer in norms:
                layer.momentum = k / (k + 1)  # moving <- (k * moving + batch) / (k + 1): a running mean
            model(tf.cast(images, tf.float32), training=True)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
    return len(norms)


def _best_checkpoint(run: RunState, path: Path) -> keras.callbacks.ModelCheckpoint:
    """Keep the epoch with the lowest validation loss, earlier lives included."""
    earlier = run.history().get("val_loss", [])
    return keras.callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True,
                                           initial_value_threshold=min(earlier) if earlier else None)


def fit(model, data, recipe: Recipe, *, run_dir: str | Path | None = None, time_budget_min: float | None = None,
        verbose: int | str = "auto") -> dict[str, Any]:
    """Compile and train ``model`` on ``data`` (a SplitArrays) with ``recipe``; return a training summary.

    The summary holds ``model`` (the object passed in, trained), ``history`` (dict of lists),
    ``epoch_seconds``, ``stopped_early`` and ``images_per_second``. With ``recipe.recalibrate_bn``
    the BatchNorm statistics are re-estimated on the clean training scans after the last epoch
    (:func:`recalibrate_batchnorm`). Without it the model ends with the weights of the epoch with
    the lowest validation loss. (With recalibration, validation during training uses statistics of
    augmented batches, which misjudges epochs: on the real data it preferred an epoch several
    points worse, so the last epoch is kept.)

    With ``run_dir`` training is resumable (:class:`RunState`: a second call with the same
    arguments continues after the last completed epoch) and the model is saved to
    ``run_dir/model.keras``.
    """
    num_classes = len(data.class_names)
    out_classes = 1 if recipe.task == "binary" else num_classes
    if model.output_shape[-1] != out_classes:
        raise ValueError(f"model {model.name} has {model.output_shape[-1]} outputs; task {recipe.task} with "
                         f"{num_classes} classes needs {out_classes}")
    train_ds = training_dataset(data.x_train, data.y_train, num_classes=num_classes,
                                batch_size=recipe.batch_size, augment=recipe.augment, seed=recipe.seed,
                                head_crop=recipe.head_crop, resample=recipe.resample, noise_sigma=recipe.noise_sigma,
                                bias_field=recipe.bias_field, hist_eq=recipe.hist_eq)
    val_ds = evaluation_dataset(data.x_val, data.y_val, num_classes=num_classes, batch_size=recipe.batch_size)
    with model.distribute_strategy.scope():
        compile_classifier(model, recipe, math.ceil(len(data.x_train) / recipe.batch_size))

    run = RunState(run_dir, recipe.epochs, time_budget_min=time_budget_min) if run_dir is not None else None
    clock = run.clock if run else TrainingClock(time_budget_min)
    callbacks = run.callbacks() if run else [clock]
    best_path = Path(run_dir) / "best.keras" if run and not recipe.recalibrate_bn else None
    if best_path is not None:
        callbacks.append(_best_checkpoint(run, best_path))
    if recipe.patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=recipe.patience,
                                                       restore_best_weights=True))
    weights = class_weights(data.y_train, num_classes) if recipe.class_weights else None
    keras.utils.set_random_seed(recipe.seed)
    history = model.fit(train_ds, validation_data=val_ds, epochs=run.epochs_to_run if run else recipe.epochs,
                        class_weight=weights, callbacks=callbacks, verbose=verbose, shuffle=False)
    if best_path is not None and best_path.exists():
        model.set_weights(load_classifier(best_path).get_weights())
    if recipe.recalibrate_bn:
        recalibrate_batchnorm(model, data.x_train, batch_size=recipe.batch_size)
    if run is not None:
        model.save(Path(run_dir) / "model.keras")
    return {
        "model": model,
        "history": run.history() if run else {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "epoch_seconds": list(clock.seconds),
        "stopped_early": len(clock.seconds) < recipe.epochs,
        "images_per_second": len(data.x_train) / float(np.median(clock.seconds)) if clock.seconds else None,
    }
