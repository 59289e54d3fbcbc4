"""Train classifiers: one recipe, one fit helper, shared by the notebooks and ``python -m brainmri train``.

The recipe (:class:`Recipe`) is everything that decides a trained model besides the data:
architecture and its arguments, input size and colour, epochs, optimiser, regularisation. The CLI
and :func:`load_or_train_classifier` build it the same way (:func:`default_recipe`), so a long
run made with the CLI is the model the notebooks later load from ``runs/``.

Robustness comes from three places: the model standardises each scan by its own mean and standard
deviation (inside the model), training sees the data layer's augmentation (flips, small rotations,
zooms and shifts, brightness and contrast jitter clipped to [0, 255]: a brighter, higher-contrast
scan saturates, which standardisation alone cannot undo) plus a random gamma curve.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from brainmri import config, evaluate
from brainmri.benchmarking import peak_memory_mb
from brainmri.data import load_dataset, make_tf_dataset, resolve_data_root
from brainmri.models import DEFAULT_ARCH, build_model

# The best recipe found on the real data (see the closing note of issue 3 and benchmarks/).
DEFAULT_ARCH_KWARGS: dict[str, dict[str, Any]] = {
    "residual_cnn": {"width": 24, "depth": 1, "se_ratio": 0.25, "dropout": 0.3},
}
GAMMA_LOG_RANGE = 0.4  # random gamma in [0.67, 1.49] on top of the data layer's augmentation
RECIPE_VERSION = 1  # bump when a change to the training code changes what a recipe produces


@dataclass(frozen=True)
class Recipe:
    """What, besides the data, decides a trained classifier."""

    task: str = "multiclass"  # "multiclass" | "binary"
    arch: str = "residual_cnn"
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    image_size: int = 128
    color: str = "grayscale"
    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 0.02  # AdamW, decoupled: each step shrinks weights by learning_rate * weight_decay
    warmup_epochs: int = 1
    label_smoothing: float = 0.1
    class_weights: bool = True
    augment: bool = True
    patience: int | None = None  # early stopping on validation loss (None: run every epoch)
    recalibrate_bn: bool = True  # BatchNorm statistics re-estimated on clean training scans after training
    seed: int = config.SEED
    version: int = RECIPE_VERSION

    def __post_init__(self):
        if self.task not in ("multiclass", "binary"):
            raise ValueError(f"task must be 'multiclass' or 'binary', got {self.task!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.image_size < 8:
            raise ValueError(f"epochs and batch_size must be positive and image_size >= 8, got {self}")

    @property
    def channels(self) -> int:
        return 1 if self.color == "grayscale" else 3

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_recipe(profile: config.Profile | None = None, *, task: str = "multiclass", arch: str | None = None,
                   **overrides) -> Recipe:
    """The best recipe, sized by the profile (image size, colour, batch size, epochs).

    ``overrides`` replace any field (``None`` values are ignored, so CLI flags pass straight through).
    """
    profile = profile or config.get_profile()
    arch = arch or DEFAULT_ARCH
    fields = dict(
        task=task, arch=arch, arch_kwargs=dict(DEFAULT_ARCH_KWARGS.get(arch, {})),
        image_size=profile.image_size, color=profile.color, batch_size=profile.batch_size,
        epochs=profile.epochs, seed=config.SEED,
    )
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return Recipe(**fields)


# --- hardware ---------------------------------------------------------------------------------------

def _tpu_requested() -> bool:
    return bool(os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR")) or Path("/dev/accel0").exists()


def strategy():
    """The ``tf.distribute`` strategy for this machine: TPU, several GPUs (mirrored), else the default.

    On a GPU it also turns on the ``mixed_float16`` policy (the builders keep the softmax in float32).
    Build and compile models inside ``strategy().scope()``.
    """

    if _tpu_requested():
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", "local"))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


# --- data -------------------------------------------------------------------------------------------

def data_fingerprint(data) -> str:
    """A short hash of the pixels, labels and class names of the train and validation splits.

    Two processes that load the same dataset with the same settings get the same fingerprint,
    wherever the files live; any change in the images, the split or the size changes it.
    """
    digest = hashlib.sha1()
    for array in (data.x_train, data.y_train, data.x_val, data.y_val):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    digest.update("|".join(data.class_names).encode())
    return digest.hexdigest()[:16]


def class_weights(y: np.ndarray, num_classes: int) -> dict[int, float]:
    """``n / (K * count_k)`` per class, so each class contributes equally to the loss."""
    labels = np.asarray(y).astype(int).ravel()
    counts = np.bincount(labels, minlength=num_classes)
    if (counts == 0).any():
        raise ValueError(f"class_weights: classes {np.flatnonzero(counts == 0).tolist()} have no samples")
    return {k: float(len(labels) / (num_classes * c)) for k, c in enumerate(counts)}


def random_gamma(images, max_log_gamma: float = GAMMA_LOG_RANGE):
    """Raise each image (scaled to [0, 1]) to a random power in ``exp(+-max_log_gamma)``.

    A non-linear change of the intensity curve, which per-image standardisation cannot undo and
    the data layer's brightness and contrast jitter do not cover.
    """
    shape = [tf.shape(images)[0], 1, 1, 1]
    gamma = tf.exp(tf.random.uniform(shape, -max_log_gamma, max_log_gamma))
    return 255.0 * tf.pow(tf.clip_by_value(images / 255.0, 0.0, 1.0), gamma)


def training_dataset(x: np.ndarray, y: np.ndarray, *, num_classes: int, batch_size: int, augment: bool,
                     seed: int = config.SEED) -> tf.data.Dataset:
    """Shuffled batches; with ``augment``, the data layer's augmentation followed by :func:`random_gamma`."""
    ds = make_tf_dataset(x, y, batch_size=batch_size, training=True, num_classes=num_classes, seed=seed,
                         augment=augment)
    if augment:
        ds = ds.map(lambda images, labels: (random_gamma(images), labels), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(x: np.ndarray, y: np.ndarray, *, num_classes: int, batch_size: int) -> tf.data.Dataset:
    return make_tf_dataset(x, y, batch_size=batch_size, training=False, num_classes=num_classes)


# --- fitting ----------------------------------------------------------------------------------------

class TimeBudget(keras.callbacks.Callback):
    """Stop before an epoch that would end past ``minutes`` of training (judged by the mean epoch so far)."""

    def __init__(self, minutes: float):
        super().__init__()
        if minutes <= 0:
            raise ValueError(f"time budget must be positive, got {minutes} minutes")
        self.minutes = minutes
        self.stopped_epoch: int | None = None

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self.start
        if elapsed + elapsed / (epoch + 1) > 60 * self.minutes:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            print(f"time budget: stopping after epoch {epoch + 1} ({elapsed / 60:.1f} of {self.minutes} min)")


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time in seconds (``.seconds``)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def compile_classifier(model, recipe: Recipe, steps_per_epoch: int) -> None:
    """AdamW with linear warm-up and cosine decay; cross-entropy with label smoothing; accuracy and macro F1."""

    total = max(1, recipe.epochs * steps_per_epoch)
    warmup = min(recipe.warmup_epochs * steps_per_epoch, total - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe.learning_rate if warmup == 0 else 0.0,
        decay_steps=total - warmup, alpha=0.01,
        warmup_target=recipe.learning_rate if warmup else None, warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=recipe.weight_decay)
    if recipe.task == "binary":
        loss = keras.losses.BinaryCrossentropy(label_smoothing=recipe.label_smoothing)
        metrics = [keras.metrics.BinaryAccuracy(name="accuracy"),
                   keras.metrics.F1Score(average="macro", threshold=0.5, name="f1"),
                   keras.metrics.AUC(name="auc")]
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy"), keras.metrics.F1Score(average="macro", name="f1")]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)


def _all_layers(layer) -> list:
    """``layer`` and every layer nested in it (functional models can contain models)."""
    return [layer] + [inner for child in getattr(layer, "layers", []) for inner in _all_layers(child)]


def recalibrate_batchnorm(model, x: np.ndarray, *, batch_size: int = 32) -> int:
    """Re-estimate every BatchNormalization layer's moving mean and variance on clean images ``x``.

    During training the moving statistics follow augmented batches (rotated, zoomed, brightened,
    gamma-curved scans), which differ from real scans; at inference that mismatch costs accuracy
    (on the real data, several points; see the closing note of issue 3). One forward pass in
    training mode over un-augmented images, with each layer's momentum set so that the moving value
    becomes the plain average over all batches, fixes it without touching any weight.
    Returns the number of layers recalibrated.
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


def fit(model, data, recipe: Recipe, *, run_dir: str | Path | None = None, time_budget_min: float | None = None,
        verbose: int | str = "auto") -> dict[str, Any]:
    """Compile and train ``model`` on ``data`` (a SplitArrays) with ``recipe``; return a training summary.

    With ``run_dir`` it checkpoints to ``run_dir/model.keras`` (the epoch with the lowest validation
    loss; the last epoch when ``recipe.recalibrate_bn``), writes a per-epoch ``history.csv``, and
    continues with the model reloaded from that checkpoint. With ``recipe.recalibrate_bn`` the
    model's BatchNorm statistics are then re-estimated on the clean training scans
    (:func:`recalibrate_batchnorm`) and the checkpoint overwritten. The
    summary holds ``model``, ``history`` (dict of lists), ``epoch_seconds`` and ``stopped_early``.
    """

    num_classes = len(data.class_names)
    out_classes = 1 if recipe.task == "binary" else num_classes
    train_ds = training_dataset(data.x_train, data.y_train, num_classes=num_classes,
                                batch_size=recipe.batch_size, augment=recipe.augment, seed=recipe.seed)
    val_ds = evaluation_dataset(data.x_val, data.y_val, num_classes=num_classes, batch_size=recipe.batch_size)
    with model.distribute_strategy.scope():
        compile_classifier(model, recipe, math.ceil(len(data.x_train) / recipe.batch_size))
    if model.output_shape[-1] != out_classes:
        raise ValueError(f"model {model.name} has {model.output_shape[-1]} outputs; task {recipe.task} with "
                         f"{num_classes} classes needs {out_classes}")

    timer = EpochTimer()
    callbacks = [timer]
    if recipe.patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=recipe.patience,
                                                       restore_best_weights=True))
    budget = TimeBudget(time_budget_min) if time_budget_min else None
    if budget is not None:
        callbacks.append(budget)
    checkpoint = None
    if run_dir is not None:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = run_dir / "model.keras"
        # Without recalibration, keep the epoch with the lowest validation loss. With it, validation
        # during training uses BatchNorm statistics of augmented batches, which misjudges epochs
        # (on the real data it preferred an epoch several points worse): keep the last epoch.
        callbacks += [keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_loss",
                                                      save_best_only=not recipe.recalibrate_bn),
                      keras.callbacks.CSVLogger(run_dir / "history.csv")]
    weights = class_weights(data.y_train, num_classes) if recipe.class_weights else None
    keras.utils.set_random_seed(recipe.seed)
    history = model.fit(train_ds, validation_data=val_ds, epochs=recipe.epochs, class_weight=weights,
                        callbacks=callbacks, verbose=verbose, shuffle=False)
    if checkpoint is not None:
        model = evaluate.load_classifier(checkpoint)
    if recipe.recalibrate_bn:
        recalibrate_batchnorm(model, data.x_train, batch_size=recipe.batch_size)
        if checkpoint is not None:
            model.save(checkpoint)
    return {
        "model": model,
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "epoch_seconds": timer.seconds,
        "stopped_early": len(timer.seconds) < recipe.epochs,
        "images_per_second": len(data.x_train) / float(np.median(timer.seconds)),
    }


def build_classifier(recipe: Recipe, num_classes: int, *, distribute=None):
    """Build the recipe's architecture inside ``distribute`` (default: :func:`strategy`)'s scope.

    ``num_classes`` counts the class names; a binary task gets one sigmoid unit.
    """

    distribute = distribute or strategy()
    keras.utils.set_random_seed(recipe.seed)
    with distribute.scope():
        return build_model(recipe.arch, input_shape=(recipe.image_size, recipe.image_size, recipe.channels),
                           num_classes=2 if recipe.task == "binary" else num_classes, **recipe.arch_kwargs)


# --- runs on disk -----------------------------------------------------------------------------------

@dataclass
class TrainedClassifier:
    """A trained classifier and what its run directory records."""

    model: Any
    run_dir: Path
    config: dict[str, Any]
    history: dict[str, list[float]]
    metrics: dict[str, Any]

    @property
    def class_names(self) -> list[str]:
        return self.config["class_names"]


def run_key(recipe: Recipe, fingerprint: str) -> str:
    """Identifies a trained model: the recipe and the data it saw."""
    payload = json.dumps({"recipe": recipe.to_dict(), "data": fingerprint}, sort_keys=True)
    return hashlib.sha1(payload.encode()).hexdigest()[:12]


def read_history(path: Path) -> dict[str, list[float]]:
    """``history.csv`` (Keras CSVLogger) as a dict of float lists keyed by column."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {}
    return {key: [float(row[key]) for row in rows] for key in rows[0] if key != "epoch"}


def load_run(run_dir: str | Path) -> TrainedClassifier:
    """Load ``run_dir/model.keras`` with its config, history and metrics."""
    run_dir = Path(run_dir)
    missing = [n for n in ("model.keras", "config.json") if not (run_dir / n).exists()]
    if missing:
        raise FileNotFoundError(f"{run_dir} is not a complete run directory: missing {missing}")
    metrics_path = run_dir / "metrics.json"
    return TrainedClassifier(
        model=evaluate.load_classifier(run_dir / "model.keras"),
        run_dir=run_dir,
        config=json.loads((run_dir / "config.json").read_text()),
        history=read_history(run_dir / "history.csv") if (run_dir / "history.csv").exists() else {},
        metrics=json.loads(metrics_path.read_text()) if metrics_path.exists() else {},
    )


def find_run(key: str, root: Path | None = None) -> Path | None:
    """The newest complete run under ``root`` (default ``runs/``) whose config has ``run_key == key``."""
    root = root or config.runs_dir()
    matches = []
    for config_path in root.glob("**/config.json"):
        try:
            record = json.loads(config_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if record.get("run_key") == key and (config_path.parent / "metrics.json").exists():
            matches.append(config_path.parent)
    return max(matches, key=lambda p: (p / "metrics.json").stat().st_mtime) if matches else None


def train_run(data, recipe: Recipe, run_dir: str | Path, *, time_budget_min: float | None = None,
              verbose: int | str = "auto") -> TrainedClassifier:
    """Train ``recipe`` on ``data`` and write the run directory.

    ``model.keras`` (best epoch), ``history.csv``, ``config.json`` (recipe, class names, data
    fingerprint, run key: what ``evaluate`` and :func:`load_or_train_classifier` need) and
    ``metrics.json`` (validation metrics, epoch times, images per second).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = data_fingerprint(data)
    run_config = {
        "run_key": run_key(recipe, fingerprint), "recipe": recipe.to_dict(), "task": recipe.task,
        "image_size": recipe.image_size, "color": recipe.color, "class_names": list(data.class_names),
        "data_fingerprint": fingerprint, "data_source": str(getattr(data.source, "root", "")),
        "n_train": int(len(data.x_train)), "n_val": int(len(data.x_val)),
        "time_budget_min": time_budget_min,
    }
    (run_dir / "config.json").write_text(json.dumps(run_config, indent=2) + "\n")
    model = build_classifier(recipe, len(data.class_names))
    start = time.perf_counter()
    summary = fit(model, data, recipe, run_dir=run_dir, time_budget_min=time_budget_min, verbose=verbose)
    train_seconds = time.perf_counter() - start
    scores = evaluate.evaluate_model(summary["model"], data.x_val, data.y_val, data.class_names,
                                     batch_size=recipe.batch_size)
    metrics = {
        "split": "validation", **scores,
        "epochs_run": len(summary["epoch_seconds"]), "train_seconds": train_seconds,
        "epoch_seconds": summary["epoch_seconds"], "images_per_second": summary["images_per_second"],
        "parameters": int(summary["model"].count_params()), "peak_memory_mb": peak_memory_mb(),
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return TrainedClassifier(summary["model"], run_dir, run_config, summary["history"], metrics)


def load_or_train_classifier(data, *, task: str = "multiclass", arch: str | None = None,
                             profile: config.Profile | None = None, time_budget_min: float | None = None,
                             verbose: int | str = "auto", **overrides) -> TrainedClassifier:
    """The classifier trained with the default recipe on ``data``: loaded from ``runs/`` if one exists.

    The recipe is :func:`default_recipe` for the profile (``overrides`` change fields); a run
    matches when its recipe and the data fingerprint are the same, whether a notebook or
    ``python -m brainmri train`` wrote it. Otherwise it trains (and saves) the model first, into
    ``runs/classifier/<task>-<arch>-<key>``.
    """
    recipe = default_recipe(profile, task=task, arch=arch, **overrides)
    _check_task(data, task)
    key = run_key(recipe, data_fingerprint(data))
    found = find_run(key)
    if found is not None:
        print(f"loading the classifier trained in {found}")
        return load_run(found)
    run_dir = config.runs_dir() / "classifier" / f"{task}-{recipe.arch}-{key}"
    print(f"no trained {recipe.arch} for this data and recipe; training it into {run_dir}")
    return train_run(data, recipe, run_dir, time_budget_min=time_budget_min, verbose=verbose)


def _check_task(data, task: str) -> None:
    binary_data = list(data.class_names) == ["notumor", "tumor"]
    if (task == "binary") != binary_data:
        raise ValueError(f"task {task!r} does not match data with classes {list(data.class_names)}; "
                         f"load the data with task={task!r}")


# --- CLI --------------------------------------------------------------------------------------------

def train_command(args: argparse.Namespace) -> int:
    """``python -m brainmri train``: load the data, train the recipe, write the run directory."""
    profile = config.get_profile()
    recipe = default_recipe(profile, task=args.task, arch=args.arch, image_size=args.image_size,
                            color=args.color, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    source = resolve_data_root(args.data)
    data = load_dataset(source, image_size=recipe.image_size, color=recipe.color, task=recipe.task,
                        val_fraction=profile.val_fraction, seed=recipe.seed, max_per_class=profile.max_per_class)
    print(f"training {recipe.arch} {recipe.arch_kwargs} on {len(data.x_train)} scans, validating on "
          f"{len(data.x_val)}; {recipe.epochs} epochs at {recipe.image_size}px {recipe.color}", flush=True)
    result = train_run(data, recipe, args.out, time_budget_min=args.time_budget_min, verbose=2)
    m = result.metrics
    print(json.dumps({k: m[k] for k in ("accuracy", "macro_f1", "binary_accuracy", "epochs_run", "train_seconds",
                                        "images_per_second", "peak_memory_mb") if k in m}, indent=2))
    print(f"wrote {Path(args.out) / 'model.keras'}")
    return 0
