"""Walk a dataset folder: recognise its layout, map class folders to canonical names, and account
for every file, either as a scan to decode or as skipped with a reason.

Layouts recognised:

- ``kaggle``: ``Training/`` (and usually ``Testing/``), each holding class folders;
- ``class-folders``: class folders directly under the root;
- ``yes-no``: Br35H style, ``yes/`` (tumour) and ``no/`` (no tumour).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from brainmri.data.images import IMAGE_SUFFIXES

NO_TUMOUR = "notumor"  # the label of scans without a tumour, as the Kaggle dataset spells it
CLASS_NAMES = ["glioma", "meningioma", NO_TUMOUR, "pituitary"]
BINARY_CLASS_NAMES = [NO_TUMOUR, "tumor"]

CLASS_ALIASES = {
    "glioma": "glioma", "glioma_tumor": "glioma", "glioma_tumour": "glioma",
    "meningioma": "meningioma", "meningioma_tumor": "meningioma", "meningioma_tumour": "meningioma",
    "notumor": NO_TUMOUR, "notumour": NO_TUMOUR, "no_tumor": NO_TUMOUR, "no_tumour": NO_TUMOUR,
    "no": NO_TUMOUR, "healthy": NO_TUMOUR,
    "pituitary": "pituitary", "pituitary_tumor": "pituitary", "pituitary_tumour": "pituitary",
    "yes": "tumor", "tumor": "tumor", "tumour": "tumor",
}
SPLIT_ALIASES = {"training": "Training", "train": "Training", "testing": "Testing", "test": "Testing"}
EXPECTED_LAYOUTS = (
    "expected one of these layouts:\n"
    "  ROOT/Training/<class>/*.jpg and ROOT/Testing/<class>/*.jpg   (Kaggle)\n"
    "  ROOT/<class>/*.jpg                                            (class folders)\n"
    "  ROOT/yes/*.jpg and ROOT/no/*.jpg                              (Br35H)\n"
    f"  with <class> one of {CLASS_NAMES} or an alias ({', '.join(sorted(CLASS_ALIASES))})"
)


class LayoutError(ValueError):
    """The folder structure is not one we recognise; the message shows what was expected and found."""


@dataclass(frozen=True)
class Candidate:
    """A file that looks like a scan, before decoding."""

    relpath: str  # relative to the dataset root, with "/"
    split: str  # "Training" | "Testing" | "all" (layouts without split folders)
    label: str  # canonical class name, or "tumor" in the yes/no layout


@dataclass(frozen=True)
class Skipped:
    relpath: str
    reason: str


@dataclass
class Discovery:
    root: Path
    layout: str
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    fingerprint: str = ""


def canonical_class(folder_name: str) -> str | None:
    """Canonical class for a folder name (case, spaces and dashes ignored), or None if unknown."""
    return CLASS_ALIASES.get(folder_name.strip().lower().replace(" ", "_").replace("-", "_"))


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _skip_tree(folder: Path, root: Path, reason: str) -> list[Skipped]:
    return [Skipped(_relative(Path(d) / f, root), reason) for d, _, files in os.walk(folder) for f in sorted(files)]


def _file_reason(name: str) -> str | None:
    """Why a file is not even a candidate scan (from its name), or None."""
    if _is_hidden(name):
        return "not an image (hidden system file)"
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in IMAGE_SUFFIXES:
        return f"not an image (extension {suffix or 'none'!r})"
    return None


def _listing(folder: Path) -> tuple[list[Path], list[Path]]:
    entries = sorted(folder.iterdir(), key=lambda p: p.name)
    return [p for p in entries if p.is_dir()], [p for p in entries if not p.is_dir()]


def _describe(folder: Path) -> str:
    dirs, files = _listing(folder)
    return f"found folders {[d.name for d in dirs]} and {len(files)} loose files in {folder}"


def _walk_class_folder(folder: Path, root: Path, split: str, label: str, found: Discovery) -> None:
    """Every file under a class folder, recursively; plain strings, as pathlib is slow at 5,000 files."""
    for directory, subdirs, files in os.walk(folder):
        prefix = os.path.relpath(directory, root).replace(os.sep, "/")
        for hidden in sorted(d for d in subdirs if _is_hidden(d)):
            found.skipped += _skip_tree(Path(directory) / hidden, root, f"inside hidden folder {hidden}/")
        subdirs[:] = sorted(d for d in subdirs if not _is_hidden(d))
        for name in sorted(files):
            relpath = f"{prefix}/{name}"
            reason = _file_reason(name)
            if reason:
                found.skipped.append(Skipped(relpath, reason))
            else:
                found.candidates.append(Candidate(relpath, split, label))


def _class_folders(folder: Path, root: Path, found: Discovery) -> dict[Path, str]:
    """Map each visible subfolder to its class; hidden folders and loose files are skipped."""
    dirs, files = _listing(folder)
    for path in files:
        found.skipped.append(Skipped(_relative(path, root), "not inside a class folder"))
    classes = {}
    for path in dirs:
        if _is_hidden(path.name):
            found.skipped += _skip_tree(path, root, f"inside hidden folder {path.name}/")
            continue
        label = canonical_class(path.name)
        if label is None:
            raise LayoutError(f"unknown class folder {path}\n{EXPECTED_LAYOUTS}\n{_describe(folder)}")
        classes[path] = label
    labels = set(classes.values())
    if "tumor" in labels and labels - {"tumor", NO_TUMOUR}:
        raise LayoutError(f"{folder} mixes yes/tumour folders with specific tumour classes\n{EXPECTED_LAYOUTS}\n{_describe(folder)}")
    if len(labels) < len(classes):
        raise LayoutError(f"{folder} has two folders for the same class ({sorted(p.name for p in classes)})")
    return classes


def _fingerprint(root: Path, found: Discovery) -> str:
    """Hash of every file's relative path, size and modification time: changes when the data does."""
    digest = hashlib.sha1(found.layout.encode())
    base = str(root)
    for relpath in sorted([c.relpath for c in found.candidates] + [s.relpath for s in found.skipped]):
        stat = os.stat(os.path.join(base, relpath))
        digest.update(f"{relpath}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def discover(root: str | Path) -> Discovery:
    """Every file under ``root`` as a candidate scan or a skipped file; raises LayoutError if the
    folders are not a layout we know. Reads names and sizes only, no pixels."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} is not a directory")
    dirs, _ = _listing(root)
    visible = [d for d in dirs if not _is_hidden(d.name)]
    split_dirs = {d: SPLIT_ALIASES[d.name.lower()] for d in visible if d.name.lower() in SPLIT_ALIASES}
    if split_dirs:
        others = [d.name for d in visible if d not in split_dirs]
        if others:
            raise LayoutError(f"{root} has split folders {[d.name for d in split_dirs]} and also {others}\n"
                              f"{EXPECTED_LAYOUTS}\n{_describe(root)}")
        if "Training" not in split_dirs.values():
            raise LayoutError(f"{root} has no Training/ folder\n{EXPECTED_LAYOUTS}\n{_describe(root)}")
        found = Discovery(root, "kaggle")
        _, loose = _listing(root)
        found.skipped += [Skipped(_relative(p, root), "not inside a class folder") for p in loose]
        for d in dirs:
            if _is_hidden(d.name):
                found.skipped += _skip_tree(d, root, f"inside hidden folder {d.name}/")
        for split_dir, split in sorted(split_dirs.items(), key=lambda kv: kv[1] != "Training"):
            for folder, label in _class_folders(split_dir, root, found).items():
                _walk_class_folder(folder, root, split, label, found)
    else:
        found = Discovery(root, "class-folders")
        classes = _class_folders(root, root, found)
        if not classes:
            raise LayoutError(f"no class folders in {root}\n{EXPECTED_LAYOUTS}\n{_describe(root)}")
        if "tumor" in classes.values():
            found.layout = "yes-no"
        for folder, label in classes.items():
            _walk_class_folder(folder, root, "all", label, found)
    if not found.candidates:
        raise LayoutError(f"no image files under {root}\n{EXPECTED_LAYOUTS}\n{_describe(root)}")
    found.fingerprint = _fingerprint(root, found)
    return found


@dataclass(frozen=True)
class ScanFile:
    """A scan that decoded cleanly."""

    relpath: str
    split: str
    label: str
    width: int
    height: int
    mode: str
    format: str
    sha1: str
    dhash: int


@dataclass
class ScanReport:
    """Everything a scan of a dataset found: loadable files, skipped files, duplicate groups.

    Duplicate groups are lists of indexes into ``files``.
    """

    root: str
    layout: str
    fingerprint: str
    files: list[ScanFile]
    skipped: list[Skipped]
    exact_duplicates: list[list[int]]
    near_duplicates: list[list[int]]

    @property
    def splits(self) -> list[str]:
        return sorted({f.split for f in self.files}, key=["Training", "Testing", "all"].index)

    @property
    def class_names(self) -> list[str]:
        """Canonical order: the four tumour classes, or notumor/tumor for a yes/no layout."""
        names = BINARY_CLASS_NAMES if self.layout == "yes-no" else CLASS_NAMES
        return list(names)

    def path(self, index: int) -> str:
        return os.path.join(self.root, self.files[index].relpath)

    def counts(self) -> dict[str, dict[str, int]]:
        """Loadable scans per split and class."""
        table = {split: {label: 0 for label in self.class_names} for split in self.splits}
        for f in self.files:
            table[f.split][f.label] += 1
        return table

    def to_dict(self) -> dict:
        return {
            "root": self.root, "layout": self.layout, "fingerprint": self.fingerprint,
            "files": [vars(f) for f in self.files], "skipped": [vars(s) for s in self.skipped],
            "exact_duplicates": self.exact_duplicates, "near_duplicates": self.near_duplicates,
        }

    @classmethod
    def from_dict(cls, record: dict) -> "ScanReport":
        return cls(
            root=record["root"], layout=record["layout"], fingerprint=record["fingerprint"],
            files=[ScanFile(**f) for f in record["files"]], skipped=[Skipped(**s) for s in record["skipped"]],
            exact_duplicates=record["exact_duplicates"], near_duplicates=record["near_duplicates"],
        )
