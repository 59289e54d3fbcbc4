"""The phantom: Kaggle layout, deterministic bytes, masks aligned with the lesions they mark."""

import cv2
import numpy as np
import pytest

from brainmri.data.images import decode_file
from brainmri.data.phantom import (
    PHANTOM_CLASSES, ensure_phantom, load_phantom_masks, mask_path, render_slice, write_phantom,
)
from brainmri.data.scan import discover


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    return write_phantom(tmp_path_factory.mktemp("phantom"), per_class=4, image_size=48, seed=7)


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_layout_counts_and_masks_outside_the_dataset(phantom):
    found = discover(phantom)
    assert found.layout == "kaggle" and not found.skipped
    counts = {(c.split, c.label) for c in found.candidates}
    assert counts == {(s, c) for s in ("Training", "Testing") for c in PHANTOM_CLASSES}
    assert sum(c.split == "Training" for c in found.candidates) == 4 * 4
    assert sum(c.split == "Testing" for c in found.candidates) == 4 * 1
    assert all("masks" not in c.relpath for c in found.candidates)
    assert all(mask_path(phantom / c.relpath).exists() for c in found.candidates)


def test_same_seed_same_bytes_other_seed_other_bytes(phantom, tmp_path):
    again = write_phantom(tmp_path / "again", per_class=4, image_size=48, seed=7)
    other = write_phantom(tmp_path / "other", per_class=4, image_size=48, seed=8)
    first, second = _files(phantom.parent), _files(again.parent)
    assert [p.relative_to(phantom.parent) for p in first] == [p.relative_to(again.parent) for p in second]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second))
    scans = [p for p in _files(other) if p.suffix == ".png"]
    assert any(p.read_bytes() != (phantom / p.relative_to(other)).read_bytes() for p in scans)


def test_masks_mark_bright_lesions_and_notumor_has_none(phantom):
    paths = sorted(str(p) for p in (phantom / "Training").rglob("*.png"))
    masks = load_phantom_masks(paths, 48)
    assert masks.shape == (len(paths), 48, 48) and masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 1}
    for path, mask in zip(paths, masks):
        label = path.split("/")[-2]
        if label == "notumor":
            assert mask.sum() == 0, path
            continue
        pixels, _ = decode_file(path, 48)
        assert mask.sum() > 0, path
        around = cv2.dilate(mask, np.ones((5, 5), np.uint8)) - mask  # a thin ring of tissue around it
        inside, outside = pixels[..., 0][mask == 1].mean(), pixels[..., 0][around == 1].mean()
        assert inside > outside + 10, (path, inside, outside)


def test_masks_resize_with_the_scans(phantom):
    paths = sorted(str(p) for p in (phantom / "Training" / "meningioma").glob("*.png"))
    big, small = load_phantom_masks(paths, 48), load_phantom_masks(paths, 24)
    assert small.shape == (len(paths), 24, 24)
    assert np.abs(big.reshape(len(paths), -1).mean(1) - small.reshape(len(paths), -1).mean(1)).max() < 0.02


def test_class_priors_place_lesions_where_expected():
    def centre(label, k):
        _, mask = render_slice(label, 96, np.random.default_rng([3, k]))
        ys, xs = np.nonzero(mask)
        return xs.mean() / 96 - 0.5, ys.mean() / 96 - 0.5, mask.sum()

    for k in range(5):
        x, y, area = centre("pituitary", k)
        assert abs(x) < 0.06 and y > 0.1, (x, y)  # midline, low
        x, y, _ = centre("meningioma", k)
        assert np.hypot(x, y) > 0.2, (x, y)  # against the skull, not central
        x, _, _ = centre("glioma", k)
        assert abs(x) > 0.05  # inside one hemisphere
        pit_area, glioma_area = centre("pituitary", k)[2], centre("glioma", k)[2]
        assert pit_area < glioma_area


def test_ensure_phantom_reuses_a_complete_tree(tmp_path):
    root = ensure_phantom(tmp_path / "p", per_class=2, image_size=16)
    stamp = (root / "Training" / "glioma" / "Tr-glioma-0000.png").stat().st_mtime_ns
    assert ensure_phantom(tmp_path / "p", per_class=2, image_size=16) == root
    assert (root / "Training" / "glioma" / "Tr-glioma-0000.png").stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_mask_lookup_rejects_non_phantom_paths(tmp_path):
    with pytest.raises(ValueError, match="not a phantom scan"):
        mask_path(tmp_path / "x.png")
    with pytest.raises(FileNotFoundError, match="no ground-truth mask"):
        load_phantom_masks([str(tmp_path / "dataset" / "Training" / "glioma" / "missing.png")], 8)
