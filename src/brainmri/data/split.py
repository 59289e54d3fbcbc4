"""Seeded, stratified splits that keep duplicate groups together, so no picture sits on both sides."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from brainmri.data.scan import NO_TUMOUR

THREE_WAY = {"test": 0.10, "val": 0.20}  # and 70% train: for datasets without a Testing folder


def group_split(labels: list[str], groups: list[list[int]], fractions: dict[str, float],
                seed: int) -> dict[str, np.ndarray]:
    """Assign whole groups to the parts named in ``fractions`` (the rest to ``"train"``).

    Each class (a group's majority label) is filled to ``round(fraction * class size)`` per part,
    from a seeded shuffle of its groups: the same seed gives the same files. ``groups`` must
    cover every index once (singletons included).
    """
    if sum(fractions.values()) >= 1 or any(f < 0 for f in fractions.values()):
        raise ValueError(f"split fractions must be >= 0 and sum below 1, got {fractions}")
    by_class = defaultdict(list)
    for group in groups:
        by_class[Counter(labels[i] for i in group).most_common(1)[0][0]].append(group)
    parts = {name: [] for name in ["train", *fractions]}
    rng = np.random.default_rng(seed)
    for label in sorted(by_class):
        class_groups = by_class[label]
        total = sum(len(g) for g in class_groups)
        target = {name: round(fraction * total) for name, fraction in fractions.items()}
        filled = dict.fromkeys(fractions, 0)
        for k in rng.permutation(len(class_groups)):
            group = class_groups[k]
            part = next((p for p in fractions if filled[p] + len(group) <= target[p]), "train")
            filled[part] = filled.get(part, 0) + len(group)
            parts[part].extend(group)
    return {name: np.array(sorted(indexes), dtype=np.int64) for name, indexes in parts.items()}


def examples_per_class(labels, per_class: int, rng: int | np.random.Generator, *,
                       eligible: np.ndarray | None = None) -> np.ndarray:
    """Indexes of up to ``per_class`` seeded random picks of each class present in ``labels``,
    class by class (classes in sorted order), each class's picks in drawn order.

    ``rng`` is a seed or a Generator to continue drawing from; ``eligible`` (bool, one per label)
    limits the candidates. The one picker behind every per-class sample and cap in the package.
    """
    rng = np.random.default_rng(rng)  # a Generator passes through unchanged
    labels = np.asarray(labels)
    eligible = np.ones(len(labels), bool) if eligible is None else np.asarray(eligible, bool)
    if eligible.shape != labels.shape:
        raise ValueError(f"eligible has shape {eligible.shape}, labels have {labels.shape}")
    picks = [rng.permutation(np.flatnonzero((labels == label) & eligible))[:per_class] for label in np.unique(labels)]
    return np.concatenate(picks).astype(np.int64) if picks else np.zeros(0, np.int64)


def cap_per_class(indexes: np.ndarray, labels: list[str], max_per_class: int | None, seed: int) -> np.ndarray:
    """At most ``max_per_class`` of ``indexes`` per label (``labels[i]``), a seeded random choice, in sorted order."""
    if max_per_class is None:
        return indexes
    indexes = np.asarray(indexes, np.int64)
    kept = indexes[examples_per_class(np.array([labels[i] for i in indexes]), max_per_class, seed)]
    return np.sort(kept)


def to_binary(labels: list[str]) -> list[str]:
    """The binary view: every tumour class becomes ``tumor``."""
    return [NO_TUMOUR if label == NO_TUMOUR else "tumor" for label in labels]
