"""Exact duplicates (same bytes) and near duplicates (a small Hamming distance between 256-bit
difference hashes: the same picture re-encoded, rescaled or re-sharpened, or a neighbouring slice
of the same scan that is nearly identical to it).

The threshold was read off the real Kaggle training set: up to ~20 differing bits the pairs are one
picture saved twice or adjacent, near-identical slices; beyond ~24 bits they are distinct slices,
and pairs from different classes appear from 28 bits.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

NEAR_DUPLICATE_BITS = 20  # dHash bits that may differ (of 256) for two scans to count as one picture


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


def hamming_matrix(rows: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Bit distances between each of ``rows`` and each of ``hashes`` (both (N, words) uint64)."""
    distance = np.zeros((len(rows), len(hashes)), np.int32)
    for word in range(hashes.shape[1]):
        distance += np.bitwise_count(rows[:, word, None] ^ hashes[None, :, word])
    return distance


def near_groups(dhashes: list[str], sha1s: list[str], max_bits: int = NEAR_DUPLICATE_BITS) -> list[list[int]]:
    """Groups of files whose dHashes differ in at most ``max_bits`` bits, leaving out groups that
    are only byte-identical copies (those are exact duplicates)."""
    hashes = np.array([np.frombuffer(bytes.fromhex(h), np.uint64) for h in dhashes], np.uint64).reshape(len(dhashes), -1)
    parent = list(range(len(hashes)))
    for start in range(0, len(hashes), 512):
        rows, cols = np.nonzero(hamming_matrix(hashes[start:start + 512], hashes) <= max_bits)
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
