"""Evaluating classifiers: scores, robustness to real intensity pipelines, calibration, the Testing headline.

- :mod:`~brainmri.evaluate.metrics`: accuracy, macro F1, per-class report, confusion matrix,
  tumour-vs-none view, ROC-AUC, from any model's probabilities.
- :mod:`~brainmri.evaluate.robustness`: CLAHE, histogram equalisation, gamma, window/level, bias
  field, JPEG, down/re-sampling, noise and a crop to the head at several strengths, and a model's
  accuracy under each.
- :mod:`~brainmri.evaluate.calibration`: expected calibration error, reliability bins, a temperature
  fitted on validation and stored with the run (``calibration.json``).
- :mod:`~brainmri.evaluate.headline`: accuracy on the Testing split, with and without the scans
  that Training repeats.
- :mod:`~brainmri.evaluate.command`: ``python -m brainmri evaluate`` and the run-config checks.
"""

from brainmri.evaluate.calibration import (
    CALIBRATION, UNCALIBRATED, RunCalibration, apply_temperature, calibration_record, calibration_status, choose_test_time_flip,
    expected_calibration_error, fit_temperature, log_probabilities, negative_log_likelihood, read_calibration,
    reliability_bins, reliability_diagrams, run_calibration, write_calibration,
)
from brainmri.evaluate.command import calibration_summary, check_model_matches_config, evaluate_command, run_config
from brainmri.evaluate.headline import (
    headline_rows, headline_scores, testing_headline, training_duplicate_flags, validation_headline,
)
from brainmri.evaluate.metrics import (
    accuracy, as_class_probabilities, classification_metrics, classification_report_text, evaluate_model, predict_proba,
    roc_curve_points, tumour_labels, tumour_probability,
)
from brainmri.evaluate.robustness import PIPELINES, Pipeline, robustness_rows, worst_rows

__all__ = [
    "CALIBRATION", "PIPELINES", "Pipeline", "RunCalibration", "UNCALIBRATED", "accuracy", "apply_temperature",
    "as_class_probabilities",
    "calibration_record", "calibration_status", "calibration_summary", "check_model_matches_config",
    "choose_test_time_flip",
    "classification_metrics", "classification_report_text", "evaluate_command", "evaluate_model",
    "expected_calibration_error", "fit_temperature", "headline_rows", "headline_scores", "log_probabilities",
    "negative_log_likelihood", "read_calibration", "reliability_bins", "reliability_diagrams", "robustness_rows",
    "roc_curve_points",
    "run_calibration", "run_config", "testing_headline", "training_duplicate_flags", "tumour_labels",
    "tumour_probability", "validation_headline", "worst_rows", "write_calibration",
]
