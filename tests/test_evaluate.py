"""Metrics from hand-made probabilities (values worked out by hand, binary merge, error messages), the
robustness pipelines' defining properties, calibration (ECE by hand, a known temperature recovered,
calibration.json round trip) and the Testing headline's duplicate flags on a small Kaggle folder."""

import json
import types

import cv2
import numpy as np
import pytest

from brainmri import evaluate
from brainmri.data import load_dataset
from brainmri.evaluate import robustness

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


# --- robustness pipelines ---------------------------------------------------------------------------

def scans(n=3, size=32, channels=1, seed=0, low=40, high=200, border=0):
    """Smooth blobs plus texture: a scan-like image with mid-tones, edges and fine detail, framed by
    ``border`` black pixels of background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    out = np.empty((n, size, size, channels), np.uint8)
    for i in range(n):
        blob = np.exp(-((yy - rng.uniform(0.3, 0.7)) ** 2 + (xx - rng.uniform(0.3, 0.7)) ** 2) / 0.05)
        image = low + (high - low) * blob + rng.normal(0, 6, (size, size))
        out[i] = np.clip(image, 0, 255).astype(np.uint8)[..., None]
    if border:
        out[:, :border], out[:, -border:], out[:, :, :border], out[:, :, -border:] = 0, 0, 0, 0
    return out


def pipeline_scans(name, size=32, **kwargs):
    """Scans for pipeline ``name``: the head crop needs a background to crop away."""
    return scans(size=size, border=size // 8 if name == "head crop" else 0, **kwargs)


IDENTITY = {"CLAHE": 0.0, "histogram equalisation": 0.0, "gamma": 1.0, "window/level": 0.0, "bias field": 0.0,
            "down/re-sampling": 1.0, "Gaussian noise": 0.0}


@pytest.mark.parametrize("name", list(robustness.PIPELINES))
@pytest.mark.parametrize("channels", [1, 3])
def test_every_pipeline_keeps_dtype_and_shape_and_leaves_its_input_alone(name, channels):
    x = pipeline_scans(name, channels=channels)
    before = x.copy()
    pipeline = robustness.PIPELINES[name]
    for strength in pipeline.strengths:
        out = pipeline.function(x, strength, 0)
        assert out.dtype == np.uint8 and out.shape == x.shape
        assert not np.array_equal(out, x), f"{name} at {strength} changed nothing"
    assert np.array_equal(x, before)
    with pytest.raises(ValueError, match="uint8"):
        pipeline.function(x.astype(np.float32), pipeline.strengths[0], 0)


@pytest.mark.parametrize("name, strength", IDENTITY.items())
def test_the_neutral_strength_is_the_identity(name, strength):
    x = scans()
    assert np.array_equal(robustness.PIPELINES[name].function(x, strength, 0), x)
    assert strength not in robustness.PIPELINES[name].strengths  # the suite only tries real changes


def mean_change(out, x):
    return float(np.abs(out.astype(float) - x).mean())


@pytest.mark.parametrize("name", ["CLAHE", "histogram equalisation", "window/level", "bias field", "JPEG",
                                  "down/re-sampling", "Gaussian noise", "head crop"])
def test_the_change_grows_with_the_strength(name):
    x = pipeline_scans(name, n=4, size=64)
    pipeline = robustness.PIPELINES[name]
    changes = [mean_change(pipeline.function(x, s, 0), x) for s in pipeline.strengths]
    assert changes == sorted(changes) and changes[-1] > changes[0], changes


def test_gamma_and_window_level_are_monotone_grey_level_curves():
    x = scans(n=1)
    flat = x[0].ravel().astype(int)
    order = np.argsort(flat, kind="stable")
    for out in (robustness.gamma(x, 0.5), robustness.gamma(x, 2.0), robustness.window_level(x, 0.6)):
        assert (np.diff(out[0].ravel().astype(int)[order]) >= 0).all()
    means = [robustness.gamma(x, g).mean() for g in (0.5, 0.75, 1.0, 1.5, 2.0)]
    assert means == sorted(means, reverse=True)  # below 1 brightens, above 1 darkens
    stds = [robustness.window_level(x, w).std() for w in (0.0, 0.2, 0.4, 0.6)]
    assert stds == sorted(stds)  # a narrower window raises contrast


def test_full_histogram_equalisation_is_opencvs():
    x = scans(n=2)
    out = robustness.histogram_equalisation(x, 1.0)
    assert np.array_equal(out[1, :, :, 0], cv2.equalizeHist(x[1, :, :, 0]))


def test_bias_field_is_smooth_bounded_and_seeded():
    flat = np.full((2, 64, 64, 1), 100, np.uint8)
    out = robustness.bias_field(flat, 0.4, seed=1)
    log_gain = np.log(out.astype(float) / 100)
    assert np.abs(log_gain).max() == pytest.approx(0.4, abs=0.02)  # the field reaches +-1, times the amplitude
    assert np.abs(np.diff(log_gain, axis=1)).max() < 0.1  # slow: no jump between neighbouring pixels
    assert np.array_equal(out, robustness.bias_field(flat, 0.4, seed=1))
    assert not np.array_equal(out, robustness.bias_field(flat, 0.4, seed=2))


def test_jpeg_quality_changes_the_bytes_and_the_error():
    x = scans(n=1, size=64)
    plane = x[0, :, :, 0]
    high, low = robustness.jpeg_bytes(plane, 90), robustness.jpeg_bytes(plane, 15)
    assert high != low and len(low) < len(high)
    assert mean_change(robustness.jpeg(x, 15), x) > mean_change(robustness.jpeg(x, 90), x) > 0


def test_head_crop_fills_the_frame_with_the_head():
    x = np.zeros((2, 40, 40, 1), np.uint8)
    x[:, 10:30, 5:25] = 180
    out = robustness.head_crop(x, 0.0)
    assert out.dtype == np.uint8 and (out == 180).all()
    with pytest.raises(ValueError, match="margin must be >= 0"):
        robustness.head_crop(x, -0.1)


def test_resampling_keeps_a_flat_scan_and_noise_is_seeded_with_its_sigma():
    flat = np.full((1, 32, 32, 1), 77, np.uint8)
    assert np.array_equal(robustness.resample(flat, 3.0), flat)
    grey = np.full((1, 128, 128, 1), 128, np.uint8)
    noisy = robustness.gaussian_noise(grey, 8.0, seed=3)
    assert (noisy.astype(float) - 128).std() == pytest.approx(8.0, rel=0.05)
    assert np.array_equal(noisy, robustness.gaussian_noise(grey, 8.0, seed=3))


class RecognisesCleanScans:
    """A stand-in model: the true class for a scan it was shown clean, ``notumor`` for anything changed."""

    def __init__(self, x, y, k=4):
        self.known = {scan.tobytes(): label for scan, label in zip(x, y)}
        self.k = k

    def predict(self, x, batch_size=None, verbose=0):
        out = np.zeros((len(x), self.k), np.float32)
        for i, scan in enumerate(np.asarray(x, np.uint8)):
            out[i, self.known.get(scan.tobytes(), 2)] = 1
        return out


def test_robustness_rows_score_every_pipeline_and_strength():
    x, y = scans(n=8, border=4), np.array([0, 1, 2, 3, 0, 1, 3, 3])
    rows = evaluate.robustness_rows(RecognisesCleanScans(x, y), x, y, CLASSES)
    assert rows[0] == {"pipeline": "none", "parameter": "", "strength": 0.0, "n": 8, "accuracy": 1.0,
                       "binary_accuracy": 1.0, "drop": 0.0}
    expected = [(name, s) for name, p in robustness.PIPELINES.items() for s in p.strengths]
    assert [(r["pipeline"], r["strength"]) for r in rows[1:]] == expected
    for row in rows[1:]:  # every changed scan is called notumor: only the one notumor scan is right
        assert row["accuracy"] == pytest.approx(1 / 8) and row["binary_accuracy"] == pytest.approx(1 / 8)
        assert row["drop"] == pytest.approx(7 / 8)
    identity = {"gamma 1": robustness.Pipeline(robustness.gamma, "gamma", (1.0,))}
    assert evaluate.robustness_rows(RecognisesCleanScans(x, y), x, y, CLASSES, pipelines=identity)[1]["accuracy"] == 1.0
    worst = evaluate.worst_rows(rows)
    assert len(worst) == len(robustness.PIPELINES) and all(r["pipeline"] != "none" for r in worst)


# --- calibration ------------------------------------------------------------------------------------

class LooksLeft:
    """A stand-in model: 'glioma' when the left half is brighter, 'notumor' otherwise."""

    def predict(self, x, batch_size=None, verbose=0):
        half = x.shape[2] // 2
        left = x[:, :, :half].mean(axis=(1, 2, 3)) > x[:, :, half:].mean(axis=(1, 2, 3))
        return np.eye(4, dtype=np.float32)[np.where(left, 0, 2)]


def test_the_test_time_flip_averages_a_scan_with_its_mirror():
    x = np.zeros((2, 8, 8, 1), np.uint8)
    x[0, :, :4], x[1, :, 4:] = 200, 200
    np.testing.assert_array_equal(evaluate.predict_proba(LooksLeft(), x).argmax(1), [0, 2])
    np.testing.assert_allclose(evaluate.predict_proba(LooksLeft(), x, flip=True), [[0.5, 0, 0.5, 0]] * 2)
    rows = evaluate.robustness_rows(LooksLeft(), x, np.array([0, 2]), CLASSES, flip=True,
                                    pipelines={"gamma": robustness.Pipeline(robustness.gamma, "gamma", (2.0,))})
    assert rows[0]["accuracy"] == 0.5  # ties go to the first class: the mirror changed a prediction


def test_the_test_time_flip_is_chosen_only_when_more_accurate_on_validation(tmp_path):
    y = np.array([0, 1, 2])
    right, wrong = np.eye(4)[[0, 1, 2]], np.eye(4)[[0, 1, 3]]
    assert evaluate.choose_test_time_flip(y, wrong, right) == {
        "test_time_flip": True, "validation_accuracy_single": pytest.approx(2 / 3), "validation_accuracy_flip": 1.0}
    assert evaluate.choose_test_time_flip(y, right, right)["test_time_flip"] is False  # a tie keeps the single view
    assert evaluate.run_calibration(tmp_path).test_time_flip is False
    evaluate.write_calibration(tmp_path, evaluate.choose_test_time_flip(y, wrong, right))
    assert evaluate.run_calibration(tmp_path) == evaluate.RunCalibration(temperature=None, test_time_flip=True)


def test_expected_calibration_error_by_hand():
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    y = np.array([0, 1, 1, 1])  # confidence 0.9: right half the time; confidence 0.6: always right
    bins = evaluate.reliability_bins(y, proba, bins=10)
    assert [b["n"] for b in bins] == [0, 0, 0, 0, 0, 2, 0, 0, 2, 0]
    assert bins[8] == pytest.approx({"lower": 0.8, "upper": 0.9, "n": 2, "confidence": 0.9, "accuracy": 0.5})
    assert bins[0]["accuracy"] is None and bins[0]["confidence"] is None
    assert evaluate.expected_calibration_error(y, proba, bins=10) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    honest = np.array([[0.75, 0.25]] * 4)
    assert evaluate.expected_calibration_error(np.array([0, 0, 0, 1]), honest) == pytest.approx(0.0)


def test_temperature_keeps_predictions_and_softens_or_sharpens():
    proba = one_hot_proba(np.array([0, 3, 2, 1]), confidence=0.85)
    assert np.allclose(evaluate.apply_temperature(proba, 1.0), proba)
    for t in (0.3, 2.0, 10.0):
        assert (evaluate.apply_temperature(proba, t).argmax(axis=1) == proba.argmax(axis=1)).all()
    assert evaluate.apply_temperature(proba, 2.0).max() < 0.85 < evaluate.apply_temperature(proba, 0.5).max()
    assert np.allclose(evaluate.apply_temperature(np.array([[0.9], [0.2]]), 1.0), [[0.1, 0.9], [0.8, 0.2]])
    assert np.array_equal(evaluate.apply_temperature(proba, None), proba)
    with pytest.raises(ValueError, match="temperature must be positive"):
        evaluate.apply_temperature(proba, 0.0)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_fitted_temperature_recovers_an_overconfident_model():
    """Labels drawn from softmax(z); the model reports softmax(3 z): the fitted temperature is about 3."""
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, (20000, 4))
    y = np.array([rng.choice(4, p=p) for p in softmax(z)])
    overconfident = softmax(3 * z)
    record = evaluate.calibration_record(y, overconfident)
    assert record["temperature"] == pytest.approx(3.0, rel=0.05)
    assert record["ece_after"] < 0.02 < record["ece_before"] and record["nll_after"] < record["nll_before"]
    assert record["n"] == 20000 and record["fitted_on"] == "validation"
    (before, (bins, ece)), (after, (bins_after, ece_after)) = evaluate.reliability_diagrams(
        y, overconfident, record).items()
    assert (before, after) == ("validation, as trained", f"after temperature {record['temperature']:.2f}")
    assert (ece, ece_after) == (record["ece_before"], record["ece_after"])
    assert ece_after == pytest.approx(evaluate.expected_calibration_error(
        y, evaluate.apply_temperature(overconfident, record["temperature"])))
    assert sum(b["n"] for b in bins) == sum(b["n"] for b in bins_after) == 20000
    assert bins != bins_after  # the temperature moves scans to lower-confidence bins


def test_calibration_json_round_trip_keeps_other_entries(tmp_path):
    assert evaluate.run_calibration(tmp_path) == evaluate.RunCalibration(None, False)
    assert evaluate.calibration_status(None) == "uncalibrated (no calibration.json)"
    evaluate.write_calibration(tmp_path, {"explainer": {"method": "Grad-CAM", "layer": None}})
    evaluate.write_calibration(tmp_path, {"temperature": 1.7, "ece_before": 0.1})
    record = json.loads((tmp_path / "calibration.json").read_text())
    assert record["explainer"]["method"] == "Grad-CAM" and evaluate.run_calibration(tmp_path).temperature == 1.7
    assert [p.name for p in tmp_path.iterdir()] == ["calibration.json"]  # no temporary file left behind
    assert evaluate.calibration_status(1.7) == "calibrated (temperature 1.700)"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evaluate.write_calibration(tmp_path / "missing", {"temperature": 1.0})


# --- the Testing headline ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kaggle_with_repeats(tmp_path_factory):
    """Training/ and Testing/; Testing's first glioma is a byte copy of a Training scan and its first
    pituitary a re-encoded (near) copy of one; every other scan is distinct."""
    root = tmp_path_factory.mktemp("repeats")
    rng = np.random.default_rng(1)
    for split, count in (("Training", 4), ("Testing", 2)):
        for k, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                image = cv2.resize(rng.integers(0, 255, (6, 6)).astype(np.uint8), (48, 48), interpolation=cv2.INTER_NEAREST)
                cv2.imwrite(str(root / split / name / f"{i}.png"), image)
    (root / "Testing" / "glioma" / "0.png").write_bytes((root / "Training" / "glioma" / "0.png").read_bytes())
    source = cv2.imread(str(root / "Training" / "pituitary" / "1.png"), cv2.IMREAD_GRAYSCALE)
    (root / "Testing" / "pituitary" / "0.png").unlink()
    cv2.imwrite(str(root / "Testing" / "pituitary" / "0.jpg"), source, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return root


def test_testing_scans_repeated_in_training_are_flagged(kaggle_with_repeats):
    data = load_dataset(kaggle_with_repeats, image_size=32, val_fraction=0.25)
    flags = evaluate.training_duplicate_flags(data.report, data.paths_test)
    flagged = sorted(p.split("Testing/")[1] for p, f in zip(data.paths_test, flags) if f)
    assert flagged == ["glioma/0.png", "pituitary/0.jpg"] and len(data.paths_test) == 8
    proba = one_hot_proba(data.y_test)  # right on every scan
    proba[[data.paths_test.index(p) for p, f in zip(data.paths_test, flags) if not f][:1]] = one_hot_proba(
        np.array([(data.y_test[0] + 1) % 4]))  # but wrong on one scan that is not repeated
    headline = evaluate.testing_headline(data, proba)
    assert headline["split"] == "testing" and headline["n_left_out"] == 2
    assert headline["all"]["n"] == 8 and headline["all"]["accuracy"] == pytest.approx(7 / 8)
    assert headline["without_training_duplicates"]["n"] == 6
    assert headline["without_training_duplicates"]["accuracy"] == pytest.approx(5 / 6)
    rows = evaluate.headline_rows(headline)
    assert [r["set"] for r in rows] == ["testing, every scan", "testing without 2 scans repeated in Training"]
    assert rows[1]["accuracy"] == pytest.approx(5 / 6)


def test_no_testing_split_means_no_headline_and_validation_stands_in():
    assert evaluate.testing_headline(types.SimpleNamespace(x_test=None), np.zeros((0, 4))) is None
    fallback = evaluate.validation_headline(np.array([0, 1, 2, 3]), one_hot_proba(np.array([0, 1, 2, 2])), CLASSES)
    assert fallback["split"] == "validation" and "no Testing split" in fallback["note"]
    assert fallback["all"]["accuracy"] == 0.75 and fallback["without_training_duplicates"] == fallback["all"]
    assert fallback["n_left_out"] == 0 and [r["set"] for r in evaluate.headline_rows(fallback)] == ["validation, every scan"]
    report = types.SimpleNamespace(root="/r", files=[], exact_duplicates=[], near_duplicates=[], path=lambda i: "")
    with pytest.raises(ValueError, match="not in the scan of /r"):
        evaluate.training_duplicate_flags(report, ["/r/Testing/x.png"])


def test_accuracy_takes_the_most_probable_class_and_reads_a_sigmoid_column():
    assert evaluate.accuracy(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])) == pytest.approx(2 / 3)
    assert evaluate.accuracy(np.array([0, 1]), np.array([[0.3], [0.7]])) == 1.0
