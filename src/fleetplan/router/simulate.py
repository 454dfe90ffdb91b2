"""Policy simulation: replay a traffic profile against a routing policy before it carries traffic.

A discrete-event replay (heap keyed by (time, counter), so same-time events keep one order) of
Poisson arrivals through the gateway's own code: its strategies and overflow
(``strategies``), its limits (``limits.Limits`` — token buckets charged the request's estimate
at admission, concurrency leases) and its circuit breaker (``health.Breaker``), over a
``MemoryState`` whose clock is the simulation's, and at most ``gateway.max_attempts`` providers
per request. Their coroutines never wait on I/O here, so the simulator runs each one to its end
in place (``_now``) on its own event loop. Each provider's behaviour is what the user assumes
or measured: TTFT, time per output token, failure rate and, for a fleet, how many requests it
serves at once (more wait in its queue, which is what overflow watches). Prices come from the
router config (price package, explicit price, or reserved GPU-hours). Output: cost split,
overflow share, TTFT and end-to-end latency percentiles and errors — all simulated, under the
stated assumptions.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from fleetplan.errors import InputError
from fleetplan.router.config import Provider, RouterConfig, _fmt_validation
from fleetplan.router.health import Breaker
from fleetplan.router.limits import Limits
from fleetplan.router.state import MemoryState
from fleetplan.router.strategies import Candidate, cascade, order, with_overflow
from fleetplan.units import HOURS_PER_MONTH, SECONDS_PER_HOUR
from fleetplan.validation import Count, Fraction, Ms, NonNegMs, RatePerS, Seconds, Seed, Tokens

MAX_REQUESTS = 2_000_000
_NEVER_S = 1e15  # a lease the living gateway keeps renewing: it does not expire here
_T = TypeVar("_T")


def _now(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a gateway coroutine that does not wait (memory state) to its end, in place."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a gateway coroutine waited inside the simulator")


class BehaviourIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ttft_ms: Ms
    tpot_ms: NonNegMs
    failure_rate: Fraction = 0.0
    capacity: Count | None = None  # served at once; the rest queue


class TrafficIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str
    requests_per_s: RatePerS
    duration_s: Seconds
    input_tokens: Tokens
    output_tokens: Tokens
    seed: Seed = 0


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    traffic: TrafficIn
    providers: dict[str, BehaviourIn]


@dataclass
class _Prov:
    spec: Provider
    how: BehaviourIn
    running: int = 0
    queue: deque[int] = field(default_factory=deque)
    ttft_ema_s: float | None = None


@dataclass
class _Req:
    t_arrive: float
    order: list[str]
    overflow: bool
    t_queued: float = 0.0
    attempts: int = 0


def parse_profile(data: object, where: str = "traffic profile") -> ProfileIn:
    try:
        return ProfileIn.model_validate(data)
    except ValidationError as exc:
        raise InputError(_fmt_validation(exc, where)) from None


def simulate(cfg: RouterConfig, prof: ProfileIn, strategy: str | None = None) -> dict[str, Any]:
    """Replay `prof` through `cfg`'s routing policy; a report of simulated outcomes."""
    tr = prof.traffic
    served_by = cfg.providers_for(tr.model)
    if not served_by:
        raise InputError(f"traffic.model {tr.model!r} is served by no provider in the config")
    known = [p.name for p in cfg.providers]
    unknown = [n for n in prof.providers if n not in known]
    if unknown:  # a typo'd name would leave its behaviour unused, silently
        raise InputError(
            f"traffic profile: providers.{unknown[0]} is not in the router config; accepted: "
            f"{', '.join(known)}"
        )
    missing = [p.name for p in served_by if p.name not in prof.providers]
    if missing:
        raise InputError(f"traffic profile: give a behaviour for provider(s) {', '.join(missing)}")
    n = round(tr.requests_per_s * tr.duration_s)
    if n > MAX_REQUESTS:
        raise InputError(f"traffic: {n} requests is over the {MAX_REQUESTS} the simulator replays")
    strat = strategy or cfg.gateway.strategy
    g = cfg.gateway
    rng = random.Random(tr.seed)
    clock = [0.0]
    state = MemoryState(clock=lambda: clock[0])
    limits = Limits(state, _NEVER_S)
    breaker = Breaker(state, g.health, clock=lambda: clock[0])
    provs = {p.name: _Prov(p, prof.providers[p.name]) for p in served_by}
    heap: list[tuple[float, int, str, int, str]] = []
    seq = 0
    reqs: list[_Req] = []
    t = 0.0
    for i in range(n):
        t += rng.expovariate(tr.requests_per_s)
        heapq.heappush(heap, (t, seq, "arrive", i, ""))
        seq += 1
    tokens = tr.input_tokens + tr.output_tokens  # the estimate charged at admission
    max_attempts = g.max_attempts or len(provs)
    hard = False
    if strat == "cascade":
        if g.cascade is None:
            raise InputError("--strategy cascade needs gateway.cascade in the router config")
        limit = g.cascade.max_prompt_tokens
        hard = limit is not None and tr.input_tokens > limit
    ttft_s, e2e_s = np.full(n, np.nan), np.full(n, np.nan)
    served: dict[str, int] = {p: 0 for p in provs}
    cost: dict[str, float] = {p: 0.0 for p in provs}
    errors: dict[str, int] = {}
    overflowed = retries = 0

    def start(i: int, s: _Prov, now: float) -> None:
        nonlocal seq
        s.running += 1
        how = s.how
        fail = rng.random() < how.failure_rate
        first = now + how.ttft_ms / 1000
        end = first if fail else first + tr.output_tokens * how.tpot_ms / 1000
        heapq.heappush(heap, (end, seq, "fail" if fail else "done", i, s.spec.name))
        seq += 1
        if not fail:
            ttft_s[i] = first - reqs[i].t_arrive

    def try_next(i: int, now: float) -> None:
        nonlocal retries
        r = reqs[i]
        while r.order and r.attempts < max_attempts:
            s = provs[r.order.pop(0)]
            name = s.spec.name
            if not _now(breaker.allow(name)):
                continue
            if _now(limits.acquire(s.spec, str(i), tokens)) is not None:
                _now(breaker.release_probe(name))
                continue
            r.attempts += 1
            if r.attempts > 1:
                retries += 1
            r.t_queued = now
            if s.how.capacity and s.running >= s.how.capacity:
                s.queue.append(i)
            else:
                start(i, s, now)
            return
        errors["no provider available"] = errors.get("no provider available", 0) + 1

    while heap:
        now, _, kind, i, name = heapq.heappop(heap)
        clock[0] = now
        if kind == "arrive":
            cands = [
                Candidate(
                    s.spec.name,
                    s.spec.self_hosted,
                    s.spec.weight,
                    s.spec.priority,
                    s.spec.prices[tr.model].cost_usd(tr.input_tokens, tr.output_tokens),
                    s.ttft_ema_s,
                    _now(limits.in_flight(s.spec)),
                    s.spec.limits.max_concurrent,
                )
                for s in provs.values()
            ]
            if strat == "cascade":
                assert g.cascade is not None
                ranked = cascade(cands, hard, set(g.cascade.small))
            else:
                ranked = order(strat, cands, rng)
            ordered, over = with_overflow(ranked, g.overflow)
            reqs.append(_Req(now, [c.name for c in ordered], over))
            try_next(i, now)
            continue
        s = provs[name]
        s.running -= 1
        if s.queue:
            start(s.queue.popleft(), s, now)
        r = reqs[i]
        if kind == "fail":
            _now(limits.release(s.spec, str(i), tokens, 0))
            _now(breaker.failure(name))
            try_next(i, now)
            continue
        _now(limits.release(s.spec, str(i), tokens, tokens, breaker.success_keys(name)))
        a = g.latency_ema_alpha
        obs = float(ttft_s[i]) - (r.t_queued - r.t_arrive)  # this provider's share of the TTFT
        s.ttft_ema_s = obs if s.ttft_ema_s is None else a * obs + (1 - a) * s.ttft_ema_s
        e2e_s[i] = now - r.t_arrive
        served[name] += 1
        cost[name] += s.spec.prices[tr.model].cost_usd(tr.input_tokens, tr.output_tokens)
        if r.overflow and not s.spec.self_hosted:
            overflowed += 1
    return _report(cfg, tr, strat, n, served, cost, errors, overflowed, retries, ttft_s, e2e_s)


def _pcts(x: np.ndarray) -> dict[str, float | None]:
    x = x[~np.isnan(x)]
    if x.size == 0:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    p = np.percentile(x, [50, 95, 99]) * 1000
    return {"p50_ms": float(p[0]), "p95_ms": float(p[1]), "p99_ms": float(p[2])}


def _report(
    cfg: RouterConfig,
    tr: TrafficIn,
    strat: str,
    n: int,
    served: dict[str, int],
    cost: dict[str, float],
    errors: dict[str, int],
    overflowed: int,
    retries: int,
    ttft_s: np.ndarray,
    e2e_s: np.ndarray,
) -> dict[str, Any]:
    by = cfg.providers_for(tr.model)
    month_s = HOURS_PER_MONTH * SECONDS_PER_HOUR
    # a reserved fleet is a fixed cost: the run pays its share of the month, served or not
    cost = dict(cost)
    for p in by:
        if p.fixed_usd_per_month:
            cost[p.name] = p.fixed_usd_per_month * tr.duration_s / month_s
    total_cost = sum(cost.values())
    fixed = sum(p.fixed_usd_per_month for p in by)
    ok = sum(served.values())
    return {
        "basis": "simulated: Poisson arrivals through the configured routing policy, "
        "with the provider behaviour assumed in the traffic profile",
        "strategy": strat,
        "requests": n,
        "served": ok,
        "errors": errors,
        "retries": retries,
        "overflow_share": overflowed / n if n else 0.0,
        "ttft": _pcts(ttft_s),
        "latency": _pcts(e2e_s),
        "cost_usd": total_cost,
        "fixed_usd_per_month": fixed,
        "variable_usd_per_month": (total_cost / tr.duration_s * month_s) - fixed,
        "usd_per_month_at_this_rate": total_cost / tr.duration_s * month_s,
        "providers": [
            {
                "name": p.name,
                "kind": p.kind,
                "served": served[p.name],
                "share": served[p.name] / ok if ok else 0.0,
                "cost_usd": cost[p.name],
                "fixed_usd_per_month": p.fixed_usd_per_month,
                "cost_share": cost[p.name] / total_cost if total_cost else 0.0,
                "price_source": p.prices[tr.model].source,
            }
            for p in by
        ],
    }
