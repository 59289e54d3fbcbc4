"""``python -m brainmri predict`` on a tiny trained run: files and folders, calibrated probabilities,
explanation PNGs with the recorded explainer, unreadable files reported while the others go through,
and bad arguments refused before the model is loaded."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from brainmri import evaluate, predict
from brainmri.cli import main
from brainmri.results import save_results

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def quadrant_scan(k, rng, size=40):
    image = rng.integers(0, 60, (size, size)).astype(np.uint8)
    r, c = divmod(k, 2)
    half = size // 2
    image[r * half:(r + 1) * half, c * half:(c + 1) * half] += 150
    return image


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("kaggle")
    rng = np.random.default_rng(0)
    for k, name in enumerate(CLASSES):
        (root / "Training" / name).mkdir(parents=True)
        for i in range(6):
            cv2.imwrite(str(root / "Training" / name / f"{i}.png"), quadrant_scan(k, rng))
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "--data", str(root), "--image-size", "32", "--epochs", "1", "--batch-size", "8",
                 "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """A folder of three scans (one a JPEG), a note that is not an image, and a broken PNG beside it."""
    folder = tmp_path_factory.mktemp("scans")
    rng = np.random.default_rng(5)
    cv2.imwrite(str(folder / "a.png"), quadrant_scan(0, rng))
    cv2.imwrite(str(folder / "b.jpg"), quadrant_scan(3, rng))
    cv2.imwrite(str(folder / "c.png"), quadrant_scan(2, rng, size=64))
    (folder / "notes.txt").write_text("not a scan")
    broken = tmp_path_factory.mktemp("broken") / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return folder, broken


def run_predict(capsys, *args):
    capsys.readouterr()
    code = main(["predict", *map(str, args)])
    return code, capsys.readouterr()


def test_a_folder_and_a_file_give_one_line_per_scan(run_dir, scans, capsys):
    folder, _ = scans
    code, out = run_predict(capsys, "--model", run_dir / "model.keras", folder, folder / "a.png")
    assert code == 0, out.err
    lines = out.out.strip().splitlines()
    assert lines[0] == "4 scans, uncalibrated (no calibration.json)"
    assert [line.split(":")[0] for line in lines[1:]] == [str(folder / n) for n in ("a.png", "b.jpg", "c.png", "a.png")]
    assert all(any(f": {name}  [" in line for name in CLASSES) for line in lines[1:])


def test_json_probabilities_are_the_models_rescaled_by_the_runs_temperature(run_dir, scans, capsys, tmp_path):
    import shutil

    folder, _ = scans
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    code, raw = run_predict(capsys, "--model", copy / "model.keras", folder, "--json")
    raw = json.loads(raw.out)
    assert code == 0 and raw["calibration"] == "uncalibrated (no calibration.json)" and raw["temperature"] is None
    evaluate.write_calibration(copy, {"temperature": 2.5})
    code, calibrated = run_predict(capsys, "--model", copy / "model.keras", folder, "--json")
    calibrated = json.loads(calibrated.out)
    assert calibrated["calibration"] == "calibrated (temperature 2.500)"
    for before, after in zip(raw["predictions"], calibrated["predictions"]):
        p = np.array([list(before["probabilities"].values())])
        assert np.allclose(list(after["probabilities"].values()), evaluate.apply_temperature(p, 2.5)[0], atol=1e-6)
        assert after["predicted"] == before["predicted"] and sum(after["probabilities"].values()) == pytest.approx(1)


def test_a_run_that_chose_the_test_time_flip_scores_each_scan_with_its_mirror(run_dir, scans, capsys, tmp_path):
    import shutil

    from brainmri.models.loading import load_classifier

    folder, _ = scans
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    evaluate.write_calibration(copy, {"test_time_flip": True})
    code, out = run_predict(capsys, "--model", copy / "model.keras", folder / "b.jpg", "--json")
    report = json.loads(out.out)
    assert code == 0 and report["test_time_flip"] is True
    model = load_classifier(copy / "model.keras")
    x = predict.read_scans([folder / "b.jpg"], 32, "grayscale").x.astype(np.float32)
    expected = (model.predict(x, verbose=0) + model.predict(x[:, :, ::-1], verbose=0)) / 2
    assert np.allclose(list(report["predictions"][0]["probabilities"].values()), expected[0], atol=1e-5)
    code, out = run_predict(capsys, "--model", copy / "model.keras", folder / "b.jpg")
    assert out.out.splitlines()[0].endswith("each scored with its mirror (test-time flip)")


def test_an_unreadable_file_is_reported_and_the_others_go_through(run_dir, scans, capsys):
    folder, broken = scans
    code, out = run_predict(capsys, "--model", run_dir / "model.keras", folder / "a.png", broken, folder / "b.jpg")
    assert code == 1
    assert f"could not read {broken}: " in out.err
    assert out.out.startswith("2 scans") and str(folder / "b.jpg") in out.out
    code, out = run_predict(capsys, "--model", run_dir / "model.keras", broken, "--json")
    report = json.loads(out.out)
    assert code == 1 and report["predictions"] == [] and report["failed"][0]["path"] == str(broken)


def test_explain_writes_one_png_per_scan_with_the_recorded_explainer(run_dir, scans, capsys, tmp_path):
    import shutil

    folder, _ = scans
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    save_results("05_faithfulness", {"chosen_method": "Grad-CAM++", "chosen_layer": "stage2_block1_out"})
    assert predict.explainer_choice(copy) == {"method": "Grad-CAM++", "layer": "stage2_block1_out",
                                              "source": "results/05_faithfulness.json"}
    recorded = predict.record_faithfulness_choice(copy)
    assert recorded["method"] == "Grad-CAM++" and "notebook 05" in recorded["chosen_by"]
    assert json.loads((copy / "calibration.json").read_text())["explainer"] == recorded
    predict.record_explainer(copy, "Grad-CAM", "stage1_block1_out", "test")
    out_dir = tmp_path / "explained"
    code, out = run_predict(capsys, "--model", copy / "model.keras", folder, "--explain", out_dir, "--json")
    report = json.loads(out.out)
    assert code == 0
    assert report["explainer"]["method"] == "Grad-CAM" and report["explainer"]["layer"] == "stage1_block1_out"
    written = sorted(out_dir.glob("*.png"))
    assert [p.name for p in written] == ["000_a.png", "001_b.png", "002_c.png"]
    assert [row["explanation"] for row in report["predictions"]] == [str(p) for p in written]
    image = cv2.imread(str(written[0]))
    assert image is not None and image.shape[1] > image.shape[0]  # scan and overlay side by side


def test_a_fresh_interpreter_predicts_with_no_prior_imports(run_dir, scans):
    folder, _ = scans
    done = subprocess.run([sys.executable, "-m", "brainmri", "predict", "--model", str(run_dir / "model.keras"),
                           str(folder / "b.jpg"), "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [row] = json.loads(done.stdout)["predictions"]
    assert row["predicted"] in CLASSES and set(row["probabilities"]) == set(CLASSES)


@pytest.mark.parametrize("args, message", [
    (["--model", "RUN/model.keras", "MISSING"], "argument PATH: MISSING does not exist"),
    (["--model", "MISSING", "SCANS"], "argument --model: MISSING does not exist"),
    (["--model", "RUN/model.keras", "SCANS", "--explain", "RUN/config.json"],
     "argument --explain: RUN/config.json is a file, not a folder to write into"),
    (["--model", "RUN/config.json", "SCANS"], "--model RUN/config.json: expected the model.keras of a run directory"),
    (["--model", "RUN/model.keras"], "the following arguments are required: PATH"),
])
def test_bad_arguments_are_one_line(run_dir, scans, tmp_path, capsys, args, message):
    places = {"RUN": str(run_dir), "MISSING": str(tmp_path / "missing.png"), "SCANS": str(scans[0])}

    def fill(text):
        for key, value in places.items():
            text = text.replace(key, value)
        return text

    code, out = run_predict(capsys, *map(fill, args))
    assert code == 2 and out.err.startswith("brainmri predict: ") and fill(message) in out.err, out.err
    assert len(out.err.strip().splitlines()) == 1 and out.out == ""


def test_an_unfinished_run_is_refused(run_dir, scans, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "finished.json").unlink()
    code, out = run_predict(capsys, "--model", copy / "model.keras", scans[0])
    assert code == 2 and "holds an unfinished run (no finished.json)" in out.err
