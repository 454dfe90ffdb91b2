"""TPOT's share of a request's own burst (`percentiles._own_burst_rest`,
`queueing.round_robin_share`): the arrivals of its geometric batch that come after it to its
replica, dealt out every R-th as least outstanding does."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from fleetplan.sizing.percentiles import _own_burst_rest


def _point(arrival_cv2: float, replicas: float) -> SimpleNamespace:
    # a replica's few-step index of dispersion under a random split (operating_point.load_point)
    count_cv2 = max(1 + (arrival_cv2 - 1) / replicas, 1.0)
    return SimpleNamespace(replicas=np.array([replicas]), count_cv2=np.array([count_cv2]))


def test_poisson_arrivals_bring_no_burst():
    assert _own_burst_rest(_point(1.0, 1))[0] == 0.0
    assert _own_burst_rest(_point(1.0, 6))[0] == 0.0


def test_one_replica_takes_the_whole_remainder():
    # a renewal process's excess over its rate, (c² - 1) / 2: four more at CV 3
    assert _own_burst_rest(_point(9.0, 1))[0] == pytest.approx(4.0)


@pytest.mark.parametrize(("cv2", "replicas"), [(9.0, 3), (9.0, 6), (4.0, 2), (9.0, 12)])
def test_a_round_robin_of_a_geometric_remainder(cv2, replicas):
    """Every R-th of the remainder B after the request (geometric, mean (c² - 1)/2) comes to
    its replica: floor(B / R) of them, sampled."""
    rng = np.random.default_rng(5)
    mean = (cv2 - 1) / 2
    b = rng.geometric(1 / (1 + mean), 400_000) - 1  # failures before a success: mean `mean`
    sampled = np.mean(b // replicas)
    assert _own_burst_rest(_point(cv2, replicas))[0] == pytest.approx(sampled, rel=0.02, abs=2e-3)


def test_more_replicas_share_a_burst_out():
    got = [float(_own_burst_rest(_point(9.0, r))[0]) for r in (1, 2, 3, 6, 12)]
    assert all(a > b for a, b in itertools.pairwise(got))
