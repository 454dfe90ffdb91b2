"""A bare discrete-event loop: a heap of (time, priority, counter, handler, payload).

Same-time events run in a fixed order: lower `priority` first, then the order they were
scheduled in (the per-loop `counter`), so a run never depends on how the heap breaks ties.
The simulator's priorities are the `PRIORITY_*` constants: an iteration that ends at the same
instant as a request arrives frees its capacity before the arrival is dispatched, and samples
see the state after both.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

PRIORITY_STEP = 0  # a replica's iteration (or service) ends
PRIORITY_ARRIVAL = 1  # a request reaches the load balancer
PRIORITY_SAMPLE = 2  # a periodic sample of queue length and KV use

Handler = Callable[[float, Any], None]


class EventLoop:
    """Min-heap event loop; one per simulation (its counter is not shared between runs)."""

    __slots__ = ("_counter", "_heap", "_push", "events", "now")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, Handler, Any]] = []
        self._counter = itertools.count(1)  # ties: scheduling order
        self._push = heapq.heappush
        self.now = 0.0
        self.events = 0  # events handled so far

    def schedule(self, time_s: float, priority: int, handler: Handler, payload: Any = None) -> None:
        """Run `handler(time_s, payload)` at `time_s` (never earlier than the current time)."""
        if time_s < self.now:
            raise ValueError(f"event scheduled in the past: {time_s} < {self.now}")
        self._push(self._heap, (time_s, priority, next(self._counter), handler, payload))

    def __len__(self) -> int:
        return len(self._heap)

    def run(
        self,
        until_s: float = float("inf"),
        on_progress: Callable[[float], None] | None = None,
        progress_every: int = 20_000,
        max_events: int | None = None,
        on_over: Callable[[int], Exception] | None = None,
    ) -> None:
        """Handle events in (time, priority, counter) order until the heap is empty or the next
        event is later than `until_s`. `on_progress(now)` is called every `progress_every`
        events. Past `max_events` events in all, `on_over(events)` is raised."""
        heap = self._heap
        pop = heapq.heappop
        n = self.events
        cap = max_events if max_events is not None else 1 << 62
        tick = (n // progress_every + 1) * progress_every
        check = min(tick, cap + 1)
        while heap:
            if heap[0][0] > until_s:
                break
            time_s, _prio, _count, handler, payload = pop(heap)
            self.now = time_s
            handler(time_s, payload)
            n += 1
            if n >= check:
                if n > cap:
                    self.events = n
                    raise (on_over or _too_many)(n)
                tick += progress_every
                check = min(tick, cap + 1)
                if on_progress is not None:
                    on_progress(time_s)
        self.events = n


def _too_many(events: int) -> Exception:
    return RuntimeError(f"event loop stopped after {events:,} events")
