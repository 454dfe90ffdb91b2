"""One replica: iteration-level continuous batching with a paged KV cache.

Each iteration carries the decoding sequences (one token each) and the prefill chunks that
`sim/admission.py` picks (continuing prompts, then admitted requests; it also preempts when the
KV pool runs out); engines differ in whether prefill shares a step with decodes
(`sim/policy.py`).

Between two events (an arrival that could be admitted, a completion, the KV pool running out,
a sliding-window kink) the iterations are pure decode steps that differ only in context
length, so they are advanced together in closed form (`steptime.run_time_s`). Sequences keep
their state relative to the replica's decode-step counter, so a run of k steps costs O(1)
whatever the batch: remaining tokens sit in a heap of finishing steps and the KV block
boundaries in a histogram of `(context - step) mod block_size`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING

from fleetplan.sim.admission import Admission
from fleetplan.sim.dp_ranks import busiest
from fleetplan.sim.engine import PRIORITY_STEP, EventLoop
from fleetplan.sim.kv_pool import KvPool
from fleetplan.sim.metrics import Recorder
from fleetplan.sim.policy import RATIO_DECAY, RATIO_MIN, Policy
from fleetplan.sim.sequence import DECODING, Seq
from fleetplan.sim.steptime import StepTable, steps_to_reach

if TYPE_CHECKING:
    from fleetplan.sim.frontend import Frontend

_IDLE, _MIXED, _DECODE = 0, 1, 2


class BatchingReplica(Admission):
    """A continuous-batching replica on the event loop; `submit` hands it a request."""

    def __init__(
        self,
        loop: EventLoop,
        rec: Recorder,
        table: StepTable,
        pool: KvPool,
        *,
        max_num_seqs: int,
        max_num_batched_tokens: int,
        prefix_caching: bool,
        policy: Policy,
        window_blocks: Callable[[int], int] | None = None,
        attention_dp: int = 1,
        rank_tokens: int = 0,
    ) -> None:
        super().__init__(
            rec,
            pool,
            max_num_seqs=max_num_seqs,
            max_num_batched_tokens=max_num_batched_tokens,
            prefix_caching=prefix_caching,
            policy=policy,
            window_blocks=window_blocks,
            attention_dp=attention_dp,
            rank_tokens=rank_tokens,
        )
        self.loop = loop
        self.table = table
        # no-mix engines: the decoding sequences waiting through prefill-only steps, as
        # [time of their last token, how many] (each one's next gap runs from its own token)
        self.waits: list[list[float]] = []
        self.outstanding = 0  # requests submitted and not finished
        self.watch: Callable[[], None] | None = None  # told when `outstanding` goes down
        self.phase = _IDLE
        self.epoch = 0
        self.t0 = 0.0  # start of the iteration or run in flight
        self.k = 0  # decode steps in the run in flight
        self.first = 0.0  # its first step time and per-step increase
        self.slope = 0.0
        self.chunks: list[tuple[Seq, int]] = []  # prefill chunks of the mixed iteration
        # the API server that streams the tokens (`sim/frontend.py`), if any: told of every
        # step's tokens, it says when the client has them
        self.delivery: Frontend | None = None

    # -- requests in and out -------------------------------------------------------------------
    def submit(
        self,
        now: float,
        rid: int,
        tokens_in: int,
        out: int,
        pid: int,
        ptok: int,
        horizon: float = -1.0,
        arrival: float = -1.0,
    ) -> None:
        """A request arrives at `now`. `horizon`: no other event can reach this replica before
        that time (the next arrival or sample), so the step boundary where the request joins
        may be handled at once instead of as an event of its own. `arrival`: when it reached
        the server, if earlier than `now` (it waited in the API server, `sim/frontend.py`)."""
        pblocks = ptok // self.bs if (pid >= 0 and self.prefix_caching) else 0
        since = now if arrival < 0 else arrival
        s = Seq(rid, since, tokens_in, out, pid, pblocks)
        if self.ranks > 1:  # dealt round robin (sim/dp_ranks.py)
            s.rank = self.dealt % self.ranks
            self.dealt += 1
        if self.window_blocks is not None:
            s.win = self.window_blocks(tokens_in + out)
        self.waiting.append(s)
        self.outstanding += 1
        if self.phase == _IDLE:
            self._next(now)
        elif self.phase == _DECODE and len(self.running) < self.max_seqs:
            # the request joins at the end of the decode step in flight, not of the whole run
            t0 = self.t0
            if now < t0:  # in the prefill iteration that leads the run
                j, t = 0, t0
            else:
                first, slope = self.first, self.slope
                j = steps_to_reach(first, slope, now - t0)
                t = t0 + (j * first + slope * j * (j - 1) * 0.5)  # + run_time_s(first, slope, j)
            if j < self.k:
                self.k = j
                self.epoch += 1
                if t < horizon:  # the run ends before anything else can happen: end it now
                    if j:
                        self._advance(j, t - t0, t)  # no completion: j < steps to the first
                    self._next(t)
                else:
                    self.loop.schedule(t, PRIORITY_STEP, self._on_end, self.epoch)

    def _finish(self, s: Seq, now: float, blocks: int, last_sent: float) -> None:
        """`s` ends at `now` holding `blocks`; its last token reaches the client at
        `last_sent` (`now` without an API server)."""
        pool = self.pool
        blocks += s.win - s.shared
        pool.used -= blocks
        pool.free += blocks
        if s.shared:
            pool.release(s.pid, s.shared)
        del self.running[s.rid]
        self.outstanding -= 1
        watch = self.watch
        if watch is not None:
            watch()
        if self.delivery is None:
            self.rec.done(now, s.rid, s.arrival, s.sched, s.first, s.tokens_in, s.out)
        else:
            self.delivery.finished(
                now, s.rid, s.arrival, s.sched, s.sent, s.tokens_in, s.out, last_sent
            )

    # -- the scheduler -------------------------------------------------------------------------
    def _next(self, now: float) -> None:
        """Plan the iteration (or run of decode steps) that starts at `now`."""
        pool, bs = self.pool, self.bs
        if self.waits and not self.b:
            self.waits.clear()  # whoever waited through the prefill steps was preempted
        reserve = 0
        if self.b and not self.reserve_full:
            # a decoding sequence whose last block is full needs a new one for its next token
            reserve = self.hist[-self.steps % bs]
            while reserve > pool.free + pool.idle:
                self._preempt(now)
                reserve = self.hist[-self.steps % bs] if self.b else 0
        if (self.waiting or self.prefilling) and self._mixed(now, reserve):
            return
        b = self.b
        if not b:
            if self.prefilling:  # stuck prefills and no memory: free some and try again
                self._preempt(now)
                self._next(now)
                return
            self.phase = _IDLE
            return
        self._run(now)

    def _run(self, now: float) -> None:
        """Schedule pure decode steps from `now` up to the next completion, the KV pool
        running out or a sliding-window kink (the next block is known to be available)."""
        pool, bs, b = self.pool, self.bs, self.b
        steps = self.steps
        first, slope, kink = self.table.decode_run(b, (self.sum_base + b * steps) / b)
        fin = self.finishing  # the next completion (as `_next_finish`)
        while fin[0][2].finish != fin[0][0]:
            heapq.heappop(fin)
        k = fin[0][0] - steps
        if kink < k:
            k = kink
        avail = pool.free + pool.idle
        if not self.reserve_full and avail < b * (-(-k // bs)):
            k = min(k, self._max_steps(avail))
        self.phase, self.t0, self.k, self.first, self.slope = _DECODE, now, k, first, slope
        self.epoch = epoch = self.epoch + 1
        self.loop.schedule(
            now + k * first + slope * k * (k - 1) * 0.5, PRIORITY_STEP, self._on_end, epoch
        )

    def _mixed(self, now: float, reserve: int) -> bool:
        """Schedule an iteration with prefill chunks if any can run; False if none can."""
        chunks = self._take_chunks(now, reserve)
        pool, bs, waiting = self.pool, self.bs, self.waiting
        mixed, full = self.mixed, self.reserve_full
        if not chunks:
            return False
        if len(chunks) == 1:
            n = chunks[0][1]
            p, pc = 0.0 + n, 0.0 + n * (chunks[0][0].done + 0.5 * n)
        else:
            p = pc = 0.0
            for s, n in chunks:
                p += n
                pc += n * (s.done + 0.5 * n)
        b = self.b if mixed else 0
        c = (self.sum_base + b * self.steps) / b if b else 0.0
        dt = self.table.step_s(b, c, p, pc / p)
        if self.ranks > 1:  # the step waits for the rank that carries the most prompt tokens
            pr, pcr = busiest(chunks, self.ranks)
            dt += self.table.dp_prefill_extra_s(pr, pcr / pr, p, pc / p)
        self.chunks = chunks
        if not waiting and self.delivery is None and self._quiet_end(chunks):
            # Nothing can happen at the end of this iteration but what it planned: apply its
            # end now and plan the decode run after it in the same event. An arrival during
            # it cuts the run back to this iteration (see `submit`). (Not behind an API
            # server, whose clock takes the iteration's tokens in time order.)
            t1 = now + dt
            if b:
                self._advance(1, dt, t1)
            elif self.b:
                self._wait(now)
            self._end_chunks(t1)
            if full or self.hist[-self.steps % bs] <= pool.free + pool.idle:
                self._run(t1)
                return True
            self.phase, self.t0, self.k = _DECODE, t1, 0
        else:
            self.phase, self.t0 = _MIXED, now
        self.epoch += 1
        self.loop.schedule(now + dt, PRIORITY_STEP, self._on_end, self.epoch)
        return True

    def _wait(self, since: float) -> None:
        """The decoding sequences wait through a prefill-only step: those decoding before the
        first such step since a decode step, from its start (later ones join `waits` with their
        first token)."""
        if not self.waits:
            self.waits.append([since, self.b])

    def _quiet_end(self, chunks: list[tuple[Seq, int]]) -> bool:
        """True if every chunk completes its prompt, no sequence finishes at the end of the
        iteration and none is left to prefill."""
        for s, n in chunks:
            if s.done + n < s.prompt or s.gen + 1 >= s.out:
                return False
        return not self.b or self._next_finish() > self.steps + 1

    def _on_end(self, now: float, epoch: int) -> None:
        if epoch != self.epoch:
            return  # a run cut short by an arrival
        if self.phase == _MIXED:
            if self.b:
                if self.mixed:
                    self._advance(1, now - self.t0, now)
                else:  # the decoding sequences waited for a prefill-only step
                    self._wait(self.t0)
            self._end_chunks(now)
        elif self.k:
            self._advance(self.k, now - self.t0, now)
        self._next(now)

    def _advance(self, k: int, dt: float, now: float) -> None:
        """k decode steps of all decoding sequences ended at `now`, taking `dt` seconds."""
        b, steps = self.b, self.steps
        if not self.reserve_full:  # else the blocks were reserved at admission
            new = self.hist[-steps % self.bs] if k == 1 else self._new_blocks(k)
            if new:
                pool = self.pool
                if new <= pool.free:
                    pool.free -= new
                    pool.used += new
                else:
                    pool.take(new)
        self.steps = steps = steps + k
        rec = self.rec
        if self.waits:  # the first of these steps came after prefill-only steps
            start, waits = now - dt, self.waits
            share = b / sum(n for _, n in waits)  # 1 unless some were preempted meanwhile
            for t, n in waits:
                rec.itl_s.append(dt / k + start - t)
                rec.itl_w.append(n * share)
            waits.clear()
            if k > 1:
                rec.itl_s.append(dt / k)
                rec.itl_w.append(b * (k - 1))
        else:
            rec.itl_s.append(dt / k)
            rec.itl_w.append(b * k)
        if self.ratio >= 0:
            self.ratio = max(RATIO_MIN, self.ratio - k * RATIO_DECAY)
        last = now if self.delivery is None else self.delivery.send(now - dt, now, b * k)
        fin = self.finishing
        if fin and fin[0][0] <= steps:
            pop, finish, leave = heapq.heappop, self._finish, self._leave_decode
            while fin and fin[0][0] <= steps:
                f, _join, s = pop(fin)
                if s.finish == f:
                    finish(s, now, leave(s), last)

    def _end_chunks(self, now: float) -> None:
        rec, bs, pool, prefilling = self.rec, self.bs, self.pool, self.prefilling
        for s, n in self.chunks:
            s.done += n
            if (
                s.pblocks
                and not s.shared
                and s.done >= s.pblocks * bs
                and pool.publish(s.pid, s.pblocks)
            ):
                s.shared = s.pblocks
            if s.done < s.prompt:
                continue
            if prefilling[0] is s:  # in admission order: mostly the first
                del prefilling[0]
            else:
                prefilling.remove(s)
            self.prefill_out -= s.out - s.gen
            s.gen += 1
            sent = now if self.delivery is None else self.delivery.send(now, now, 1)
            if s.first < 0:
                s.first, s.sent = now, sent
            if s.stall_from >= 0:
                rec.itl_s.append(now - s.stall_from)
                rec.itl_w.append(1.0)
                s.stall_from = -1.0
            if s.gen >= s.out:
                self._finish(s, now, s.held, sent)
                continue
            s.state = DECODING
            self._join_decode(s)
            if not self.mixed:  # it may wait through prefill-only steps from its first token
                waits = self.waits
                if waits and waits[-1][0] == now:
                    waits[-1][1] += 1
                else:
                    waits.append([now, 1])
        self.chunks = []

    # -- samples -------------------------------------------------------------------------------
    def kv_used(self) -> float:
        return self.pool.used / self.pool.num_blocks

    @property
    def queue_len(self) -> int:
        return len(self.waiting)

    @property
    def running_len(self) -> int:
        return len(self.running)

    def check_drained(self) -> None:
        """After a run: nothing running, no block held but idle cached prefixes."""
        self.pool.check()
        if self.running or self.waiting or self.b or self.pool.used:
            raise RuntimeError(
                f"replica not drained: {len(self.running)} running, {len(self.waiting)} "
                f"waiting, {self.pool.used} KV blocks in use"
            )
