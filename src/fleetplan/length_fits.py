"""Length distributions fitted through summary statistics where a lognormal does not reach
(a Weibull through a mean and a heavy tail percentile), and the bound the percentiles put on a
mean (`workload.from_percentiles` uses both)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from fleetplan.errors import InputError
from fleetplan.workload import QUANTILE_LEVELS, Lengths


def least_mean(given: dict[str, float]) -> float:
    """The least mean non-negative lengths with these percentiles can have: a share 1 - u of
    them reaches each percentile u, so E[X] = integral of P(X > t) dt >= the sum over the
    percentiles of (1 - u) x (the step from the one below)."""
    total, below = 0.0, 0.0
    for key in ("p50", "p95", "p99"):
        if key in given:
            total += (1 - int(key[1:]) / 100) * (given[key] - below)
            below = given[key]
    return total


def weibull_through(field: str, mean: float, key: str, value: float) -> Lengths:
    """A Weibull with the given mean and tail percentile, for tails beyond a lognormal's reach
    (pXX / mean above e^{z²/2}): shape k solves (−ln(1 − p))^{1/k} / Γ(1 + 1/k) = pXX / mean."""
    p = int(key[1:]) / 100
    ratio = value / mean
    lo, hi = 0.4, 1.0  # the ratio falls with k on this range; its top is near k = 0.4

    def r(k: float) -> float:
        return (-math.log(1 - p)) ** (1 / k) / math.gamma(1 + 1 / k)

    if r(lo) < ratio:
        raise InputError(
            f"{field}: {key}/mean = {ratio:.2f}; a lognormal reaches at most "
            f"{math.exp(NormalDist().inv_cdf(p) ** 2 / 2):.2f} and a Weibull {r(lo):.2f}: "
            "give p50 too"
        )
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if r(mid) > ratio else (lo, mid)
    k = 0.5 * (lo + hi)
    scale = mean / math.gamma(1 + 1 / k)

    def q(u: np.ndarray | float) -> np.ndarray:
        return scale * (-np.log(1 - np.asarray(u, dtype=np.float64))) ** (1 / k)

    std = scale * math.sqrt(math.gamma(1 + 2 / k) - math.gamma(1 + 1 / k) ** 2)
    return Lengths(
        mean=mean,
        p50=float(q(0.5)),
        p95=float(q(0.95)),
        p99=float(q(0.99)),
        std=std,
        basis=f"given mean and {key}; others from weibull(shape {k:.3g}, scale {scale:.4g})",
        grid=tuple(q(QUANTILE_LEVELS).tolist()),
        sigma=math.sqrt(math.log(1 + (std / mean) ** 2)),
    )
