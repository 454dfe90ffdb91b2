"""`queueing.burst_count_weights`: the buckets of a Poisson count plus a geometric burst (the
co-arrivals of bursty traffic) agree with sampling that sum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fleetplan.queueing import burst_count_weights

EDGES = (0, 1, 2, 3, 4, 7, 11, 17)


@pytest.mark.parametrize(("nu", "burst"), [(0.3, 0.0), (0.5, 1.0), (1.2, 4.0), (0.1, 8.0)])
def test_buckets_match_a_sampled_poisson_plus_geometric(nu, burst):
    rng = np.random.default_rng(11)
    n = 400_000
    q = burst / (1 + burst)
    # numpy's geometric counts trials to the first success (>= 1): failures = trials - 1
    geo = rng.geometric(1 - q, n) - 1 if burst > 0 else np.zeros(n, dtype=np.int64)
    counts = rng.poisson(nu, n) + geo
    sampled = [np.mean((counts >= a) & (counts < b)) for a, b in itertools.pairwise(EDGES)]
    sampled.append(np.mean(counts >= EDGES[-1]))
    got = burst_count_weights(np.array(nu), np.array(burst), EDGES)
    assert got.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(got, sampled, atol=3e-3)


def test_without_a_burst_the_first_buckets_are_poisson():
    nu = np.array([0.2, 1.5])
    got = burst_count_weights(nu, np.zeros(2), EDGES)
    k = np.arange(4)
    poisson = np.exp(-nu[:, None]) * nu[:, None] ** k / np.array([1, 1, 2, 6])
    np.testing.assert_allclose(got[:, :4], poisson, rtol=1e-12)
