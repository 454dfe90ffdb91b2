"""Requests of a simulation: arrival times, token lengths and shared prefixes.

Arrival processes (Poisson, gamma with a coefficient of variation, on/off, a piecewise-constant
rate profile) and trace replay (`sim/trace.py`). Requests are drawn in chunks of about
`CHUNK` (vectorized, from the scenario's seed), so a long run never holds all of them: Poisson,
on/off and profile arrivals are a unit-rate Poisson process in Λ(t), the expected arrivals by t,
mapped back through Λ's inverse; gamma arrivals are a renewal process drawn gap by gap.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fleetplan.errors import InputError
from fleetplan.sim.config import Arrivals, LengthSpec, Prefix
from fleetplan.sim.trace import read_trace

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
CHUNK = 1 << 16  # requests drawn at a time
MAX_SEGMENTS = 10_000_000

__all__ = ["Workload", "arrival_times", "build_workload", "read_trace", "workload_chunks"]


@dataclass(frozen=True)
class Workload:
    """One array entry per request, sorted by arrival time."""

    arrival_s: F64
    input_tokens: I64
    output_tokens: I64
    prefix_id: I64  # -1: no shared prefix
    prefix_tokens: I64  # leading input tokens shared with other requests of that prefix_id
    clipped: int = 0  # requests shortened to fit the model's context or the KV cache

    def __len__(self) -> int:
        return int(self.arrival_s.size)


class _Intensity:
    """Λ(t), the expected arrivals by t, of a Poisson, on/off or profile spec, and Λ⁻¹."""

    def __init__(self, spec: Arrivals) -> None:
        self.kind = spec.kind
        if spec.kind == "profile":
            assert spec.rates_per_s is not None
            seg = spec.segment_s
            end = spec.duration_s or seg * len(spec.rates_per_s)
            n_seg = int(np.ceil(end / seg))
            if n_seg > MAX_SEGMENTS:
                raise InputError(
                    f"arrivals.segment_s = {seg:g} cuts {end:g} s into {n_seg:,} segments; "
                    f"at most {MAX_SEGMENTS:,} are accepted"
                )
            self.starts = np.arange(n_seg, dtype=np.float64) * seg
            lens = np.minimum(self.starts + seg, end) - self.starts
            self.rates = np.resize(np.asarray(spec.rates_per_s, dtype=np.float64), n_seg)
            self.cum = np.concatenate(([0.0], np.cumsum(self.rates * lens)))
            self.end = end
            self.total = float(self.cum[-1])
            return
        assert spec.rate_per_s and spec.duration_s
        self.rate, self.end = spec.rate_per_s, spec.duration_s
        on = spec.on_s if spec.kind == "onoff" else None
        off = spec.off_s if spec.kind == "onoff" else 0.0
        self.on, self.cycle = on, (on or 0.0) + (off or 0.0)
        on_time = self.end
        if on is not None:
            full = np.floor(self.end / self.cycle)
            on_time = float(full * on + min(on, self.end - full * self.cycle))
        self.total = self.rate * on_time

    def inverse(self, lam: F64) -> F64:
        if self.kind == "profile":
            k = np.searchsorted(self.cum, lam, side="right") - 1
            k = np.clip(k, 0, self.rates.size - 1)
            rate = self.rates[k]
            dt = np.divide(lam - self.cum[k], rate, out=np.zeros_like(lam), where=rate > 0)
            t = self.starts[k] + dt
        else:
            t = lam / self.rate
            if self.on is not None:  # on-time back to wall time
                period = np.floor(t / self.on)
                t = period * self.cycle + (t - period * self.on)
        return np.minimum(t, np.nextafter(self.end, 0))


def _counted_chunks(spec: Arrivals, rng: np.random.Generator) -> Iterator[F64]:
    """`spec.requests` Poisson arrivals: the first at 0, then exponential gaps at the rate,
    cut at `duration_s` when it is given."""
    assert spec.rate_per_s and spec.requests
    t, left = 0.0, spec.requests
    while left > 0:
        n = min(CHUNK, left)
        gaps = rng.exponential(1.0 / spec.rate_per_s, n)
        times = t + np.cumsum(gaps) - gaps
        t, left = float(times[-1] + gaps[-1]), left - n
        if spec.duration_s is not None and times[-1] >= spec.duration_s:
            yield times[times < spec.duration_s]
            return
        yield times


def _time_chunks(spec: Arrivals, rng: np.random.Generator, max_n: int) -> Iterator[F64]:
    if spec.kind == "poisson" and spec.requests is not None:
        yield from _counted_chunks(spec, rng)
        return
    if spec.kind == "gamma":
        assert spec.rate_per_s and spec.duration_s and spec.cv
        shape = 1.0 / spec.cv**2
        scale = 1.0 / (spec.rate_per_s * shape)
        t, n, end = 0.0, 0, spec.duration_s
        while t <= end:
            times = t + np.cumsum(rng.gamma(shape, scale, CHUNK))
            t = float(times[-1])
            n += CHUNK
            yield times[times < end]
            if n > max_n and t <= end:
                raise InputError(
                    f"arrivals: more than {max_n:,} arrivals drawn before duration_s = {end:g} "
                    "(a very bursty gamma draws most gaps near zero); lower arrivals.cv"
                )
        return
    lam = _Intensity(spec)
    pos = 0.0
    while pos < lam.total:
        step = min(float(CHUNK), lam.total - pos)
        u = pos + np.sort(rng.uniform(0.0, step, rng.poisson(step)))
        pos += step
        yield lam.inverse(u)


def arrival_times(spec: Arrivals, rng: np.random.Generator, max_n: int = 1 << 40) -> F64:
    """Arrival instants in seconds from 0 (not for kind 'trace'); a gamma process that draws
    more than `max_n` arrivals raises InputError."""
    if spec.kind not in ("poisson", "gamma", "onoff", "profile"):
        raise InputError(f"arrivals.kind = {spec.kind!r} has no generator")
    parts = list(_time_chunks(spec, rng, max_n))
    return np.concatenate(parts) if parts else np.empty(0)


def expected_requests(spec: Arrivals) -> float:
    """Expected number of arrivals of an open-loop spec (not 'trace' or 'concurrency').

    A gamma renewal process started at 0 has E[N(t)] = t/mean + (cv^2 - 1)/2 asymptotically:
    a very bursty one draws many requests whatever its rate."""
    if spec.kind == "gamma":
        assert spec.rate_per_s and spec.duration_s and spec.cv
        return spec.rate_per_s * spec.duration_s + max(spec.cv**2 - 1.0, 0.0) / 2
    if spec.kind == "poisson" and spec.requests is not None:
        assert spec.rate_per_s
        window = spec.duration_s * spec.rate_per_s if spec.duration_s else math.inf
        return float(min(spec.requests, window))
    if spec.kind in ("poisson", "onoff", "profile"):
        return _Intensity(spec).total
    raise InputError(f"arrivals.kind = {spec.kind!r} has no expected count")


def arrival_window_s(spec: Arrivals) -> float:
    """The end of the arrival window of an open-loop spec (seconds from 0)."""
    if spec.kind == "profile":
        assert spec.rates_per_s is not None
        return spec.duration_s or spec.segment_s * len(spec.rates_per_s)
    if spec.kind == "poisson" and spec.duration_s is None:
        assert spec.rate_per_s and spec.requests
        return spec.requests / spec.rate_per_s
    assert spec.duration_s is not None
    return spec.duration_s


def lengths(spec: LengthSpec, n: int, rng: np.random.Generator) -> I64:
    """`n` token counts drawn from `spec`, rounded and clipped to [min, max]."""
    if spec.dist == "fixed":
        x = np.full(n, spec.mean)
    elif spec.dist == "exponential":
        x = rng.exponential(spec.mean, n)
    else:  # lognormal with the given mean: mu = ln(mean) - sigma^2 / 2
        mu = np.log(spec.mean) - spec.sigma**2 / 2
        x = rng.lognormal(mu, spec.sigma, n)
    out = np.maximum(np.rint(x), spec.min)
    if spec.max is not None:
        out = np.minimum(out, spec.max)
    return out.astype(np.int64)


def prefixes(spec: Prefix, inputs: I64, rng: np.random.Generator) -> tuple[I64, I64]:
    """Prefix id (-1 none) and shared-prefix tokens of each request."""
    n = inputs.size
    if spec.share <= 0 or spec.tokens <= 0:
        return np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)
    has = rng.random(n) < spec.share
    ids = np.where(has, rng.integers(0, spec.groups, n), -1).astype(np.int64)
    tokens = np.where(has, np.minimum(spec.tokens, inputs - 1), 0).astype(np.int64)
    return ids, tokens


def fit(times: F64, ins: I64, outs: I64, pids: I64, ptok: I64, max_tokens: int) -> Workload:
    """A request longer than `max_tokens` (context or KV capacity) loses output tokens, then
    input tokens, until it fits, and is counted in `clipped`."""
    over = ins + outs > max_tokens
    clipped = int(over.sum())
    if clipped:
        ins = np.minimum(ins, max_tokens - 1)
        outs = np.minimum(outs, max_tokens - ins)
        ptok = np.minimum(ptok, ins - 1)
    return Workload(times, ins, outs, pids, ptok, clipped)


def draw_requests(
    times: F64,
    input_spec: LengthSpec,
    output_spec: LengthSpec,
    prefix: Prefix,
    rng: np.random.Generator,
    max_tokens: int,
) -> Workload:
    """Lengths and prefixes of requests arriving at `times`."""
    ins = lengths(input_spec, times.size, rng)
    outs = lengths(output_spec, times.size, rng)
    pids, ptok = prefixes(prefix, ins, rng)
    return fit(times, ins, outs, pids, ptok, max_tokens)


def workload_chunks(
    arrivals: Arrivals,
    input_spec: LengthSpec,
    output_spec: LengthSpec,
    prefix: Prefix,
    rng: np.random.Generator,
    max_tokens: int,
    max_n: int = 1 << 40,
) -> Iterator[Workload]:
    """The requests of an open-loop run (or a trace) in arrival order, a chunk at a time."""
    if arrivals.kind == "trace":
        assert arrivals.path is not None
        times, ins, outs, pids = read_trace(arrivals.path)
        ptok = np.zeros_like(ins)
        if prefix.tokens > 0:  # a trace's prefix ids share `prefix.tokens` leading tokens
            ptok = np.where(pids >= 0, np.minimum(prefix.tokens, ins - 1), 0)
        else:
            pids = np.full_like(pids, -1)
        for a in range(0, times.size, CHUNK):
            sl = slice(a, a + CHUNK)
            yield fit(times[sl], ins[sl], outs[sl], pids[sl], ptok[sl], max_tokens)
        return
    for times in _time_chunks(arrivals, rng, max_n):
        if times.size:
            yield draw_requests(times, input_spec, output_spec, prefix, rng, max_tokens)


def build_workload(*args: Any, **kwargs: Any) -> Workload:
    """All requests of a run at once: `workload_chunks` (same arguments) joined."""
    parts = list(workload_chunks(*args, **kwargs))
    if not parts:
        e = np.empty(0, dtype=np.int64)
        return Workload(np.empty(0), e, e, e, e, 0)
    return Workload(
        np.concatenate([p.arrival_s for p in parts]),
        np.concatenate([p.input_tokens for p in parts]),
        np.concatenate([p.output_tokens for p in parts]),
        np.concatenate([p.prefix_id for p in parts]),
        np.concatenate([p.prefix_tokens for p in parts]),
        sum(p.clipped for p in parts),
    )
