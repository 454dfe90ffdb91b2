"""Replicas for a throughput at a utilization, and the hand method with a fixed step time."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray


def replicas_for_throughput(
    peak_req_s: ArrayLike, per_replica_req_s: ArrayLike, utilization: float, min_replicas: int = 1
) -> NDArray[np.int64]:
    """Replicas so that each runs at most `utilization` of its capacity at peak."""
    cap = np.asarray(per_replica_req_s, dtype=np.float64) * utilization
    with np.errstate(divide="ignore"):
        n = np.ceil(peak_req_s / cap - 1e-12)
    n = np.where(cap > 0, n, np.iinfo(np.int64).max // 2)
    return np.maximum(n, min_replicas).astype(np.int64)


def hand_method_gpus(
    qps: float, batch: int, output_tokens: float, t_step_s: float, utilization: float
) -> tuple[float, float, int]:
    """The hand method: λ_gpu = B / (G·t_step); N = ⌈QPS / (u·λ_gpu)⌉.

    Returns (λ_gpu in req/s, usable req/s per GPU, GPUs). Ignores prefill and queueing.
    """
    lam = batch / (output_tokens * t_step_s)
    usable = utilization * lam
    return lam, usable, math.ceil(qps / usable - 1e-12)
