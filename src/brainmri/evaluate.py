"""Score a classifier: accuracy, macro F1, per-class report, confusion matrix, binary view, ROC-AUC.

Every function works on the model's probabilities, so a 4-class softmax and a binary sigmoid go
through the same code: a binary model's (N, 1) output becomes [P(notumor), P(tumour)].
A 4-class model is also scored as tumour / no tumour by merging the three tumour classes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import metrics as skm

from brainmri.data import NO_TUMOUR



def as_class_probabilities(proba: np.ndarray) -> np.ndarray:
    """(N, K) class probabilities; a single sigmoid column p becomes the two columns [1 - p, p]."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim == 1:
        proba = proba[:, None]
    if proba.ndim != 2:
        raise ValueError(f"expected probabilities of shape (N, K) or (N,), got {proba.shape}")
    return np.concatenate([1.0 - proba, proba], axis=1) if proba.shape[1] == 1 else proba


def predict_proba(model, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The model's (N, K) class probabilities for raw uint8 or float pixels."""
    proba = model.predict(np.asarray(x, dtype=np.float32), batch_size=batch_size, verbose=0)
    return as_class_probabilities(proba)


def tumour_labels(labels: np.ndarray, class_names: list[str]) -> np.ndarray:
    """1 for every tumour class, 0 for ``notumor``: the binary view of class indexes."""
    if NO_TUMOUR not in class_names:
        raise ValueError(f"cannot merge tumour classes: no {NO_TUMOUR!r} among {list(class_names)}")
    return (np.asarray(labels) != list(class_names).index(NO_TUMOUR)).astype(np.int64)


def tumour_probability(proba: np.ndarray, class_names: list[str]) -> np.ndarray:
    """P(tumour) = 1 - P(notumor), for any set of class names that includes ``notumor``."""
    return 1.0 - as_class_probabilities(proba)[:, list(class_names).index(NO_TUMOUR)]


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """Accuracy, macro F1, per-class precision/recall/F1/support, confusion matrix (rows = truth),
    tumour-vs-no-tumour accuracy and ROC-AUC of P(tumour) (when both are present)."""
    proba = as_class_probabilities(proba)
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    if len(y_true) != len(proba):
        raise ValueError(f"{len(y_true)} labels but {len(proba)} predictions")
    if proba.shape[1] != len(class_names):
        raise ValueError(f"{proba.shape[1]} probability columns but {len(class_names)} class names {list(class_names)}")
    y_pred = proba.argmax(axis=1)
    labels = list(range(len(class_names)))
    report = skm.classification_report(y_true, y_pred, labels=labels, target_names=list(class_names),
                                       output_dict=True, zero_division=0)
    result: dict[str, Any] = {
        "n": int(len(y_true)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "macro_f1": float(skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {name: {"precision": report[name]["precision"], "recall": report[name]["recall"],
                             "f1": report[name]["f1-score"], "support": int(report[name]["support"])}
                      for name in class_names},
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "class_names": list(class_names),
    }
    if NO_TUMOUR in class_names:
        truth, p_tumour = tumour_labels(y_true, class_names), tumour_probability(proba, class_names)
        result["binary_accuracy"] = float((tumour_labels(y_pred, class_names) == truth).mean())
        result["roc_auc"] = float(skm.roc_auc_score(truth, p_tumour)) if len(set(truth)) == 2 else None
    return result


def classification_report_text(y_true: np.ndarray, proba: np.ndarray, class_names: list[str]) -> str:
    """sklearn's text report (precision, recall, F1, support per class)."""
    y_pred = as_class_probabilities(proba).argmax(axis=1)
    return skm.classification_report(y_true, y_pred, labels=list(range(len(class_names))),
                                     target_names=list(class_names), digits=3, zero_division=0)


def roc_curve_points(y_true: np.ndarray, proba: np.ndarray, class_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates of P(tumour) against the tumour / no-tumour truth."""
    fpr, tpr, _ = skm.roc_curve(tumour_labels(y_true, class_names), tumour_probability(proba, class_names))
    return fpr, tpr


def evaluate_model(model, x: np.ndarray, y: np.ndarray, class_names: list[str], *, batch_size: int = 64) -> dict[str, Any]:
    """:func:`classification_metrics` of ``model`` on images ``x`` with labels ``y``."""
    return classification_metrics(y, predict_proba(model, x, batch_size), class_names)


def brighter_higher_contrast(x: np.ndarray, *, gamma: float = 0.8, contrast: float = 1.3,
                             brightness: float = 20.0) -> np.ndarray:
    """A brighter, higher-contrast copy of uint8 scans, as another site's re-processing might make.

    Gamma below one lifts the mid-tones; then contrast is stretched about each image's mean and a
    brightness offset (grey levels) is added; values saturate at 0 and 255.
    """
    scaled = np.asarray(x, dtype=np.float32) / 255.0
    lifted = 255.0 * np.power(scaled, gamma)
    mean = lifted.mean(axis=tuple(range(1, lifted.ndim)), keepdims=True)
    out = (lifted - mean) * contrast + mean + brightness
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


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


def evaluate_command(args: argparse.Namespace) -> int:
    """``python -m brainmri evaluate --model RUN_DIR/model.keras --data DIR [--json]``."""
    from brainmri.data import load_evaluation_set
    from brainmri.models.loading import load_classifier
    from brainmri.train.registry import require_finished

    model_path = Path(args.model)
    if not model_path.exists() and not (model_path.parent / "config.json").exists():
        raise FileNotFoundError(f"model file {model_path} does not exist")
    record = run_config(model_path)
    require_finished(model_path.parent)  # before the model: an interrupted run may have none yet
    model = load_classifier(model_path)
    check_model_matches_config(model, record, model_path.parent / "config.json")
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):  # --json: stdout holds the JSON only
        data = load_evaluation_set(args.data, record["image_size"], record["color"], record["class_names"])
        if len(data.x) == 0:
            raise ValueError(f"{args.data}: no readable scans to evaluate ({len(data.skipped)} skipped)")
        proba = predict_proba(model, data.x)
        result = classification_metrics(data.y, proba, data.class_names)
    result["skipped"] = [{"path": str(s.relpath), "reason": s.reason} for s in data.skipped]
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['n']} scans from {args.data} ({len(result['skipped'])} skipped)")
    print(classification_report_text(data.y, proba, data.class_names))
    print(f"accuracy {result['accuracy']:.4f}  macro F1 {result['macro_f1']:.4f}"
          + (f"  tumour/no tumour accuracy {result['binary_accuracy']:.4f}" if "binary_accuracy" in result else ""))
    return 0
