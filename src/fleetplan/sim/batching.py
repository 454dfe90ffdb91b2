"""One replica scheduled as vLLM does: iteration-level continuous batching with a paged KV cache.

Each iteration (vLLM V1 scheduler, chunked prefill on):

1. every running sequence that is decoding takes one token of the `max_num_batched_tokens`
   budget and needs a KV slot; when the pool has no block for it, the most recently admitted
   running sequence is preempted by recompute (its blocks are freed, it goes back to the head
   of the queue and later prefills its prompt plus the tokens generated so far);
2. sequences part-way through their prompt get the next chunk, in admission order;
3. waiting requests are admitted first come first served while there are `max_num_seqs`
   slots, token budget and KV blocks above the watermark; a cached shared prefix is not
   computed again.

Between two events (an arrival that could be admitted, a completion, the KV pool running out,
a sliding-window kink) the iterations are pure decode steps that differ only in context
length, so they are advanced together in closed form (`steptime.run_time_s`). Sequences keep
their state relative to the replica's decode-step counter, so a run of k steps costs O(1)
whatever the batch: remaining tokens sit in a heap of finishing steps and the KV block
boundaries in a histogram of `(context - step) mod block_size`.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable

from fleetplan.sim.engine import PRIORITY_STEP, EventLoop
from fleetplan.sim.kv_pool import KvPool
from fleetplan.sim.metrics import Recorder
from fleetplan.sim.steptime import StepTable, run_time_s, steps_to_reach

WAITING, PREFILLING, DECODING = 0, 1, 2
_IDLE, _MIXED, _DECODE = 0, 1, 2


class Seq:
    """A request inside a replica."""

    __slots__ = (
        "arrival",
        "base",
        "done",
        "finish",
        "first",
        "gen",
        "held",
        "out",
        "pblocks",
        "pid",
        "prompt",
        "rid",
        "sched",
        "shared",
        "stall_from",
        "state",
        "tokens_in",
    )

    def __init__(
        self, rid: int, arrival: float, tokens_in: int, out: int, pid: int, pblocks: int
    ) -> None:
        self.rid = rid
        self.arrival = arrival
        self.sched = -1.0  # first admitted
        self.first = -1.0  # first token
        self.tokens_in = tokens_in
        self.prompt = tokens_in  # tokens to prefill (prompt + generated, after a preemption)
        self.out = out
        self.pid = pid
        self.pblocks = pblocks  # full blocks of its shared prefix (0: none)
        self.done = 0  # prompt tokens whose KV is computed
        self.gen = 0  # output tokens generated
        self.held = 0  # KV blocks covering `done` (shared prefix blocks included)
        self.shared = 0  # of which referenced from the prefix cache
        self.base = 0  # decoding: context = base + replica decode steps
        self.finish = -1  # decoding: the replica decode step at which it completes
        self.state = WAITING
        self.stall_from = -1.0  # preempted at this time (for the inter-token gap)


class BatchingReplica:
    """A vLLM-style replica on the event loop; `submit` hands it a request."""

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
    ) -> None:
        self.loop = loop
        self.rec = rec
        self.table = table
        self.pool = pool
        self.bs = pool.block_size
        self.max_seqs = max_num_seqs
        self.max_tokens = max_num_batched_tokens
        self.prefix_caching = prefix_caching
        self.waiting: deque[Seq] = deque()
        self.running: dict[int, Seq] = {}  # admission order; the last is preempted first
        self.prefilling: list[Seq] = []
        # (finish step, join number, seq): a sequence preempted and joining again gets a new
        # entry; the old one is skipped as stale (its step no longer matches `seq.finish`)
        self.finishing: list[tuple[int, int, Seq]] = []
        self.joins = 0
        self.hist = [0] * self.bs  # decoding sequences by (context - steps) mod block size
        self.b = 0  # decoding sequences
        self.sum_base = 0  # sum of their `base`
        self.steps = 0  # decode steps so far
        self.outstanding = 0  # requests submitted and not finished
        self.watch: Callable[[], None] | None = None  # told when `outstanding` goes down
        self.phase = _IDLE
        self.epoch = 0
        self.t0 = 0.0  # start of the iteration or run in flight
        self.k = 0  # decode steps in the run in flight
        self.first = 0.0  # its first step time and per-step increase
        self.slope = 0.0
        self.chunks: list[tuple[Seq, int]] = []  # prefill chunks of the mixed iteration

    # -- KV block boundaries of the decoding sequences ----------------------------------------
    def _new_blocks(self, k: int) -> int:
        """Blocks the decoding sequences need for their next k tokens."""
        bs = self.bs
        m, q = divmod(k, bs)
        n = self.b * m
        if q:
            hist, s = self.hist, self.steps
            for r in range(q):  # a sequence with r free slots needs a block at step r + 1
                n += hist[(-r - s) % bs]
        return n

    def _max_steps(self, avail: int) -> int:
        """Most decode steps the decoding sequences can take with `avail` blocks."""
        b, bs = self.b, self.bs
        m, rem = divmod(avail, b)
        hist, s = self.hist, self.steps
        for r in range(bs):
            rem -= hist[(-r - s) % bs]
            if rem < 0:
                return m * bs + r
        return m * bs + bs - 1  # not reached: rem < b

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
    ) -> None:
        """A request arrives at `now`. `horizon`: no other event can reach this replica before
        that time (the next arrival or sample), so the step boundary where the request joins
        may be handled at once instead of as an event of its own."""
        pblocks = ptok // self.bs if (pid >= 0 and self.prefix_caching) else 0
        self.waiting.append(Seq(rid, now, tokens_in, out, pid, pblocks))
        self.outstanding += 1
        if self.phase == _IDLE:
            self._next(now)
        elif self.phase == _DECODE and len(self.running) < self.max_seqs:
            # the request joins at the end of the decode step in flight, not of the whole run
            t0 = self.t0
            if now < t0:  # in the prefill iteration that leads the run
                j, t = 0, t0
            else:
                j = steps_to_reach(self.first, self.slope, now - t0)
                t = t0 + run_time_s(self.first, self.slope, j)
            if j < self.k:
                self.k = j
                self.epoch += 1
                if t < horizon:  # the run ends before anything else can happen: end it now
                    if j:
                        self._advance(j, t - t0, t)  # no completion: j < steps to the first
                    self._next(t)
                else:
                    self.loop.schedule(t, PRIORITY_STEP, self._on_end, self.epoch)

    def _finish(self, s: Seq, now: float, blocks: int) -> None:
        self.pool.give(blocks - s.shared)
        if s.shared:
            self.pool.release(s.pid, s.shared)
        del self.running[s.rid]
        self.outstanding -= 1
        if self.watch is not None:
            self.watch()
        self.rec.done(now, s.rid, s.arrival, s.sched, s.first, s.tokens_in, s.out)

    def _leave_decode(self, s: Seq) -> int:
        """Take a decoding sequence out of the decode set; returns the blocks it holds."""
        self.b -= 1
        self.sum_base -= s.base
        self.hist[s.base % self.bs] -= 1
        s.finish = -1
        ctx = s.base + self.steps
        return -(-ctx // self.bs)

    def _preempt(self, now: float) -> None:
        """Recompute preemption of the most recently admitted running sequence."""
        rid = next(reversed(self.running))
        s = self.running.pop(rid)
        if s.state == DECODING:
            blocks = self._leave_decode(s)
        else:
            self.prefilling.remove(s)
            blocks = s.held
        self.pool.give(blocks - s.shared)
        if s.shared:
            self.pool.release(s.pid, s.shared)
        s.prompt = s.tokens_in + s.gen
        s.done = s.held = s.shared = 0
        s.state = WAITING
        s.stall_from = now if s.gen else -1.0
        self.waiting.appendleft(s)
        self.rec.preemptions += 1

    # -- the scheduler -------------------------------------------------------------------------
    def _next(self, now: float) -> None:
        """Plan the iteration (or run of decode steps) that starts at `now`."""
        pool, bs = self.pool, self.bs
        reserve = 0
        if self.b:
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
        fin = self.finishing
        while fin[0][2].finish != fin[0][0]:
            heapq.heappop(fin)
        steps = self.steps
        first, slope, kink = self.table.decode_run(b, (self.sum_base + b * steps) / b)
        k = fin[0][0] - steps
        if kink < k:
            k = kink
        avail = pool.free + pool.idle
        if avail < b * (-(-k // bs)):
            k = min(k, self._max_steps(avail))
        self.phase, self.t0, self.k, self.first, self.slope = _DECODE, now, k, first, slope
        self.epoch += 1
        self.loop.schedule(
            now + k * first + slope * k * (k - 1) * 0.5, PRIORITY_STEP, self._on_end, self.epoch
        )

    def _mixed(self, now: float, reserve: int) -> bool:
        """Schedule an iteration with prefill chunks if any can run; False if none can."""
        pool, bs = self.pool, self.bs
        budget = self.max_tokens - self.b
        chunks: list[tuple[Seq, int]] = []
        for s in self.prefilling:
            if budget <= 0:
                break
            n = min(s.prompt - s.done, budget)
            need = -(-(s.done + n) // bs) - s.held
            if need > pool.free + pool.idle - reserve:
                break
            pool.take(need)
            s.held += need
            chunks.append((s, n))
            budget -= n
        waiting, running, rec = self.waiting, self.running, self.rec
        while waiting and budget > 0 and len(running) < self.max_seqs:
            s = waiting[0]
            hit = 0
            refs = None
            if s.pblocks:
                refs = pool.peek(s.pid, s.pblocks)
                if refs is not None:
                    hit = s.pblocks
            done = hit * bs
            n = min(s.prompt - done, budget)
            need = -(-(done + n) // bs) - hit
            extra = hit if (hit and refs == 0) else 0  # an idle cached prefix comes back in use
            if pool.free + pool.idle - need - reserve - extra < pool.watermark_blocks:
                break  # vLLM's watermark: keep room for the running sequences to grow
            waiting.popleft()
            if hit:
                pool.lookup(s.pid, hit)
                rec.prefix_hit_tokens += done
            if need <= pool.free:
                pool.free -= need
                pool.used += need
            else:
                pool.take(need)
            s.shared, s.done, s.held = hit, done, hit + need
            s.state = PREFILLING
            if s.sched < 0:
                s.sched = now
            running[s.rid] = s
            self.prefilling.append(s)
            chunks.append((s, n))
            budget -= n
        if not chunks:
            return False
        p = pc = 0.0
        for s, n in chunks:
            p += n
            pc += n * (s.done + 0.5 * n)
        b = self.b
        c = (self.sum_base + b * self.steps) / b if b else 0.0
        dt = self.table.step_s(b, c, p, pc / p)
        self.chunks = chunks
        if not waiting and self._quiet_end(chunks):
            # Nothing can happen at the end of this iteration but what it planned: apply its
            # end now and plan the decode run after it in the same event. An arrival during
            # it cuts the run back to this iteration (see `submit`).
            t1 = now + dt
            if b:
                self._advance(1, dt, t1)
            self._end_chunks(t1)
            if self.hist[-self.steps % bs] <= pool.free + pool.idle:
                self._run(t1)
                return True
            self.phase, self.t0, self.k = _DECODE, t1, 0
        else:
            self.phase, self.t0 = _MIXED, now
        self.epoch += 1
        self.loop.schedule(now + dt, PRIORITY_STEP, self._on_end, self.epoch)
        return True

    def _quiet_end(self, chunks: list[tuple[Seq, int]]) -> bool:
        """True if every chunk completes its prompt, no sequence finishes at the end of the
        iteration and none is left to prefill."""
        for s, n in chunks:
            if s.done + n < s.prompt or s.gen + 1 >= s.out:
                return False
        fin = self.finishing
        if self.b:
            while fin[0][2].finish != fin[0][0]:
                heapq.heappop(fin)
            if fin[0][0] <= self.steps + 1:
                return False
        return True

    def _on_end(self, now: float, epoch: int) -> None:
        if epoch != self.epoch:
            return  # a run cut short by an arrival
        if self.phase == _MIXED:
            if self.b:
                self._advance(1, now - self.t0, now)
            self._end_chunks(now)
        elif self.k:
            self._advance(self.k, now - self.t0, now)
        self._next(now)

    def _advance(self, k: int, dt: float, now: float) -> None:
        """k decode steps of all decoding sequences ended at `now`, taking `dt` seconds."""
        b = self.b
        new = self.hist[-self.steps % self.bs] if k == 1 else self._new_blocks(k)
        if new:
            self.pool.take(new)
        self.steps = steps = self.steps + k
        rec = self.rec
        rec.itl_s.append(dt / k)
        rec.itl_w.append(b * k)
        fin = self.finishing
        while fin and fin[0][0] <= steps:
            f, _join, s = heapq.heappop(fin)
            if s.finish == f:
                self._finish(s, now, self._leave_decode(s))

    def _end_chunks(self, now: float) -> None:
        rec, bs, pool = self.rec, self.bs, self.pool
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
            self.prefilling.remove(s)
            s.gen += 1
            if s.first < 0:
                s.first = now
            if s.stall_from >= 0:
                rec.itl_s.append(now - s.stall_from)
                rec.itl_w.append(1.0)
                s.stall_from = -1.0
            if s.gen >= s.out:
                self._finish(s, now, s.held)
                continue
            s.state = DECODING
            s.base = s.done - self.steps
            s.finish = self.steps + s.out - s.gen
            self.hist[s.base % bs] += 1
            self.b += 1
            self.sum_base += s.base
            self.joins += 1
            heapq.heappush(self.finishing, (s.finish, self.joins, s))
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
