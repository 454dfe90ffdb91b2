"""The least-outstanding balancer: the O(log n) tree picks exactly what the scan picks."""

import random
from typing import Any

import pytest

from fleetplan.catalog import load_catalog
from fleetplan.sim import replica, simulate
from fleetplan.sim.replica import balancer


class _Fake:
    def __init__(self) -> None:
        self.outstanding = 0
        self.watch: Any = None

    def done(self) -> None:
        self.outstanding -= 1
        if self.watch is not None:
            self.watch()


def test_tree_and_scan_pick_the_same_replica_under_random_load() -> None:
    rng = random.Random(7)
    a, b = [_Fake() for _ in range(37)], [_Fake() for _ in range(37)]
    tree, scan = (
        balancer("least_outstanding", a, indexed=True),
        balancer("least_outstanding", b, indexed=False),
    )
    for i in range(5000):
        if rng.random() < 0.55:
            ra, rb = tree(i), scan(i)
            assert a.index(ra) == b.index(rb)
            ra.outstanding += 1
            rb.outstanding += 1
        else:
            busy = [k for k, r in enumerate(a) if r.outstanding]
            if busy:
                k = rng.choice(busy)
                a[k].done()
                b[k].done()


def test_simulated_fleet_is_identical_with_tree_or_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = {
        "model": "llama-3.1-8b",
        "gpu": "h100",
        "replicas": 20,
        "arrivals": {"kind": "gamma", "rate_per_s": 150, "duration_s": 20, "cv": 2},
        "lengths": {
            "input": {"mean": 400, "dist": "exponential"},
            "output": {"mean": 150, "dist": "exponential"},
        },
        "seed": 4,
    }
    cat = load_catalog()
    out = []
    for start in (1, 10**9):  # the tree for every fleet; the scan for every fleet
        monkeypatch.setattr(replica, "INDEXED_FROM", start)
        d = simulate(sc, catalog=cat).to_dict(timeline=True)
        d.pop("wall_s")
        out.append(d)
    assert out[0] == out[1]
