"""What a simulation measures, and its summary statistics, in memory that does not grow with
the run.

Per request, when it finishes: arrival, admission (first scheduled), first token, finish,
input and output tokens. Per iteration: its duration, weighted by the sequences that got a token
from it (inter-token latency). Periodic samples: queue length, requests in system, running
sequences, KV use (see `drive.Sampler`).

- TTFT = first token - arrival; E2E = finish - arrival; queue = first scheduled - arrival.
- TPOT = (finish - first token) / (output tokens - 1), for requests of two or more tokens.
- ITL: the gap between consecutive tokens of a sequence: each iteration's time, weighted by the
  sequences it gave a token (a run of k decode steps advanced together counts its mean step
  time k·b times; its steps differ only by the growing context), plus the stall of a sequence
  preempted and recomputed.
- goodput: share of requests that meet every SLO given (TTFT, TPOT, E2E).

Finished requests are buffered and folded into `Quantiles` in vectorized batches. A
`Quantiles` keeps every value up to `exact_max` of them and reports exact percentiles (linear
interpolation; weighted: the value where the cumulative weight crosses the share); past that it
folds them into a fixed log-bucket histogram (DDSketch's mapping: bucket i holds
(gamma^(i-1), gamma^i], gamma = (1 + a)/(1 - a)) whose percentiles are within a relative error
`a` = RELATIVE_ERROR (0.5 %) of the exact ones, in a few kilobytes whatever the count.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
PERCENTILES = (50, 90, 95, 99)
RELATIVE_ERROR = 0.005
EXACT_MAX = 1_000_000  # values a run's statistic keeps exactly
WINDOW_EXACT_MAX = 20_000  # the same for one time window's
FLUSH_ROWS = 1 << 15  # finished requests buffered before they are folded in
WINDOWS = 60

_GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(_GAMMA)
_MIN_S = 1e-9  # values at or below are counted in bucket 0 (as 0)
_BUCKETS = math.ceil(math.log(1e9 / _MIN_S) / _LOG_GAMMA) + 2  # 1 ns .. ~31 years


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
    exact: bool = True  # False: percentiles from the log-bucket histogram (±0.5 %)
    _at: Callable[[float], float] | None = field(default=None, compare=False, repr=False)

    def percentile(self, q: float) -> float:
        """Any percentile 0 < q < 100 of the same values, in ms."""
        if not 0 < q < 100:
            raise ValueError(f"percentile {q!r}: expected 0 < q < 100")
        if not self.count or self._at is None:
            return math.nan if not self.count else getattr(self, f"p{int(q)}", math.nan)
        return self._at(q)

    def as_dict(self) -> dict[str, float | None]:
        keys = ("p50", "p90", "p95", "p99", "mean", "max")
        if not self.count:
            return dict.fromkeys(keys)
        return {k: round(getattr(self, k), 4) for k in keys}


def _exact(v: F64, w: F64 | None, qs: F64) -> F64:
    if w is None:
        return np.percentile(v, qs)
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cum = np.cumsum(w)
    idx = np.searchsorted(cum, qs / 100 * cum[-1], side="left")
    return v[np.minimum(idx, v.size - 1)]


def stats_ms(values_s: F64, weights: F64 | None = None) -> Stats:
    """Exact percentiles and mean of `values_s`, in ms. Empty input: count 0 (figures null)."""
    q = Quantiles()
    q.add(np.asarray(values_s, dtype=np.float64), weights)
    return q.stats_ms()


class Quantiles:
    """Percentiles of a stream of (optionally weighted) values, exact up to `exact_max`."""

    __slots__ = ("_hist", "_vals", "_wts", "count", "exact_max", "max", "min", "n", "total")

    def __init__(self, exact_max: int = EXACT_MAX) -> None:
        self.exact_max = exact_max
        self._vals: list[F64] = []
        self._wts: list[F64] = []
        self._hist: F64 | None = None
        self.n = 0  # values kept exactly
        self.count = 0.0  # total weight
        self.total = 0.0  # weighted sum
        self.max = -math.inf
        self.min = math.inf

    def add(self, values: F64, weights: F64 | None = None) -> None:
        if values.size == 0:
            return
        w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
        self.count += float(w.sum())
        self.total += float((values * w).sum())
        self.max = max(self.max, float(values.max()))
        self.min = min(self.min, float(values.min()))
        if self._hist is not None:
            self._fold(values, w)
            return
        self._vals.append(values)
        if weights is not None:
            self._wts.append(w)
        self.n += values.size
        if self.n > self.exact_max:
            vals = np.concatenate(self._vals)
            wts = np.concatenate(self._wts) if self._wts else np.ones_like(vals)
            self._vals, self._wts = [], []
            self._hist = np.zeros(_BUCKETS)
            self._fold(vals, wts)

    def _fold(self, v: F64, w: F64) -> None:
        assert self._hist is not None
        with np.errstate(divide="ignore"):
            idx = np.ceil(np.log(np.maximum(v, _MIN_S) / _MIN_S) / _LOG_GAMMA)
        idx = np.clip(idx, 0, _BUCKETS - 1).astype(np.intp)
        self._hist += np.bincount(idx, weights=w, minlength=_BUCKETS)

    def _percentiles_s(self, qs: F64) -> F64:
        if self._hist is None:
            v = np.concatenate(self._vals)
            w = np.concatenate(self._wts) if self._wts else None
            return _exact(v, w, qs)
        cum = np.cumsum(self._hist)
        i = np.searchsorted(cum, qs / 100 * cum[-1], side="left")
        i = np.minimum(i, _BUCKETS - 1)
        mid = _MIN_S * 2 * _GAMMA ** i.astype(np.float64) / (_GAMMA + 1)
        mid = np.where(i == 0, 0.0, mid)
        return np.clip(mid, self.min, self.max)

    def stats_ms(self) -> Stats:
        if not self.count:
            return Stats(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
        p = self._percentiles_s(np.asarray(PERCENTILES, dtype=np.float64)) * 1e3

        def at(q: float) -> float:
            return float(self._percentiles_s(np.asarray([q], dtype=np.float64))[0] * 1e3)

        return Stats(
            *(float(x) for x in p),
            self.total / self.count * 1e3,
            self.max * 1e3,
            self.count,
            self._hist is None,
            at,
        )


class Recorder:
    """Measurements of one run: replicas call `done` when a request finishes and append to
    `itl_s`/`itl_w`; everything is folded into `Quantiles` in batches."""

    __slots__ = (
        "_rows",
        "arrived",
        "completed",
        "e2e",
        "first_arrival_s",
        "good",
        "input_tokens",
        "itl",
        "itl_s",
        "itl_w",
        "last_finish_s",
        "on_done",
        "output_tokens",
        "preemptions",
        "prefix_hit_tokens",
        "queue",
        "samples",
        "slo_s",
        "tpot",
        "ttft",
        "win_e2e",
        "win_s",
        "win_ttft",
    )

    def __init__(
        self,
        slo_s: tuple[float | None, float | None, float | None] = (None, None, None),
        windows_s: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        self.slo_s = slo_s  # TTFT, TPOT, E2E limits in seconds
        self.ttft, self.tpot, self.e2e, self.queue, self.itl = (Quantiles() for _ in range(5))
        self.win_s = (0.0, 1.0)  # start, width of a window
        self.set_windows(*windows_s)
        self.win_ttft = [Quantiles(WINDOW_EXACT_MAX) for _ in range(WINDOWS)]
        self.win_e2e = [Quantiles(WINDOW_EXACT_MAX) for _ in range(WINDOWS)]
        self._rows = array("d")
        self.itl_s = array("d")
        self.itl_w = array("d")
        self.arrived = 0
        self.completed = 0
        self.good = 0
        self.preemptions = 0
        self.prefix_hit_tokens = 0
        self.input_tokens = 0.0
        self.output_tokens = 0.0
        self.first_arrival_s = math.inf
        self.last_finish_s = -math.inf
        self.on_done: Callable[[float, int], None] | None = None
        # (time, waiting, running, in system, KV used share)
        self.samples: list[tuple[float, int, int, int, float]] = []

    def set_windows(self, start_s: float, end_s: float) -> None:
        """The span of arrival times cut into `WINDOWS` windows (later ones join the last)."""
        self.win_s = (start_s, max(end_s - start_s, 1e-9) / WINDOWS)

    def done(
        self,
        now: float,
        rid: int,
        arrival: float,
        sched: float,
        first: float,
        tokens_in: int,
        out: int,
    ) -> None:
        """Request `rid` finished at `now` (its last token); `first` is its first token."""
        self._rows.extend((arrival, sched, first, now, tokens_in, out))
        self.completed += 1
        if self.completed % FLUSH_ROWS == 0:
            self.flush()
        if self.on_done is not None:
            self.on_done(now, rid)

    def flush(self) -> None:
        """Fold the buffered requests and iterations into the statistics."""
        if len(self.itl_s):
            self.itl.add(np.frombuffer(self.itl_s).copy(), np.frombuffer(self.itl_w).copy())
            self.itl_s, self.itl_w = array("d"), array("d")
        if not len(self._rows):
            return
        r = np.frombuffer(self._rows).reshape(-1, 6)
        self._rows = array("d")
        arr, sched, first, fin, tin, out = r.T
        ttft, e2e = first - arr, fin - arr
        multi = out > 1
        tpot = (fin - first)[multi] / (out[multi] - 1)
        self.ttft.add(ttft)
        self.e2e.add(e2e)
        self.queue.add(sched - arr)
        self.tpot.add(tpot)
        good = np.ones(arr.size, dtype=bool)
        lim_ttft, lim_tpot, lim_e2e = self.slo_s
        if lim_ttft is not None:
            good &= ttft <= lim_ttft
        if lim_tpot is not None:
            all_tpot = np.zeros(arr.size)
            all_tpot[multi] = tpot
            good &= all_tpot <= lim_tpot
        if lim_e2e is not None:
            good &= e2e <= lim_e2e
        self.good += int(good.sum())
        self.input_tokens += float(tin.sum())
        self.output_tokens += float(out.sum())
        self.first_arrival_s = min(self.first_arrival_s, float(arr.min()))
        self.last_finish_s = max(self.last_finish_s, float(fin.max()))
        lo, width = self.win_s
        which = np.clip(((arr - lo) / width).astype(np.intp), 0, WINDOWS - 1)
        for k in np.unique(which).tolist():
            sel = which == k
            self.win_ttft[k].add(ttft[sel])
            self.win_e2e[k].add(e2e[sel])

    def windows(self) -> dict[str, list[float]]:
        """TTFT and E2E percentiles (ms) of the requests arriving in each time window."""
        out: dict[str, list[float]] = {
            k: []
            for k in ("t_s", "ttft_p50", "ttft_p95", "ttft_p99", "e2e_p50", "e2e_p95", "e2e_p99")
        }
        lo, width = self.win_s
        qs = np.asarray((50.0, 95.0, 99.0))
        for k in range(WINDOWS):
            if not self.win_ttft[k].count:
                continue
            out["t_s"].append(lo + k * width)
            for name, q in (("ttft", self.win_ttft[k]), ("e2e", self.win_e2e[k])):
                p = q._percentiles_s(qs) * 1e3
                for pct, x in zip(("p50", "p95", "p99"), p, strict=True):
                    out[f"{name}_{pct}"].append(float(x))
        return out
