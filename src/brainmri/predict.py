"""``python -m brainmri predict``: classify scans one by one, with calibrated probabilities and, on
request, the explanation of each prediction drawn over the scan.

A scan is a file or every image in a folder (not its subfolders), decoded as the data layer decodes
the dataset (:func:`brainmri.data.images.decode_file`: same squaring, resizing and colour). A file
that cannot be read is reported with its reason and the others still go through; the command then
exits with status 1.

The run's temperature (``calibration.json``, see :mod:`brainmri.evaluate.calibration`) rescales
the probabilities; without one they are the model's own and the output says "uncalibrated". Where
the run chose the test-time flip there (on validation), each scan is scored with its mirror.
The explainer is the method and layer recorded with the run (the ``explainer`` entry of its
``calibration.json``, written by notebook 05 when it ranks this run's model), else the winner of
the last faithfulness ranking (``results/05_faithfulness.json``), else Grad-CAM at the last block.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from brainmri import results
from brainmri.data.images import IMAGE_SUFFIXES, BadImageError, decode_file
from brainmri.evaluate import (
    apply_temperature, calibration_status, predict_proba, read_calibration, run_calibration,
    write_calibration,
)

FALLBACK_EXPLAINER = {"method": "Grad-CAM", "layer": None, "source": "default (no faithfulness ranking found)"}


@dataclass
class Scans:
    """Decoded scans (uint8 (N, S, S, C)) with their files, and the files that could not be read."""

    x: np.ndarray
    paths: list[str]
    failed: list[dict[str, str]]  # {"path", "error"}


def scan_files(paths: list[str | Path]) -> list[Path]:
    """Every file named, and every image file (by suffix) directly inside each folder named, in order."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            files.append(path)
    return files


def read_scans(files: list[Path], image_size: int, color: str) -> Scans:
    """Decode every file at the model's size and colour; an unreadable one is kept aside with its reason."""
    channels = 1 if color == "grayscale" else 3
    images, read, failed = [], [], []
    for path in files:
        try:
            pixels, _ = decode_file(path, image_size, color, describe=False)
        except (BadImageError, OSError) as error:
            failed.append({"path": str(path), "error": str(error)})
            continue
        images.append(pixels)
        read.append(str(path))
    x = np.stack(images) if images else np.zeros((0, image_size, image_size, channels), np.uint8)
    return Scans(x=x, paths=read, failed=failed)


def prediction_rows(paths: list[str], proba: np.ndarray, class_names: list[str]) -> list[dict[str, Any]]:
    """One row per scan: ``path``, ``predicted`` class, ``confidence`` and every class's ``probabilities``."""
    return [{"path": path, "predicted": class_names[int(p.argmax())], "confidence": float(p.max()),
             "probabilities": {name: float(value) for name, value in zip(class_names, p)}}
            for path, p in zip(paths, proba)]


def predict_scans(model, x: np.ndarray, temperature: float | None, *, flip: bool = False,
                  batch_size: int = 64) -> np.ndarray:
    """(N, K) calibrated class probabilities (the model's own with ``temperature`` None; ``flip``: the
    test-time flip, see :func:`brainmri.evaluate.predict_proba`)."""
    if not len(x):
        return np.zeros((0, 0))
    return apply_temperature(predict_proba(model, x, batch_size, flip=flip), temperature)


def explainer_choice(run_dir: str | Path) -> dict[str, Any]:
    """The explainer to draw for this run: ``{"method", "layer", "source"}`` (see the module docstring)."""
    recorded = (read_calibration(run_dir) or {}).get("explainer")
    if recorded:
        return {**recorded, "source": f"{Path(run_dir) / 'calibration.json'}"}
    try:
        ranking = results.load_results("05_faithfulness")
    except FileNotFoundError:
        return dict(FALLBACK_EXPLAINER)
    if ranking.get("chosen_method"):
        return {"method": ranking["chosen_method"], "layer": ranking.get("chosen_layer"),
                "source": "results/05_faithfulness.json"}
    return dict(FALLBACK_EXPLAINER)


def record_explainer(run_dir: str | Path, method: str, layer: str | None, chosen_by: str) -> Path:
    """Store the explainer ``predict --explain`` should draw for this run in its ``calibration.json``."""
    return write_calibration(run_dir, {"explainer": {"method": method, "layer": layer, "chosen_by": chosen_by}})


def record_faithfulness_choice(run_dir: str | Path) -> dict[str, Any] | None:
    """Record notebook 05's most faithful explainer (``results/05_faithfulness.json``) with the run;
    None, and nothing written, when there is no such ranking yet."""
    try:
        ranking = results.load_results("05_faithfulness")
    except FileNotFoundError:
        return None
    if not ranking.get("chosen_method"):
        return None
    record_explainer(run_dir, ranking["chosen_method"], ranking.get("chosen_layer"),
                     "the faithfulness ranking of notebook 05 (results/05_faithfulness.json)")
    return read_calibration(run_dir)["explainer"]


def build_explainer(model, choice: dict[str, Any]):
    """The :mod:`brainmri.explain` explainer named by ``choice`` on ``model``."""
    from brainmri.explain import EXPLAINERS

    if choice["method"] not in EXPLAINERS:
        raise ValueError(f"unknown explainer {choice['method']!r} (from {choice['source']}); "
                         f"known: {sorted(EXPLAINERS)}")
    return EXPLAINERS[choice["method"]](model, layer=choice.get("layer"))


def prediction_title(row: dict[str, Any], status: str) -> str:
    """'<file>: glioma 0.97, calibrated (temperature 1.234)'."""
    return f"{Path(row['path']).name}: {row['predicted']} {row['confidence']:.2f}, {status}"


def write_explanations(model, scans: Scans, rows: list[dict[str, Any]], class_names: list[str],
                       out_dir: str | Path, choice: dict[str, Any], status: str) -> list[Path]:
    """One PNG per scan in ``out_dir``: the scan, the explanation of its predicted class, the prediction."""
    from brainmri.explain import heatmaps_in_batches
    from brainmri.plots.classifier import plot_prediction

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    explainer = build_explainer(model, choice)
    predicted = np.array([class_names.index(row["predicted"]) for row in rows], dtype=np.int64)
    heatmaps = heatmaps_in_batches(explainer, scans.x, predicted)
    written = []
    for k, (row, heatmap) in enumerate(zip(rows, heatmaps)):
        fig = plot_prediction(scans.x[k], heatmap, f"{prediction_title(row, status)}\n{explainer.name} @ {explainer.layer}")
        path = out_dir / f"{k:03d}_{Path(row['path']).stem}.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        row["explanation"] = str(path)
        written.append(path)
    return written


def predict_command(args: argparse.Namespace) -> int:
    """``python -m brainmri predict --model RUN/model.keras PATH... [--explain OUT_DIR] [--json]``."""
    from brainmri.train.classifier import MODEL_FILE, load_run

    run_dir = Path(args.model).parent
    if Path(args.model).name != MODEL_FILE:
        raise ValueError(f"--model {args.model}: expected the {MODEL_FILE} of a run directory written by `train`")
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):  # --json: stdout holds the JSON only
        calibration = run_calibration(run_dir)
        temperature, flip = calibration.temperature, calibration.test_time_flip
        run = load_run(run_dir)
        scans = read_scans(scan_files(args.paths), run.config["image_size"], run.config["color"])
        proba = predict_scans(run.model, scans.x, temperature, flip=flip)
        rows = prediction_rows(scans.paths, proba, run.class_names)
        status = calibration_status(temperature)
        choice = explainer_choice(run_dir) if args.explain else None
        if args.explain and rows:
            write_explanations(run.model, scans, rows, run.class_names, args.explain, choice, status)
    report = {"model": str(args.model), "calibration": status, "temperature": temperature,
              "test_time_flip": flip, "explainer": choice,
              "predictions": rows, "failed": scans.failed}
    if args.json:
        print(json.dumps(report))
    else:
        print_predictions(report)
    return 1 if scans.failed else 0


def print_predictions(report: dict[str, Any]) -> None:
    """The text output of :func:`predict_command`: one line per scan, then the failures."""
    print(f"{len(report['predictions'])} scans, {report['calibration']}"
          + (", each scored with its mirror (test-time flip)" if report["test_time_flip"] else ""))
    if report["explainer"]:
        print(f"explanations: {report['explainer']['method']} @ {report['explainer']['layer'] or 'last block'} "
              f"(from {report['explainer']['source']})")
    for row in report["predictions"]:
        probabilities = "  ".join(f"{name} {p:.3f}" for name, p in row["probabilities"].items())
        print(f"{row['path']}: {row['predicted']}  [{probabilities}]"
              + (f"  -> {row['explanation']}" if "explanation" in row else ""))
    for failure in report["failed"]:
        print(f"could not read {failure['path']}: {failure['error']}", file=sys.stderr)
