"""Seeded, stratified splits that keep duplicate groups together, so no picture sits on both sides."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

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


def cap_per_class(indexes: np.ndarray, labels: list[str], max_per_class: int | None, seed: int) -> np.ndarray:
    """At most ``max_per_class`` indexes of each label, a seeded random choice, in sorted order."""
    if max_per_class is None:
        return indexes
    rng = np.random.default_rng(seed)
    kept = []
    for label in sorted({labels[i] for i in indexes}):
        members = np.array([i for i in indexes if labels[i] == label], dtype=np.int64)
        kept.extend(rng.permutation(members)[:max_per_class])
    return np.array(sorted(kept), dtype=np.int64)


def to_binary(labels: list[str]) -> list[str]:
    """The binary view: every tumour class becomes ``tumor``."""
    return ["notumor" if label == "notumor" else "tumor" for label in labels]
