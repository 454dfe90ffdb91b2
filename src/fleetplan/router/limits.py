"""Per-provider limits as token buckets (requests/min, tokens/min) plus a max-concurrent count.

A request is admitted when the request bucket holds one token, the token bucket is not in
debt, and the provider's in-flight count stays within ``max_concurrent``. The tokens a request
used are known only after it ends; they are then debited, possibly into debt, which holds the
next requests back until the bucket refills. All of it lives in a ``State``, so replicas that
share a Redis share the limits.
"""

from __future__ import annotations

from fleetplan.router.config import Provider
from fleetplan.router.state import State

_ALWAYS = -1e18  # `need` that always passes: an unconditional debit


def _key(provider: str, what: str) -> str:
    return f"lim:{provider}:{what}"


def inflight_key(provider: str) -> str:
    return _key(provider, "inflight")


class Limits:
    def __init__(self, state: State) -> None:
        self.state = state

    async def acquire(self, p: Provider) -> str | None:
        """Admit one request to `p` (and count it in flight); or return why not."""
        lim = p.limits
        if lim.tokens_per_min is not None:
            rate = lim.tokens_per_min / 60.0
            if not await self.state.take(_key(p.name, "tok"), rate, lim.tokens_per_min, 0, 1):
                return "tokens/min limit"
        if lim.requests_per_min is not None:
            rate = lim.requests_per_min / 60.0
            if not await self.state.take(_key(p.name, "req"), rate, lim.requests_per_min, 1, 1):
                return "requests/min limit"
        n = await self.state.incr(inflight_key(p.name), 1)
        if lim.max_concurrent is not None and n > lim.max_concurrent:
            await self.state.incr(inflight_key(p.name), -1)
            return "max concurrent"
        return None

    async def release(self, p: Provider, tokens: int) -> None:
        """End a request admitted by `acquire`, debiting the tokens it used."""
        await self.state.incr(inflight_key(p.name), -1)
        lim = p.limits
        if lim.tokens_per_min is not None and tokens > 0:
            rate = lim.tokens_per_min / 60.0
            await self.state.take(_key(p.name, "tok"), rate, lim.tokens_per_min, tokens, _ALWAYS)

    async def in_flight(self, p: Provider) -> int:
        v = await self.state.get_float(inflight_key(p.name))
        return int(v or 0)
