"""A fleet under a scaling policy, tick by tick: replicas asked for, starting (cold start),
serving and released; requests queued first come first served, sent to an API past a wait,
or dropped past the longest wait a client accepts.

Each ready replica starts up to `replica_req_per_s` requests a second — the plan's capacity
at its SLO batch (continuous batching, from the performance model). A request served in the
tick it arrives has the replica's own TTFT p95 at the tick's utilization (from the latency
model `plan` sizes with); one that waited in the fleet queue has that wait plus the prefill
(the slot it gets is free).
Per window (5 minutes by default) the TTFT p95 is the arrival-weighted 95th percentile of those
values. Billing counts each replica from when it is asked for until it is released, rounded up
to the offer's billing granularity.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from fleetplan.autoscale.config import Policy
from fleetplan.autoscale.policies import Controller, Observation, controller_for
from fleetplan.autoscale.traffic import TickTraffic

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Deployment:
    """What one replica is and does, from the plan's recommendation."""

    label: str
    replica_req_per_s: float
    max_batch: int
    prefill_p95_ms: float
    tpot_p95_ms: float
    gpus_per_replica: int
    usd_per_gpu_hour: float
    cold_start_s: float
    billing_granularity_s: float
    planned_replicas: int
    basis: str
    ttft_grid_u: tuple[float, ...] = ()  # utilizations at which the TTFT p95 was computed
    ttft_grid_ms: tuple[float, ...] = ()

    def ttft_p95_ms(self, utilization: F64) -> F64:
        """The replica's own TTFT p95 at a utilization, interpolated from the plan's latency
        model (`replica_ttft_grid`)."""
        u = np.clip(np.asarray(utilization, dtype=np.float64), 0.0, 1.0)
        return np.interp(u, self.ttft_grid_u, self.ttft_grid_ms)  # held past the last point

    def ttft_table(self, points: int = 1001) -> F64:
        """`ttft_p95_ms` on a grid of utilization 0..1 (index = round(u x (points - 1)))."""
        return self.ttft_p95_ms(np.linspace(0.0, 1.0, points))


@dataclass(frozen=True)
class Slo:
    ttft_p95_ms: float
    tpot_p95_ms: float | None


@dataclass
class PolicyResult:
    name: str
    kind: str
    gpu_hours: float
    usd_gpus: float
    usd_overflow: float
    served_requests: int
    overflowed_requests: int
    dropped_requests: int
    ttft_slo_attainment: float  # share of windows whose TTFT p95 meets the SLO
    ttft_slo_attainment_requests: float  # share of requests within the SLO
    tpot_slo_attainment: float
    worst_window_ttft_p95_ms: float
    violated_windows: int
    peak_replicas: int
    mean_replicas: float
    scale_events: int
    timeline: dict[str, list[float]] = field(default_factory=dict, repr=False)

    @property
    def usd(self) -> float:
        return self.usd_gpus + self.usd_overflow


@dataclass
class _Replica:
    asked_at_s: float
    ready_at_s: float


def simulate_policy(
    policy: Policy,
    dep: Deployment,
    traffic: TickTraffic,
    slo: Slo,
    window_s: float,
    max_queue_wait_s: float,
    api_usd_per_request: float | None,
) -> PolicyResult:
    """Replay `traffic` against a fleet driven by `policy`."""
    dt = traffic.tick_s
    n = len(traffic.arrivals)
    ctl: Controller = controller_for(policy, dep, traffic)
    mu = dep.replica_req_per_s
    overflow_wait = policy.overflow.max_wait_s if policy.overflow else None
    replicas: list[_Replica] = []
    ready_times: list[float] = []  # replicas' ready times, ascending (they start in order)
    table = dep.ttft_table()
    last = len(table) - 1
    billed_s = 0.0
    queue: deque[list[float]] = deque()  # [arrival tick, requests]
    queued = 0.0
    per_tick_ready = np.zeros(n)
    per_tick_alive = np.zeros(n)
    per_tick_util = np.zeros(n)
    served_ttft: list[tuple[int, float, float]] = []  # (arrival tick, requests, ttft ms)
    overflowed = dropped = served_total = 0.0
    scale_events = 0
    carry = 0.0
    for i in range(n):
        t = i * dt
        ready = bisect_right(ready_times, t)
        desired = ctl.desired(t, len(replicas), ready)
        if desired is not None and desired != len(replicas):
            scale_events += i > 0
            # the run starts from a steady state: the first fleet is already serving
            start = 0.0 if i == 0 else dep.cold_start_s
            while len(replicas) < desired:
                replicas.append(_Replica(t, t + start))
                ready_times.append(t + start)
            while len(replicas) > desired:  # release the newest first (starting ones first)
                r = replicas.pop()
                ready_times.pop()
                billed_s += _billed(t - r.asked_at_s, dep.billing_granularity_s)
            ready = bisect_right(ready_times, t)
        arrived = a = float(traffic.arrivals[i])
        if overflow_wait is not None and a > 0:
            # what the fleet starts within `max_wait_s`: this tick's service plus the whole ticks
            # of queue the wait covers (a request carried over is charged a tick's wait). Only
            # `wait x capacity`, less than a tick's service, sent most of every busy tick away
            # and held utilization far below any scaler's target: the fleet never grew.
            ticks = 1 + math.floor(overflow_wait / dt + 1e-9)
            room = ticks * dt * ready * mu - queued if ready else 0.0
            sent = min(a, max(a - max(room, 0.0), 0.0))
            overflowed += sent
            a -= sent
        if a > 0:
            queue.append([i, a])
            queued += a
        capacity = ready * mu * dt + carry
        served_now = 0.0
        cohorts: list[tuple[int, float]] = []
        while queue and capacity - served_now >= 1e-9:
            ci, cn = queue[0]
            take = min(cn, capacity - served_now)
            served_now += take
            cohorts.append((ci, take))
            if take >= cn - 1e-9:
                queue.popleft()
            else:
                queue[0][1] = cn - take
        queued = queued - served_now if queue else 0.0  # no float residue once empty
        carry = min(capacity - served_now, mu * dt) if ready else 0.0
        carry = carry if queue else 0.0
        util = served_now / (ready * mu * dt) if ready else 0.0
        base = float(table[round(min(util, 1.0) * last)])
        for ci, take in cohorts:  # a request that queued in the fleet finds a slot free
            ttft = base if ci == i else (i - ci) * dt * 1000.0 + dep.prefill_p95_ms
            served_ttft.append((ci, take, ttft))
        served_total += served_now
        while queue and (i - queue[0][0]) * dt > max_queue_wait_s:  # clients gave up
            dropped += queue[0][1]
            queued -= queue[0][1]
            queue.popleft()
        if not queue:
            queued = 0.0
        per_tick_ready[i], per_tick_alive[i], per_tick_util[i] = ready, len(replicas), util
        ctl.observe(Observation(t, arrived, served_now, ready, queued, util))
    end = n * dt
    for r in replicas:
        billed_s += _billed(end - r.asked_at_s, dep.billing_granularity_s)
    gpu_hours = billed_s * dep.gpus_per_replica / 3600.0
    usd_overflow = overflowed * (api_usd_per_request or 0.0)
    win = _windows(served_ttft, traffic, dt, window_s, per_tick_ready, per_tick_alive, slo)
    tpot_ok = slo.tpot_p95_ms is None or dep.tpot_p95_ms <= slo.tpot_p95_ms
    return PolicyResult(
        name=policy.name,
        kind=policy.kind,
        gpu_hours=gpu_hours,
        usd_gpus=gpu_hours * dep.usd_per_gpu_hour,
        usd_overflow=usd_overflow,
        served_requests=round(served_total),
        overflowed_requests=round(overflowed),
        dropped_requests=round(dropped),
        ttft_slo_attainment=win["attainment"],
        ttft_slo_attainment_requests=win["attainment_requests"],
        tpot_slo_attainment=1.0 if tpot_ok else 0.0,
        worst_window_ttft_p95_ms=win["worst"],
        violated_windows=win["violated"],
        peak_replicas=int(per_tick_alive.max()) if n else 0,
        mean_replicas=float(per_tick_alive.mean()) if n else 0.0,
        scale_events=scale_events,
        timeline=win["timeline"],
    )


def _billed(lifetime_s: float, granularity_s: float) -> float:
    return math.ceil(max(lifetime_s, 1e-9) / granularity_s - 1e-9) * granularity_s


def _windows(
    served: list[tuple[int, float, float]],
    traffic: TickTraffic,
    dt: float,
    window_s: float,
    ready: F64,
    alive: F64,
    slo: Slo,
) -> dict:
    """TTFT p95 per window (by arrival time), SLO attainment and the timeline."""
    per = max(1, round(window_s / dt))
    n = len(traffic.arrivals)
    nw = math.ceil(n / per)
    if served:
        arr = np.array(served, dtype=np.float64)
        w = (arr[:, 0] // per).astype(np.int64)
        counts, ttft = arr[:, 1], arr[:, 2]
    else:
        w, counts, ttft = np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    p95 = np.full(nw, np.nan)
    order = np.lexsort((ttft, w))
    w, counts, ttft = w[order], counts[order], ttft[order]
    bounds = np.searchsorted(w, np.arange(nw + 1))
    for k in range(nw):
        lo, hi = bounds[k], bounds[k + 1]
        if hi > lo:
            c = np.cumsum(counts[lo:hi])
            j = int(np.searchsorted(c, 0.95 * c[-1]))
            p95[k] = ttft[lo + min(j, hi - lo - 1)]
    has = ~np.isnan(p95)
    ok = p95[has] <= slo.ttft_p95_ms
    within = counts[ttft <= slo.ttft_p95_ms].sum() if len(counts) else 0.0
    arrivals = traffic.arrivals.reshape(-1) if n else np.zeros(0)
    pad = nw * per - n
    a = np.concatenate([arrivals, np.zeros(pad)]).reshape(nw, per)
    r = np.concatenate([ready, np.full(pad, np.nan)]).reshape(nw, per)
    b = np.concatenate([alive, np.full(pad, np.nan)]).reshape(nw, per)
    total_arrivals = float(traffic.arrivals.sum())
    return {
        "attainment": float(ok.mean()) if len(ok) else 1.0,
        "attainment_requests": float(within / total_arrivals) if total_arrivals else 1.0,
        "worst": float(np.nanmax(p95)) if has.any() else 0.0,
        "violated": int((~ok).sum()),
        "timeline": {
            "t_s": [round(k * per * dt, 1) for k in range(nw)],
            "arrival_qps": [round(float(x), 3) for x in a.sum(axis=1) / (per * dt)],
            "replicas_ready": [round(float(x), 2) for x in np.nanmean(r, axis=1)],
            "replicas_billed": [round(float(x), 2) for x in np.nanmean(b, axis=1)],
            "ttft_p95_ms": [None if np.isnan(x) else round(float(x), 1) for x in p95],
        },
    }
