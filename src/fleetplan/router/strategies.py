"""Routing strategies: order the eligible providers for one request; the first is tried first.

Pure functions over ``Candidate`` snapshots, shared by the gateway and the simulator:

- ``weighted``: weighted random order (sampling without replacement by ``weight``).
- ``cost``: cheapest expected cost of this request first (its prompt and max output tokens).
- ``quality``: lowest ``priority`` first (the tier you prefer), then higher weight.
- ``latency``: lowest moving-average TTFT first; a provider not yet measured goes first.
- ``least_busy``: lowest in-flight share of its ``max_concurrent`` (or in-flight count) first.

``cascade`` (``cascade(cands, hard, small)``) puts the small tier first for a simple request
and the frontier first for a hard one, the other tier behind as the fallback.

``overflow`` then puts the self-hosted providers first while they are below their threshold,
and behind the API providers once they pass it ("request queuing with API fallback").
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from fleetplan.router.config import OverflowIn


@dataclass(frozen=True)
class Candidate:
    name: str
    self_hosted: bool
    weight: float
    priority: int
    cost_usd: float  # expected cost of this request at this provider
    ttft_ema_s: float | None  # None: not measured yet
    in_flight: int
    max_concurrent: int | None


def _weighted(cands: Sequence[Candidate], rng: random.Random) -> list[Candidate]:
    # Efraimidis–Spirakis: key u^(1/w), largest first; zero weight goes last in random order
    def key(c: Candidate) -> tuple[int, float]:
        u = rng.random()
        return (1, u ** (1.0 / c.weight)) if c.weight > 0 else (0, u)

    return sorted(cands, key=key, reverse=True)


def order(strategy: str, cands: Sequence[Candidate], rng: random.Random) -> list[Candidate]:
    """The candidates in the order `strategy` tries them."""
    if strategy == "weighted":
        return _weighted(cands, rng)
    if strategy == "cost":
        return sorted(cands, key=lambda c: (c.cost_usd, c.priority, c.name))
    if strategy == "quality":
        return sorted(cands, key=lambda c: (c.priority, -c.weight, c.name))
    if strategy == "latency":
        return sorted(
            cands,
            key=lambda c: (c.ttft_ema_s is not None, c.ttft_ema_s or 0.0, c.name),
        )
    if strategy == "least_busy":

        def busy(c: Candidate) -> tuple[float, str]:
            share = c.in_flight / c.max_concurrent if c.max_concurrent else float(c.in_flight)
            return (share, c.name)

        return sorted(cands, key=busy)
    raise ValueError(f"unknown strategy {strategy!r}")


def cascade(cands: Sequence[Candidate], hard: bool, small: set[str]) -> list[Candidate]:
    """Tiered order: the tier the request belongs to first, by priority then cost."""
    ranked = sorted(cands, key=lambda c: (c.priority, c.cost_usd, c.name))
    lo = [c for c in ranked if c.name in small]
    hi = [c for c in ranked if c.name not in small]
    return hi + lo if hard else lo + hi


def self_hosted_busy(cands: Sequence[Candidate], cfg: OverflowIn) -> bool:
    """Whether the self-hosted candidates have passed the overflow threshold."""
    own = [c for c in cands if c.self_hosted]
    if not own:
        return False
    if cfg.max_in_flight is not None and sum(c.in_flight for c in own) >= cfg.max_in_flight:
        return True
    # a moving average is refreshed only by requests that finish: once the fleet is idle it is
    # stale, so it only counts while the fleet has requests in flight
    if cfg.max_ttft_ms is not None and sum(c.in_flight for c in own) > 0:
        measured = [c.ttft_ema_s for c in own if c.ttft_ema_s is not None]
        if measured and min(measured) * 1000.0 > cfg.max_ttft_ms:
            return True
    return False


def with_overflow(
    ordered: Sequence[Candidate], cfg: OverflowIn | None
) -> tuple[list[Candidate], bool]:
    """Reorder for overflow; return the order and whether the request overflows to an API."""
    if cfg is None:
        return list(ordered), False
    own = [c for c in ordered if c.self_hosted]
    api = [c for c in ordered if not c.self_hosted]
    if self_hosted_busy(ordered, cfg) and api:
        return api + own, True
    return own + api, False
