"""Feeding requests to the replicas: open-loop arrivals (drawn or replayed, a chunk at a time)
or a closed loop of users; and the periodic samples of queue length and KV use.

Samples lie on a grid of at most `MAX_SAMPLES` points: one more, and every other one is dropped
and the interval doubles, so their number never depends on the interval or the run's length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from fleetplan.sim.arrivals import Workload, draw_requests
from fleetplan.sim.config import Arrivals, LengthSpec, Prefix
from fleetplan.sim.engine import PRIORITY_ARRIVAL, PRIORITY_SAMPLE, EventLoop
from fleetplan.sim.metrics import Recorder
from fleetplan.sim.replica import Replica

SAMPLES = 600  # periodic samples of queue length and KV use over the arrival window
MAX_SAMPLES = 2 * SAMPLES


class Sampler:
    """Periodic samples of (time, waiting, running, in system, KV used share)."""

    def __init__(
        self, loop: EventLoop, rec: Recorder, reps: list[Replica], interval_s: float
    ) -> None:
        self.loop, self.rec, self.reps = loop, rec, reps
        self.interval = interval_s
        self.index = 0  # of the next grid point
        self.next_s = 0.0  # when the next sample is taken (a barrier for `submit`)
        self.fed: Fed | None = None  # the driver: are more requests coming?

    def start(self) -> None:
        self.loop.schedule(0.0, PRIORITY_SAMPLE, self._sample, None)

    def _sample(self, now: float, _: Any) -> None:
        queue = running = 0
        kv = 0.0
        for r in self.reps:
            queue += r.queue_len
            running += r.running_len
            kv += r.kv_used()
        rec = self.rec
        rec.samples.append((now, queue, running, rec.arrived - rec.completed, kv / len(self.reps)))
        if len(rec.itl_s) > 1 << 15:
            rec.flush()
        self.index += 1
        if len(rec.samples) >= MAX_SAMPLES:
            del rec.samples[1::2]
            self.interval *= 2
            self.index = len(rec.samples)
        if rec.completed == rec.arrived and not (self.fed and self.fed.pending):
            self.next_s = float("inf")
            return
        self.next_s = t = self.index * self.interval
        self.loop.schedule(t, PRIORITY_SAMPLE, self._sample, None)


class Fed:
    """What a driver has sent: requests, of which clipped to fit; `pending`: more to come."""

    __slots__ = ("clipped", "pending", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.clipped = 0
        self.pending = True


def open_loop(
    loop: EventLoop,
    rec: Recorder,
    pick: Callable[[int], Replica],
    sampler: Sampler,
    chunks: Iterator[Workload],
) -> Fed:
    """Schedule the arrivals of `chunks`, one chunk held at a time."""
    fed = Fed()
    base = [0]
    cur: list[list[Any]] = [[], [], [], [], []]
    schedule = loop.schedule
    inf = float("inf")

    def load() -> bool:
        for w in chunks:
            if len(w):
                base[0] += len(cur[0])
                fed.clipped += w.clipped
                cur[:] = [
                    w.arrival_s.tolist(),
                    w.input_tokens.tolist(),
                    w.output_tokens.tolist(),
                    w.prefix_id.tolist(),
                    w.prefix_tokens.tolist(),
                ]
                return True
        return False

    def arrive(now: float, i: int) -> None:
        times, ins, outs, pids, ptoks = cur
        rid = base[0] + i
        tin, out, pid, ptok = ins[i], outs[i], pids[i], ptoks[i]
        if i + 1 < len(times):
            j = i + 1
            nxt = times[j]
        elif load():
            j, nxt = 0, cur[0][0]
        else:
            j, nxt = -1, inf
            fed.pending = False
        fed.sent += 1
        rec.arrived += 1
        sample_at = sampler.next_s
        pick(rid).submit(now, rid, tin, out, pid, ptok, nxt if nxt < sample_at else sample_at)
        if j >= 0:
            schedule(nxt, PRIORITY_ARRIVAL, arrive, j)

    if load():
        schedule(cur[0][0], PRIORITY_ARRIVAL, arrive, 0)
    else:
        fed.pending = False
    return fed


def closed_loop(
    loop: EventLoop,
    rec: Recorder,
    pick: Callable[[int], Replica],
    spec: Arrivals,
    input_spec: LengthSpec,
    output_spec: LengthSpec,
    prefix: Prefix,
    rng: np.random.Generator,
    max_tokens: int,
) -> Fed:
    """`spec.users` users, each sending a request, waiting for its last token, thinking
    `think_s` and sending the next, until `duration_s` or `requests` sent in all."""
    assert spec.users is not None
    end = spec.duration_s if spec.duration_s is not None else float("inf")
    limit = spec.requests if spec.requests is not None else 1 << 62
    block = 4096
    buf: list[tuple[int, int, int, int]] = []
    fed = Fed()
    user_of: dict[int, int] = {}
    scheduled = [0]
    schedule = loop.schedule

    def draw() -> tuple[int, int, int, int]:
        if not buf:
            w = draw_requests(np.zeros(block), input_spec, output_spec, prefix, rng, max_tokens)
            fed.clipped += w.clipped
            rows = zip(
                w.input_tokens.tolist(),
                w.output_tokens.tolist(),
                w.prefix_id.tolist(),
                w.prefix_tokens.tolist(),
                strict=True,
            )
            buf.extend(reversed(list(rows)))
        return buf.pop()

    if spec.think_dist == "exponential" and spec.think_s > 0:
        mean_s = spec.think_s
        thinks: list[float] = []

        def think() -> float:
            if not thinks:
                thinks.extend(rng.exponential(mean_s, block).tolist())
            return thinks.pop()
    else:
        fixed = spec.think_s

        def think() -> float:
            return fixed

    def send(now: float, user: int) -> None:
        rid = fed.sent
        fed.sent += 1
        fed.pending = scheduled[0] > fed.sent
        user_of[rid] = user
        rec.arrived += 1
        pick(rid).submit(now, rid, *draw(), -1.0)

    def next_of(now: float, rid: int) -> None:
        user = user_of.pop(rid)
        t = now + think()
        if t < end and scheduled[0] < limit:
            scheduled[0] += 1
            fed.pending = True
            schedule(t, PRIORITY_ARRIVAL, send, user)

    rec.on_done = next_of
    for user in range(min(spec.users, limit)):
        scheduled[0] += 1
        schedule(0.0, PRIORITY_ARRIVAL, send, user)
    fed.pending = scheduled[0] > 0
    return fed
