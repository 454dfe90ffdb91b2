"""What a simulation measures, and its summary statistics.

Per request (index = request id): admission (first scheduled), first token and finish times.
Per iteration: its duration, weighted by the sequences that got a token from it (inter-token
latency). Periodic samples: queue length, requests in system, running sequences, KV use.

- TTFT = first token - arrival; E2E = finish - arrival; queue = first scheduled - arrival.
- TPOT = (finish - first token) / (output tokens - 1), for requests of two or more tokens.
- ITL: the gap between consecutive tokens of a sequence: each iteration's time, weighted by the
  sequences it gave a token (a run of k decode steps advanced together counts its mean step
  time k·b times; its steps differ only by the growing context), plus the stall of a sequence
  preempted and recomputed.
- goodput: share of requests that meet every SLO given (TTFT, TPOT, E2E).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

PERCENTILES = (50, 90, 95, 99)


class Recorder:
    """Mutable measurements of one run (written by replicas, read by `summary`)."""

    __slots__ = (
        "completed",
        "finish_s",
        "first_s",
        "itl_s",
        "itl_w",
        "preempted",
        "preemptions",
        "prefix_hit_tokens",
        "samples",
        "sched_s",
    )

    def __init__(self, n: int = 0) -> None:
        self.start(n)

    def start(self, n: int) -> None:
        """Clear everything for a run of `n` requests."""
        self.first_s = [-1.0] * n
        self.finish_s = [-1.0] * n
        self.sched_s = [-1.0] * n
        self.preempted = [0] * n
        self.preemptions = 0
        self.prefix_hit_tokens = 0
        self.completed = 0
        self.itl_s = array("d")
        self.itl_w = array("d")
        # (time, waiting, running, in system, KV used share)
        self.samples: list[tuple[float, int, int, int, float]] = []


@dataclass(frozen=True)
class Stats:
    """Summary of one latency, milliseconds."""

    p50: float
    p90: float
    p95: float
    p99: float
    mean: float
    max: float
    count: float  # samples (weighted: total weight); 0: nothing to measure, figures are null

    def as_dict(self) -> dict[str, float | None]:
        keys = ("p50", "p90", "p95", "p99", "mean", "max")
        if not self.count:
            return dict.fromkeys(keys)
        return {k: round(getattr(self, k), 4) for k in keys}


def stats_ms(values_s: NDArray[np.float64], weights: NDArray[np.float64] | None = None) -> Stats:
    """Percentiles (linear interpolation; weighted: the value where the cumulative weight
    crosses the share) and mean of `values_s`, in ms. Empty input: count 0 (figures null)."""
    v = np.asarray(values_s, dtype=np.float64) * 1e3
    if v.size == 0:
        return Stats(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
    if weights is None:
        p = np.percentile(v, PERCENTILES)
        return Stats(*(float(x) for x in p), float(v.mean()), float(v.max()), v.size)
    w = np.asarray(weights, dtype=np.float64)
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cum = np.cumsum(w)
    total = cum[-1]
    idx = np.searchsorted(cum, np.array(PERCENTILES) / 100 * total, side="left")
    p = v[np.minimum(idx, v.size - 1)]
    return Stats(*(float(x) for x in p), float((v * w).sum() / total), float(v[-1]), float(total))
