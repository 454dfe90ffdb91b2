"""Requests of a simulation: arrival times, token lengths and shared prefixes.

Arrival processes (Poisson, gamma with a coefficient of variation, on/off, a piecewise-constant
rate profile) and trace replay (CSV or JSONL rows of timestamp, input_tokens, output_tokens and
an optional prefix_id). Everything is drawn up front, vectorized, from the scenario's seed.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fleetplan.errors import InputError
from fleetplan.sim.config import Arrivals, LengthSpec, Prefix

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


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


def _poisson(rng: np.random.Generator, rate: float, start: float, end: float) -> F64:
    n_mean = rate * (end - start)
    if n_mean <= 0:
        return np.empty(0)
    n = rng.poisson(n_mean)  # given the count, Poisson times are uniform order statistics
    return np.sort(rng.uniform(start, end, size=n))


def _renewal(rng: np.random.Generator, draw, mean_gap: float, duration: float, max_n: int) -> F64:
    chunks, t, n = [], 0.0, 0
    size = min(int(duration / mean_gap * 1.05) + 64, max_n + 1)
    while t <= duration:
        times = t + np.cumsum(draw(size))
        chunks.append(times)
        t = float(times[-1])
        n += size
        if n > max_n and t <= duration:
            raise InputError(
                f"arrivals: more than {max_n:,} arrivals drawn before duration_s = {duration:g} "
                "(a very bursty gamma draws most gaps near zero); lower arrivals.cv"
            )
    times = np.concatenate(chunks)
    return times[times < duration]


def _onoff(rng: np.random.Generator, rate: float, on: float, off: float, end: float) -> F64:
    """Poisson at `rate` on the union of the on-periods: drawn over their total length and
    mapped back, so the cost does not depend on the number of periods."""
    cycle = on + off
    full = np.floor(end / cycle)
    on_total = full * on + min(on, end - full * cycle)
    u = _poisson(rng, rate, 0.0, on_total)
    period = np.floor(u / on)
    return np.minimum(period * cycle + (u - period * on), np.nextafter(end, 0))


MAX_SEGMENTS = 10_000_000


def _profile(spec: Arrivals, rng: np.random.Generator) -> F64:
    assert spec.rates_per_s is not None
    seg = spec.segment_s
    end = spec.duration_s or seg * len(spec.rates_per_s)
    n_seg = int(np.ceil(end / seg))
    if n_seg > MAX_SEGMENTS:
        raise InputError(
            f"arrivals.segment_s = {seg:g} cuts {end:g} s into {n_seg:,} segments; "
            f"at most {MAX_SEGMENTS:,} are accepted"
        )
    starts = np.arange(n_seg, dtype=np.float64) * seg
    lens = np.minimum(starts + seg, end) - starts
    rates = np.resize(np.asarray(spec.rates_per_s, dtype=np.float64), n_seg)
    counts = rng.poisson(rates * lens)
    first = np.repeat(starts, counts)
    return np.sort(first + rng.uniform(0.0, 1.0, first.size) * np.repeat(lens, counts))


def expected_requests(spec: Arrivals) -> float:
    """Expected number of arrivals of an open-loop spec (not 'trace' or 'concurrency').

    A gamma renewal process started at 0 has E[N(t)] = t/mean + (cv^2 - 1)/2 asymptotically:
    a very bursty one draws many requests whatever its rate."""
    if spec.kind in ("poisson", "gamma"):
        assert spec.rate_per_s and spec.duration_s
        n = spec.rate_per_s * spec.duration_s
        if spec.kind == "gamma" and spec.cv is not None:
            n += max(spec.cv**2 - 1.0, 0.0) / 2
        return n
    if spec.kind == "onoff":
        assert spec.rate_per_s and spec.duration_s and spec.on_s and spec.off_s is not None
        cycle = spec.on_s + spec.off_s
        full = spec.duration_s // cycle
        on_total = full * spec.on_s + min(spec.on_s, spec.duration_s - full * cycle)
        return spec.rate_per_s * on_total
    if spec.kind == "profile":
        assert spec.rates_per_s is not None
        seg = spec.segment_s
        end = spec.duration_s or seg * len(spec.rates_per_s)
        cycle = seg * len(spec.rates_per_s)
        full = end // cycle
        n = full * seg * sum(spec.rates_per_s)
        rest, i = end - full * cycle, 0
        while rest > 0 and i < len(spec.rates_per_s):
            n += spec.rates_per_s[i] * min(seg, rest)
            rest -= seg
            i += 1
        return n
    raise InputError(f"arrivals.kind = {spec.kind!r} has no expected count")


def arrival_times(spec: Arrivals, rng: np.random.Generator, max_n: int = 1 << 40) -> F64:
    """Arrival instants in seconds from 0 (not for kind 'trace'); a gamma process that draws
    more than `max_n` arrivals raises InputError."""
    if spec.kind == "poisson":
        assert spec.rate_per_s and spec.duration_s
        return _poisson(rng, spec.rate_per_s, 0.0, spec.duration_s)
    if spec.kind == "gamma":
        assert spec.rate_per_s and spec.duration_s and spec.cv
        shape = 1.0 / spec.cv**2
        scale = 1.0 / (spec.rate_per_s * shape)
        return _renewal(
            rng, lambda n: rng.gamma(shape, scale, n), 1 / spec.rate_per_s, spec.duration_s, max_n
        )
    if spec.kind == "onoff":
        assert spec.rate_per_s and spec.duration_s and spec.on_s and spec.off_s is not None
        return _onoff(rng, spec.rate_per_s, spec.on_s, spec.off_s, spec.duration_s)
    if spec.kind == "profile":
        return _profile(spec, rng)
    raise InputError(f"arrivals.kind = {spec.kind!r} has no generator")


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


def _trace_rows(path: Path) -> list[tuple[int, dict[str, object]]]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read trace {path}: {exc.strerror}") from None
    rows: list[tuple[int, dict[str, object]]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path} line {no}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise InputError(f"{path} line {no}: expected a JSON object")
            rows.append((no, obj))
        return rows
    reader = csv.DictReader(text.splitlines())
    need = {"timestamp", "input_tokens", "output_tokens"}
    if reader.fieldnames is None or not need <= set(reader.fieldnames):
        raise InputError(
            f"{path} line 1: header must name timestamp, input_tokens, output_tokens"
            f"[, prefix_id]; got {', '.join(reader.fieldnames or [])}"
        )
    for row in reader:
        if None in row:
            raise InputError(f"{path} line {reader.line_num}: more fields than the header")
        rows.append((reader.line_num, dict(row)))
    return rows


def _num(path: Path, no: int, row: dict[str, object], key: str, kind: type) -> float:
    value = row.get(key)
    if value is None or value == "":
        raise InputError(f"{path} line {no}: missing {key}")
    try:
        x = float(value) if kind is float else int(str(value).strip())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{path} line {no}: {key} = {value!r} is not a number") from None
    if not np.isfinite(x):
        raise InputError(f"{path} line {no}: {key} = {value!r} is not finite")
    return x


def read_trace(path: str | Path) -> tuple[F64, I64, I64, I64]:
    """Times (from the first row), input and output tokens, prefix ids of a trace file.

    Raises InputError naming the line of the first malformed row."""
    p = Path(path)
    rows = _trace_rows(p)
    if not rows:
        raise InputError(f"{p}: the trace has no requests")
    t, ins, outs, pids = [], [], [], []
    prefix_names: dict[str, int] = {}
    last = -np.inf
    for no, row in rows:
        ts = _num(p, no, row, "timestamp", float)
        i = int(_num(p, no, row, "input_tokens", int))
        o = int(_num(p, no, row, "output_tokens", int))
        if i < 1 or o < 1:
            raise InputError(f"{p} line {no}: token counts must be >= 1 (got {i}, {o})")
        if ts < last:
            raise InputError(f"{p} line {no}: timestamp {ts} is earlier than the line before")
        last = ts
        pid = row.get("prefix_id")
        if pid is None or pid == "":
            pids.append(-1)
        else:
            pids.append(prefix_names.setdefault(str(pid), len(prefix_names)))
        t.append(ts)
        ins.append(i)
        outs.append(o)
    times = np.asarray(t, dtype=np.float64)
    return (
        times - times[0],
        np.asarray(ins, dtype=np.int64),
        np.asarray(outs, dtype=np.int64),
        np.asarray(pids, dtype=np.int64),
    )


def build_workload(
    arrivals: Arrivals,
    input_spec: LengthSpec,
    output_spec: LengthSpec,
    prefix: Prefix,
    rng: np.random.Generator,
    max_tokens: int,
    max_n: int = 1 << 40,
) -> Workload:
    """All requests of a run; a request longer than `max_tokens` (context or KV capacity)
    loses output tokens, then input tokens, until it fits, and is counted in `clipped`."""
    if arrivals.kind == "trace":
        assert arrivals.path is not None
        times, ins, outs, pids = read_trace(arrivals.path)
        ptok = np.zeros_like(ins)
        if prefix.tokens > 0:  # a trace's prefix ids share `prefix.tokens` leading tokens
            ptok = np.where(pids >= 0, np.minimum(prefix.tokens, ins - 1), 0)
        else:
            pids = np.full_like(pids, -1)
    else:
        times = arrival_times(arrivals, rng, max_n)
        ins = lengths(input_spec, times.size, rng)
        outs = lengths(output_spec, times.size, rng)
        pids, ptok = prefixes(prefix, ins, rng)
    over = ins + outs > max_tokens
    clipped = int(over.sum())
    if clipped:
        ins = np.minimum(ins, max_tokens - 1)
        outs = np.minimum(outs, max_tokens - ins)
        ptok = np.minimum(ptok, ins - 1)
    return Workload(times, ins, outs, pids, ptok, clipped)
