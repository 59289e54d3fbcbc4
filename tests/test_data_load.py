"""load_dataset and load_evaluation_set: shapes, labels, seeded stratified splits, duplicates that
must not leak, the binary view, and the uint8 cache."""

import shutil

import cv2
import numpy as np
import pytest

from brainmri.data import cache
from brainmri.data.load import load_dataset, load_evaluation_set
from brainmri.data.phantom import write_phantom
from brainmri.data.scan import BINARY_CLASS_NAMES, CLASS_NAMES

SIZE = 24


def picture(seed: int, size: int = 40) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal((size, size)).astype(np.float32)
    return cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 3), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def write_pictures(folder, seeds):
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        cv2.imwrite(str(folder / f"p{seed:04d}.png"), picture(seed))


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    return write_phantom(tmp_path_factory.mktemp("phantom"), per_class=20, image_size=32, seed=1)


@pytest.fixture
def leaky(tmp_path):
    """Kaggle layout with a Training copy of a Testing file and a duplicate inside Training."""
    for k, label in enumerate(CLASS_NAMES):
        write_pictures(tmp_path / "Training" / label, range(100 * k, 100 * k + 10))
        write_pictures(tmp_path / "Testing" / label, range(100 * k + 50, 100 * k + 53))
    shutil.copy(tmp_path / "Testing/glioma/p0050.png", tmp_path / "Training/glioma/leak.png")
    shutil.copy(tmp_path / "Training/notumor/p0201.png", tmp_path / "Training/notumor/twin.png")
    return tmp_path


def _label_of(path):
    return path.split("/")[-2]


def test_shapes_dtypes_and_labels_match_folders(phantom):
    data = load_dataset(phantom, image_size=SIZE, val_fraction=0.25)
    assert data.class_names == CLASS_NAMES
    for x, y, paths in ((data.x_train, data.y_train, data.paths_train), (data.x_val, data.y_val, data.paths_val),
                        (data.x_test, data.y_test, data.paths_test)):
        assert x.dtype == np.uint8 and x.shape == (len(y), SIZE, SIZE, 1) and len(paths) == len(y)
        assert [data.class_names[k] for k in y] == [_label_of(p) for p in paths]
    assert all("/Testing/" in p for p in data.paths_test)
    assert len(data.x_train) + len(data.x_val) == 4 * 20 and len(data.x_test) == 4 * 5
    rgb = load_dataset(phantom, image_size=SIZE, color="rgb")
    assert rgb.x_train.shape[-1] == 3 and np.array_equal(rgb.x_train[..., 0], rgb.x_train[..., 1])


def test_validation_is_stratified_and_seeded(phantom):
    first = load_dataset(phantom, image_size=SIZE, val_fraction=0.25, seed=3)
    again = load_dataset(phantom, image_size=SIZE, val_fraction=0.25, seed=3)
    other = load_dataset(phantom, image_size=SIZE, val_fraction=0.25, seed=4)
    assert first.paths_val == again.paths_val and first.paths_train == again.paths_train
    assert first.paths_val != other.paths_val
    assert np.bincount(first.y_val, minlength=4).tolist() == [5, 5, 5, 5]
    assert not set(first.paths_val) & set(first.paths_train)


def test_without_testing_folder_there_is_no_test_split(phantom, tmp_path):
    shutil.copytree(phantom / "Training", tmp_path / "Training")
    data = load_dataset(tmp_path, image_size=SIZE)
    assert data.x_test is None and data.y_test is None and data.paths_test is None
    assert len(data.x_train) + len(data.x_val) == 80


def test_flat_class_folders_split_70_20_10(tmp_path):
    for k, label in enumerate(CLASS_NAMES):
        write_pictures(tmp_path / label, range(100 * k, 100 * k + 20))
    data = load_dataset(tmp_path, image_size=SIZE)
    sizes = [np.bincount(y, minlength=4).tolist() for y in (data.y_train, data.y_val, data.y_test)]
    assert sizes == [[14] * 4, [4] * 4, [2] * 4]
    assert len(set(data.paths_train) | set(data.paths_val) | set(data.paths_test)) == 80


def test_cross_split_and_within_split_duplicates_are_dropped(leaky):
    data = load_dataset(leaky, image_size=SIZE, val_fraction=0.3)
    kept = data.paths_train + data.paths_val
    assert not any(p.endswith("Training/glioma/leak.png") for p in kept)
    assert sum(p.endswith(("Training/notumor/p0201.png", "Training/notumor/twin.png")) for p in kept) == 1
    reasons = {p.split(str(leaky) + "/")[1]: r for p, r in ((s.relpath, s.reason) for s in data.dropped)}
    assert reasons == {"Training/glioma/leak.png": "exact duplicate of Testing/glioma/p0050.png",
                       "Training/notumor/twin.png": "exact duplicate of Training/notumor/p0201.png"}


def test_kept_duplicates_never_straddle_train_and_validation(leaky):
    for seed in range(6):
        data = load_dataset(leaky, image_size=SIZE, val_fraction=0.3, seed=seed, drop_duplicates=False)
        twins = [p.endswith(("notumor/p0201.png", "notumor/twin.png")) for p in data.paths_val]
        assert sum(twins) in (0, 2), seed
        assert data.dropped == []


def test_binary_view(phantom):
    data = load_dataset(phantom, image_size=SIZE, task="binary")
    assert data.class_names == BINARY_CLASS_NAMES and set(np.unique(data.y_train)) == {0, 1}
    assert [bool(y) for y in data.y_test] == [_label_of(p) != "notumor" for p in data.paths_test]


def test_yes_no_layout_needs_the_binary_task(tmp_path):
    write_pictures(tmp_path / "yes", range(10))
    write_pictures(tmp_path / "no", range(10, 20))
    with pytest.raises(ValueError, match="task='binary'"):
        load_dataset(tmp_path, image_size=SIZE)
    data = load_dataset(tmp_path, image_size=SIZE, task="binary")
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 20


def test_max_per_class_caps_each_split(phantom):
    data = load_dataset(phantom, image_size=SIZE, max_per_class=3, val_fraction=0.25)
    for y in (data.y_train, data.y_val, data.y_test):
        assert np.bincount(y, minlength=4).max() <= 3
    assert np.bincount(data.y_train, minlength=4).tolist() == [3, 3, 3, 3]


def test_cache_round_trip_skips_decoding(phantom, monkeypatch):
    fresh_report, fresh = cache.load_scan(phantom, SIZE, use_cache=False)
    cache.load_scan(phantom, SIZE)  # fills the cache (or finds it)

    def no_decoding(*args, **kwargs):
        raise AssertionError("a cached load decoded an image")

    monkeypatch.setattr(cache, "decode_file", no_decoding)
    report, cached = cache.load_scan(phantom, SIZE)
    assert cached.dtype == np.uint8 and np.array_equal(cached, fresh)
    assert report.to_dict() == fresh_report.to_dict()


def test_cache_is_invalidated_when_the_data_changes(tmp_path):
    write_pictures(tmp_path / "glioma", range(4))
    write_pictures(tmp_path / "notumor", range(4, 8))
    _, before = cache.load_scan(tmp_path, SIZE)
    cv2.imwrite(str(tmp_path / "glioma" / "p0000.png"), 255 - picture(0))
    _, after = cache.load_scan(tmp_path, SIZE)
    assert not np.array_equal(before[0], after[0]) and np.array_equal(before[1:], after[1:])


@pytest.mark.parametrize("where", ["root", "testing"])
def test_evaluation_set_from_a_root_or_a_testing_folder(leaky, where):
    (leaky / "Testing" / "glioma" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    folder = leaky if where == "root" else leaky / "Testing"
    evaluation = load_evaluation_set(folder, SIZE, "grayscale", CLASS_NAMES)
    assert evaluation.x.shape == (12, SIZE, SIZE, 1) and len(evaluation.paths) == 12
    assert all("/Testing/" in p for p in evaluation.paths)
    assert [CLASS_NAMES[k] for k in evaluation.y] == [_label_of(p) for p in evaluation.paths]
    assert [(s.relpath.endswith("Testing/glioma/broken.jpg"), "corrupt" in s.reason) for s in evaluation.skipped] == [(True, True)]


def test_evaluation_set_maps_classes_to_a_binary_model(leaky):
    evaluation = load_evaluation_set(leaky / "Testing", SIZE, "rgb", BINARY_CLASS_NAMES)
    assert evaluation.x.shape[-1] == 3
    assert [bool(y) for y in evaluation.y] == [_label_of(p) != "notumor" for p in evaluation.paths]


def test_evaluation_set_rejects_classes_the_model_lacks(leaky, tmp_path):
    with pytest.raises(ValueError, match=r"classes \['pituitary'\] that the model does not know"):
        load_evaluation_set(leaky / "Testing", SIZE, "grayscale", ["glioma", "meningioma", "notumor"])
    shutil.copytree(leaky / "Training", tmp_path / "only" / "Training")
    with pytest.raises(ValueError, match="no Testing/ folder"):
        load_evaluation_set(tmp_path / "only", SIZE, "grayscale", CLASS_NAMES)


def test_split_leakage_counts_groups_across_splits(leaky):
    from brainmri.data.load import split_leakage

    assert split_leakage(load_dataset(leaky, image_size=SIZE)) == {"exact": 0, "near": 0}
    kept = load_dataset(leaky, image_size=SIZE, drop_duplicates=False)
    assert split_leakage(kept) == {"exact": 1, "near": 0}  # the Training copy of a Testing scan


def test_a_new_size_decodes_pixels_only_when_the_report_is_cached(phantom, monkeypatch):
    fresh_report, fresh = cache.load_scan(phantom, 20, use_cache=False)
    cache.scan_dataset(phantom)  # the report is now cached, no 20 px array yet

    def no_full_scan(*args, **kwargs):
        raise AssertionError("re-scanned although the report was cached")

    monkeypatch.setattr(cache, "decode_all", no_full_scan)
    report, pixels = cache.load_scan(phantom, 20)
    assert np.array_equal(pixels, fresh) and report.to_dict() == fresh_report.to_dict()


def test_a_plain_path_is_recorded_as_the_data_source(phantom):
    from brainmri import results

    load_dataset(str(phantom), image_size=SIZE)
    assert (results.provenance()["data"], results.provenance()["data_folder"]) == ("path", phantom.name)


def test_caches_of_older_versions_are_pruned(tmp_path):
    stale = cache.cache_dir() / "v0-0123456789abcdef0123-24px-grayscale.npy"
    stale.write_bytes(b"old")
    write_pictures(tmp_path / "glioma", range(2))
    cache.load_scan(tmp_path, SIZE)
    assert not stale.exists()
    assert all(p.name.startswith(f"v{cache.CACHE_VERSION}-") for p in cache.cache_dir().iterdir())


def test_dataset_record_accounts_for_every_scan_found_and_its_sentence_quotes_the_splits(leaky):
    from brainmri.data.load import split_leakage
    from brainmri.data.report import dataset_record, dataset_sentence, summarize

    data = load_dataset(leaky, image_size=SIZE)
    record = dataset_record(summarize(data.report), data, split_leakage(data))
    assert record["scans_found"] == 4 * 13 + 2 and record["layout"] == "kaggle"
    assert (record["exact_duplicate_groups"], record["cross_split_groups"], record["left_out"]) == (2, 1, 2)
    loaded = sum(sum(row.values()) for row in record["split_counts"].values())
    assert loaded + record["left_out"] == record["scans_found"]
    assert record["leakage"] == {"exact": 0, "near": 0}
    assert dataset_sentence(record).endswith(
        f"**{len(data.y_train)} training, {len(data.y_val)} validation, 12 test** scans, "
        "with 0 duplicate groups straddling splits.")
    without_test = {**record, "split_counts": {k: v for k, v in record["split_counts"].items() if k != "test"}}
    assert ", no test** scans" in dataset_sentence(without_test)


def test_load_profile_dataset_takes_size_colour_validation_share_and_cap_from_the_profile(phantom):
    import dataclasses

    from brainmri import config
    from brainmri.data.load import load_profile_dataset

    profile = dataclasses.replace(config.get_profile("smoke"), image_size=SIZE, color="rgb", val_fraction=0.25,
                                  max_per_class=3)
    data = load_profile_dataset(phantom, profile, task="binary")
    assert data.x_train.shape[1:] == (SIZE, SIZE, 3) and data.class_names == BINARY_CLASS_NAMES
    assert np.bincount(data.y_train).max() == 3
    assert np.bincount(data.y_val).max() == 3
    uncapped = load_profile_dataset(phantom, dataclasses.replace(profile, max_per_class=None), task="binary")
    direct = load_dataset(phantom, image_size=SIZE, color="rgb", val_fraction=0.25, task="binary")
    assert np.array_equal(uncapped.y_val, direct.y_val) and len(uncapped.y_val) > len(data.y_val)
