"""Pareto frontier of cost against latency."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def pareto_front(cost: ArrayLike, latency: ArrayLike) -> list[int]:
    """Indices of the points no other point beats on both cost and latency, cheapest first.

    Sorted by cost (then latency), a point is on the frontier when its latency is lower than
    that of every cheaper point.
    """
    c = np.asarray(cost, dtype=float)
    lat = np.asarray(latency, dtype=float)
    order = np.lexsort((lat, c))
    front: list[int] = []
    best = np.inf
    for i in order:
        if lat[i] < best:
            front.append(int(i))
            best = lat[i]
    return front
