"""Traffic to replay in the autoscaling simulation: an expected rate per tick (what a perfect
forecast knows) and the arrivals drawn around it (Poisson, seeded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fleetplan.autoscale.config import HistoryTraffic, SyntheticTraffic
from fleetplan.errors import InputError

F64 = NDArray[np.float64]
DAY_S = 86_400.0
TROUGH_H, PEAK_H = 3.0, 15.0  # the synthetic daily cycle's low and high hours
MAX_TICKS = int(366 * DAY_S)  # a synthetic run's longest: 366 days at the shortest tick (1 s)


@dataclass(frozen=True)
class TickTraffic:
    tick_s: float
    start_weekday: int
    expected_qps: F64  # per tick: the rate a perfect forecast would expect
    arrivals: F64  # per tick: requests that arrived (drawn around expected, or replayed)
    basis: str

    @property
    def duration_s(self) -> float:
        return len(self.arrivals) * self.tick_s

    def times_s(self) -> F64:
        return np.arange(len(self.arrivals)) * self.tick_s


def synthetic_rate(spec: SyntheticTraffic, t_s: F64) -> F64:
    """The synthetic profile's expected requests/s at times `t_s` (seconds from the start)."""
    hour = (t_s / 3600.0) % 24.0
    day = np.floor(t_s / DAY_S).astype(np.int64)
    weekday = (spec.start_weekday + day) % 7
    cycle = (1 - np.cos(2 * np.pi * (hour - TROUGH_H) / 24.0)) / 2  # 0 at 03:00, 1 at 15:00
    rate = spec.night_qps + (spec.day_qps - spec.night_qps) * cycle
    rate = np.where(weekday >= 5, rate * spec.weekend_factor, rate)
    for sp in spec.spikes:
        start = (sp.weekday - spec.start_weekday) % 7 * DAY_S + sp.hour * 3600.0
        ramp, hold = sp.ramp_min * 60.0, sp.duration_min * 60.0
        # the spike recurs every week of the run
        since = (t_s - start) % (7 * DAY_S)
        up = np.clip(since / ramp, 0, 1) if ramp > 0 else np.ones_like(t_s)
        down = np.clip((ramp + hold + ramp - since) / ramp, 0, 1) if ramp > 0 else 1.0
        level = np.where(since < ramp + hold + ramp, np.minimum(up, down), 0.0)
        level = np.where(t_s >= start, level, 0.0)
        rate = np.maximum(rate, rate + (sp.qps - rate) * level)
    return rate


def tick_traffic(
    spec: SyntheticTraffic | HistoryTraffic, tick_s: float, seed: int, base: Path
) -> TickTraffic:
    rng = np.random.default_rng(seed)
    if isinstance(spec, SyntheticTraffic):
        n = int(np.ceil(spec.days * DAY_S / tick_s))
        t = (np.arange(n) + 0.5) * tick_s
        expected = synthetic_rate(spec, t) * spec.scale
        rate = expected
        if spec.noise_cv > 0:  # the hour's rate is off the forecast by a gamma factor
            hours = (t // 3600).astype(np.int64)
            k = 1.0 / spec.noise_cv**2
            factor = rng.gamma(k, 1.0 / k, size=int(hours.max()) + 1)
            rate = expected * factor[hours]
        arrivals = rng.poisson(rate * tick_s).astype(np.float64)
        basis = (
            f"synthetic: {spec.night_qps:g}-{spec.day_qps:g} req/s daily cycle, "
            f"{len(spec.spikes)} weekly spike(s), x{spec.scale:g}, Poisson arrivals (seed {seed})"
        )
        return TickTraffic(tick_s, spec.start_weekday, expected, arrivals, basis)
    from fleetplan.forecast.history import read_history

    h = read_history(Path(base, spec.path), spec.columns)
    per_tick = h.counts_per_hour / 3600.0 * spec.scale
    n = int(np.ceil(len(per_tick) * 3600.0 / tick_s))
    if n > MAX_TICKS:  # the bound synthetic traffic has: 366 days at 1-second ticks
        raise InputError(
            f"traffic.path: {h.hours:,} hours of history at tick_s {tick_s:g} are {n:,} ticks; "
            f"accepted: at most {MAX_TICKS:,} (a longer tick_s or a shorter history)"
        )
    hours = np.minimum((np.arange(n) * tick_s // 3600).astype(np.int64), len(per_tick) - 1)
    expected = per_tick[hours]
    arrivals = rng.poisson(expected * tick_s).astype(np.float64)
    return TickTraffic(tick_s, h.start_weekday, expected, arrivals, h.basis)
