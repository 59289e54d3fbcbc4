"""The headline: accuracy on the dataset's own Testing split, with and without scans that Training repeats.

The Kaggle dataset's Testing split holds scans that also appear in Training, byte for byte or as
near copies (see :mod:`brainmri.data.duplicates`). The loader keeps the Testing copy and drops the
Training one, so no model here trains on them; but a scan whose twin was in the public training set
is still easier for any published model. The headline is therefore given twice: on every Testing
scan, and on the Testing scans with no exact or near duplicate anywhere in Training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from brainmri.evaluate.metrics import classification_metrics

HEADLINE_KEYS = ("n", "accuracy", "macro_f1", "binary_accuracy", "roc_auc")


def training_duplicate_flags(report, paths: list[str]) -> np.ndarray:
    """For each of ``paths`` (as ``report.path`` spells them): True if its exact- or near-duplicate
    group in ``report`` (a :class:`~brainmri.data.ScanReport`) holds a Training file, kept or dropped."""
    index = {report.path(i): i for i in range(len(report.files))}
    unknown = [p for p in paths if p not in index]
    if unknown:
        raise ValueError(f"{len(unknown)} scans are not in the scan of {report.root}, e.g. {unknown[0]}")
    repeated = set()
    for group in report.exact_duplicates + report.near_duplicates:
        if any(report.files[i].split == "Training" for i in group):
            repeated.update(group)
    return np.array([index[p] in repeated for p in paths], dtype=bool)


def headline_scores(y: np.ndarray, proba: np.ndarray, class_names: list[str], repeated: np.ndarray) -> dict[str, Any]:
    """Scores on every scan (``all``) and on those not ``repeated`` in Training
    (``without_training_duplicates``; None if every scan is repeated), with ``n_left_out``."""
    y, repeated = np.asarray(y), np.asarray(repeated, dtype=bool)
    proba = np.asarray(proba)

    def scores(keep):
        m = classification_metrics(y[keep], proba[keep], class_names)
        return {k: m[k] for k in HEADLINE_KEYS if k in m}

    unique = ~repeated
    return {"all": scores(np.ones(len(y), dtype=bool)),
            "without_training_duplicates": scores(unique) if unique.any() else None,
            "n_left_out": int(repeated.sum())}


def testing_headline(data, proba_test: np.ndarray) -> dict[str, Any] | None:
    """:func:`headline_scores` for a :class:`~brainmri.data.SplitArrays`' Testing split (None without one)."""
    if data.x_test is None:
        return None
    repeated = training_duplicate_flags(data.report, data.paths_test)
    return {"split": "testing", "note": "the dataset's own Testing split",
            **headline_scores(data.y_test, proba_test, data.class_names, repeated)}


def validation_headline(y_val: np.ndarray, proba_val: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """The headline's stand-in for a dataset without a Testing split: the validation split, whose
    scans never repeat Training (the split keeps duplicate groups on one side), so both figures agree."""
    scores = headline_scores(y_val, proba_val, class_names, np.zeros(len(y_val), dtype=bool))
    return {"split": "validation", "note": "no Testing split in this dataset: the validation split carved from "
                                           "Training stands in", **scores}


def headline_rows(headline: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline as table rows: every scan of its split, then (if any were left out) those not
    repeated in Training."""
    rows = [{"set": f"{headline['split']}, every scan", **headline["all"]}]
    if headline["n_left_out"] and headline["without_training_duplicates"] is not None:
        rows.append({"set": f"{headline['split']} without {headline['n_left_out']} scans repeated in Training",
                     **headline["without_training_duplicates"]})
    return rows
