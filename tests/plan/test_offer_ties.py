"""The search computes TPOT p95 only where an offer's tie-break reads it and the other
percentiles only at the entry each offer picks: for any instance size, the entry
`cost_candidates` picks is among the `fewest_instances` of that size."""

from __future__ import annotations

import numpy as np

from fleetplan.search.instance_ties import fewest_instances


def test_the_entry_each_offer_picks_is_among_the_fewest_instances():
    rng = np.random.default_rng(7)
    for _ in range(200):
        replicas = rng.integers(1, 12, size=(3, 16)).astype(float)
        tpot = rng.choice([0.010, 0.012, 0.015, 0.020], size=(3, 16))
        meets = rng.random((3, 16)) < 0.6
        sizes = [{1, 8}, {2, 3}, {4}]
        tied = fewest_instances(replicas, meets, sizes)
        assert not (tied & ~meets).any()
        for i, size in enumerate(sorted({1, 2, 3, 4, 8})):
            # cost_candidates: fewest whole instances among entries meeting the SLOs, then TPOT
            inst = np.ceil(replicas / size - 1e-9)
            primary = inst * 3.5 + np.where(meets, 0.0, 1e18)
            best = primary <= primary.min(axis=1, keepdims=True) * (1 + 1e-12)
            k = np.argmin(np.where(best, tpot, np.inf), axis=1)
            for row, col in enumerate(k):
                if meets[row].any() and size in sizes[row]:
                    assert tied[i, row, col], (size, row, col)
                    picked = np.argmin(np.where(tied[i, row], tpot[row], np.inf))
                    assert picked == col
                else:
                    assert not tied[i, row].any()
