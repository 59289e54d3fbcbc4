"""Score a classifier: accuracy, macro F1, per-class report, confusion matrix, binary view, ROC-AUC.

Every function works on the model's probabilities, so a 4-class softmax and a binary sigmoid go
through the same code: a binary model's (N, 1) output becomes [P(notumor), P(tumour)].
A 4-class model is also scored as tumour / no tumour by merging the three tumour classes.
"""

from __future__ import annotations

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


def predict_proba(model, x: np.ndarray, batch_size: int = 64, *, flip: bool = False) -> np.ndarray:
    """The model's (N, K) class probabilities for raw uint8 or float pixels.

    With ``flip`` (test-time flip), the mean of the probabilities for each scan and its left-right
    mirror: training mirrors scans at random, so both views are ones the model knows.
    """
    x = np.asarray(x, dtype=np.float32)
    proba = model.predict(x, batch_size=batch_size, verbose=0)
    if flip:
        proba = (proba + model.predict(x[:, :, ::-1], batch_size=batch_size, verbose=0)) / 2.0
    return as_class_probabilities(proba)


def accuracy(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Share of scans whose most probable class is the true one."""
    return float(np.mean(as_class_probabilities(proba).argmax(axis=1) == np.asarray(y_true).astype(np.int64).ravel()))


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
        "accuracy": accuracy(y_true, proba),
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


def evaluate_model(model, x: np.ndarray, y: np.ndarray, class_names: list[str], *, batch_size: int = 64,
                   flip: bool = False) -> dict[str, Any]:
    """:func:`classification_metrics` of ``model`` on images ``x`` with labels ``y`` (``flip``: see :func:`predict_proba`)."""
    return classification_metrics(y, predict_proba(model, x, batch_size, flip=flip), class_names)
