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
from fleetplan.router.state import Bucket, Slot, State

_ALWAYS = -1e18  # `need` that always passes: an unconditional debit or refund


def inflight_key(provider: str) -> str:
    return f"lim:{provider}:inflight"


@dataclass(frozen=True)
class Refusal:
    reason: str  # starts with the limit's name: "requests/min limit", …
    retry_after_s: float  # when the limit should admit a request like this one again


PRESENT = Refusal("a key that must be absent is present", 0.0)


@dataclass(frozen=True)
class Rates:
    """The buckets of one provider or key: `prefix` names them in the state."""

    prefix: str
    requests_per_min: float | None
    tokens_per_min: float | None

    def charges(self, tokens: int, requests: int) -> tuple[list[Bucket], list[Refusal]]:
        """The buckets charged `tokens` and `requests` (negative: a refund), and the refusal
        each one gives when it is short."""
        tpm, rpm = self.tokens_per_min, self.requests_per_min
        out, why = [], []
        if tpm is not None and tokens:
            rate = tpm / 60.0
            need = min(float(tokens), tpm)  # a request over the whole bucket needs it full
            out.append(Bucket(f"{self.prefix}:tok", rate, tpm, tokens, need))
            why.append(Refusal("tokens/min limit", need / rate))
        if rpm is not None and requests:
            out.append(Bucket(f"{self.prefix}:req", rpm / 60.0, rpm, requests, requests))
            why.append(Refusal("requests/min limit", 60.0 / rpm))
        return out, why

    async def take(
        self, state: State, tokens_est: int, slot: Slot | None = None, absent: tuple[str, ...] = ()
    ) -> Refusal | None:
        """Charge one request and `tokens_est` tokens (and take `slot`), or refuse, charging
        nothing — one atomic step; refused with `PRESENT` when a key in `absent` exists."""
        buckets, why = self.charges(tokens_est, 1)
        refused = await state.admit(buckets, slot, absent)
        if not refused:
            return None
        if refused < 0:
            return PRESENT
        return why[refused - 1] if refused <= len(why) else Refusal("max concurrent", 1.0)

    def refunds(self, tokens: int, request: bool = False) -> list[Bucket]:
        """Buckets giving back `tokens` (a debit when negative), and the request if asked."""
        buckets, _ = self.charges(-tokens, -1 if request else 0)
        return [Bucket(b.key, b.rate_per_s, b.capacity, b.cost, _ALWAYS) for b in buckets]

    async def refund(self, state: State, tokens: int, request: bool = False) -> None:
        refunds = self.refunds(tokens, request)
        if refunds:
            await state.settle(refunds, None, ())


class Limits:
    def __init__(self, state: State, lease_ttl_s: float) -> None:
        self.state = state
        self.lease_ttl_s = lease_ttl_s

    @staticmethod
    def rates(p: Provider) -> Rates:
        return Rates(f"lim:{p.name}", p.limits.requests_per_min, p.limits.tokens_per_min)

    async def acquire(
        self, p: Provider, lease_id: str, tokens_est: int, absent: tuple[str, ...] = ()
    ) -> Refusal | None:
        """Admit one request to `p` under lease `lease_id`, charging `tokens_est`; or refuse
        (`PRESENT` when a key in `absent` exists: a breaker that is not plainly closed)."""
        slot = Slot(inflight_key(p.name), lease_id, self.lease_ttl_s, p.limits.max_concurrent)
        return await self.rates(p).take(self.state, tokens_est, slot, absent)

    async def release(
        self,
        p: Provider,
        lease_id: str,
        tokens_est: int,
        tokens_used: int,
        delete: tuple[str, ...] = (),
    ) -> None:
        """End a request admitted by `acquire`: free its lease, reconcile its tokens, and
        delete `delete` (a breaker's failure record after a success) — one state round trip."""
        refunds = self.rates(p).refunds(tokens_est - tokens_used)
        await self.state.settle(refunds, (inflight_key(p.name), lease_id), delete)

    async def in_flight(self, p: Provider) -> int:
        return await self.state.leases(inflight_key(p.name))


def retry_after_header(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
