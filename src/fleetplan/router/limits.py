"""Limits as token buckets (requests/min, tokens/min) and concurrency as expiring leases.

A request is admitted when the request bucket holds one token and the token bucket holds the
request's *estimate* (its prompt tokens plus ``max_tokens``, or a default when it names none).
The estimate is charged at admission, so a burst cannot be admitted past the limit; when the
request ends the bucket is reconciled with the tokens it really used (a refund when it used
fewer, a debit when more). The same buckets serve providers (``lim:<name>``) and virtual keys
(``key:<id>``).

A provider's in-flight count is a set of leases with a TTL (``gateway.lease_ttl_s``) that the
gateway renews while it holds them, so a gateway killed with requests in flight frees their
capacity within the TTL. All of it lives in a ``State``: replicas sharing a Redis share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetplan.router.config import Provider
from fleetplan.router.state import State

_ALWAYS = -1e18  # `need` that always passes: an unconditional debit or refund


def inflight_key(provider: str) -> str:
    return f"lim:{provider}:inflight"


@dataclass(frozen=True)
class Refusal:
    reason: str  # starts with the limit's name: "requests/min limit", …
    retry_after_s: float  # when the limit should admit a request like this one again


@dataclass(frozen=True)
class Rates:
    """The buckets of one provider or key: `prefix` names them in the state."""

    prefix: str
    requests_per_min: float | None
    tokens_per_min: float | None

    async def take(self, state: State, tokens_est: int) -> Refusal | None:
        """Charge one request and `tokens_est` tokens, or refuse (charging nothing)."""
        tpm, rpm = self.tokens_per_min, self.requests_per_min
        if tpm is not None:
            rate = tpm / 60.0
            need = min(float(tokens_est), tpm)  # a request over the whole bucket needs it full
            if not await state.take(f"{self.prefix}:tok", rate, tpm, tokens_est, need):
                return Refusal("tokens/min limit", need / rate)
        if rpm is not None and not await state.take(f"{self.prefix}:req", rpm / 60.0, rpm, 1, 1):
            await self.refund(state, tokens_est)
            return Refusal("requests/min limit", 60.0 / rpm)
        return None

    async def refund(self, state: State, tokens: int, request: bool = False) -> None:
        """Give back `tokens` (a debit when negative), and the request itself if asked."""
        tpm, rpm = self.tokens_per_min, self.requests_per_min
        if tpm is not None and tokens:
            await state.take(f"{self.prefix}:tok", tpm / 60.0, tpm, -tokens, _ALWAYS)
        if request and rpm is not None:
            await state.take(f"{self.prefix}:req", rpm / 60.0, rpm, -1, _ALWAYS)


class Limits:
    def __init__(self, state: State, lease_ttl_s: float) -> None:
        self.state = state
        self.lease_ttl_s = lease_ttl_s

    @staticmethod
    def rates(p: Provider) -> Rates:
        return Rates(f"lim:{p.name}", p.limits.requests_per_min, p.limits.tokens_per_min)

    async def acquire(self, p: Provider, lease_id: str, tokens_est: int) -> Refusal | None:
        """Admit one request to `p` under lease `lease_id`, charging `tokens_est`; or refuse."""
        rates = self.rates(p)
        refusal = await rates.take(self.state, tokens_est)
        if refusal is not None:
            return refusal
        limit = p.limits.max_concurrent
        if not await self.state.lease(inflight_key(p.name), lease_id, self.lease_ttl_s, limit):
            await rates.refund(self.state, tokens_est, request=True)
            return Refusal("max concurrent", 1.0)
        return None

    async def release(self, p: Provider, lease_id: str, tokens_est: int, tokens_used: int) -> None:
        """End a request admitted by `acquire`: free its lease, reconcile its tokens."""
        await self.state.unlease(inflight_key(p.name), lease_id)
        await self.rates(p).refund(self.state, tokens_est - tokens_used)

    async def in_flight(self, p: Provider) -> int:
        return await self.state.leases(inflight_key(p.name))


def retry_after_header(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
