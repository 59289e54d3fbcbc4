"""Intervals and distances the experiments report: values against published ones, invariants, errors."""

import numpy as np
import pytest

from brainmri import stats


def test_wilson_interval_matches_published_values():
    # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (Wilson score)
    for (k, n), (low, high) in {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605),
                                (0, 20): (0.0, 0.1611), (1, 29): (0.0061, 0.1718)}.items():
        assert stats.wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)
    assert np.isnan(stats.wilson_interval(0, 0)).all()
    with pytest.raises(ValueError, match="successes <= n"):
        stats.wilson_interval(5, 3)


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_data():
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 1.0, 20), rng.normal(1.0, 1.0, 2000)
    lo_s, hi_s = stats.bootstrap_interval(small, n_boot=500)
    lo_l, hi_l = stats.bootstrap_interval(large, n_boot=500)
    assert lo_s < small.mean() < hi_s and lo_l < 1.0 < hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 4


def test_kid_is_the_unbiased_polynomial_mmd():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)) + 1

    def k(a, b):
        return (a @ b / 3 + 1) ** 3
    expected = (sum(k(x[i], x[j]) for i in range(5) for j in range(5) if i != j) / 20
                + sum(k(y[i], y[j]) for i in range(4) for j in range(4) if i != j) / 12
                - 2 * sum(k(a, b) for a in x for b in y) / 20)
    assert stats.kernel_inception_distance(x, y) == pytest.approx(expected)
    assert stats.kernel_inception_distance(x, y) == pytest.approx(stats.kernel_inception_distance(y, x))
    same = [stats.kernel_inception_distance(rng.standard_normal((50, 3)), rng.standard_normal((50, 3))) for _ in range(20)]
    shifted = stats.kernel_inception_distance(rng.standard_normal((50, 3)), rng.standard_normal((50, 3)) + 2)
    assert abs(np.mean(same)) < 0.1 * shifted  # unbiased: about 0 between samples of one distribution
    with pytest.raises(ValueError, match="one width"):
        stats.kernel_inception_distance(x, y[:, :2])


def test_paired_difference_interval_keeps_pairs_and_brackets_the_mean():
    same = np.linspace(0, 1, 50)
    assert stats.paired_difference_interval(same, same) == (0.0, 0.0, 0.0)
    assert np.allclose(stats.paired_difference_interval(same + 1, same), 1.0)
    noisy = np.random.default_rng(0).normal(0.5, 1.0, 400)
    mean, low, high = stats.paired_difference_interval(noisy, np.zeros(400))
    assert low < 0.5 < high and low > 0 and np.isclose(mean, noisy.mean())
    assert high - low < 0.3  # about 4 standard errors of 0.05
    with pytest.raises(ValueError, match="same length"):
        stats.paired_difference_interval(np.zeros(3), np.zeros(4))
