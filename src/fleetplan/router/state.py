"""Shared router state behind one interface: in memory (one process) or in Redis (replicas).

Five primitives carry everything the router shares — token buckets, in-flight counters,
circuit-breaker fields and the half-open probe lock:

- ``take(key, rate_per_s, capacity, cost, need)``: refill a token bucket, and if its level is at
  least ``need`` subtract ``cost`` and return True. ``need=cost=1`` admits a request; a large
  negative ``need`` debits unconditionally (tokens counted after the response).
- ``incr(key, delta)`` / ``get_float(key)`` / ``set_float(key, value)`` / ``delete(*keys)``.
- ``set_nx(key, ttl_s)``: set a key only if absent, with an expiry (a lock).
- ``lease(key, lease_id, ttl_s, limit)`` / ``unlease(key, lease_id)`` / ``renew(key, ids, ttl_s)``
  / ``leases(key)``: in-flight counts as leases that expire. A gateway renews the leases it holds
  every third of their TTL; one that dies (``kill -9``) stops renewing, and its requests stop
  counting within the TTL instead of holding the capacity for good.

Time is wall-clock (``time.time``) so that replicas agree on it through Redis.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

_T = TypeVar("_T")


class StateUnavailable(Exception):
    """The shared state (Redis) did not answer; the gateway says so (503) instead of a 500."""


def _guarded(fn: Callable[..., Awaitable[_T]]) -> Callable[..., Awaitable[_T]]:
    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> _T:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            from redis.exceptions import RedisError

            if isinstance(exc, RedisError):
                raise StateUnavailable(f"Redis: {type(exc).__name__}: {exc}") from None
            raise

    return call


class State(Protocol):
    async def take(
        self, key: str, rate_per_s: float, capacity: float, cost: float, need: float
    ) -> bool: ...
    async def incr(self, key: str, delta: int) -> int: ...
    async def get_float(self, key: str) -> float | None: ...
    async def set_float(self, key: str, value: float) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def set_nx(self, key: str, ttl_s: float) -> bool: ...
    async def lease(self, key: str, lease_id: str, ttl_s: float, limit: int | None) -> bool: ...
    async def unlease(self, key: str, lease_id: str) -> None: ...
    async def renew(self, key: str, lease_ids: list[str], ttl_s: float) -> None: ...
    async def leases(self, key: str) -> int: ...
    async def close(self) -> None: ...


class MemoryState:
    """State of one process. Each method runs without awaiting, so it is atomic on the loop."""

    def __init__(self, clock: object = time.time) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._values: dict[str, float] = {}
        self._expiry: dict[str, float] = {}
        self._leases: dict[str, dict[str, float]] = {}

    def _now(self) -> float:
        return self._clock()  # type: ignore[operator,no-any-return]

    async def take(
        self, key: str, rate_per_s: float, capacity: float, cost: float, need: float
    ) -> bool:
        now = self._now()
        level, ts = self._buckets.get(key, (capacity, now))
        level = min(capacity, level + (now - ts) * rate_per_s)
        ok = level >= need
        if ok:
            level -= cost
        self._buckets[key] = (level, now)
        return ok

    async def incr(self, key: str, delta: int) -> int:
        v = int(self._values.get(key, 0)) + delta
        self._values[key] = v
        return v

    async def get_float(self, key: str) -> float | None:
        exp = self._expiry.get(key)
        if exp is not None and exp <= self._now():
            self._values.pop(key, None)
            self._expiry.pop(key, None)
        return self._values.get(key)

    async def set_float(self, key: str, value: float) -> None:
        self._values[key] = value
        self._expiry.pop(key, None)

    async def delete(self, *keys: str) -> None:
        for k in keys:
            self._values.pop(k, None)
            self._expiry.pop(k, None)
            self._buckets.pop(k, None)

    async def set_nx(self, key: str, ttl_s: float) -> bool:
        if await self.get_float(key) is not None:
            return False
        self._values[key] = 1.0
        self._expiry[key] = self._now() + ttl_s
        return True

    def _live(self, key: str) -> dict[str, float]:
        now = self._now()
        held = self._leases.setdefault(key, {})
        for lid in [k for k, exp in held.items() if exp <= now]:
            del held[lid]
        return held

    async def lease(self, key: str, lease_id: str, ttl_s: float, limit: int | None) -> bool:
        held = self._live(key)
        if limit is not None and len(held) >= limit:
            return False
        held[lease_id] = self._now() + ttl_s
        return True

    async def unlease(self, key: str, lease_id: str) -> None:
        self._leases.get(key, {}).pop(lease_id, None)

    async def renew(self, key: str, lease_ids: list[str], ttl_s: float) -> None:
        held, exp = self._live(key), self._now() + ttl_s
        for lid in lease_ids:
            if lid in held:
                held[lid] = exp

    async def leases(self, key: str) -> int:
        return len(self._live(key))

    async def close(self) -> None:
        return None


_TAKE_LUA = """
local level = tonumber(redis.call('HGET', KEYS[1], 'level'))
local ts = tonumber(redis.call('HGET', KEYS[1], 'ts'))
local now = tonumber(ARGV[1]); local rate = tonumber(ARGV[2]); local cap = tonumber(ARGV[3])
local cost = tonumber(ARGV[4]); local need = tonumber(ARGV[5])
if level == nil then level = cap; ts = now end
level = math.min(cap, level + math.max(0, now - ts) * rate)
local ok = 0
if level >= need then level = level - cost; ok = 1 end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 60)
return ok
"""


_LEASE_LUA = """
local now = tonumber(ARGV[1]); local ttl = tonumber(ARGV[2]); local limit = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if limit >= 0 and redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl * 1000) + 1000)
return 1
"""


class RedisState:
    """State shared by gateway replicas through one Redis; keys are prefixed."""

    def __init__(
        self,
        url: str,
        prefix: str = "fleetplan:router:",
        max_connections: int = 256,
        pool_timeout_s: float = 5.0,
    ) -> None:
        import redis.asyncio as aioredis

        # A blocking pool: past `max_connections` a command waits up to `pool_timeout_s` for a
        # free connection instead of failing at once (redis-py's default pool raises
        # MaxConnectionsError at 100); a timeout there is a RedisError the gateway answers 503.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=pool_timeout_s, decode_responses=True
        )
        self._r = aioredis.Redis(connection_pool=pool)
        self._p = prefix
        self._take = self._r.register_script(_TAKE_LUA)
        self._lease = self._r.register_script(_LEASE_LUA)

    @_guarded
    async def take(
        self, key: str, rate_per_s: float, capacity: float, cost: float, need: float
    ) -> bool:
        args = [repr(time.time()), repr(rate_per_s), repr(capacity), repr(cost), repr(need)]
        return bool(await self._take(keys=[self._p + key], args=args))

    @_guarded
    async def incr(self, key: str, delta: int) -> int:
        return int(await self._r.incrby(self._p + key, delta))

    @_guarded
    async def get_float(self, key: str) -> float | None:
        v = await self._r.get(self._p + key)
        return None if v is None else float(v)

    @_guarded
    async def set_float(self, key: str, value: float) -> None:
        await self._r.set(self._p + key, repr(value))

    @_guarded
    async def delete(self, *keys: str) -> None:
        if keys:
            await self._r.delete(*(self._p + k for k in keys))

    @_guarded
    async def set_nx(self, key: str, ttl_s: float) -> bool:
        ms = max(1, int(ttl_s * 1000))
        return bool(await self._r.set(self._p + key, "1", nx=True, px=ms))

    @_guarded
    async def lease(self, key: str, lease_id: str, ttl_s: float, limit: int | None) -> bool:
        args = [repr(time.time()), repr(ttl_s), lease_id, str(-1 if limit is None else limit)]
        return bool(await self._lease(keys=[self._p + key], args=args))

    @_guarded
    async def unlease(self, key: str, lease_id: str) -> None:
        await self._r.zrem(self._p + key, lease_id)

    @_guarded
    async def renew(self, key: str, lease_ids: list[str], ttl_s: float) -> None:
        if lease_ids:
            exp = time.time() + ttl_s
            k = self._p + key
            await self._r.zadd(k, dict.fromkeys(lease_ids, exp), xx=True)
            await self._r.pexpire(k, int(ttl_s * 1000) + 1000)

    @_guarded
    async def leases(self, key: str) -> int:
        return int(await self._r.zcount(self._p + key, f"({time.time()!r}", "+inf"))

    @_guarded
    async def ping(self) -> None:
        await self._r.ping()

    async def close(self) -> None:
        await self._r.aclose()
