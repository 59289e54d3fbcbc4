"""Calibration: how far a classifier's confidence is from its accuracy, and a temperature that fixes it.

- **Expected calibration error (ECE)**: the top-class confidence of every scan falls in one of
  ``bins`` equal-width bins of [0, 1] (bin ``b`` holds confidences in ``(b/B, (b+1)/B]``, the
  first bin also 0); ECE is the mean over bins of ``|accuracy - mean confidence|`` weighted by the
  share of scans in the bin. 0 is perfect; a model that says 95% and is right 85% of the time
  scores 0.10.
- **Temperature scaling** (Guo et al. 2017): probabilities become ``softmax(logits / T)`` with
  one ``T > 0`` fitted on validation by minimising the negative log-likelihood. Predictions (the
  argmax) do not change. The classifiers end in a softmax layer, so their logits are taken as
  the log-probabilities, which differ from the true logits by a constant per scan that softmax
  ignores: the rescaling is exact. A binary sigmoid output p is read as the two columns [1-p, p].

A run's temperature lives in ``calibration.json`` in its run directory (:func:`write_calibration`),
next to the explainer that ``predict --explain`` draws; a run without the file is reported as
"uncalibrated (no calibration.json)" and its probabilities are used as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from brainmri.evaluate.metrics import accuracy, as_class_probabilities

CALIBRATION = "calibration.json"
UNCALIBRATED = f"uncalibrated (no {CALIBRATION})"
BINS = 15
TEMPERATURE_RANGE = (0.05, 20.0)


def log_probabilities(proba: np.ndarray) -> np.ndarray:
    """(N, K) log-probabilities (clipped at 1e-12): the logits up to a constant per scan."""
    return np.log(np.clip(as_class_probabilities(proba), 1e-12, 1.0))


def apply_temperature(proba: np.ndarray, temperature: float | None) -> np.ndarray:
    """(N, K) ``softmax(log p / T)``; ``None`` returns the probabilities unchanged."""
    proba = as_class_probabilities(proba)
    if temperature is None:
        return proba
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    scaled = log_probabilities(proba) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    weights = np.exp(scaled)
    return weights / weights.sum(axis=1, keepdims=True)


def negative_log_likelihood(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean ``-log p(true class)``."""
    proba = as_class_probabilities(proba)
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(proba)), np.asarray(y, dtype=np.int64)], 1e-12, 1.0))))


def fit_temperature(y: np.ndarray, proba: np.ndarray) -> float:
    """The ``T`` in :data:`TEMPERATURE_RANGE` minimising the NLL of ``softmax(log p / T)`` on ``(y, proba)``."""
    y = np.asarray(y, dtype=np.int64).ravel()
    if len(y) == 0 or len(y) != len(as_class_probabilities(proba)):
        raise ValueError(f"cannot fit a temperature on {len(y)} labels and {len(as_class_probabilities(proba))} predictions")
    low, high = np.log(TEMPERATURE_RANGE)
    best = minimize_scalar(lambda log_t: negative_log_likelihood(y, apply_temperature(proba, float(np.exp(log_t)))),
                           bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(best.x))


def reliability_bins(y: np.ndarray, proba: np.ndarray, bins: int = BINS) -> list[dict[str, Any]]:
    """One row per equal-width confidence bin: ``lower``, ``upper``, ``n``, mean ``confidence`` and
    ``accuracy`` of its scans (both None for an empty bin)."""
    proba = as_class_probabilities(proba)
    y = np.asarray(y, dtype=np.int64).ravel()
    confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == y
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        n = int(inside.sum())
        rows.append({"lower": b / bins, "upper": (b + 1) / bins, "n": n,
                     "confidence": float(confidence[inside].mean()) if n else None,
                     "accuracy": float(correct[inside].mean()) if n else None})
    return rows


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = BINS) -> float:
    """ECE over ``bins`` equal-width bins of the top-class confidence (see the module docstring)."""
    rows = reliability_bins(y, proba, bins)
    total = sum(row["n"] for row in rows)
    if total == 0:
        raise ValueError("no predictions to compute a calibration error on")
    return float(sum(row["n"] * abs(row["accuracy"] - row["confidence"]) for row in rows if row["n"]) / total)


def calibration_record(y_val: np.ndarray, proba_val: np.ndarray, *, bins: int = BINS) -> dict[str, Any]:
    """A temperature fitted on validation and what it does there: ECE and NLL before and after."""
    temperature = fit_temperature(y_val, proba_val)
    calibrated = apply_temperature(proba_val, temperature)
    return {
        "temperature": temperature, "fitted_on": "validation", "n": int(len(y_val)), "bins": bins,
        "ece_before": expected_calibration_error(y_val, proba_val, bins),
        "ece_after": expected_calibration_error(y_val, calibrated, bins),
        "nll_before": negative_log_likelihood(y_val, proba_val),
        "nll_after": negative_log_likelihood(y_val, calibrated),
    }


def reliability_diagrams(y_val: np.ndarray, proba_val: np.ndarray,
                         record: dict[str, Any]) -> dict[str, tuple[list[dict[str, Any]], float]]:
    """The validation scans' reliability bins and ECE before and after the temperature of ``record``
    (:func:`calibration_record`), titled for :func:`brainmri.plots.classifier.plot_reliability`."""
    temperature, bins = record["temperature"], record["bins"]
    calibrated = apply_temperature(proba_val, temperature)
    return {"validation, as trained": (reliability_bins(y_val, proba_val, bins), record["ece_before"]),
            f"after temperature {temperature:.2f}": (reliability_bins(y_val, calibrated, bins), record["ece_after"])}


def read_calibration(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``calibration.json``, or None when it has none."""
    path = Path(run_dir) / CALIBRATION
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from err


@dataclass(frozen=True)
class RunCalibration:
    """How a run turns a scan into calibrated probabilities: its temperature (None: uncalibrated) and
    whether it averages each scan with its mirror (the test-time flip)."""

    temperature: float | None = None
    test_time_flip: bool = False


def run_calibration(run_dir: str | Path) -> RunCalibration:
    """The run's temperature and test-time flip from its ``calibration.json`` (no file: neither)."""
    record = read_calibration(run_dir) or {}
    temperature = record.get("temperature")
    return RunCalibration(None if temperature is None else float(temperature),
                          bool(record.get("test_time_flip", False)))


def choose_test_time_flip(y_val: np.ndarray, proba_val: np.ndarray, proba_val_flip: np.ndarray) -> dict[str, Any]:
    """Whether the run predicts with the test-time flip, chosen on validation: kept only when it is more
    accurate there than the scan alone. The record goes into ``calibration.json`` with the temperature
    (which is then fitted on the chosen probabilities)."""
    single, flipped = accuracy(y_val, proba_val), accuracy(y_val, proba_val_flip)
    return {"test_time_flip": flipped > single, "validation_accuracy_single": single,
            "validation_accuracy_flip": flipped}


def calibration_status(temperature: float | None) -> str:
    """One phrase for reports: the temperature used, or that there is none."""
    return UNCALIBRATED if temperature is None else f"calibrated (temperature {temperature:.3f})"


def write_calibration(run_dir: str | Path, record: dict[str, Any]) -> Path:
    """Merge ``record`` into the run's ``calibration.json`` (keeping other keys, such as the explainer),
    written atomically, so that a finished run is never seen with half a file."""
    from brainmri.train.registry import write_json_atomic

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    path = run_dir / CALIBRATION
    write_json_atomic(path, {**(read_calibration(run_dir) or {}), **record})
    return path
