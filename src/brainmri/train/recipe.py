"""The classifier recipe: everything besides the data that decides a trained classifier.

The recipe (:class:`Recipe`) names the architecture and its arguments, input size and colour,
epochs, optimiser and regularisation. The CLI and :func:`brainmri.train.load_or_train_classifier`
build it the same way (:func:`default_recipe`), so a long run made with the CLI is the model the
notebooks later find in the run registry.

Robustness comes from the model, which standardises each scan by its own mean and standard
deviation, and from training augmentation: the data layer's (flips, small rotations, zooms and
shifts, brightness and contrast jitter clipped to [0, 255]: a brighter, higher-contrast scan
saturates, which standardisation alone cannot undo), a random gamma curve and, in the default
recipe (:data:`DEFAULT_ROBUSTNESS`), crops to the head, a smooth bias field, partial histogram
equalisation, down- and re-sampling and additive noise: the framing, shading, intensity curve,
resolution and noise of copies re-processed by other pipelines. The default recipe
also averages the weights (an exponential moving average) over the last part of training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from brainmri import config
from brainmri.data import make_tf_dataset
from brainmri.hardware import jit_compile, model_scope
from brainmri.models import DEFAULT_ARCH, build_model

# The best recipe found on the real data (see benchmarks/bench_train_real.py).
DEFAULT_ARCH_KWARGS: dict[str, dict[str, Any]] = {
    "residual_cnn": {"width": 24, "depth": 1, "se_ratio": 0.25, "dropout": 0.3},
}
# Augmentation and weight averaging of the default recipe (the Recipe's own defaults leave them off).
DEFAULT_ROBUSTNESS: dict[str, Any] = {"head_crop": 0.5, "resample": 3.0, "noise_sigma": 10.0, "bias_field": 0.6,
                                      "hist_eq": 0.5, "ema_momentum": 0.999}
GAMMA_LOG_RANGE = 0.4  # random gamma in [0.67, 1.49] on top of the data layer's augmentation
# The classifier's code version, part of every run key: bump it when a change to the training code
# changes what a recipe produces, so that runs trained before the change are no longer reused.
RECIPE_VERSION = 1


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
    head_crop: float = 0.0  # share of training scans cropped to their head (brainmri.data.pipeline.random_head_crop)
    resample: float = 1.0  # a third of training scans down- and re-sampled by a factor drawn from [1, resample]
    noise_sigma: float = 0.0  # additive Gaussian noise, sigma drawn per training scan from [0, noise_sigma]
    bias_field: float = 0.0  # smooth multiplicative field, log amplitude drawn per training scan from [0, bias_field]
    hist_eq: float = 0.0  # share of training scans blended with their histogram-equalised copy (random weight)
    ema_momentum: float | None = None  # final weights: their moving average (at most over the last tenth of steps)
    patience: int | None = None  # early stopping on validation loss (None: run every epoch)
    recalibrate_bn: bool = True  # BatchNorm statistics re-estimated on clean training scans after training
    seed: int = config.SEED
    version: int = RECIPE_VERSION

    def __post_init__(self):
        if self.task not in ("multiclass", "binary"):
            raise ValueError(f"task must be 'multiclass' or 'binary', got {self.task!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.image_size < 8:
            raise ValueError(f"epochs and batch_size must be positive and image_size >= 8, got {self}")
        if (not 0 <= self.head_crop <= 1 or self.resample < 1 or self.noise_sigma < 0 or self.bias_field < 0
                or not 0 <= self.hist_eq <= 1):
            raise ValueError(f"need head_crop in [0, 1], resample >= 1, noise_sigma >= 0, bias_field >= 0 and hist_eq "
                             f"in [0, 1], got {self.head_crop}, {self.resample}, {self.noise_sigma}, {self.bias_field}, "
                             f"{self.hist_eq}")
        if self.ema_momentum is not None and not 0 < self.ema_momentum < 1:
            raise ValueError(f"ema_momentum must lie in (0, 1) or be None, got {self.ema_momentum}")

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
        epochs=profile.epochs, seed=config.SEED, **DEFAULT_ROBUSTNESS,
    )
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return Recipe(**fields)


def build_classifier(recipe: Recipe, num_classes: int, *, distribute=None):
    """Build the recipe's architecture in :func:`brainmri.hardware.model_scope` (strategy and dtype policy).

    ``num_classes`` counts the class names; a binary task gets one sigmoid unit. ``distribute``
    replaces the machine's strategy (a test's two-device ``MirroredStrategy``, say).
    """
    keras.utils.set_random_seed(recipe.seed)
    with model_scope(distribute=distribute):
        return build_model(recipe.arch, input_shape=(recipe.image_size, recipe.image_size, recipe.channels),
                           num_classes=2 if recipe.task == "binary" else num_classes, **recipe.arch_kwargs)


def compile_classifier(model, recipe: Recipe, steps_per_epoch: int) -> None:
    """AdamW with linear warm-up and cosine decay; cross-entropy with label smoothing; accuracy and macro F1.

    The schedule is a function of the optimizer's step count, which a restored backup carries, so
    a resumed run continues the same curve.
    """
    total = max(1, recipe.epochs * steps_per_epoch)
    warmup = min(recipe.warmup_epochs * steps_per_epoch, total - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe.learning_rate if warmup == 0 else 0.0,
        decay_steps=total - warmup, alpha=0.01,
        warmup_target=recipe.learning_rate if warmup else None, warmup_steps=warmup,
    )
    momentum = ema_momentum(recipe.ema_momentum, total)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=recipe.weight_decay, use_ema=momentum is not None,
                                       ema_momentum=momentum or 0.99)
    if recipe.task == "binary":
        loss = keras.losses.BinaryCrossentropy(label_smoothing=recipe.label_smoothing)
        metrics = [keras.metrics.BinaryAccuracy(name="accuracy"),
                   keras.metrics.F1Score(average="macro", threshold=0.5, name="f1"),
                   keras.metrics.AUC(name="auc")]
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy"), keras.metrics.F1Score(average="macro", name="f1")]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit_compile())


def ema_momentum(momentum: float | None, total_steps: int) -> float | None:
    """The moving average's momentum, capped so that it averages at most the last tenth of training.

    An average over ``1 / (1 - momentum)`` steps: 0.999 averages about 1,000 steps, which in a short
    run would reach back to the untrained start. ``None`` when averaging is off or the run too short.
    """
    if momentum is None:
        return None
    capped = min(momentum, 1.0 - 10.0 / total_steps)
    return capped if capped > 0 else None


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


def random_resample(images, max_factor: float, share: float = 1 / 3):
    """A random ``share`` of the scans down-sampled (area) by one factor from ``[1, max_factor]`` and resized back.

    The blur of a low-resolution acquisition or a thumbnail scaled up; one factor per batch keeps it
    a single resize.
    """
    size = tf.shape(images)[1:3]
    factor = tf.random.uniform([], 1.0, max_factor)
    small = tf.maximum(1, tf.cast(tf.math.round(tf.cast(size, tf.float32) / factor), tf.int32))
    blurred = tf.image.resize(tf.image.resize(images, small, method="area"), size, method="bilinear")
    chosen = tf.random.uniform([tf.shape(images)[0], 1, 1, 1]) < share
    return tf.where(chosen, blurred, images)


def random_noise(images, max_sigma: float):
    """Additive Gaussian noise, its sigma drawn per scan from ``[0, max_sigma]`` grey levels, clipped to [0, 255]."""
    sigma = tf.random.uniform([tf.shape(images)[0], 1, 1, 1], 0.0, max_sigma)
    return tf.clip_by_value(images + sigma * tf.random.normal(tf.shape(images)), 0.0, 255.0)


def random_bias_field(images, max_log_amplitude: float, grid: int = 3):
    """Each scan multiplied by ``exp(a * field)``: ``field`` a smooth random surface in [-1, 1] (a ``grid`` x
    ``grid`` of Gaussian values resized bicubically), ``a`` drawn per scan from ``[0, max_log_amplitude]``;
    clipped to [0, 255]. The slow shading of an uncorrected coil sensitivity, which per-scan
    standardisation cannot undo.
    """
    shape = tf.shape(images)
    coarse = tf.random.normal([shape[0], grid, grid, 1])
    surface = tf.image.resize(coarse, shape[1:3], method="bicubic")
    surface /= tf.maximum(tf.reduce_max(tf.abs(surface), axis=[1, 2, 3], keepdims=True), 1e-6)
    amplitude = tf.random.uniform([shape[0], 1, 1, 1], 0.0, max_log_amplitude)
    return tf.clip_by_value(images * tf.exp(amplitude * surface), 0.0, 255.0)


def equalise_histograms(images):
    """Global histogram equalisation of each scan over 256 grey levels, as OpenCV's ``equalizeHist`` does it.

    Levels are the pixels rounded to integers; the lookup table maps a level to
    ``round(255 * (cdf - cdf_first) / (n - cdf_first))``, ``cdf_first`` the count of the darkest level
    present; a scan of a single level is left as it is. All channels of a scan share one histogram.
    """
    shape = tf.shape(images)
    batch = shape[0]
    levels = tf.reshape(tf.cast(tf.clip_by_value(tf.round(images), 0.0, 255.0), tf.int32), [batch, -1])
    offsets = 256 * tf.range(batch)[:, None]
    counts = tf.math.bincount(tf.reshape(levels + offsets, [-1]), minlength=256 * batch, maxlength=256 * batch)
    cdf = tf.cumsum(tf.reshape(counts, [batch, 256]), axis=1)
    darkest = tf.gather(cdf, tf.argmax(cdf > 0, axis=1, output_type=tf.int32)[:, None], batch_dims=1)
    spread = cdf[:, -1:] - darkest
    scale = 255.0 / tf.cast(tf.maximum(spread, 1), tf.float32)
    table = tf.clip_by_value(tf.round(tf.cast(cdf - darkest, tf.float32) * scale), 0.0, 255.0)
    equalised = tf.where(spread > 0, tf.gather(table, levels, batch_dims=1), tf.cast(levels, tf.float32))
    return tf.reshape(equalised, shape)


def random_histogram_equalisation(images, share: float):
    """A random ``share`` of the scans blended with their :func:`equalise_histograms` copy, the blend
    weight drawn per scan from [0, 1]: the flattened, re-stretched intensity curve of a pipeline that
    equalises, which neither standardisation nor a gamma curve reproduces.
    """
    shape = [tf.shape(images)[0], 1, 1, 1]
    weight = tf.random.uniform(shape) * tf.cast(tf.random.uniform(shape) < share, tf.float32)
    return images + weight * (equalise_histograms(images) - images)


def training_dataset(x: np.ndarray, y: np.ndarray, *, num_classes: int, batch_size: int, augment: bool,
                     seed: int = config.SEED, head_crop: float = 0.0, resample: float = 1.0,
                     noise_sigma: float = 0.0, bias_field: float = 0.0, hist_eq: float = 0.0) -> tf.data.Dataset:
    """Shuffled batches; with ``augment``, the data layer's augmentation (with ``head_crop``) followed by
    :func:`random_gamma`, :func:`random_bias_field` (when ``bias_field`` > 0),
    :func:`random_histogram_equalisation` (when ``hist_eq`` > 0), :func:`random_resample`
    (when ``resample`` > 1) and :func:`random_noise` (when ``noise_sigma`` > 0), in the order a scan meets them."""
    ds = make_tf_dataset(x, y, batch_size=batch_size, training=True, num_classes=num_classes, seed=seed,
                         augment=augment, head_crop=head_crop)
    if augment:
        ds = ds.map(lambda images, labels: (random_gamma(images), labels), num_parallel_calls=tf.data.AUTOTUNE)
    if augment and bias_field > 0:
        ds = ds.map(lambda images, labels: (random_bias_field(images, bias_field), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    if augment and hist_eq > 0:
        ds = ds.map(lambda images, labels: (random_histogram_equalisation(images, hist_eq), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    if augment and resample > 1:
        ds = ds.map(lambda images, labels: (random_resample(images, resample), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    if augment and noise_sigma > 0:
        ds = ds.map(lambda images, labels: (random_noise(images, noise_sigma), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(x: np.ndarray, y: np.ndarray, *, num_classes: int, batch_size: int) -> tf.data.Dataset:
    return make_tf_dataset(x, y, batch_size=batch_size, training=False, num_classes=num_classes)
