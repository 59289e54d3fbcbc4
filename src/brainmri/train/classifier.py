"""Classifier runs: train one into a run directory, load one back, or find it in the registry first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brainmri import config, evaluate, hardware
from brainmri.benchmarking import peak_memory_mb
from brainmri.data import BINARY_CLASS_NAMES
from brainmri.models.loading import load_classifier
from brainmri.train.loop import fit
from brainmri.train.recipe import Recipe, build_classifier, default_recipe
from brainmri.train.registry import (
    CONFIG, data_fingerprint, find_run, mark_finished, new_run_dir, read_config, read_history, require_finished,
    run_key, start_run, write_json_atomic,
)

MODEL_FILE = "model.keras"


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


def load_run(run_dir: str | Path) -> TrainedClassifier:
    """Load a finished run: ``model.keras``, checked against its ``config.json``, with history and metrics."""
    run_dir = Path(run_dir)
    missing = [n for n in (MODEL_FILE, CONFIG) if not (run_dir / n).exists()]
    if missing:
        raise FileNotFoundError(f"{run_dir} is not a complete run directory: missing {missing}")
    require_finished(run_dir)
    record = read_config(run_dir)
    model = load_classifier(run_dir / MODEL_FILE)
    evaluate.check_model_matches_config(model, record, run_dir / CONFIG)
    metrics_path = run_dir / "metrics.json"
    return TrainedClassifier(model=model, run_dir=run_dir, config=record, history=read_history(run_dir / "history.csv"),
                             metrics=json.loads(metrics_path.read_text()) if metrics_path.exists() else {})


def train_run(data, recipe: Recipe, run_dir: str | Path, *, time_budget_min: float | None = None,
              verbose: int | str = "auto") -> TrainedClassifier:
    """Train ``recipe`` on ``data`` into ``run_dir``, resuming there if an earlier training was interrupted.

    Writes ``config.json`` first (recipe, class names, data fingerprint, run key: what ``evaluate``
    and the registry need), then trains (:func:`brainmri.train.fit`: ``model.keras``,
    ``history.csv``, ``backup/``), writes ``metrics.json`` (validation scores, epoch times, images
    per second) and marks the run finished last.
    """
    run_dir = Path(run_dir)
    fingerprint = data_fingerprint(data)
    run_config = {
        "run_key": run_key(recipe.to_dict(), fingerprint, time_budget_min), "kind": "classifier",
        "recipe": recipe.to_dict(), "task": recipe.task, "image_size": recipe.image_size, "color": recipe.color,
        "class_names": list(data.class_names), "data_fingerprint": fingerprint,
        "data_source": str(getattr(data.source, "root", "")), "n_train": int(len(data.x_train)),
        "n_val": int(len(data.x_val)), "time_budget_min": time_budget_min, "precision": hardware.precision(),
    }
    start_run(run_dir, run_config)
    model = build_classifier(recipe, len(data.class_names))
    summary = fit(model, data, recipe, run_dir=run_dir, time_budget_min=time_budget_min, verbose=verbose)
    scores = evaluate.evaluate_model(model, data.x_val, data.y_val, data.class_names, batch_size=recipe.batch_size)
    metrics = {
        "split": "validation", **scores,
        "epochs_run": len(summary["epoch_seconds"]), "train_seconds": float(sum(summary["epoch_seconds"])),
        "epoch_seconds": summary["epoch_seconds"], "images_per_second": summary["images_per_second"],
        "parameters": int(model.count_params()), "peak_memory_mb": peak_memory_mb(),
    }
    write_json_atomic(run_dir / "metrics.json", metrics)
    mark_finished(run_dir, MODEL_FILE)
    return TrainedClassifier(model, run_dir, run_config, summary["history"], metrics)


def load_or_train_classifier(data, *, task: str = "multiclass", arch: str | None = None,
                             profile: config.Profile | None = None, time_budget_min: float | None = None,
                             verbose: int | str = "auto", **overrides) -> TrainedClassifier:
    """The classifier trained with the default recipe on ``data``: found in the run registry, else trained.

    The recipe is :func:`default_recipe` for the profile (``overrides`` change fields); a run
    matches when its recipe, the data fingerprint and the time budget are the same, whether a
    notebook or ``python -m brainmri train`` wrote it, in ``runs/`` or the committed ``models/``.
    Otherwise it trains (and saves) the model into ``runs/classifier/<task>-<arch>-<key>``, resuming
    there if an earlier call was interrupted.
    """
    recipe = default_recipe(profile, task=task, arch=arch, **overrides)
    _check_task(data, task)
    key = run_key(recipe.to_dict(), data_fingerprint(data), time_budget_min)
    found = find_run(key)
    if found is not None:
        print(f"loading the classifier trained in {found}")
        return load_run(found)
    run_dir = new_run_dir("classifier", f"{task}-{recipe.arch}", key)
    print(f"no finished {recipe.arch} for this data and recipe; training it into {run_dir}")
    return train_run(data, recipe, run_dir, time_budget_min=time_budget_min, verbose=verbose)


def _check_task(data, task: str) -> None:
    binary_data = list(data.class_names) == list(BINARY_CLASS_NAMES)
    if (task == "binary") != binary_data:
        raise ValueError(f"task {task!r} does not match data with classes {list(data.class_names)}; "
                         f"load the data with task={task!r}")
