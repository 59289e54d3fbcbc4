"""Training: the classifier recipe, the fit loop, the run registry, and load-or-train entry points.

- :mod:`~brainmri.train.recipe`: :class:`Recipe`, :func:`default_recipe`, building and compiling a
  classifier, class weights and the training datasets with their augmentation.
- :mod:`~brainmri.train.loop`: :func:`fit`, the training clock (time budget, epoch times),
  :class:`RunState` (backup and resume), BatchNorm recalibration.
- :mod:`~brainmri.train.registry`: run keys, data fingerprints, the finished mark, finding runs.
- :mod:`~brainmri.train.classifier` and :mod:`~brainmri.train.vae`: ``load_or_train_classifier``
  and ``load_or_train_vae``, which notebooks call to reuse what an earlier notebook or the CLI trained.

Models are built in :func:`brainmri.hardware.model_scope` (re-exported here for callers that build
their own, such as the U-Net and transfer notebooks).
"""

from brainmri.hardware import model_scope
from brainmri.train.classifier import TrainedClassifier, load_or_train_classifier, load_run, train_run
from brainmri.train.loop import RunState, TrainingClock, fit, recalibrate_batchnorm
from brainmri.train.recipe import (
    DEFAULT_ARCH_KWARGS, DEFAULT_ROBUSTNESS, GAMMA_LOG_RANGE, RECIPE_VERSION, Recipe, build_classifier,
    class_weights, compile_classifier, default_recipe, ema_momentum, equalise_histograms, evaluation_dataset,
    random_bias_field, random_gamma, random_histogram_equalisation, random_noise, random_resample,
    training_dataset,
)
from brainmri.train.registry import data_fingerprint, find_run, fingerprint, is_finished, require_finished, run_key
from brainmri.train.vae import VAERun, load_or_train_vae

__all__ = [
    "DEFAULT_ARCH_KWARGS", "DEFAULT_ROBUSTNESS", "GAMMA_LOG_RANGE", "RECIPE_VERSION", "Recipe", "RunState",
    "TrainedClassifier", "TrainingClock", "VAERun", "build_classifier", "class_weights", "compile_classifier",
    "data_fingerprint", "default_recipe", "ema_momentum", "equalise_histograms", "evaluation_dataset", "find_run",
    "fingerprint", "fit", "is_finished", "load_or_train_classifier", "load_or_train_vae", "load_run", "model_scope",
    "random_bias_field", "random_gamma", "random_histogram_equalisation", "random_noise", "random_resample",
    "recalibrate_batchnorm", "require_finished", "run_key", "train_run", "training_dataset",
]
