"""The search computes TTFT and the SLO percentiles only at the entries an offer can pick
(`choosable`): whatever the instance size, the entry `cost_candidates` picks is one of them."""

from __future__ import annotations

import numpy as np

from fleetplan.search.candidates import choosable


def test_the_entry_any_offer_picks_is_choosable():
    rng = np.random.default_rng(7)
    for _ in range(200):
        replicas = rng.integers(1, 12, size=(3, 16))
        tpot = rng.choice([0.010, 0.012, 0.015, 0.020], size=(3, 16))
        meets = rng.random((3, 16)) < 0.6
        ok = choosable(replicas, tpot, meets)
        assert not (ok & ~meets).any()
        for per in (1, 2, 3, 4, 8):
            # cost_candidates: fewest whole instances among entries meeting the SLOs, then TPOT
            inst = np.ceil(replicas / per)
            primary = inst + np.where(meets, 0.0, 1e18)
            tied = primary <= primary.min(axis=1, keepdims=True) * (1 + 1e-12)
            k = np.argmin(np.where(tied, tpot, np.inf), axis=1)
            for row, col in enumerate(k):
                if meets[row].any():
                    assert ok[row, col], (per, row, col)
