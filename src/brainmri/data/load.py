"""From a dataset folder to train/validation/test arrays (``load_dataset``), and from a folder of
labelled scans to an evaluation set (``load_evaluation_set``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brainmri import config
from brainmri.config import SEED
from brainmri.data.cache import load_scan
from brainmri.data.duplicates import connected_groups
from brainmri.data.locate import DataSource, resolve_data_root
from brainmri.data.scan import BINARY_CLASS_NAMES, SPLIT_ALIASES, ScanReport, Skipped
from brainmri.data.split import THREE_WAY, cap_per_class, group_split, to_binary

TASKS = ("multiclass", "binary")


@dataclass
class SplitArrays:
    """uint8 images (N, S, S, C) and integer labels per split; ``x_test`` is None without a test split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    paths_train: list[str]
    paths_val: list[str]
    paths_test: list[str] | None
    class_names: list[str]
    source: DataSource
    report: ScanReport
    task: str = "multiclass"
    dropped: list[Skipped] = field(default_factory=list)  # loadable scans left out, with the reason

    def summary(self) -> dict[str, dict[str, int]]:
        """Scans per split and class, as loaded."""
        table = {}
        for split, y in (("train", self.y_train), ("val", self.y_val), ("test", self.y_test)):
            if y is not None:
                table[split] = {name: int((y == k).sum()) for k, name in enumerate(self.class_names)}
        return table


def _as_source(source: DataSource | str | Path) -> DataSource:
    """A plain path goes through the resolver too, so provenance records it."""
    return source if isinstance(source, DataSource) else resolve_data_root(source, verbose=False)


def duplicates_to_drop(report: ScanReport) -> dict[int, str]:
    """Files to leave out, with the reason: extra copies of an exact duplicate, every copy of an
    image that appears under two different labels, and Training files that duplicate (exactly or
    nearly) a Testing file, which would otherwise leak the test set into training."""
    files, drop = report.files, {}
    for group in report.exact_duplicates:
        labels = sorted({files[i].label for i in group})
        if len(labels) > 1:
            drop.update({i: f"same image labelled {' and '.join(labels)}" for i in group})
            continue
        keep = min(group, key=lambda i: (files[i].split != "Testing", i))
        drop.update({i: f"exact duplicate of {files[keep].relpath}" for i in group if i != keep})
    for group in report.near_duplicates:
        tests = [i for i in group if files[i].split == "Testing"]
        if tests:
            drop.update({i: f"near duplicate of Testing file {files[tests[0]].relpath}"
                         for i in group if files[i].split == "Training" and i not in drop})
    return drop


def _split_indexes(report: ScanReport, kept: list[int], val_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """train/val(/test) indexes into ``report.files``; duplicate groups stay on one side."""
    labels = [f.label for f in report.files]
    pool = [i for i in kept if report.files[i].split in ("Training", "all")]
    position = {index: k for k, index in enumerate(pool)}
    related = [[position[i] for i in g if i in position] for g in report.exact_duplicates + report.near_duplicates]
    groups = connected_groups(len(pool), [g for g in related if len(g) > 1])
    three_way = report.layout != "kaggle"
    fractions = THREE_WAY if three_way else {"val": val_fraction}
    parts = group_split([labels[i] for i in pool], groups, fractions, seed)
    parts = {name: np.array([pool[k] for k in part], dtype=np.int64) for name, part in parts.items()}
    if not three_way:
        tests = [i for i in kept if report.files[i].split == "Testing"]
        parts["test"] = np.array(tests, dtype=np.int64) if tests else None
    return parts


def _labels(report: ScanReport, task: str) -> tuple[list[str], list[str]]:
    """Class names and each file's label name under ``task``."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    names = [f.label for f in report.files]
    if task == "binary":
        return list(BINARY_CLASS_NAMES), to_binary(names)
    if report.layout == "yes-no":
        raise ValueError(f"{report.root} has only tumour / no-tumour folders (yes/no layout): use task='binary'")
    return report.class_names, names


def load_dataset(source: DataSource | str | Path, image_size: int = 128, color: str = "grayscale",
                 task: str = "multiclass", val_fraction: float = 0.15, seed: int = SEED,
                 max_per_class: int | None = None, *, drop_duplicates: bool = True) -> SplitArrays:
    """Decode (or read from cache) every scan, drop duplicates that would leak, and split.

    Validation is carved from Training (stratified, seeded, duplicate groups kept together); the
    test split is the Testing folder, or 10% (with 20% validation) for layouts without split
    folders. ``max_per_class`` caps each class in each split (a seeded choice).
    """
    source = _as_source(source)
    report, pixels = load_scan(source.root, image_size, color)
    class_names, label_names = _labels(report, task)
    drop = duplicates_to_drop(report) if drop_duplicates else {}
    kept = [i for i in range(len(report.files)) if i not in drop]
    parts = _split_indexes(report, kept, val_fraction, seed)
    code = {name: k for k, name in enumerate(class_names)}
    out = {}
    for offset, name in enumerate(("train", "val", "test")):
        indexes = parts.get(name)
        if indexes is None:
            out.update({f"x_{name}": None, f"y_{name}": None, f"paths_{name}": None})
            continue
        indexes = cap_per_class(indexes, label_names, max_per_class, seed + offset)
        out[f"x_{name}"] = pixels[indexes]
        out[f"y_{name}"] = np.array([code[label_names[i]] for i in indexes], dtype=np.int64)
        out[f"paths_{name}"] = [report.path(i) for i in indexes]
    dropped = [Skipped(report.path(i), reason) for i, reason in sorted(drop.items())]
    return SplitArrays(**out, class_names=class_names, source=source, report=report, task=task, dropped=dropped)


def load_profile_dataset(source: DataSource | str | Path, profile: config.Profile | None = None, *,
                         task: str = "multiclass") -> SplitArrays:
    """:func:`load_dataset` as the profile sizes it (image size, colour, validation fraction, cap per
    class): the arrays the notebooks and the latent studies share."""
    profile = profile or config.get_profile()
    return load_dataset(source, image_size=profile.image_size, color=profile.color, task=task,
                        val_fraction=profile.val_fraction, max_per_class=profile.max_per_class)


def _in_testing(relpath: str) -> bool:
    return relpath.split("/")[0].lower() in ("testing", "test")


@dataclass
class EvaluationSet:
    """A labelled set to evaluate a trained model on, with the files that could not be used."""

    x: np.ndarray  # uint8 (N, S, S, C)
    y: np.ndarray  # int64 indexes into class_names
    paths: list[str]
    class_names: list[str]
    skipped: list[Skipped]  # absolute paths, with the reason


def load_evaluation_set(path: str | Path, image_size: int, color: str, class_names: list[str]) -> EvaluationSet:
    """Every readable scan of a folder of class folders (e.g. Kaggle's ``Testing/``) or, given a
    dataset root in the Kaggle layout, of its Testing split; labelled with the model's class names
    (a binary model's ``["notumor", "tumor"]`` maps every tumour class to ``tumor``)."""
    report, pixels = load_scan(_lone_testing_split(Path(path)), image_size, color)
    if report.layout == "kaggle":
        if "Testing" not in report.splits:
            raise ValueError(f"{report.root} has no Testing/ folder to evaluate on; pass a folder of class folders")
        chosen = [i for i, f in enumerate(report.files) if f.split == "Testing"]
    else:
        chosen = list(range(len(report.files)))
    names = [report.files[i].label for i in chosen]
    if list(class_names) == BINARY_CLASS_NAMES:
        names = to_binary(names)
    unknown = sorted(set(names) - set(class_names))
    if unknown:
        raise ValueError(f"{report.root} has classes {unknown} that the model does not know (its classes: {list(class_names)})")
    code = {name: k for k, name in enumerate(class_names)}
    skipped = [Skipped(str(Path(report.root) / s.relpath), s.reason) for s in report.skipped
               if report.layout != "kaggle" or _in_testing(s.relpath)]
    return EvaluationSet(x=pixels[chosen], y=np.array([code[n] for n in names], dtype=np.int64),
                         paths=[report.path(i) for i in chosen], class_names=list(class_names), skipped=skipped)


def _lone_testing_split(path: Path) -> Path:
    """A dataset root that holds only a Testing/ split is evaluated as that split's class folders."""
    splits = {SPLIT_ALIASES[d.name.lower()]: d for d in path.iterdir()
              if d.is_dir() and d.name.lower() in SPLIT_ALIASES} if path.is_dir() else {}
    return splits["Testing"] if set(splits) == {"Testing"} else path


def split_leakage(data: SplitArrays) -> dict[str, int]:
    """Duplicate groups (exact, near) whose loaded members sit in more than one of train/val/test.

    Both counts should be zero: a picture in training and in validation inflates validation scores.
    """
    part = {}
    for name, paths in (("train", data.paths_train), ("val", data.paths_val), ("test", data.paths_test)):
        part.update(dict.fromkeys(paths or [], name))
    report = data.report

    def leaking(groups):
        return sum(len({part[report.path(i)] for i in g if report.path(i) in part}) > 1 for g in groups)

    return {"exact": leaking(report.exact_duplicates), "near": leaking(report.near_duplicates)}
