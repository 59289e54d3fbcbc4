"""Scanning: layouts, class aliases, every file loaded or skipped with its reason, duplicates, and
the ``validate-data`` command. The bad-input corpus is built here, file by file."""

import json
import os
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

from brainmri.cli import main as cli_main
from brainmri.data.cache import scan_dataset
from brainmri.data.scan import LayoutError, canonical_class, discover
from conftest import encode_image

CLASSES = ("glioma", "meningioma", "notumor", "pituitary")


def picture(seed: int, size: int = 48) -> np.ndarray:
    """A distinct smooth grey picture per seed (different seeds are never near duplicates)."""
    noise = np.random.default_rng(seed).standard_normal((size, size)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 3)
    return cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def save(path, image: Image.Image, fmt: str | None = None, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt, **options)
    return path


def write_scans(folder, seeds, suffix=".png"):
    for seed in seeds:
        save(folder / f"scan_{seed:03d}{suffix}", Image.fromarray(picture(seed)))


def build_corpus(root):
    """A Kaggle-layout dataset with one of every kind of good and bad file; returns the expected
    outcome per relative path: a class label for loadable scans, a reason fragment for skipped files."""
    expected = {}
    seed = 0
    for split in ("Training", "Testing"):
        for label in CLASSES:
            for _ in range(3 if split == "Training" else 2):
                seed += 1
                path = save(root / split / label / f"scan_{seed:03d}.png", Image.fromarray(picture(seed)))
                expected[path.relative_to(root).as_posix()] = label
    grey = picture(100)
    modes = {
        "mode_l.jpg": (Image.fromarray(grey), "JPEG"),
        "mode_rgb.jpg": (Image.fromarray(picture(101)).convert("RGB"), "JPEG"),
        "mode_rgba.png": (Image.fromarray(picture(102)).convert("RGBA"), "PNG"),
        "mode_p.png": (Image.fromarray(picture(103)).convert("P"), "PNG"),
        "mode_cmyk.jpg": (Image.fromarray(picture(104)).convert("RGB").convert("CMYK"), "JPEG"),
    }
    for name, (image, fmt) in modes.items():
        save(root / "Training" / "glioma" / name, image, fmt)
        expected[f"Training/glioma/{name}"] = "glioma"
    sixteen = (picture(105).astype(np.uint16) * 16)
    cv2.imwrite(str(root / "Training" / "glioma" / "mode_16bit.png"), sixteen)
    expected["Training/glioma/mode_16bit.png"] = "glioma"

    bad = root / "Training" / "meningioma"
    (bad / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (bad / "notes.txt").write_text("scanner notes\n")
    (bad / "empty.jpg").write_bytes(b"")
    jpeg = encode_image(Image.fromarray(picture(106, 96)), "JPEG")
    (bad / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (bad / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (bad / "text_named.jpg").write_text("not really a jpeg\n")
    save(root / "Training" / "notumor" / ".ipynb_checkpoints" / "scan_copy.png", Image.fromarray(picture(1)))
    (root / "README.md").write_text("readme\n")
    save(root / ".cache" / "thumb.png", Image.fromarray(picture(2)))
    expected.update({
        "Training/meningioma/.DS_Store": "hidden system file",
        "Training/meningioma/notes.txt": "extension '.txt'",
        "Training/meningioma/empty.jpg": "empty file",
        "Training/meningioma/truncated.jpg": "truncated JPEG",
        "Training/meningioma/corrupt.png": "corrupt",
        "Training/meningioma/text_named.jpg": "not an image",
        "Training/notumor/.ipynb_checkpoints/scan_copy.png": "hidden folder .ipynb_checkpoints",
        "README.md": "not inside a class folder",
        ".cache/thumb.png": "hidden folder .cache",
    })
    # duplicates: an exact copy within Training, an exact copy across splits, a near copy across splits
    shutil.copy(root / "Training/pituitary/scan_010.png", root / "Training/pituitary/copy_010.png")
    shutil.copy(root / "Testing/glioma/scan_013.png", root / "Training/glioma/copy_013.png")
    near = Image.fromarray(picture(16)).resize((60, 60))
    save(root / "Training" / "notumor" / "near_016.jpg", near, "JPEG", quality=80)
    expected.update({"Training/pituitary/copy_010.png": "pituitary", "Training/glioma/copy_013.png": "glioma",
                     "Training/notumor/near_016.jpg": "notumor"})
    return expected


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return root, build_corpus(root)


@pytest.fixture(scope="module")
def report(corpus):
    return scan_dataset(corpus[0], use_cache=False)


def test_every_file_is_loaded_or_skipped_exactly_once(corpus, report):
    root, expected = corpus
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    loaded = [f.relpath for f in report.files]
    skipped = [s.relpath for s in report.skipped]
    assert sorted(loaded + skipped) == sorted(on_disk) == sorted(expected)
    assert not set(loaded) & set(skipped)


def test_loaded_scans_carry_their_class_and_skipped_files_their_reason(corpus, report):
    _, expected = corpus
    for f in report.files:
        assert f.label == expected[f.relpath], f.relpath
    for s in report.skipped:
        assert expected[s.relpath] in s.reason, (s.relpath, s.reason)


def test_colour_modes_are_recorded(report):
    modes = {f.relpath.split("/")[-1]: f.mode for f in report.files if "mode_" in f.relpath}
    assert modes == {"mode_l.jpg": "L", "mode_rgb.jpg": "RGB", "mode_rgba.png": "RGBA", "mode_p.png": "P",
                     "mode_cmyk.jpg": "CMYK", "mode_16bit.png": "I;16"}


def test_duplicates_exact_near_and_across_splits(report):
    def names(groups):
        return [sorted(report.files[i].relpath for i in g) for g in groups]

    assert names(report.exact_duplicates) == [
        ["Testing/glioma/scan_013.png", "Training/glioma/copy_013.png"],
        ["Training/pituitary/copy_010.png", "Training/pituitary/scan_010.png"],
    ]
    assert names(report.near_duplicates) == [["Testing/meningioma/scan_016.png", "Training/notumor/near_016.jpg"]]


def test_counts_per_split_and_class(report):
    counts = report.counts()
    assert counts["Training"] == {"glioma": 3 + 6 + 1, "meningioma": 3, "notumor": 3 + 1, "pituitary": 3 + 1}
    assert counts["Testing"] == dict.fromkeys(CLASSES, 2)


@pytest.mark.parametrize("folder, label", [
    ("notumor", "notumor"), ("No_Tumor", "notumor"), ("no", "notumor"), ("HEALTHY", "notumor"),
    ("no tumor", "notumor"), ("Glioma_Tumor", "glioma"), ("pituitary-tumor", "pituitary"), ("yes", "tumor"),
    ("Meningioma", "meningioma"), ("astrocytoma", None),
])
def test_class_aliases(folder, label):
    assert canonical_class(folder) == label


def test_class_folders_layout_with_aliases(tmp_path):
    for folder, seeds in (("Glioma_Tumor", [1, 2]), ("no_tumor", [3]), ("PITUITARY", [4])):
        write_scans(tmp_path / folder, seeds)
    found = discover(tmp_path)
    assert found.layout == "class-folders"
    assert sorted({(c.split, c.label) for c in found.candidates}) == [
        ("all", "glioma"), ("all", "notumor"), ("all", "pituitary")]


def test_yes_no_layout(tmp_path):
    write_scans(tmp_path / "yes", [1, 2])
    write_scans(tmp_path / "no", [3])
    found = discover(tmp_path)
    assert found.layout == "yes-no"
    assert sorted(c.label for c in found.candidates) == ["notumor", "tumor", "tumor"]


def test_unknown_class_folder_shows_expected_and_found(tmp_path):
    write_scans(tmp_path / "Training" / "glioma", [1])
    write_scans(tmp_path / "Training" / "astrocytoma", [2])
    with pytest.raises(LayoutError) as error:
        discover(tmp_path)
    message = str(error.value)
    assert "unknown class folder" in message and "astrocytoma" in message
    assert "Training/<class>" in message and "found folders ['astrocytoma', 'glioma']" in message


@pytest.mark.parametrize("make, fragment", [
    (lambda root: write_scans(root / "Testing" / "glioma", [1]), "no Training/ folder"),
    (lambda root: (write_scans(root / "Training" / "glioma", [1]), write_scans(root / "extra" / "glioma", [2])),
     "also ['extra']"),
    (lambda root: (write_scans(root / "yes", [1]), write_scans(root / "glioma", [2])), "mixes yes/tumour"),
    (lambda root: (write_scans(root / "no", [1]), write_scans(root / "notumor", [2])), "two folders for the same class"),
    (lambda root: (root / "glioma").mkdir(), "no image files"),
])
def test_wrong_layouts_are_errors(tmp_path, make, fragment):
    make(tmp_path)
    with pytest.raises(LayoutError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        discover(tmp_path)


def test_fingerprint_changes_when_a_file_changes(tmp_path):
    write_scans(tmp_path / "glioma", [1, 2])
    before = discover(tmp_path).fingerprint
    assert discover(tmp_path).fingerprint == before
    path = tmp_path / "glioma" / "scan_001.png"
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 10**9))
    assert discover(tmp_path).fingerprint != before


def test_validate_data_text_and_json(corpus, capsys):
    root, expected = corpus
    assert cli_main(["validate-data", str(root)]) == 0
    text = capsys.readouterr().out
    assert "kaggle layout" in text and "skipped: 9 files" in text and "truncated JPEG" in text
    assert "exact duplicates (2 extra copies): 2 groups" in text and "crosses splits" in text
    assert cli_main(["validate-data", str(root), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["scans"] + summary["skipped_count"] == len(expected)
    assert summary["modes"]["CMYK"] == 1 and summary["cross_split_groups"] == 2
    assert summary["counts"]["Testing"] == dict.fromkeys(CLASSES, 2)


def test_validate_data_reports_a_bad_layout_without_a_traceback(tmp_path, capsys):
    write_scans(tmp_path / "astrocytoma", [1])
    assert cli_main(["validate-data", str(tmp_path)]) == 2
    assert "unknown class folder" in capsys.readouterr().err


def test_mode_shares_per_class(report):
    from brainmri.data.report import mode_shares

    shares = mode_shares(report)
    assert shares["meningioma"] == {"L": 1.0}
    assert shares["glioma"]["RGB"] == pytest.approx(1 / 12)  # mode_rgb.jpg among 10 Training + 2 Testing
    assert all(sum(s.values()) == pytest.approx(1.0) for s in shares.values())
