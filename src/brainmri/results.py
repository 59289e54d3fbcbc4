"""Provenance and results: every saved number and figure says which profile and data made it."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from brainmri import config

_data_source: dict[str, str] = {"kind": "unknown", "root": ""}


def set_data_source(kind: str, root: str | Path) -> None:
    """Record the dataset the current process uses (called by the data resolver).

    Only the folder's name is kept: saved results must not carry one machine's absolute paths.
    """
    _data_source.update(kind=kind, root=Path(root).name)


def provenance() -> dict[str, str]:
    """Profile, data source and date, attached to every saved result and figure."""
    return {
        "profile": config.get_profile().name,
        "data": _data_source["kind"],
        "data_folder": _data_source["root"],
        "synthetic": _data_source["kind"] == "phantom",
        "date": _dt.date.today().isoformat(),
    }


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def save_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` with the payload and its provenance; return the path."""
    path = config.results_dir() / f"{name}.json"
    record = {"provenance": provenance(), **_to_jsonable(payload)}
    path.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n")
    return path


def load_results(name: str) -> dict[str, Any]:
    path = config.results_dir() / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no results named {name!r}: {path} does not exist (run the notebook that writes it)")
    return json.loads(path.read_text())


def record_figure(name: str) -> None:
    """Add or update the figure's entry in ``figures/MANIFEST.json`` (which data made it, when)."""
    manifest_path = config.figures_dir() / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[name] = provenance()
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
