"""The run registry: one directory per trained model, found again by what decided it.

A run directory holds the model file, ``config.json`` (what the run is: its ``run_key``, the recipe
and the data fingerprint, plus what loaders need), ``history.csv``, ``metrics.json`` and, written
last and atomically, the finished mark ``finished.json``. A directory without the mark is a run
that was interrupted (or is still training): loaders never take it, and running the same command
again resumes it from its ``backup/``.

The key of a run is a hash of

- the recipe (for the classifier :class:`~brainmri.train.recipe.Recipe`, for the VAEs and the U-Net
  their settings), which names the architecture and carries the trainer's code version, a constant
  bumped whenever a change to the training code changes what a recipe produces;
- the data fingerprint (:func:`fingerprint`: the pixels and labels trained and validated on);
- the time budget, when there is one. A budget stops training early, so it changes the model: the
  rule for every trainer is that a budgeted run is reused only by a request with the same budget,
  and an unbudgeted run only by an unbudgeted request. (Leaving the budget out when it is ``None``
  keeps the keys of runs made before budgets were keyed.)

Runs are searched under :func:`brainmri.config.runs_dir` (``BRAINMRI_RUNS_DIR``, which may be on
Google Drive), then in the repository's committed ``models/``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from brainmri import config

CONFIG = "config.json"
FINISHED = "finished.json"
BACKUP = "backup"  # the resume state: Keras's BackupAndRestore files and the training clock


def fingerprint(*arrays, names=()) -> str:
    """A short hash of the arrays' dtypes, shapes and bytes (``None`` skipped) and of ``names``."""
    digest = hashlib.sha1()
    for array in arrays:
        if array is None:
            continue
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    if names:
        digest.update("|".join(names).encode())
    return digest.hexdigest()[:16]


def data_fingerprint(data) -> str:
    """The fingerprint of a SplitArrays: pixels and labels of the train and validation splits, class names.

    Two processes that load the same dataset with the same settings get the same fingerprint,
    wherever the files live; any change in the images, the split or the size changes it.
    """
    return fingerprint(data.x_train, data.y_train, data.x_val, data.y_val, names=list(data.class_names))


def run_key(recipe: dict[str, Any], data_fingerprint: str, time_budget_min: float | None = None) -> str:
    """The key of a run: recipe (with its code version), data fingerprint and time budget (if any)."""
    identity: dict[str, Any] = {"recipe": recipe, "data": data_fingerprint}
    if time_budget_min is not None:
        identity["time_budget_min"] = float(time_budget_min)
    return hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def search_roots() -> list[Path]:
    """Where runs are looked for, in order: the runs directory, then the committed ``models/``."""
    return [config.runs_dir(), config.project_root() / "models"]


def write_json_atomic(path: Path, record: Any) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it: readers see the old or the new file."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(temporary, path)


def is_finished(run_dir: str | Path) -> bool:
    return (Path(run_dir) / FINISHED).is_file()


def require_finished(run_dir: str | Path) -> None:
    """Raise a one-line ``ValueError`` if ``run_dir`` holds no finished run."""
    if not is_finished(run_dir):
        raise ValueError(f"{run_dir} holds an unfinished run (no {FINISHED}): its training was interrupted or "
                         "is still going; run the same training again to resume it")


def mark_finished(run_dir: str | Path, model_file: str) -> None:
    """The last step of a run, after the model and metrics are written: the mark, then drop the backup."""
    run_dir = Path(run_dir)
    if not (run_dir / model_file).is_file():
        raise FileNotFoundError(f"cannot mark {run_dir} finished: {model_file} is missing")
    write_json_atomic(run_dir / FINISHED, {"model": model_file, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    shutil.rmtree(run_dir / BACKUP, ignore_errors=True)


def read_config(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from err


def find_run(key: str, roots: list[Path] | None = None) -> Path | None:
    """The newest finished run with ``run_key == key``, from the first root that has one.

    Unfinished runs with the key and unreadable configs are skipped with one line each.
    """
    for root in roots or search_roots():
        finished = []
        for config_path in Path(root).glob(f"**/{CONFIG}"):
            try:
                record = json.loads(config_path.read_text())
            except (OSError, json.JSONDecodeError) as err:
                print(f"skipping {config_path}: unreadable ({err})")
                continue
            if not isinstance(record, dict) or record.get("run_key") != key:
                continue
            if is_finished(config_path.parent):
                finished.append(config_path.parent)
            else:
                print(f"skipping the unfinished run in {config_path.parent} (no {FINISHED})")
        if finished:
            return max(finished, key=lambda run: (run / FINISHED).stat().st_mtime)
    return None


def new_run_dir(kind: str, name: str, key: str) -> Path:
    """Where a trainer writes a new run of ``kind``: ``runs/<kind>/<name>-<key>``.

    The same request always gets the same directory, so a notebook run again after an interruption
    resumes the run it left unfinished there.
    """
    return config.runs_dir() / kind / f"{name}-{key}"


def start_run(run_dir: Path, record: dict[str, Any]) -> None:
    """Create ``run_dir`` for a run described by ``record`` (written as ``config.json``).

    A directory that already holds a different run, or a finished one, is refused rather than mixed
    with the new run or overwritten.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / CONFIG).exists():
        previous = read_config(run_dir)
        if previous.get("run_key") != record["run_key"]:
            raise ValueError(f"{run_dir} already holds another run (run_key {previous.get('run_key')}, this one "
                             f"is {record['run_key']}); choose another directory")
        if is_finished(run_dir):
            raise ValueError(f"{run_dir} already holds this run, finished; load it or choose another directory")
    write_json_atomic(run_dir / CONFIG, record)


def read_history(path: Path) -> dict[str, list[float]]:
    """``history.csv`` (Keras CSVLogger) as a dict of float lists keyed by column."""
    if not Path(path).exists():
        return {}
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {}
    return {key: [float(row[key]) for row in rows] for key in rows[0] if key != "epoch"}
