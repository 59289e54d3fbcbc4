"""``python -m brainmri evaluate``: a saved run scored on a labelled folder, calibrated, with the headline.

Also the checks every command that loads a run shares: its ``config.json`` and that the model
agrees with it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from brainmri.evaluate.calibration import (
    apply_temperature, calibration_status, expected_calibration_error, run_calibration,
)
from brainmri.evaluate.headline import headline_scores, training_duplicate_flags
from brainmri.evaluate.metrics import classification_metrics, classification_report_text, predict_proba


def run_config(model_path: str | Path) -> dict[str, Any]:
    """``config.json`` next to a saved model: input size, colour and class names."""
    path = Path(model_path).parent / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: evaluate needs the config.json that `brainmri train` "
                                f"writes next to {Path(model_path).name}")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from err
    missing = [k for k in ("image_size", "color", "class_names") if k not in record]
    if missing:
        raise ValueError(f"{path} lacks {missing}")
    return record


def check_model_matches_config(model, record: dict[str, Any], config_path: str | Path) -> None:
    """Raise a ``ValueError`` naming ``config_path`` if the model's input or output disagrees with it.

    Scans are read at the config's size and colour and scored under its class names, so a config
    copied from another run would give wrong answers rather than an error.
    """
    channels = 1 if record["color"] == "grayscale" else 3
    expected = (record["image_size"], record["image_size"], channels)
    takes = tuple(model.input_shape[1:])
    n_classes, outputs = len(record["class_names"]), model.output_shape[-1]
    problems = []
    if takes != expected:
        problems.append(f"the model takes images shaped {takes}, the config says {record['image_size']} px "
                        f"{record['color']} {expected}")
    if outputs != n_classes and not (outputs == 1 and n_classes == 2):
        problems.append(f"the model has {outputs} outputs for the config's {n_classes} class names")
    if problems:
        raise ValueError(f"{config_path} disagrees with its model: " + "; ".join(problems))


def calibration_summary(y: np.ndarray, proba: np.ndarray, temperature: float | None) -> dict[str, Any]:
    """ECE of the raw probabilities and, with a temperature, of the calibrated ones (else None)."""
    return {"status": calibration_status(temperature), "temperature": temperature,
            "ece_before": expected_calibration_error(y, proba),
            "ece_after": None if temperature is None else expected_calibration_error(y, apply_temperature(proba, temperature))}


def repeated_in_training(data_path: str | Path, paths: list[str]) -> np.ndarray | None:
    """Which of ``paths`` have a duplicate in the Training split of the dataset root ``data_path``;
    None when ``data_path`` is not a Kaggle root with a Training split."""
    from brainmri.data import scan_dataset
    from brainmri.data.scan import SPLIT_ALIASES

    if not any(d.is_dir() and SPLIT_ALIASES.get(d.name.lower()) == "Training" for d in Path(data_path).iterdir()):
        return None
    report = scan_dataset(data_path)
    if report.layout != "kaggle":
        return None
    return training_duplicate_flags(report, paths)


def evaluate_command(args: argparse.Namespace) -> int:
    """``python -m brainmri evaluate --model RUN_DIR/model.keras --data DIR [--json]``."""
    from brainmri.data import load_evaluation_set
    from brainmri.models.loading import load_classifier
    from brainmri.train.registry import require_finished

    model_path = Path(args.model)
    record = run_config(model_path)
    require_finished(model_path.parent)  # before the model: an interrupted run may have none yet
    calibration = run_calibration(model_path.parent)
    model = load_classifier(model_path)
    check_model_matches_config(model, record, model_path.parent / "config.json")
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):  # --json: stdout holds the JSON only
        data = load_evaluation_set(args.data, record["image_size"], record["color"], record["class_names"])
        if len(data.x) == 0:
            raise ValueError(f"{args.data}: no readable scans to evaluate ({len(data.skipped)} skipped)")
        raw = predict_proba(model, data.x, flip=calibration.test_time_flip)
        proba = apply_temperature(raw, calibration.temperature)
        result = classification_metrics(data.y, proba, data.class_names)
        repeated = repeated_in_training(args.data, data.paths)
    result["calibration"] = calibration_summary(data.y, raw, calibration.temperature)
    result["test_time_flip"] = calibration.test_time_flip
    result["without_training_duplicates"] = None if repeated is None else headline_scores(
        data.y, proba, data.class_names, repeated)["without_training_duplicates"]
    result["n_repeated_in_training"] = None if repeated is None else int(repeated.sum())
    result["skipped"] = [{"path": str(s.relpath), "reason": s.reason} for s in data.skipped]
    if args.json:
        print(json.dumps(result))
        return 0
    print_report(result, args.data, data.y, proba)
    return 0


def print_report(result: dict[str, Any], data_path, y: np.ndarray, proba: np.ndarray) -> None:
    """The text report of :func:`evaluate_command`."""
    print(f"{result['n']} scans from {data_path} ({len(result['skipped'])} skipped)")
    print(classification_report_text(y, proba, result["class_names"]))
    print(f"accuracy {result['accuracy']:.4f}  macro F1 {result['macro_f1']:.4f}"
          + (f"  tumour/no tumour accuracy {result['binary_accuracy']:.4f}" if "binary_accuracy" in result else ""))
    unique = result["without_training_duplicates"]
    if unique is not None:
        print(f"without the {result['n_repeated_in_training']} scans repeated (exactly or nearly) in Training: "
              f"accuracy {unique['accuracy']:.4f} on {unique['n']} scans")
    elif result["n_repeated_in_training"] is not None:
        print(f"every one of the {result['n']} scans is repeated in Training")
    else:
        print("no Training split beside these scans: repeats of training scans were not looked for")
    calibration = result["calibration"]
    after = "" if calibration["ece_after"] is None else f", {calibration['ece_after']:.4f} after temperature"
    print(f"calibration: {calibration['status']}; expected calibration error {calibration['ece_before']:.4f}{after}")
    print("test-time flip: " + ("each scan scored with its mirror (chosen on validation)" if result["test_time_flip"]
                                else "off"))
