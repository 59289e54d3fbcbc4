"""Metrics from hand-made probabilities: values worked out by hand, binary merge, error messages."""

import numpy as np
import pytest

from brainmri import evaluate

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def one_hot_proba(predicted, k=4, confidence=0.7):
    proba = np.full((len(predicted), k), (1 - confidence) / (k - 1))
    proba[np.arange(len(predicted)), predicted] = confidence
    return proba


def test_metrics_match_a_hand_count():
    truth = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    predicted = np.array([0, 1, 1, 1, 2, 0, 3, 3])  # a glioma called meningioma, a no-tumour called glioma
    m = evaluate.classification_metrics(truth, one_hot_proba(predicted), CLASSES)
    assert m["n"] == 8 and m["accuracy"] == pytest.approx(6 / 8)
    assert m["confusion_matrix"] == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 2]]
    assert m["per_class"]["glioma"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert m["per_class"]["meningioma"]["precision"] == pytest.approx(2 / 3)
    f1s = [0.5, 0.8, 2 / 3, 1.0]  # meningioma 2PR/(P+R) with P=2/3, R=1; notumor P=1, R=1/2
    assert m["macro_f1"] == pytest.approx(np.mean(f1s))
    # tumour vs no tumour: only the no-tumour scan called glioma is wrong
    assert m["binary_accuracy"] == pytest.approx(7 / 8)
    assert m["class_names"] == CLASSES


def test_roc_auc_of_merged_tumour_probability():
    truth = np.array([2, 2, 0, 3])
    proba = np.array([[0.1, 0.1, 0.8, 0.0], [0.3, 0.0, 0.4, 0.3], [0.5, 0.0, 0.5, 0.0], [0.1, 0.0, 0.1, 0.8]])
    # P(tumour) = [0.2, 0.6, 0.5, 0.9]; tumours 0.5 and 0.9 against no-tumours 0.2 and 0.6: 3 of 4 pairs ordered
    assert evaluate.tumour_probability(proba, CLASSES) == pytest.approx([0.2, 0.6, 0.5, 0.9])
    assert evaluate.classification_metrics(truth, proba, CLASSES)["roc_auc"] == pytest.approx(0.75)


def test_binary_model_output_becomes_two_columns():
    sigmoid = np.array([[0.9], [0.2], [0.6], [0.4]])
    assert np.allclose(evaluate.as_class_probabilities(sigmoid), [[0.1, 0.9], [0.8, 0.2], [0.4, 0.6], [0.6, 0.4]])
    m = evaluate.classification_metrics(np.array([1, 0, 0, 1]), sigmoid, ["notumor", "tumor"])
    assert m["accuracy"] == pytest.approx(0.5) and m["binary_accuracy"] == pytest.approx(0.5)
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["confusion_matrix"] == [[1, 1], [1, 1]]


def test_roc_auc_is_none_when_one_side_is_missing():
    m = evaluate.classification_metrics(np.array([0, 1]), one_hot_proba(np.array([0, 1])), CLASSES)
    assert m["roc_auc"] is None and m["binary_accuracy"] == 1.0


def test_mismatched_inputs_are_named():
    with pytest.raises(ValueError, match="3 labels but 2 predictions"):
        evaluate.classification_metrics(np.array([0, 1, 2]), one_hot_proba(np.array([0, 1])), CLASSES)
    with pytest.raises(ValueError, match="4 probability columns but 3 class names"):
        evaluate.classification_metrics(np.array([0]), one_hot_proba(np.array([0])), CLASSES[:3])
    with pytest.raises(ValueError, match="no 'notumor'"):
        evaluate.tumour_labels(np.array([0]), ["cat", "dog"])


def test_classification_report_text_names_every_class():
    text = evaluate.classification_report_text(np.array([0, 1, 2, 3]), one_hot_proba(np.array([0, 1, 2, 2])), CLASSES)
    assert all(name in text for name in CLASSES) and "macro avg" in text


def test_brighter_higher_contrast_copy():
    rng = np.random.default_rng(0)
    scans = rng.integers(0, 200, (3, 16, 16, 1)).astype(np.uint8)
    bright = evaluate.brighter_higher_contrast(scans)
    assert bright.dtype == np.uint8 and bright.shape == scans.shape
    assert bright.mean() > scans.mean() + 10
    assert bright.std() > scans.std()
    # the intensity order of pixels is kept within each scan (a monotone curve, then saturation)
    flat_in, flat_out = scans[0].ravel().astype(int), bright[0].ravel().astype(int)
    order = np.argsort(flat_in, kind="stable")
    assert (np.diff(flat_out[order]) >= 0).all()
    assert np.array_equal(evaluate.brighter_higher_contrast(scans, gamma=1.0, contrast=1.0, brightness=0.0), scans)
