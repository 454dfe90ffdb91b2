"""The analytic latency percentiles of the search: `fleetplan.sizing`'s queue and step model
over a group of stacked setups at every grid batch size, and the fewest replicas meeting every
percentile SLO (a vectorized bisection, not a replica-at-a-time loop)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from copy import copy
from typing import TYPE_CHECKING

import numpy as np

from fleetplan.perf.roofline import Setup
from fleetplan.perf.schedule import mixed_step_s
from fleetplan.perf.step_total import StepFactors, step_factors
from fleetplan.queueing import quantile
from fleetplan.search.stack import take
from fleetplan.sizing import F64, LoadPoint, load_point, tpot_distribution, ttft_distribution
from fleetplan.sizing.percentiles import _take_rows
from fleetplan.workload import QUANTILE_LEVELS, QUANTILE_WEIGHTS

if TYPE_CHECKING:
    from fleetplan.search.candidates import Workload

GROWTH_DOUBLINGS = 4  # replicas looked for up to 2^4 x the throughput count


# the operating point's fields that TPOT's distribution and its percentile's bracket read:
# entries alike in all of them have the same TPOT percentiles (a test holds the list to
# `tpot_distribution`)
TPOT_READS = (
    "n",
    "t_dec",
    "t_bar",
    "t_idle",
    "share",
    "rate",
    "count_cv2",
    "life_cv2",
    "replicas",
    "stable",
    "mixed_len",
    "delta_k",
)

BLOCK_ENTRIES = 2048  # entries evaluated together: arrays that stay in cache, few page faults


def _blocks(where: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The (row, column) indices of the True entries of `where`, in blocks."""
    rows, cols = np.nonzero(where)
    for a in range(0, rows.size, BLOCK_ENTRIES):
        yield rows[a : a + BLOCK_ENTRIES], cols[a : a + BLOCK_ENTRIES]


class LatencyModel:
    """Latency distributions of `setup` (stacked, shape (n, 1)) at batch limits `batch`
    (n, m), each row with its engine's token budget per step `chunk` (n, 1) and its peak
    requests/s `peak` (n, 1; the workload's peak where not given)."""

    def __init__(
        self, setup: Setup, work: Workload, batch: F64, chunk: F64, peak: F64 | None = None
    ) -> None:
        self.setup = setup
        self.work = work
        self.batch = np.asarray(batch, dtype=np.float64)
        self.chunk = np.asarray(chunk, dtype=np.float64)
        self.peak = np.full(self.chunk.shape, work.traffic.peak_qps) if peak is None else peak
        self.prompts = np.maximum(work.input.quantiles(), 1.0)
        self.outputs = np.maximum(work.output.quantiles(), 1.0)
        self.factors = step_factors(setup)
        # operating points the replica search computed, per (row, batch) entry, with the
        # replica count each is at: the percentiles read them instead of computing them again
        self._kept_at = np.full(self.batch.shape, -1, dtype=np.int64)
        self._kept: dict[str, np.ndarray] = {}

    def _step(self, d: F64, c: F64, p: F64, pc: F64) -> F64:
        return mixed_step_s(self.setup, d, c, p, pc, self.factors)

    def point(self, replicas: F64) -> LoadPoint:
        w = self.work
        a = w.arrivals
        rate = self.peak * a.burst_factor  # on/off: requests meet at the burst rate
        cv2 = a.sizing_cv2(w.traffic.peak_qps)
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

    def distribution(
        self, lp: LoadPoint, metric: str, level: float | None = None
    ) -> Callable[[F64], F64]:
        """P(metric ≤ x seconds) at the operating point `lp` as a function of x (what does not
        depend on x worked out once); given the `level` it is only compared against, TTFT's
        reads the same side of it for less (`sizing.percentiles.ttft_distribution`)."""
        if metric == "ttft":
            return ttft_distribution(lp, QUANTILE_LEVELS, QUANTILE_WEIGHTS, level)
        if metric == "tpot":
            rate = lp.n * 0 + lp.rate
            return tpot_distribution(
                lp, QUANTILE_LEVELS, QUANTILE_WEIGHTS, self.outputs, QUANTILE_WEIGHTS, rate
            )
        # e2e: first token, then O − 1 steps of the mean length
        ttft = ttft_distribution(lp, QUANTILE_LEVELS, QUANTILE_WEIGHTS)

        def e2e(x: F64) -> F64:
            x = np.asarray(x, dtype=np.float64)
            out = np.zeros(lp.n.shape)
            for o, wt in zip(self.outputs, QUANTILE_WEIGHTS, strict=True):
                out = out + wt * ttft(x - (o - 1) * lp.t_bar)
            return out

        return e2e

    def value(self, lp: LoadPoint, metric: str, percentile: float) -> F64:
        """The `percentile`-th percentile of `metric`, seconds (inf where unstable)."""
        first = lp.prefill_k[..., 0]
        if metric == "ttft":  # own prefill, the longest prefill in flight, a decode step
            lo, hi = first, 2 * lp.prefill_k[..., -1] + lp.t_dec
        elif metric == "tpot":
            lo, hi = lp.t_dec * 0.999, lp.t_dec + lp.delta_k[..., -1] + lp.mixed_len
        else:
            top = (self.outputs[-1] - 1) * lp.t_bar
            lo, hi = first, 2 * lp.prefill_k[..., -1] + lp.t_dec + 2 * top
        q = percentile / 100
        return quantile(self.distribution(lp, metric, q), q, lo, hi)

    def meets(self, lp: LoadPoint) -> np.ndarray:
        ok = np.ones(lp.n.shape, dtype=bool)
        for t in self.work.slo.targets:
            q = t.percentile / 100
            ok &= self.distribution(lp, t.metric, q)(np.full(lp.n.shape, t.ms / 1e3)) >= q
        return ok

    def values(
        self, replicas: np.ndarray, where: np.ndarray, names: dict[str, tuple[str, float]]
    ) -> dict[str, F64]:
        """Each named (metric, percentile) at `replicas`, seconds, at the entries `where`
        (inf elsewhere)."""
        values = {k: np.full(replicas.shape, np.inf) for k in names}
        for rows, cols in _blocks(where):
            lp = self._points(rows, cols, replicas[rows, cols])
            for k, (metric, pct) in names.items():
                if metric == "tpot":  # entries alike in all it reads: computed once
                    alike = [getattr(lp, f).reshape(rows.size, -1) for f in TPOT_READS]
                    _, first, back = np.unique(
                        np.concatenate(alike, axis=1),
                        axis=0,
                        return_index=True,
                        return_inverse=True,
                    )
                    got = self.value(_take_rows(lp, first), metric, pct)[back.reshape(-1), 0]
                else:
                    got = self.value(lp, metric, pct)[:, 0]
                values[k][rows, cols] = got
        return values

    def _points(self, rows: np.ndarray, cols: np.ndarray, replicas: np.ndarray) -> LoadPoint:
        """The operating points at the entries given and their replica counts, shape
        (entries, 1): those the replica search kept, the others computed (and kept)."""
        miss = self._kept_at[rows, cols] != replicas
        if miss.any():
            r, c = rows[miss], cols[miss]
            self._keep(r, c, replicas[miss], self.entries(r, c).point(replicas[miss][:, None]))
        return LoadPoint(**{k: v[rows, cols][:, None] for k, v in self._kept.items()})

    def _keep(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        replicas: np.ndarray,
        lp: LoadPoint,
        sel: np.ndarray | None = None,
    ) -> None:
        """Keep the operating points `lp` (shape (entries, 1, ...)) of the entries given, or
        of those `sel` selects."""
        pick = slice(None) if sel is None else sel
        if not self._kept:
            self._kept = {
                k: np.empty((*self.batch.shape, *v.shape[2:]), dtype=v.dtype)
                for k, v in vars(lp).items()
                if isinstance(v, np.ndarray)
            }
        rows, cols = rows[pick], cols[pick]
        for k, v in self._kept.items():
            v[rows, cols] = getattr(lp, k)[pick, 0]
        self._kept_at[rows, cols] = replicas[pick]

    def _meets(self, replicas: np.ndarray, pending: np.ndarray, keep: str = "good") -> np.ndarray:
        """`meets` at `replicas`, evaluated only at the pending entries; the operating points
        are kept where every SLO is met (the search's answer is the last count that met
        them) or, with `keep="all"`, everywhere."""
        out = np.zeros(pending.shape, dtype=bool)
        for rows, cols in _blocks(pending):
            sub = self.entries(rows, cols)
            r = replicas[rows, cols]
            lp = sub.point(r[:, None])
            ok = sub.meets(lp)[:, 0]
            out[rows, cols] = ok
            self._keep(rows, cols, r, lp, None if keep == "all" else ok)
        return out

    def entries(self, rows: np.ndarray, cols: np.ndarray) -> LatencyModel:
        """The same model at the (row, batch column) entries given, one row each."""
        sub = copy(self)  # the same work and length grids; each row's own numbers taken
        sub.setup = take(self.setup, rows)
        sub.batch = self.batch[rows, cols][:, None]
        sub.chunk, sub.peak = self.chunk[rows], self.peak[rows]
        sub.factors = StepFactors(
            *(v[rows] if np.ndim(v) == 2 else v for v in vars(self.factors).values())
        )
        sub._kept_at = np.full(sub.batch.shape, -1, dtype=np.int64)
        sub._kept = {}
        return sub

    def fewest_replicas(
        self,
        start: np.ndarray,
        mask: np.ndarray,
        reach: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The fewest replicas >= `start` meeting every SLO where `mask`, and whether they
        were found (up to 2^GROWTH_DOUBLINGS x `start`). A vectorized bisection that only
        follows entries that can still need the fewest replicas of their setup (row): an
        entry whose lower bound reaches the best count found in its row keeps `start` and
        is marked not found (it cannot be the setup's choice).

        With `reach` (per row, the most replicas that can still tie a count in whole
        instances of some offer: (rows, 1) -> (rows, 1)), an entry whose `start` is beyond
        the reach of its row's best is not evaluated either and is marked not found: it
        needs more instances of every offer than the best. The entries within reach of the
        row's smallest `start` are tried first, then those within reach of the smallest
        `start` that meets every SLO (the best can only be lower)."""
        start = start.astype(np.int64)
        if not self.work.slo.targets:
            return start, mask.copy()
        big = np.iinfo(np.int64).max
        if reach is None:
            ok = self._meets(start, mask, keep="all") & mask
        else:
            least = np.where(mask, start, big).min(axis=1, keepdims=True)
            first = mask & (start <= reach(least))
            ok = self._meets(start, first, keep="all") & first
            best = np.where(ok, start, big).min(axis=1, keepdims=True)
            more = mask & ~first & (start <= reach(best))
            if more.any():
                ok |= self._meets(start, more, keep="all") & more
            mask = first | more
        best = np.where(ok, start, big).min(axis=1, keepdims=True)
        live = mask & ~ok & (start < best)
        hi, lo = start.copy(), start - 1
        found = ok.copy()
        for _ in range(GROWTH_DOUBLINGS):
            pending = live & ~found
            if not pending.any():
                break
            lo = np.where(pending, hi, lo)
            hi = np.where(pending, hi * 2, hi)
            found |= self._meets(hi, pending) & pending
            best = np.minimum(best, np.where(found, hi, big).min(axis=1, keepdims=True))
            live &= (lo + 1) <= best
        live &= found & ~ok
        while True:
            live &= (lo + 1) <= best  # can still beat or tie the row's best
            pending = live & (hi - lo > 1)
            if not pending.any():
                break
            mid = np.where(pending, (lo + hi) // 2, hi)
            good = self._meets(mid, pending)
            hi = np.where(pending & good, mid, hi)
            lo = np.where(pending & ~good, mid, lo)
            best = np.minimum(best, np.where(found, hi, big).min(axis=1, keepdims=True))
        keep = ok | (found & live)
        return np.where(keep, hi, start), keep
