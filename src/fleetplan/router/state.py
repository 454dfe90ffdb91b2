"""Shared router state behind one interface: in memory (one process) or in Redis (replicas).

A few primitives carry everything the router shares — token buckets, in-flight leases,
circuit-breaker fields and the half-open probe lock — each one round trip to Redis:

- ``admit(buckets, slot, absent)``: all or nothing: refuse (-1) if any key in ``absent`` exists,
  refill each ``Bucket`` and check that its level is at least ``need``, then take an in-flight
  ``Slot`` under its limit; if every step passes, subtract each bucket's ``cost`` and keep the
  slot. Returns 0, or the 1-based step that refused (nothing is charged then).
- ``settle(buckets, unlease, delete)``: debit each bucket unconditionally (a negative cost is a
  refund), drop a lease, delete keys — what ending a request needs, in one trip.
- ``incr(key, delta)`` / ``get_floats(*keys)`` / ``set_float(key, value)`` / ``delete(*keys)``.
- ``set_nx(key, ttl_s)``: set a key only if absent, with an expiry (a lock).
- ``renew(key, ids, ttl_s)`` / ``leases(key)``: in-flight counts are leases that expire. A
  gateway renews the leases it holds every third of their TTL; one that dies (``kill -9``)
  stops renewing, and its requests stop counting within the TTL instead of holding the
  capacity for good.

Time is wall-clock (``time.time``) so that replicas agree on it through Redis.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from fleetplan.router.redis_scripts import ADMIT_LUA, SETTLE_LUA, pack

_T = TypeVar("_T")


class StateUnavailable(Exception):
    """The shared state (Redis) did not answer; the gateway says so (503) instead of a 500."""


def _guarded(fn: Callable[..., Awaitable[_T]]) -> Callable[..., Awaitable[_T]]:
    """A RedisState method that holds one of its connection slots while it runs and turns a
    Redis error into `StateUnavailable`."""

    @functools.wraps(fn)
    async def call(self: RedisState, *args: Any, **kwargs: Any) -> _T:
        slots = self._slots
        if slots.locked():  # every connection busy: wait for one, as long as the pool allows
            try:
                async with asyncio.timeout(self._pool_timeout_s):
                    await slots.acquire()
            except TimeoutError:
                raise StateUnavailable(
                    f"Redis: no connection free within {self._pool_timeout_s:g} s"
                ) from None
        else:
            await slots.acquire()
        try:
            async with asyncio.timeout(self._command_timeout_s):
                return await fn(self, *args, **kwargs)
        except TimeoutError:
            raise StateUnavailable(
                f"Redis: no answer within {self._command_timeout_s:g} s"
            ) from None
        except Exception as exc:
            from redis.exceptions import RedisError

            if isinstance(exc, RedisError):
                raise StateUnavailable(f"Redis: {type(exc).__name__}: {exc}") from None
            raise
        finally:
            slots.release()

    return call


@dataclass(frozen=True)
class Bucket:
    """One token bucket step: refill at `rate_per_s` up to `capacity`; passes when the level is
    at least `need`, and is then charged `cost` (in `settle`, charged whatever the level)."""

    key: str
    rate_per_s: float
    capacity: float
    cost: float
    need: float = 0.0


@dataclass(frozen=True)
class Slot:
    """An in-flight slot: `id` held under `key` until `ttl_s` from now, at most `limit` held."""

    key: str
    id: str
    ttl_s: float
    limit: int | None


class State(Protocol):
    async def admit(
        self, buckets: Sequence[Bucket], lease: Slot | None, absent: Sequence[str] = ()
    ) -> int: ...
    async def settle(
        self, buckets: Sequence[Bucket], unlease: tuple[str, str] | None, delete: Sequence[str]
    ) -> None: ...
    async def incr(self, key: str, delta: int) -> int: ...
    async def get_floats(self, *keys: str) -> list[float | None]: ...
    async def set_float(self, key: str, value: float) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def set_nx(self, key: str, ttl_s: float) -> bool: ...
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

    def _level(self, b: Bucket, now: float) -> float:
        level, ts = self._buckets.get(b.key, (b.capacity, now))
        return min(b.capacity, level + max(0.0, now - ts) * b.rate_per_s)

    async def admit(
        self, buckets: Sequence[Bucket], lease: Slot | None, absent: Sequence[str] = ()
    ) -> int:
        if any(self._get(k) is not None for k in absent):
            return -1
        now = self._now()
        levels = []
        for i, b in enumerate(buckets, 1):
            level = self._level(b, now)
            if level < b.need:
                return i
            levels.append(level - b.cost)
        if lease is not None:
            held = self._live(lease.key)
            if lease.limit is not None and len(held) >= lease.limit:
                return len(buckets) + 1
            held[lease.id] = now + lease.ttl_s
        for b, level in zip(buckets, levels, strict=True):
            self._buckets[b.key] = (level, now)
        return 0

    async def settle(
        self, buckets: Sequence[Bucket], unlease: tuple[str, str] | None, delete: Sequence[str]
    ) -> None:
        now = self._now()
        for b in buckets:
            self._buckets[b.key] = (self._level(b, now) - b.cost, now)
        if unlease is not None:
            self._leases.get(unlease[0], {}).pop(unlease[1], None)
        await self.delete(*delete)

    async def incr(self, key: str, delta: int) -> int:
        v = int(self._values.get(key, 0)) + delta
        self._values[key] = v
        return v

    def _get(self, key: str) -> float | None:
        exp = self._expiry.get(key)
        if exp is not None and exp <= self._now():
            self._values.pop(key, None)
            self._expiry.pop(key, None)
        return self._values.get(key)

    async def get_floats(self, *keys: str) -> list[float | None]:
        return [self._get(k) for k in keys]

    async def set_float(self, key: str, value: float) -> None:
        self._values[key] = value
        self._expiry.pop(key, None)

    async def delete(self, *keys: str) -> None:
        for k in keys:
            self._values.pop(k, None)
            self._expiry.pop(k, None)
            self._buckets.pop(k, None)

    async def set_nx(self, key: str, ttl_s: float) -> bool:
        if self._get(key) is not None:
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

    async def renew(self, key: str, lease_ids: list[str], ttl_s: float) -> None:
        held, exp = self._live(key), self._now() + ttl_s
        for lid in lease_ids:
            if lid in held:
                held[lid] = exp

    async def leases(self, key: str) -> int:
        return len(self._live(key))

    async def close(self) -> None:
        return None


class RedisState:
    """State shared by gateway replicas through one Redis; keys are prefixed."""

    def __init__(
        self,
        url: str,
        prefix: str = "fleetplan:router:",
        max_connections: int = 256,
        pool_timeout_s: float = 5.0,
        command_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import redis.asyncio as aioredis

        # The two scripts every request runs (admit, settle) share one multiplexed connection
        # (`redis_pipe`; redis-py's pool for TLS); the other commands use redis-py's pool.
        # At most `max_connections` of those at once (redis-py's default pool raises
        # MaxConnectionsError at 100): past that a command waits up to `pool_timeout_s` for a
        # slot, then the gateway answers 503. The slots are an asyncio semaphore in front of a
        # plain pool of the same size: redis-py's BlockingConnectionPool did the same with a
        # condition and a timeout per command, a large part of a request's Redis CPU.
        self._slots = asyncio.Semaphore(max_connections)
        self._pool_timeout_s = pool_timeout_s
        # One deadline per command here, instead of redis-py's socket timeout (a task per write
        # and a timeout per read); a command cut short drops its connection (redis-py does).
        self._command_timeout_s = command_timeout_s
        pool = aioredis.ConnectionPool.from_url(
            url,
            max_connections=max_connections,
            decode_responses=True,
            socket_timeout=None,
            socket_connect_timeout=command_timeout_s,
        )
        self._r = aioredis.Redis(connection_pool=pool)
        self._p = prefix
        self._clock = clock
        self._admit = self._r.register_script(ADMIT_LUA)
        self._settle = self._r.register_script(SETTLE_LUA)
        from redis.exceptions import RedisError

        from fleetplan.router.redis_pipe import ScriptPipe

        self._pipe = ScriptPipe.from_url(url, command_timeout_s)
        self._faults = (RedisError, OSError)

    async def _script(self, script: Any, keys: list[str], args: list[str]) -> Any:
        pipe = self._pipe
        if pipe is None or pipe.loop not in (None, asyncio.get_running_loop()):
            return await self._pooled(script, keys, args)
        try:
            return await pipe.script(script.sha, script.script, keys, args)
        except TimeoutError:
            raise StateUnavailable(
                f"Redis: no answer within {self._command_timeout_s:g} s"
            ) from None
        except self._faults as exc:
            raise StateUnavailable(f"Redis: {type(exc).__name__}: {exc}") from None

    @_guarded
    async def _pooled(self, script: Any, keys: list[str], args: list[str]) -> Any:
        return await script(keys=keys, args=args)

    async def admit(
        self, buckets: Sequence[Bucket], lease: Slot | None, absent: Sequence[str] = ()
    ) -> int:
        keys = [self._p + b.key for b in buckets]
        nums = [self._clock(), len(buckets), 0 if lease is None else 1]
        for b in buckets:
            nums += [b.rate_per_s, b.capacity, b.cost, b.need]
        if lease is not None:
            keys.append(self._p + lease.key)
            nums += [lease.ttl_s, -1 if lease.limit is None else lease.limit]
        keys += [self._p + k for k in absent]
        args = [pack(nums), "" if lease is None else lease.id]
        return int(await self._script(self._admit, keys, args))

    async def settle(
        self, buckets: Sequence[Bucket], unlease: tuple[str, str] | None, delete: Sequence[str]
    ) -> None:
        keys = [self._p + b.key for b in buckets]
        nums = [self._clock(), len(buckets), 0 if unlease is None else 1]
        for b in buckets:
            nums += [b.rate_per_s, b.capacity, b.cost]
        if unlease is not None:
            keys.append(self._p + unlease[0])
        keys += [self._p + k for k in delete]
        if keys:
            args = [pack(nums), "" if unlease is None else unlease[1]]
            await self._script(self._settle, keys, args)

    @_guarded
    async def incr(self, key: str, delta: int) -> int:
        return int(await self._r.incrby(self._p + key, delta))

    @_guarded
    async def get_floats(self, *keys: str) -> list[float | None]:
        got = await self._r.mget([self._p + k for k in keys])
        return [None if v is None else float(v) for v in got]

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
    async def renew(self, key: str, lease_ids: list[str], ttl_s: float) -> None:
        if lease_ids:
            exp = self._clock() + ttl_s
            k = self._p + key
            await self._r.zadd(k, dict.fromkeys(lease_ids, exp), xx=True)
            await self._r.pexpire(k, int(ttl_s * 1000) + 1000)

    @_guarded
    async def leases(self, key: str) -> int:
        return int(await self._r.zcount(self._p + key, f"({self._clock()!r}", "+inf"))

    @_guarded
    async def ping(self) -> None:
        await self._r.ping()

    async def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
        await self._r.aclose()
