"""Short training runs to compare architectures and to sweep the residual CNN's hyperparameters.

Both are screening tools: a few epochs on a class-balanced subset, scored on a class-balanced
part of the validation split. They rank settings cheaply; the chosen recipe is then trained properly (:mod:`brainmri.train`).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
import types
from typing import Any

import numpy as np

from brainmri import config, evaluate, train
from brainmri.data.split import examples_per_class
from brainmri.models import build_model

SEARCH_SPACE: dict[str, list] = {
    "width": [16, 24, 32],  # width 8 crashed TensorFlow 2.21 (oneDNN heap corruption) on real data
    "depth": [1, 2],
    "se_ratio": [0.0, 0.25],
    "dropout": [0.0, 0.3, 0.5],
    "learning_rate": [1e-3, 3e-3],
}
ARCH_PARAMS = ("width", "depth", "se_ratio", "dropout")


def screening_budget(profile: config.Profile) -> tuple[int, int, int]:
    """Epochs, training scans per class and validation scans per class for a screening run:
    a fifth of the profile's epochs (at least one), at most 100 training and 50 validation scans
    per class (or the profile's cap, if smaller)."""
    cap = profile.max_per_class or 100
    return max(1, round(profile.epochs / 5)), min(100, cap), min(50, cap)


def sample_trials(n: int, space: dict[str, list] = SEARCH_SPACE, seed: int = config.SEED) -> list[dict[str, Any]]:
    """``n`` distinct settings drawn at random (seeded) from the grid ``space``."""
    grid = [dict(zip(space, values)) for values in itertools.product(*space.values())]
    if not 1 <= n <= len(grid):
        raise ValueError(f"cannot draw {n} distinct trials from a grid of {len(grid)} settings")
    picks = np.random.default_rng(seed).choice(len(grid), size=n, replace=False)
    return [grid[i] for i in picks]


def _kept(y: np.ndarray, per_class: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indexes of at most ``per_class`` scans of each class (all without a cap), drawn from ``rng``."""
    return np.arange(len(y)) if per_class is None else np.sort(examples_per_class(y, per_class, rng))


def balanced_subset(data, per_class: int | None, val_per_class: int | None = None, seed: int = config.SEED):
    """``data`` with at most ``per_class`` training and ``val_per_class`` validation scans per class."""
    if per_class is None and val_per_class is None:
        return data
    rng = np.random.default_rng(seed)  # one stream: the validation picks follow the training picks
    train_keep = _kept(data.y_train, per_class, rng)
    val_keep = _kept(data.y_val, val_per_class, rng)
    return types.SimpleNamespace(x_train=data.x_train[train_keep], y_train=data.y_train[train_keep],
                                 x_val=data.x_val[val_keep], y_val=data.y_val[val_keep],
                                 class_names=list(data.class_names), source=data.source)


def parameter_count(arch: str, input_shape: tuple[int, int, int], num_classes: int = 4, **kwargs) -> int:
    """Trainable and non-trainable parameters of ``arch`` built for ``input_shape``."""
    return int(build_model(arch, input_shape=input_shape, num_classes=num_classes, **kwargs).count_params())


def train_briefly(data, recipe: train.Recipe) -> dict[str, Any]:
    """Train ``recipe`` on ``data`` without saving; parameters, seconds per epoch and validation scores."""
    model = train.build_classifier(recipe, len(data.class_names))
    summary = train.fit(model, data, recipe, verbose=0)
    scores = evaluate.evaluate_model(summary["model"], data.x_val, data.y_val, data.class_names)
    return {
        "parameters": int(model.count_params()),
        "seconds_per_epoch": float(np.mean(summary["epoch_seconds"])),
        "val_accuracy": scores["accuracy"],
        "val_macro_f1": scores["macro_f1"],
        "history": summary["history"],
    }


def compare_architectures(data, archs: list[str], base: train.Recipe, *,
                          also_count_at: tuple[int, int, int] | None = None) -> list[dict[str, Any]]:
    """One short run per architecture with the same recipe otherwise (builder defaults for each).

    With ``also_count_at`` each row also holds the parameter count at that input shape, under
    ``parameters_at_HxWxC``: the size a published model was built for, to compare with its paper.
    """
    rows = []
    for arch in archs:
        start = time.perf_counter()
        row = train_briefly(data, dataclasses.replace(base, arch=arch, arch_kwargs={}))
        rows.append({"arch": arch, **row, "total_seconds": time.perf_counter() - start})
        if also_count_at is not None:
            rows[-1][f"parameters_at_{'x'.join(map(str, also_count_at))}"] = parameter_count(arch, also_count_at)
    return rows


def run_sweep(data, trials: list[dict[str, Any]], base: train.Recipe) -> list[dict[str, Any]]:
    """One short run of the residual CNN per trial; each row holds the trial's settings and its scores."""
    rows = []
    for trial in trials:
        arch_kwargs = {k: trial[k] for k in ARCH_PARAMS if k in trial}
        changes = {k: v for k, v in trial.items() if k not in ARCH_PARAMS}
        recipe = dataclasses.replace(base, arch="residual_cnn", arch_kwargs=arch_kwargs, **changes)
        rows.append({**trial, **train_briefly(data, recipe)})
    return rows
