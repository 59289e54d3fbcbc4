"""Decode a dataset once, keep the result: uint8 arrays and the scan report on disk under
``config.data_dir()/cache``, keyed by the dataset's fingerprint, the image size and colour mode.

A second load walks the folders (names, sizes and times only, to recompute the fingerprint) and
reads one ``.npy`` file: no JPEG is decoded. Writes go through a temporary file and an atomic
rename, so concurrent notebooks never read a half-written cache.
"""

from __future__ import annotations

import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from brainmri import config
from brainmri.data.duplicates import exact_groups, near_groups
from brainmri.data.images import BadImageError, check_color, decode_file
from brainmri.data.scan import Discovery, ScanFile, ScanReport, Skipped, discover


CACHE_VERSION = 3  # bump when decoding or hashing changes: old caches are then ignored


def cache_dir() -> Path:
    path = config.data_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _workers() -> int:
    return min(8, os.cpu_count() or 1)


def decode_all(found: Discovery, size: int | None, color: str) -> tuple[ScanReport, np.ndarray | None]:
    """Decode every candidate (thread pool); return the report and, with a size, the pixels of the
    loadable files as (N, size, size, C) uint8 aligned with ``report.files``."""
    channels = check_color(color)
    root = found.root

    def decode(candidate):
        try:
            return decode_file(root / candidate.relpath, size, color)
        except BadImageError as error:
            return str(error)
        except OSError as error:
            return f"unreadable ({error.strerror or error})"

    pixels = np.zeros((len(found.candidates), size, size, channels), np.uint8) if size else None
    files, skipped = [], list(found.skipped)
    with ThreadPoolExecutor(_workers()) as pool:
        for candidate, outcome in zip(found.candidates, pool.map(decode, found.candidates, chunksize=16)):
            if isinstance(outcome, str):
                skipped.append(Skipped(candidate.relpath, outcome))
                continue
            array, info = outcome
            if pixels is not None:
                pixels[len(files)] = array
            files.append(ScanFile(candidate.relpath, candidate.split, candidate.label, info.width,
                                  info.height, info.mode, info.format, info.sha1, info.dhash))
    sha1s = [f.sha1 for f in files]
    report = ScanReport(
        root=str(root), layout=found.layout, fingerprint=found.fingerprint, files=files,
        skipped=sorted(skipped, key=lambda s: s.relpath),
        exact_duplicates=exact_groups(sha1s), near_duplicates=near_groups([f.dhash for f in files], sha1s),
    )
    return report, (pixels[: len(files)].copy() if pixels is not None else None)


def decode_pixels(report: ScanReport, size: int, color: str) -> np.ndarray | None:
    """Pixels of the files a (cached) report lists, without re-hashing; None if one no longer decodes."""
    channels = check_color(color)
    pixels = np.zeros((len(report.files), size, size, channels), np.uint8)

    def decode(index):
        try:
            pixels[index] = decode_file(report.path(index), size, color, describe=False)[0]
            return True
        except (BadImageError, OSError):
            return False

    with ThreadPoolExecutor(_workers()) as pool:
        return pixels if all(pool.map(decode, range(len(report.files)))) else None


def _prune_stale_versions() -> None:
    """Delete cache files written by an older CACHE_VERSION (they would never be read again)."""
    for path in cache_dir().iterdir():
        if path.suffix in (".npy", ".json") and not path.name.startswith((f"v{CACHE_VERSION}-", ".")):
            path.unlink(missing_ok=True)


def _atomic_write(path: Path, write) -> None:
    _prune_stale_versions()
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.close(handle)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _save_array(path: str, pixels: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, pixels)


def _report_path(fingerprint: str) -> Path:
    return cache_dir() / f"v{CACHE_VERSION}-{fingerprint[:20]}-report.json"


def _save_report(report: ScanReport) -> None:
    _atomic_write(_report_path(report.fingerprint), lambda tmp: Path(tmp).write_text(json.dumps(report.to_dict())))


def _load_report(found: Discovery) -> ScanReport | None:
    path = _report_path(found.fingerprint)
    if not path.exists():
        return None
    report = ScanReport.from_dict(json.loads(path.read_text()))
    report.root = str(found.root)  # the same files may be reached through another path
    return report


def array_cache_path(fingerprint: str, size: int, color: str) -> Path:
    return cache_dir() / f"v{CACHE_VERSION}-{fingerprint[:20]}-{size}px-{color}.npy"


def is_cached(root: str | Path, size: int, color: str = "grayscale") -> bool:
    """Whether :func:`load_scan` would read ``root`` at this size and colour from cache."""
    found = discover(root)
    return _report_path(found.fingerprint).exists() and array_cache_path(found.fingerprint, size, color).exists()


def scan_dataset(root: str | Path, *, use_cache: bool = True) -> ScanReport:
    """The scan report of the dataset at ``root`` (decodes every file once; cached)."""
    found = discover(root)
    report = _load_report(found) if use_cache else None
    if report is None:
        report, _ = decode_all(found, None, "grayscale")
        if use_cache:
            _save_report(report)
    return report


def load_scan(root: str | Path, size: int, color: str = "grayscale", *,
              use_cache: bool = True) -> tuple[ScanReport, np.ndarray]:
    """Report and uint8 pixels (N, size, size, C) of every loadable scan, from cache when possible."""
    check_color(color)
    found = discover(root)
    array_path = array_cache_path(found.fingerprint, size, color)
    report = _load_report(found) if use_cache else None
    if report is not None and array_path.exists():
        pixels = np.load(array_path)
        if len(pixels) == len(report.files):
            return report, pixels
    pixels = decode_pixels(report, size, color) if report is not None else None
    if pixels is None:
        report, pixels = decode_all(found, size, color)
        if use_cache:
            _save_report(report)
    if use_cache:
        _atomic_write(array_path, lambda tmp: _save_array(tmp, pixels))
    return report, pixels
