"""Short training runs to compare architectures and to sweep the residual CNN's hyperparameters.

Both are screening tools: a few epochs on a class-balanced subset, scored on the full validation
split. They rank settings cheaply; the chosen recipe is then trained properly (:mod:`brainmri.train`).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
import types
from typing import Any

import numpy as np

from brainmri import config, evaluate, train
from brainmri.models import build_model

SEARCH_SPACE: dict[str, list] = {
    "width": [8, 16, 24, 32],
    "depth": [1, 2],
    "se_ratio": [0.0, 0.25],
    "dropout": [0.0, 0.3, 0.5],
    "learning_rate": [1e-3, 3e-3],
}
ARCH_PARAMS = ("width", "depth", "se_ratio", "dropout")


def screening_budget(profile: config.Profile) -> tuple[int, int]:
    """Epochs and training scans per class for a screening run: a fifth of the profile's epochs
    (at least one) on at most 100 scans per class (or the profile's cap, if smaller)."""
    per_class = min(100, profile.max_per_class) if profile.max_per_class else 100
    return max(1, round(profile.epochs / 5)), per_class


def sample_trials(n: int, space: dict[str, list] = SEARCH_SPACE, seed: int = config.SEED) -> list[dict[str, Any]]:
    """``n`` distinct settings drawn at random (seeded) from the grid ``space``."""
    grid = [dict(zip(space, values)) for values in itertools.product(*space.values())]
    if not 1 <= n <= len(grid):
        raise ValueError(f"cannot draw {n} distinct trials from a grid of {len(grid)} settings")
    picks = np.random.default_rng(seed).choice(len(grid), size=n, replace=False)
    return [grid[i] for i in picks]


def balanced_subset(data, per_class: int | None, seed: int = config.SEED):
    """``data`` with at most ``per_class`` training scans per class (validation untouched)."""
    if per_class is None:
        return data
    rng = np.random.default_rng(seed)
    keep = np.sort(np.concatenate([
        rng.permutation(np.flatnonzero(data.y_train == k))[:per_class] for k in range(len(data.class_names))
    ]))
    return types.SimpleNamespace(x_train=data.x_train[keep], y_train=data.y_train[keep], x_val=data.x_val,
                                 y_val=data.y_val, class_names=list(data.class_names), source=data.source)


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


def compare_architectures(data, archs: list[str], base: train.Recipe) -> list[dict[str, Any]]:
    """One short run per architecture with the same recipe otherwise (builder defaults for each)."""
    rows = []
    for arch in archs:
        start = time.perf_counter()
        row = train_briefly(data, dataclasses.replace(base, arch=arch, arch_kwargs={}))
        rows.append({"arch": arch, **row, "total_seconds": time.perf_counter() - start})
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


def markdown_table(rows: list[dict[str, Any]], columns: list[str], digits: int = 3) -> str:
    """A Markdown table of ``columns`` from ``rows`` (floats rounded to ``digits``)."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:.{digits}g}" if abs(value) < 1e-2 and value else f"{value:.{digits}f}"
        return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
