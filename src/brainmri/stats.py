"""The statistics experiments report: Wilson intervals for rates, bootstrap intervals for means,
ratios and paired differences, and the kernel inception distance (KID) between two sets of features."""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.stats import norm

from brainmri import config


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927). Unlike the normal
    approximation it stays inside [0, 1] and is sensible for 0 or n successes and small n;
    ``(nan, nan)`` when ``n`` is 0 (no trials, no rate)."""
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return float("nan"), float("nan")
    z = norm.ppf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def bootstrap_interval(values: np.ndarray, statistic: Callable[[np.ndarray], float] = np.mean, *,
                       n_boot: int = 1000, confidence: float = 0.95, seed: int = config.SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over resamples of ``values``' first axis."""
    values = np.asarray(values)
    if len(values) == 0:
        raise ValueError("a bootstrap interval needs at least one value")
    picks = np.random.default_rng(seed).integers(0, len(values), size=(n_boot, len(values)))
    draws = np.array([statistic(values[pick]) for pick in picks])
    tail = 100 * (1 - confidence) / 2
    return float(np.nanpercentile(draws, tail)), float(np.nanpercentile(draws, 100 - tail))


def paired_difference_interval(a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95,
                               resamples: int = 2000, seed: int = config.SEED) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired per-image scores and its percentile bootstrap interval.

    Two maps scored on the same scans differ scan by scan; resampling the scans (not the two
    columns separately) keeps the pairing, so the interval says whether the mean difference would
    survive another draw of scans.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
        raise ValueError(f"paired scores must be two 1-D arrays of the same length >= 2; got shapes {a.shape}, {b.shape}")
    diff = a - b
    low, high = bootstrap_interval(diff, n_boot=resamples, confidence=confidence, seed=seed)
    return float(diff.mean()), low, high


def polynomial_kernel(a: np.ndarray, b: np.ndarray, degree: int = 3) -> np.ndarray:
    """``(a . b / d + 1) ** degree``, the kernel KID uses (Binkowski et al. 2018)."""
    return (a @ b.T / a.shape[1] + 1.0) ** degree


def kernel_inception_distance(x: np.ndarray, y: np.ndarray, degree: int = 3) -> float:
    """Unbiased estimate of the squared MMD between the distributions of feature rows ``x`` and
    ``y`` under the polynomial kernel (KID). Near 0 (and possibly slightly negative) when both come
    from one distribution; unlike FID it is unbiased at small sample sizes."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"KID needs two (n, d) feature arrays of one width, got {x.shape} and {y.shape}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"KID needs at least two rows in each set, got {len(x)} and {len(y)}")
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x, degree), polynomial_kernel(y, y, degree), polynomial_kernel(x, y, degree)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())
