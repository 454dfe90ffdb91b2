"""Pareto frontier of cost against latency."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def pareto_front(cost: ArrayLike, latency: ArrayLike, meets: ArrayLike | None = None) -> list[int]:
    """Indices of the points no other point beats on both cost and latency, cheapest first.

    Sorted by cost (then latency), a point is on the frontier when its latency is lower than
    that of every cheaper point. With `meets` (whether each point meets the SLOs), a point that
    misses them beats none that meets them: a cheaper, faster setup that misses the TTFT SLO
    does not hide the cheapest that meets every SLO (the recommendation) from the frontier.
    """
    c = np.asarray(cost, dtype=float)
    lat = np.asarray(latency, dtype=float)
    ok = np.ones(c.shape, bool) if meets is None else np.asarray(meets, dtype=bool)
    order = np.lexsort((~ok, lat, c))  # at equal cost and latency, a point meeting them first
    front: list[int] = []
    best, best_ok = np.inf, np.inf
    for i in order:
        if lat[i] < (best_ok if ok[i] else best):
            front.append(int(i))
            best = min(best, lat[i])
            if ok[i]:
                best_ok = lat[i]
    return front
