"""Gateway-wide admission control: a concurrency limit, a bounded queue with a deadline, shedding.

Every client request takes a slot before it is routed. While fewer than ``max_concurrent`` hold
one it goes straight through; otherwise it waits in a FIFO queue of at most ``max_queue``
requests, for at most ``queue_timeout_s``. A request that finds the queue full, waits past its
deadline, or arrives while the event loop lags more than ``max_loop_lag_ms`` behind is shed
with 503 and a ``Retry-After`` — the gateway says it is busy instead of letting its own
queueing show up as upstream timeouts that open healthy providers' circuits.

A provider's timeouts start when its request is sent, after admission, so time spent in this
queue is never charged to an upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from fleetplan.router.config import AdmissionIn


class Shed(Exception):
    """The gateway is at capacity: answer 503 with Retry-After."""

    def __init__(self, reason: str, retry_after_s: int) -> None:
        super().__init__(reason)
        self.reason, self.retry_after_s = reason, retry_after_s


class Admission:
    def __init__(self, cfg: AdmissionIn) -> None:
        self.cfg = cfg
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.loop_lag_s = 0.0
        self._monitor: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def start(self) -> None:
        if self.cfg.max_loop_lag_ms is not None:
            self._monitor = asyncio.create_task(self._watch_lag())

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor

    async def _watch_lag(self) -> None:
        """Measure how late a short sleep wakes: the time a ready task waits for the loop."""
        tick_s = 0.05
        while True:
            t = time.perf_counter()
            await asyncio.sleep(tick_s)
            lag = time.perf_counter() - t - tick_s
            # decay slowly, rise at once: one late tick is enough to start shedding
            self.loop_lag_s = max(lag, 0.8 * self.loop_lag_s)

    def _retry_after_s(self) -> int:
        return max(1, round(self.cfg.queue_timeout_s))

    async def acquire(self) -> None:
        """Take a slot, waiting in the queue if need be; raise Shed if the gateway is full."""
        c = self.cfg
        if c.max_loop_lag_ms is not None and self.loop_lag_s * 1000.0 > c.max_loop_lag_ms:
            raise Shed(
                f"the gateway's event loop lags {self.loop_lag_s * 1000:.0f} ms "
                f"(over {c.max_loop_lag_ms:g} ms)",
                self._retry_after_s(),
            )
        if c.max_concurrent is None or (self.active < c.max_concurrent and not self._waiters):
            self.active += 1
            return
        if len(self._waiters) >= c.max_queue:
            raise Shed(
                f"the gateway is at its limit of {c.max_concurrent} concurrent requests "
                f"and its queue of {c.max_queue} is full",
                self._retry_after_s(),
            )
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            async with asyncio.timeout(c.queue_timeout_s):
                await fut  # the releaser hands its slot over: `active` is unchanged
        except TimeoutError:
            if fut.done() and not fut.cancelled():  # handed over just as the deadline hit
                self.release()
            with contextlib.suppress(ValueError):
                self._waiters.remove(fut)
            raise Shed(
                f"waited {c.queue_timeout_s:g} s in the gateway's queue without a slot",
                self._retry_after_s(),
            ) from None
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.release()
            with contextlib.suppress(ValueError):
                self._waiters.remove(fut)
            raise

    def release(self) -> None:
        """Give a slot back: to the longest waiter if there is one."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.active -= 1
