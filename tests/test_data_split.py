"""The one per-class picker, and the cap built on it."""

import numpy as np
import pytest

from brainmri.data.split import cap_per_class, examples_per_class


def _reference_cap(indexes, labels, max_per_class, seed):
    """The cap as first written, member lists in index order: the picker must reproduce its choice."""
    rng = np.random.default_rng(seed)
    kept = []
    for label in sorted({labels[i] for i in indexes}):
        members = np.array([i for i in indexes if labels[i] == label], dtype=np.int64)
        kept.extend(rng.permutation(members)[:max_per_class])
    return np.array(sorted(kept), dtype=np.int64)


def test_examples_per_class_picks_up_to_n_of_each_class_in_class_order():
    labels = np.array([2, 0, 0, 0, 1, 2, 2])
    picks = examples_per_class(labels, 2, 0)
    assert labels[picks].tolist() == [0, 0, 1, 2, 2]
    assert len(set(picks.tolist())) == 5
    np.testing.assert_array_equal(picks, examples_per_class(labels, 2, 0))  # seeded
    only_even = examples_per_class(labels, 5, 0, eligible=np.arange(7) % 2 == 0)
    assert sorted(only_even.tolist()) == [0, 2, 4, 6] and labels[only_even].tolist() == [0, 1, 2, 2]
    assert examples_per_class(np.array([], int), 3, 0).shape == (0,)
    with pytest.raises(ValueError, match="eligible has shape"):
        examples_per_class(labels, 1, 0, eligible=np.ones(3, bool))


def test_a_generator_continues_its_stream():
    labels = np.array([0, 0, 0, 1, 1, 1])
    rng = np.random.default_rng(5)
    first, second = examples_per_class(labels, 1, rng), examples_per_class(labels, 1, rng)
    expected = np.random.default_rng(5)
    assert first.tolist() == [expected.permutation([0, 1, 2])[0], expected.permutation([3, 4, 5])[0]]
    assert second.tolist() == [expected.permutation([0, 1, 2])[0], expected.permutation([3, 4, 5])[0]]


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_cap_per_class_keeps_the_choice_it_always_made(seed):
    rng = np.random.default_rng(seed)
    labels = [str(name) for name in rng.choice(["glioma", "meningioma", "notumor", "pituitary"], 60)]
    indexes = np.sort(rng.choice(60, 40, replace=False))
    for cap in (1, 3, 12):
        np.testing.assert_array_equal(cap_per_class(indexes, labels, cap, seed), _reference_cap(indexes, labels, cap, seed))
    assert cap_per_class(indexes, labels, None, seed) is indexes
    assert cap_per_class(np.zeros(0, np.int64), labels, 2, seed).shape == (0,)
