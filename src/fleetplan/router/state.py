"""Shared router state behind one interface: in memory (one process) or in Redis (replicas).

Five primitives carry everything the router shares — token buckets, in-flight counters,
circuit-breaker fields and the half-open probe lock:

- ``take(key, rate_per_s, capacity, cost, need)``: refill a token bucket, and if its level is at
  least ``need`` subtract ``cost`` and return True. ``need=cost=1`` admits a request; a large
  negative ``need`` debits unconditionally (tokens counted after the response).
- ``incr(key, delta)`` / ``get_float(key)`` / ``set_float(key, value)`` / ``delete(*keys)``.
- ``set_nx(key, ttl_s)``: set a key only if absent, with an expiry (a lock).

Time is wall-clock (``time.time``) so that replicas agree on it through Redis.
"""

from __future__ import annotations

import time
from typing import Protocol


class State(Protocol):
    async def take(
        self, key: str, rate_per_s: float, capacity: float, cost: float, need: float
    ) -> bool: ...
    async def incr(self, key: str, delta: int) -> int: ...
    async def get_float(self, key: str) -> float | None: ...
    async def set_float(self, key: str, value: float) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def set_nx(self, key: str, ttl_s: float) -> bool: ...
    async def close(self) -> None: ...


class MemoryState:
    """State of one process. Each method runs without awaiting, so it is atomic on the loop."""

    def __init__(self, clock: object = time.time) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._values: dict[str, float] = {}
        self._expiry: dict[str, float] = {}

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


class RedisState:
    """State shared by gateway replicas through one Redis; keys are prefixed."""

    def __init__(self, url: str, prefix: str = "fleetplan:router:") -> None:
        import redis.asyncio as aioredis

        self._r = aioredis.from_url(url, decode_responses=True)
        self._p = prefix
        self._take = self._r.register_script(_TAKE_LUA)

    async def take(
        self, key: str, rate_per_s: float, capacity: float, cost: float, need: float
    ) -> bool:
        args = [repr(time.time()), repr(rate_per_s), repr(capacity), repr(cost), repr(need)]
        return bool(await self._take(keys=[self._p + key], args=args))

    async def incr(self, key: str, delta: int) -> int:
        return int(await self._r.incrby(self._p + key, delta))

    async def get_float(self, key: str) -> float | None:
        v = await self._r.get(self._p + key)
        return None if v is None else float(v)

    async def set_float(self, key: str, value: float) -> None:
        await self._r.set(self._p + key, repr(value))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._r.delete(*(self._p + k for k in keys))

    async def set_nx(self, key: str, ttl_s: float) -> bool:
        ms = max(1, int(ttl_s * 1000))
        return bool(await self._r.set(self._p + key, "1", nx=True, px=ms))

    async def ping(self) -> None:
        await self._r.ping()

    async def close(self) -> None:
        await self._r.aclose()
