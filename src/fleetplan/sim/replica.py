"""Replicas other than the batching one, and the load balancers in front of them.

`ExponentialReplica` is the `service: {kind: exponential}` model: each request holds one of
`slots` slots for an exponential time of mean `mean_s` (FCFS queue), and its whole response
arrives at the end. With one slot and Poisson arrivals it is an M/M/1 queue, the reference
the simulator's bookkeeping is tested against.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from fleetplan.sim.engine import PRIORITY_STEP, EventLoop
from fleetplan.sim.metrics import Recorder


class Replica(Protocol):
    outstanding: int
    watch: Callable[[], None] | None  # called after `outstanding` goes down

    def submit(
        self,
        now: float,
        rid: int,
        tokens_in: int,
        out: int,
        pid: int,
        ptok: int,
        horizon: float = -1.0,
    ) -> None: ...

    def kv_used(self) -> float: ...

    def check_drained(self) -> None: ...

    @property
    def queue_len(self) -> int: ...

    @property
    def running_len(self) -> int: ...


class ExponentialReplica:
    def __init__(
        self,
        loop: EventLoop,
        rec: Recorder,
        rng: np.random.Generator,
        *,
        mean_s: float,
        slots: int,
    ) -> None:
        self.loop, self.rec = loop, rec
        self.slots = slots
        self.busy = 0
        self.outstanding = 0
        self.watch: Callable[[], None] | None = None
        self.waiting: deque[tuple[int, float, int, int]] = deque()
        # draws in blocks: one numpy call per 4,096 requests
        self._draw = _block_sampler(lambda n: rng.exponential(mean_s, n))

    @property
    def queue_len(self) -> int:
        return len(self.waiting)

    @property
    def running_len(self) -> int:
        return self.busy

    def kv_used(self) -> float:
        return 0.0

    def check_drained(self) -> None:
        if self.busy or self.waiting:
            raise RuntimeError(
                f"replica not drained: {self.busy} busy, {len(self.waiting)} waiting"
            )

    def submit(
        self,
        now: float,
        rid: int,
        tokens_in: int,
        out: int,
        pid: int,
        ptok: int,
        horizon: float = -1.0,
    ) -> None:
        self.outstanding += 1
        req = (rid, now, tokens_in, out)
        if self.busy < self.slots:
            self._start(now, req)
        else:
            self.waiting.append(req)

    def _start(self, now: float, req: tuple[int, float, int, int]) -> None:
        self.busy += 1
        self.loop.schedule(now + self._draw(), PRIORITY_STEP, self._end, (*req, now))

    def _end(self, now: float, req: tuple[int, float, int, int, float]) -> None:
        rid, arrival, tokens_in, out, sched = req
        self.busy -= 1
        self.outstanding -= 1
        if self.watch is not None:
            self.watch()
        self.rec.done(now, rid, arrival, sched, now, tokens_in, out)
        if self.waiting:
            self._start(now, self.waiting.popleft())


def _block_sampler(draw: Callable[[int], np.ndarray], block: int = 4096) -> Callable[[], float]:
    buf: list[float] = []

    def next_value() -> float:
        if not buf:
            buf.extend(reversed(draw(block).tolist()))
        return buf.pop()

    return next_value


INDEXED_FROM = 16  # replicas from which least_outstanding keeps a tree instead of scanning


def balancer(
    kind: str, replicas: Sequence[Replica], indexed: bool | None = None
) -> Callable[[int], Replica]:
    """Request index -> replica. round_robin: in turn; least_outstanding: the replica with
    the fewest requests submitted and not finished (ties: the lowest index). From
    `INDEXED_FROM` replicas (or with `indexed=True`) least_outstanding keeps a min-tree over
    the replicas, O(log n) per change instead of a scan per arrival; both pick the same."""
    if kind == "round_robin":
        n = len(replicas)
        return lambda i: replicas[i % n]
    if len(replicas) == 1:
        only = replicas[0]
        return lambda i: only
    if indexed is None:
        indexed = len(replicas) >= INDEXED_FROM
    if indexed:
        return _LeastTree(replicas).pick

    def least(_i: int) -> Replica:
        best = replicas[0]
        for r in replicas:
            if r.outstanding < best.outstanding:
                best = r
        return best

    return least


class _LeastTree:
    """A min segment tree of key = outstanding x n + index, so the root is the replica with
    the fewest outstanding requests and, among those, the lowest index. A submit raises its
    replica's key; a replica's `watch` hook lowers it when a request finishes."""

    def __init__(self, replicas: Sequence[Replica]) -> None:
        self.replicas = replicas
        self.n = n = len(replicas)
        size = 1
        while size < n:
            size *= 2
        self.size = size
        inf = 1 << 62
        self.tree = [inf] * (2 * size)
        for i, r in enumerate(replicas):
            self.tree[size + i] = r.outstanding * n + i
            r.watch = self._watcher(i)
        for j in range(size - 1, 0, -1):
            self.tree[j] = min(self.tree[2 * j], self.tree[2 * j + 1])

    def _watcher(self, i: int) -> Callable[[], None]:
        return lambda: self._update(i)

    def _update(self, i: int) -> None:
        tree = self.tree
        j = self.size + i
        tree[j] = self.replicas[i].outstanding * self.n + i
        j >>= 1
        while j:
            a, b = tree[2 * j], tree[2 * j + 1]
            m = a if a < b else b
            if tree[j] == m:
                break  # nothing above changes
            tree[j] = m
            j >>= 1

    def pick(self, _i: int) -> Replica:
        i = self.tree[1] % self.n
        r = self.replicas[i]
        # the caller submits to it at once: count the request now
        tree = self.tree
        j = self.size + i
        tree[j] = (r.outstanding + 1) * self.n + i
        j >>= 1
        while j:
            a, b = tree[2 * j], tree[2 * j + 1]
            tree[j] = a if a < b else b
            j >>= 1
        return r
