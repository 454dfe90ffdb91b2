"""The analytic latency percentiles of the search: `fleetplan.sizing`'s queue and step model
over a group of stacked setups at every grid batch size, and the fewest replicas meeting every
percentile SLO (a vectorized bisection, not a replica-at-a-time loop)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fleetplan.perf.roofline import Setup
from fleetplan.perf.schedule import mixed_step
from fleetplan.sizing import F64, LoadPoint, load_point, quantile, tpot_cdf, ttft_cdf
from fleetplan.workload import QUANTILE_LEVELS, QUANTILE_WEIGHTS

if TYPE_CHECKING:
    from fleetplan.search.candidates import Workload

GROWTH_DOUBLINGS = 4  # replicas looked for up to 2^4 x the throughput count


class LatencyModel:
    """Latency distributions of `setup` (stacked, shape (n, 1)) at batch limits `batch` (n, m)."""

    def __init__(self, setup: Setup, work: Workload, batch: F64, chunk: float) -> None:
        self.setup = setup
        self.work = work
        self.batch = np.asarray(batch, dtype=np.float64)
        self.chunk = chunk
        self.prompts = np.maximum(work.input.quantiles(), 1.0)
        self.outputs = np.maximum(work.output.quantiles(), 1.0)

    def _step(self, d: F64, c: F64, p: F64, pc: F64) -> F64:
        return mixed_step(self.setup, d, c, p, pc).total_s

    def point(self, replicas: F64) -> LoadPoint:
        w = self.work
        a = w.arrivals
        rate = w.traffic.peak_qps * a.burst_factor  # on/off: requests meet at the burst rate
        cv2 = 1.0 if a.kind == "onoff" else a.cv2(rate)
        return load_point(
            self._step,
            rate,
            np.asarray(replicas, dtype=np.float64),
            self.batch,
            self.chunk,
            w.ctx_mean,
            self.prompts,
            QUANTILE_WEIGHTS,
            w.output.mean,
            w.output.cv2,
            cv2,
        )

    def cdf(self, lp: LoadPoint, metric: str, x: F64) -> F64:
        """P(metric ≤ x seconds) at the operating point `lp`."""
        if metric == "ttft":
            return ttft_cdf(lp, x, QUANTILE_LEVELS, QUANTILE_WEIGHTS)
        if metric == "tpot":
            rate = lp.n * 0 + lp.rate
            return tpot_cdf(
                lp, x, QUANTILE_LEVELS, QUANTILE_WEIGHTS, self.outputs, QUANTILE_WEIGHTS, rate
            )
        # e2e: first token, then O − 1 steps of the mean length
        x = np.asarray(x, dtype=np.float64)
        out = np.zeros(lp.n.shape)
        for o, wt in zip(self.outputs, QUANTILE_WEIGHTS, strict=True):
            out = out + wt * ttft_cdf(lp, x - (o - 1) * lp.t_bar, QUANTILE_LEVELS, QUANTILE_WEIGHTS)
        return out

    def value(self, lp: LoadPoint, metric: str, percentile: float) -> F64:
        """The `percentile`-th percentile of `metric`, seconds (inf where unstable)."""
        first = lp.prefill_k[..., 0]
        if metric == "ttft":
            lo, hi = first, lp.prefill_k[..., -1] + lp.mixed_len + lp.t_dec
        elif metric == "tpot":
            lo, hi = lp.t_dec * 0.999, lp.t_dec + lp.delta_k[..., -1] + lp.mixed_len
        else:
            top = (self.outputs[-1] - 1) * lp.t_bar
            lo, hi = first, lp.prefill_k[..., -1] + lp.mixed_len + lp.t_dec + 2 * top
        return quantile(lambda x: self.cdf(lp, metric, x), percentile / 100, lo, hi)

    def meets(self, lp: LoadPoint) -> np.ndarray:
        ok = np.ones(lp.n.shape, dtype=bool)
        for t in self.work.slo.targets:
            ok &= self.cdf(lp, t.metric, np.full(lp.n.shape, t.ms / 1e3)) >= t.percentile / 100
        return ok

    def fewest_replicas(self, start: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The fewest replicas >= `start` meeting every SLO, where `mask`; `start` where no
        count up to 2^GROWTH_DOUBLINGS x `start` does (the setup then misses)."""
        if not self.work.slo.targets:
            return start
        lo = start.astype(np.int64)
        ok = self.meets(self.point(lo)) | ~mask
        hi = lo.copy()
        found = ok.copy()
        for _ in range(GROWTH_DOUBLINGS):
            if found.all():
                break
            hi = np.where(found, hi, hi * 2)
            found |= self.meets(self.point(hi))
        # bisection on (lo, hi]: lo misses, hi meets
        lo = np.where(found & ~ok, np.maximum(hi // 2, lo), hi - 1)
        lo = np.where(ok, start - 1, lo)
        hi = np.where(ok, start, hi)
        lo = np.where(found, lo, start - 1)
        hi = np.where(found, hi, start)
        while (hi - lo > 1).any():
            mid = np.where(hi - lo > 1, (lo + hi) // 2, hi)
            good = self.meets(self.point(mid))
            hi = np.where(good, mid, hi)
            lo = np.where(good, lo, mid)
        return hi
