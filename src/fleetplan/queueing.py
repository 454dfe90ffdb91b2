"""Queueing and distribution formulas the sizing model (`fleetplan.sizing`) is built from:
Erlang C and the Allen–Cunneen G/G/c slot wait, an Erlang-R renewal count, the weights of a
Poisson count plus a geometric burst, a geometric count's round-robin share, normal and gamma
CDFs, and a vectorized quantile by bisection. numpy arrays in, broadcast out."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]

_LOG_FACT = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, 1024, dtype=np.float64)))])


def gamma_cdf(shape: ArrayLike, x: ArrayLike) -> F64:
    """P(Gamma(shape, 1) ≤ x) by the Wilson–Hilferty transform (exact for shape 1)."""
    k = np.asarray(shape, dtype=np.float64)
    x = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        wh = normal_cdf(((x / k) ** (1 / 3) - (1 - 1 / (9 * k))) * 3 * np.sqrt(k))
    return np.where(k == 1, 1 - np.exp(-x), wh)


def renewals(replicas: F64, rate_total: F64, window: F64) -> F64:
    """Arrivals at one replica within `window` s after one of its own when the balancer
    hands each replica about every R-th request: an Erlang-R renewal process,
    M(t) = Σ_k P(Gamma(kR) ≤ λt) (λt/R … for R = 1 the Poisson λt)."""
    x = np.asarray(rate_total * window, dtype=np.float64)
    r = np.asarray(replicas, dtype=np.float64)
    # terms with kR far above λt vanish: each entry stops past λt + 6√λt + 6 arrivals (its
    # own count of terms, summed in order: an entry's sum does not depend on its neighbours)
    terms = np.clip(np.ceil((x + 6 * np.sqrt(x) + 6) / np.maximum(r, 1.0)), 1, 256)
    ks = np.arange(1, int(np.max(terms, initial=1.0)) + 1, dtype=np.float64)
    each = np.where(ks <= terms[..., None], gamma_cdf(ks * r[..., None], x[..., None]), 0.0)
    return np.cumsum(each, axis=-1)[..., -1]


def burst_count_weights(nu: F64, burst: F64, edges: tuple[int, ...]) -> F64:
    """P(edges[i] <= N < edges[i + 1]) and P(N >= edges[-1]) of N = a Poisson count of mean
    nu plus a geometric one of mean `burst` (how many of a renewal process's burst land
    together: heavy-tailed, not Poisson), on a last axis. `edges` starts at 0."""
    nu = np.asarray(nu, dtype=np.float64)
    q = np.broadcast_to(np.asarray(burst, dtype=np.float64), nu.shape)
    q = q / (1 + q)
    top = edges[-1]
    pois = [np.exp(-nu)]
    for k in range(1, top):
        pois.append(pois[-1] * nu / k)
    # P(N = k) = Σ_i pois[i] (1 − q) q^(k − i), by recurrence:
    # P(N = k) = q P(N = k − 1) + (1 − q) pois[k]
    cum, c = [np.zeros(nu.shape)], np.zeros(nu.shape)
    for k in range(top):
        c = q * c + (1 - q) * pois[k]
        cum.append(cum[-1] + c)
    out = [cum[b] - cum[a] for a, b in itertools.pairwise(edges)]
    out.append(np.maximum(1 - cum[top], 0.0))
    return np.stack(out, axis=-1)


def round_robin_share(mean: ArrayLike, replicas: ArrayLike) -> F64:
    """Of a geometric count B of mean `mean` (P(B ≥ k) = q^k, q = mean / (1 + mean)) dealt out
    every R-th to one of `replicas`, that one's share: E⌊B / R⌋ = Σ_j q^(R·j) = q^R / (1 − q^R);
    the whole mean at one replica."""
    b = np.asarray(mean, dtype=np.float64)
    qr = (b / (1.0 + b)) ** np.asarray(replicas, dtype=np.float64)
    return qr / (1.0 - qr)


def _log_factorial(n: F64) -> F64:
    """ln n! for integer-valued n >= 0: a table below 1024, Stirling's series above."""
    small = _LOG_FACT[np.clip(n, 0, 1023).astype(np.int64)]
    m = np.maximum(n, 1.0)
    big = m * np.log(m) - m + 0.5 * np.log(2 * np.pi * m) + 1 / (12 * m) - 1 / (360 * m**3)
    return np.where(n < 1024, small, big)


def normal_cdf(x: ArrayLike) -> F64:
    """Φ(x), vectorized (Abramowitz & Stegun 7.1.26 for erf, |error| < 1.5e-7)."""
    z = np.asarray(x, dtype=np.float64) / math.sqrt(2.0)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = 1.0 - poly * np.exp(-a * a)
    return 0.5 * (1.0 + np.sign(z) * erf)


def erlang_c(servers: ArrayLike, offered_load: ArrayLike) -> F64:
    """Probability that an arrival waits in an M/M/c queue (c = servers, a = λ/μ).

    Erlang B = pmf_Poisson(c; a) / cdf_Poisson(c; a): the pmf in log space (exact ln c!), the
    cdf as P(Gamma(c + 1) > a) by the Wilson–Hilferty transform (accurate to ~1e-3, good
    for thousands of servers in one vectorized call); Erlang C = B / (1 − ρ(1 − B)).
    Where the load reaches the servers (a ≥ c) the queue is unstable and the result is 1.
    """
    c, a = np.broadcast_arrays(
        np.asarray(servers, dtype=np.float64), np.asarray(offered_load, dtype=np.float64)
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_pmf = c * np.log(np.maximum(a, 1e-300)) - a - _log_factorial(c)
        k = c + 1.0
        wh = ((a / k) ** (1 / 3) - (1 - 1 / (9 * k))) * 3 * np.sqrt(k)
        cdf = np.maximum(1.0 - normal_cdf(wh), np.exp(log_pmf))
        b = np.where(a > 0, np.minimum(np.exp(log_pmf) / cdf, 1.0), 0.0)
        rho = np.divide(a, c, out=np.ones_like(a), where=c > 0)
        pc = b / (1 - rho * (1 - b))
    return np.where(rho < 1, np.clip(np.nan_to_num(pc, nan=1.0), 0.0, 1.0), 1.0)


def slot_wait(
    servers: ArrayLike,
    arrival_rate: ArrayLike,
    service_s: ArrayLike,
    service_cv2: ArrayLike,
    arrival_cv2: ArrayLike = 1.0,
) -> tuple[F64, F64]:
    """The wait for a free slot in a G/G/c queue (Allen–Cunneen): P(W > t) ≈ P_w · e^{−θt}
    with P_w the Erlang C probability and θ = 2(cμ − λ) / (c_a² + c_s²).

    A batch slot's service is near-deterministic (c_s² = the output length's CV²), so the
    tail is shorter than M/M/c's (θ larger by 2 / (1 + c_s²) for Poisson arrivals); bursty
    arrivals (c_a² > 1) lengthen it. Returns (P_w, θ); θ = 0 where unstable."""
    c = np.asarray(servers, dtype=np.float64)
    lam = np.asarray(arrival_rate, dtype=np.float64)
    s = np.asarray(service_s, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pw = erlang_c(c, lam * s)
        slack = c / s - lam
        theta = 2 * slack / (np.asarray(arrival_cv2) + np.asarray(service_cv2))
    return pw, np.where(slack > 0, theta, 0.0)


def quantile(cdf: Callable[[F64], F64], q: float, lo: F64, hi: F64, iterations: int = 11) -> F64:
    """The q-quantile of a distribution above `lo` > 0, by bisection in log space on its
    CDF from the bracket (lo, hi] (hi is quadrupled where the CDF there is still below q);
    inf where it never reaches q."""
    lo = np.maximum(np.asarray(lo, dtype=np.float64), 1e-9)
    hi = np.maximum(np.asarray(hi, dtype=np.float64), lo * 1.001)
    top_ok = cdf(hi) >= q
    for _ in range(6):
        if top_ok.all():
            break
        hi = np.where(top_ok, hi, hi * 4)
        top_ok = cdf(hi) >= q
    for _ in range(iterations):
        mid = np.sqrt(lo * hi)
        ok = cdf(mid) >= q
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return np.where(top_ok, hi, np.inf)
