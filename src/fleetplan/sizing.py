"""Sizing: replicas for a traffic level at a latency SLO, with queueing, and the seed's method.

A replica running continuous batching with at most `B` sequences is modelled as an M/M/c queue
with `c = B` slots; a slot is busy for a request's decode time `O · t_step(B)` (conservative:
the full-batch step time). Erlang C gives the probability that an arriving request waits for a
slot and the tail of the wait, which adds to the prefill time to give TTFT percentiles. All
functions take numpy arrays and broadcast.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]


def erlang_c(servers: ArrayLike, offered_load: ArrayLike) -> F64:
    """Probability that an arrival waits in an M/M/c queue (c = servers, a = λ/μ).

    Erlang B is the Poisson ratio pmf(c; a) / cdf(c; a), evaluated in log space (stable for
    thousands of servers, one vectorized call); Erlang C = B / (1 − ρ(1 − B)). Where the load
    reaches the servers (a ≥ c) the queue is unstable and the result is 1.
    """
    from scipy.special import gammaln, pdtr

    c = np.asarray(servers, dtype=np.float64)
    a = np.asarray(offered_load, dtype=np.float64)
    c, a = np.broadcast_arrays(c, a)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_pmf = c * np.log(np.maximum(a, 1e-300)) - a - gammaln(c + 1)
        cdf = pdtr(c, a)
        b = np.where(a > 0, np.exp(log_pmf) / cdf, 0.0)
        rho = np.divide(a, c, out=np.ones_like(a), where=c > 0)
        pc = b / (1 - rho * (1 - b))
    return np.where(rho < 1, np.clip(np.nan_to_num(pc, nan=1.0), 0.0, 1.0), 1.0)


def wait_quantile_s(
    servers: ArrayLike, arrival_rate: ArrayLike, service_s: ArrayLike, q: float = 0.95
) -> F64:
    """The q-quantile of the M/M/c queueing wait: P(W > t) = C·exp(−(cμ − λ)t).

    Infinite where the queue is unstable (λ ≥ cμ).
    """
    c = np.asarray(servers, dtype=np.float64)
    lam = np.asarray(arrival_rate, dtype=np.float64)
    mu = 1.0 / np.asarray(service_s, dtype=np.float64)
    pc = erlang_c(c, lam / mu)
    slack = c * mu - lam
    tail = 1.0 - q
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.log(np.maximum(pc, 1e-300) / tail) / slack
    t = np.where(pc <= tail, 0.0, t)
    return np.where(slack > 0, t, np.inf)


def replicas_for_throughput(
    peak_req_s: float, per_replica_req_s: ArrayLike, utilization: float, min_replicas: int = 1
) -> NDArray[np.int64]:
    """Replicas so that each runs at most `utilization` of its capacity at peak."""
    cap = np.asarray(per_replica_req_s, dtype=np.float64) * utilization
    with np.errstate(divide="ignore"):
        n = np.ceil(peak_req_s / cap - 1e-12)
    n = np.where(cap > 0, n, np.iinfo(np.int64).max // 2)
    return np.maximum(n, min_replicas).astype(np.int64)


def seed_method_gpus(
    qps: float, batch: int, output_tokens: float, t_step_s: float, utilization: float
) -> tuple[float, float, int]:
    """The hand method: λ_gpu = B / (G·t_step); N = ⌈QPS / (u·λ_gpu)⌉.

    Returns (λ_gpu in req/s, usable req/s per GPU, GPUs). Ignores prefill and queueing.
    """
    lam = batch / (output_tokens * t_step_s)
    usable = utilization * lam
    return lam, usable, math.ceil(qps / usable - 1e-12)
