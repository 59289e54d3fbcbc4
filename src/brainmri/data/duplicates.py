"""Exact duplicates (same bytes) and near duplicates (same picture re-encoded, resized or lightly
edited: a small Hamming distance between 64-bit difference hashes)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

NEAR_DUPLICATE_BITS = 4  # dHash bits that may differ (of 64) for two scans to count as one picture


def exact_groups(sha1s: list[str]) -> list[list[int]]:
    """Indexes of files with identical content, groups of two or more, in index order."""
    groups = defaultdict(list)
    for index, digest in enumerate(sha1s):
        groups[digest].append(index)
    return sorted(g for g in groups.values() if len(g) > 1)


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def near_groups(dhashes: list[int], sha1s: list[str], max_bits: int = NEAR_DUPLICATE_BITS) -> list[list[int]]:
    """Groups of files whose dHashes differ in at most ``max_bits`` bits, leaving out groups that
    are only byte-identical copies (those are exact duplicates)."""
    hashes = np.array(dhashes, dtype=np.uint64)
    parent = list(range(len(hashes)))
    for start in range(0, len(hashes), 512):
        block = hashes[start:start + 512, None] ^ hashes[None, :]
        rows, cols = np.nonzero(np.bitwise_count(block) <= max_bits)
        for i, j in zip(rows + start, cols):
            if i < j:
                parent[_find(parent, j)] = _find(parent, i)
    groups = defaultdict(list)
    for i in range(len(hashes)):
        groups[_find(parent, i)].append(i)
    return sorted(g for g in groups.values() if len(g) > 1 and len({sha1s[i] for i in g}) > 1)


def connected_groups(n: int, *group_lists: list[list[int]]) -> list[list[int]]:
    """Merge overlapping groups (e.g. exact and near) into connected components covering 0..n-1."""
    parent = list(range(n))
    for groups in group_lists:
        for group in groups:
            for j in group[1:]:
                parent[_find(parent, j)] = _find(parent, group[0])
    components = defaultdict(list)
    for i in range(n):
        components[_find(parent, i)].append(i)
    return sorted(components.values())
