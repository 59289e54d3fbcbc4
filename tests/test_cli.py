"""``python -m brainmri train`` then ``evaluate --json`` on a tiny Kaggle-layout folder written here,
the ways a run directory can be damaged or reused, each refused with one line, and bad arguments,
each refused with one line naming the argument before any data is read."""

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from brainmri.cli import main

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Training/ and Testing/ with class folders of small PNGs (class k: bright quadrant k), one bad file."""
    root = tmp_path_factory.mktemp("kaggle")
    rng = np.random.default_rng(0)
    for split, per_class in (("Training", 10), ("Testing", 3)):
        for k, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                image = rng.integers(0, 60, (40, 40)).astype(np.uint8)
                r, c = divmod(k, 2)
                image[r * 20:(r + 1) * 20, c * 20:(c + 1) * 20] += 150
                cv2.imwrite(str(folder / f"{split[:2]}-{name}-{i}.png"), image)
    (root / "Testing" / "glioma" / "broken.jpg").write_bytes(b"not a jpeg")
    return root


@pytest.fixture(scope="module")
def run_dir(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "--data", str(dataset), "--image-size", "32", "--epochs", "1", "--batch-size", "8",
                 "--out", str(out)]) == 0
    return out


def test_train_writes_the_run_directory(run_dir):
    assert {"model.keras", "history.csv", "config.json", "metrics.json", "finished.json"} <= {
        p.name for p in run_dir.iterdir()}
    record = json.loads((run_dir / "config.json").read_text())
    assert (record["image_size"], record["color"], record["class_names"]) == (32, "grayscale", CLASSES)
    assert record["recipe"]["epochs"] == 1 and record["recipe"]["arch"] == "residual_cnn"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["split"] == "validation" and 0 <= metrics["accuracy"] <= 1 and metrics["epochs_run"] == 1


def test_evaluate_prints_one_json_object_for_the_testing_split(run_dir, dataset):
    """In a fresh interpreter, as a user runs it: the saved model must load with no prior imports."""
    done = subprocess.run([sys.executable, "-m", "brainmri", "evaluate", "--model", str(run_dir / "model.keras"),
                           "--data", str(dataset), "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)  # stdout is the JSON object and nothing else
    assert {"n", "accuracy", "macro_f1", "binary_accuracy", "per_class", "confusion_matrix", "class_names",
            "skipped"} <= set(result)
    assert result["n"] == 12 and result["class_names"] == CLASSES
    assert np.array(result["confusion_matrix"]).sum() == 12
    assert [s["path"].endswith("broken.jpg") for s in result["skipped"]] == [True]
    assert result["calibration"]["status"] == "uncalibrated (no calibration.json)"
    assert 0 <= result["calibration"]["ece_before"] <= 1 and result["calibration"]["ece_after"] is None
    # no Testing scan repeats a Training one here, so the second headline is the first
    assert result["n_repeated_in_training"] == 0
    assert result["without_training_duplicates"]["accuracy"] == pytest.approx(result["accuracy"])
    assert result["without_training_duplicates"]["n"] == 12


def test_evaluate_uses_the_runs_temperature(run_dir, dataset, tmp_path, capsys):
    from brainmri import evaluate

    copy = _copy_run(run_dir, tmp_path)
    capsys.readouterr()
    main(["evaluate", "--model", str(copy / "model.keras"), "--data", str(dataset), "--json"])
    raw = json.loads(capsys.readouterr().out)
    evaluate.write_calibration(copy, {"temperature": 0.5})
    main(["evaluate", "--model", str(copy / "model.keras"), "--data", str(dataset), "--json"])
    calibrated = json.loads(capsys.readouterr().out)
    assert calibrated["calibration"]["status"] == "calibrated (temperature 0.500)"
    assert calibrated["calibration"]["ece_before"] == pytest.approx(raw["calibration"]["ece_before"])
    assert calibrated["calibration"]["ece_after"] is not None
    assert calibrated["accuracy"] == raw["accuracy"]  # a temperature never changes a prediction
    main(["evaluate", "--model", str(copy / "model.keras"), "--data", str(dataset)])
    assert "calibration: calibrated (temperature 0.500); expected calibration error" in capsys.readouterr().out


def test_evaluate_takes_a_folder_of_class_folders(run_dir, dataset, capsys):
    capsys.readouterr()
    main(["evaluate", "--model", str(run_dir / "model.keras"), "--data", str(dataset / "Testing"), "--json"])
    assert json.loads(capsys.readouterr().out)["n"] == 12


def test_evaluate_takes_a_root_that_holds_only_testing(run_dir, dataset, tmp_path, capsys):
    (tmp_path / "Testing").symlink_to(dataset / "Testing")
    capsys.readouterr()
    main(["evaluate", "--model", str(run_dir / "model.keras"), "--data", str(tmp_path), "--json"])
    assert json.loads(capsys.readouterr().out)["n"] == 12


def test_evaluate_needs_the_run_config(tmp_path, dataset, capsys):
    lone = tmp_path / "model.keras"
    lone.write_bytes(b"")
    assert main(["evaluate", "--model", str(lone), "--data", str(dataset), "--json"]) == 2
    assert "config.json" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path / "missing.keras"), "--data", str(dataset)]) == 2
    assert "argument --model: " in capsys.readouterr().err


def test_bad_data_folder_is_one_readable_line(run_dir, tmp_path, capsys):
    (tmp_path / "scans").mkdir()
    assert main(["evaluate", "--model", str(run_dir / "model.keras"), "--data", str(tmp_path / "scans")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("brainmri evaluate: ") and "Traceback" not in error


def test_evaluate_without_json_prints_a_readable_report(run_dir, dataset, capsys):
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run_dir / "model.keras"), "--data", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert "12 scans from" in out and "1 skipped" in out and "macro avg" in out and "tumour/no tumour accuracy" in out
    assert "without the 0 scans repeated (exactly or nearly) in Training" in out
    assert "calibration: uncalibrated (no calibration.json)" in out


def _copy_run(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    return copy


@pytest.mark.parametrize("damage, message", [
    (lambda run: (run / "model.keras").write_bytes(b"PK\x03\x04 truncated"), "cannot load model file"),
    (lambda run: (run / "config.json").write_text("{\"image_size\": 32,"), "config.json is not valid JSON"),
    (lambda run: (run / "finished.json").unlink(), "holds an unfinished run (no finished.json)"),
    (lambda run: _edit_config(run, image_size=64), "disagrees with its model: the model takes images shaped "
                                                   "(32, 32, 1), the config says 64 px grayscale (64, 64, 1)"),
    (lambda run: _edit_config(run, class_names=CLASSES[:3]),
     "disagrees with its model: the model has 4 outputs for the config's 3 class names"),
])
def test_evaluate_refuses_a_damaged_run_with_one_line(run_dir, dataset, tmp_path, capsys, damage, message):
    copy = _copy_run(run_dir, tmp_path)
    damage(copy)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(copy / "model.keras"), "--data", str(dataset), "--json"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and len(captured.err.strip().splitlines()) == 1 and captured.out == ""


def _edit_config(run, **changes):
    record = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**record, **changes}))


def test_train_refuses_to_overwrite_a_finished_or_another_run(run_dir, dataset, capsys):
    args = ["train", "--data", str(dataset), "--image-size", "32", "--epochs", "1", "--batch-size", "8",
            "--out", str(run_dir)]
    model_time = (run_dir / "model.keras").stat().st_mtime
    capsys.readouterr()
    assert main(args) == 2
    assert f"{run_dir} already holds this run, finished" in capsys.readouterr().err
    assert main([*args[:-2], "--epochs", "2", "--out", str(run_dir)]) == 2  # the last --epochs wins
    assert f"{run_dir} already holds another run" in capsys.readouterr().err
    assert (run_dir / "model.keras").stat().st_mtime == model_time


@pytest.mark.parametrize("args, message", [
    (["train", "--arch", "resnet18", "--out", "OUT"], "argument --arch: unknown architecture 'resnet18'; choose one of "
                                                      "residual_cnn,"),
    (["train", "--image-size", "8", "--out", "OUT"], "argument --image-size: must be at least 16, got 8"),
    (["train", "--image-size", "big", "--out", "OUT"], "argument --image-size: 'big' is not a whole number"),
    (["train", "--epochs", "0", "--out", "OUT"], "argument --epochs: must be at least 1, got 0"),
    (["train", "--batch-size", "-4", "--out", "OUT"], "argument --batch-size: must be at least 1, got -4"),
    (["train", "--time-budget-min", "0", "--out", "OUT"], "argument --time-budget-min: must be greater than 0"),
    (["train", "--seed", "-1", "--out", "OUT"], "argument --seed: must be at least 0, got -1"),
    (["train", "--data", "MISSING", "--out", "OUT"], "argument --data: MISSING does not exist"),
    (["train", "--data", "FILE", "--out", "OUT"], "argument --data: FILE is not a folder"),
    (["train", "--out", "FILE"], "argument --out: FILE is a file, not a folder to write into"),
    (["train"], "the following arguments are required: --out"),
    (["evaluate", "--model", "MISSING", "--data", "DIR"], "argument --model: MISSING does not exist"),
    (["evaluate", "--model", "DIR", "--data", "DIR"], "argument --model: DIR is not a file"),
    (["evaluate", "--model", "FILE", "--data", "MISSING"], "argument --data: MISSING does not exist"),
    (["validate-data", "MISSING"], "argument data: MISSING does not exist"),
])
def test_bad_arguments_are_refused_in_one_line_before_any_data_is_read(args, message, tmp_path, capsys, monkeypatch):
    import brainmri.data

    def no_data(*_, **__):
        raise AssertionError("data was loaded despite a bad argument")

    for name in ("load_dataset", "resolve_data_root", "load_evaluation_set"):
        monkeypatch.setattr(brainmri.data, name, no_data)
    (tmp_path / "file.txt").write_text("x")
    places = {"OUT": tmp_path / "out", "MISSING": tmp_path / "missing", "FILE": tmp_path / "file.txt", "DIR": tmp_path}
    argv = [str(places.get(a, a)) for a in args]
    message = message.replace("MISSING", str(places["MISSING"])).replace("FILE", str(places["FILE"])).replace(
        "DIR", str(places["DIR"]))
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"brainmri {args[0]}: ") and message in captured.err, captured.err
    assert len(captured.err.strip().splitlines()) == 1 and captured.out == ""
    assert not (tmp_path / "out").exists()
