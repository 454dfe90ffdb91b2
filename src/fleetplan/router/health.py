"""Provider health: a circuit breaker fed by passive outcomes and optional active checks.

States, kept in the shared ``State`` so replicas agree:

- closed: requests flow; consecutive failures are counted.
- open: after ``failure_threshold`` consecutive failures no request is sent until
  ``open_until``; a 429 holds the provider for its Retry-After, capped at
  ``max_retry_after_s`` (no user request probes it meanwhile, but a passing active check
  clears the hold).
- half-open: after ``open_until`` one request (a probe, guarded by a lock) is let through; its
  success closes the circuit, its failure opens it for another cooldown.

Active checks (``check_interval_s > 0``) GET each provider's ``/models`` and feed the same
breaker, so a dead provider is found before a user request pays for it, and a recovered one
is closed again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from fleetplan.router.config import HealthIn, Provider
from fleetplan.router.state import State


def _k(provider: str, what: str) -> str:
    return f"cb:{provider}:{what}"


class Breaker:
    def __init__(
        self, state: State, cfg: HealthIn, clock: Callable[[], float] | None = None
    ) -> None:
        self.state = state
        self.cfg = cfg
        # wall-clock by default (replicas agree through Redis); the simulator passes its own
        self._clock = clock or (lambda: time.time())

    async def allow(self, name: str) -> bool:
        """Whether a request may go to `name` now (claims the probe slot when half-open)."""
        hold, until = await self.state.get_floats(_k(name, "retry_until"), _k(name, "open_until"))
        if hold is not None and self._clock() < hold:
            return False  # the provider asked us to wait (429 Retry-After): no probe either
        if until is None:
            return True
        if self._clock() < until:
            return False
        return await self.state.set_nx(_k(name, "probe"), self.cfg.cooldown_s)

    async def status(self, name: str) -> str:
        hold, until = await self.state.get_floats(_k(name, "retry_until"), _k(name, "open_until"))
        if hold is not None and self._clock() < hold:
            return "open"
        if until is None:
            return "closed"
        return "open" if self._clock() < until else "half_open"

    @staticmethod
    def closed_keys(name: str) -> tuple[str, ...]:
        """Keys absent while the circuit is plainly closed (no hold, never opened since the last
        success): a request may then skip ``allow`` (``Limits.acquire`` checks them)."""
        return _k(name, "retry_until"), _k(name, "open_until")

    @staticmethod
    def success_keys(name: str) -> tuple[str, ...]:
        """What a success deletes: the failure count, the open circuit, the probe, the hold
        (``Limits.release`` deletes them in the same round trip as it frees the lease)."""
        return _k(name, "fails"), _k(name, "open_until"), _k(name, "probe"), _k(name, "retry_until")

    async def success(self, name: str) -> None:
        await self.state.delete(*self.success_keys(name))

    async def failure(self, name: str, retry_after_s: float | None = None) -> None:
        if retry_after_s is not None:  # rate limited: wait as told, not a health verdict
            wait_s = min(retry_after_s, self.cfg.max_retry_after_s)
            await self.state.set_float(_k(name, "retry_until"), self._clock() + wait_s)
            await self.state.delete(_k(name, "probe"))
            return
        fails = await self.state.incr(_k(name, "fails"), 1)
        half_open = (await self.state.get_floats(_k(name, "open_until")))[0] is not None
        if half_open or fails >= self.cfg.failure_threshold:
            await self.state.set_float(_k(name, "open_until"), self._clock() + self.cfg.cooldown_s)
            await self.state.delete(_k(name, "probe"))

    async def release_probe(self, name: str) -> None:
        """Free the probe slot when a request ended without a verdict on the provider."""
        await self.state.delete(_k(name, "probe"))


async def check_once(client: Any, p: Provider, breaker: Breaker, timeout_s: float) -> bool:
    """GET `p`'s /models; feed the breaker; return whether it answered 200."""
    import aiohttp

    headers = {"Authorization": f"Bearer {k}"} if (k := p.api_key()) else {}
    try:
        t = aiohttp.ClientTimeout(total=timeout_s)
        async with client.get(f"{p.base_url}/models", headers=headers, timeout=t) as r:
            ok = r.status == 200
    except (aiohttp.ClientError, OSError, TimeoutError):  # a transport failure is a failed check
        ok = False
    if ok:
        await breaker.success(p.name)
    else:
        await breaker.failure(p.name)
    return ok


async def check_loop(
    client: Any, providers: tuple[Provider, ...], breaker: Breaker, cfg: HealthIn
) -> None:
    """Run active checks every `cfg.check_interval_s` until cancelled."""
    while True:
        await asyncio.gather(
            *(check_once(client, p, breaker, cfg.check_timeout_s) for p in providers)
        )
        await asyncio.sleep(cfg.check_interval_s)
