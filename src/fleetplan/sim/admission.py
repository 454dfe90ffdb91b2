"""Which prompts an iteration of a replica carries, and who is preempted when the KV pool runs
out: the admission half of the replica's scheduler (`sim/batching.py` runs the iterations).

Each iteration, as vLLM V1 schedules it (other engines change the rule: `sim/policy.py`):

1. sequences part-way through their prompt get the next chunk of the `max_num_batched_tokens`
   budget (what the decoding sequences leave of it when prefill shares a step with decodes),
   in admission order;
2. waiting requests are admitted first come first served while there are `max_num_seqs`
   slots, token budget and KV blocks above the watermark (TensorRT-LLM's guaranteed-no-evict
   reserves a whole sequence's blocks at once, SGLang keeps room for the running requests'
   outputs and orders its queue longest cached prefix first); a cached shared prefix is not
   computed again;
3. when a decoding sequence finds no free block, the most recently admitted running sequence
   is preempted by recompute: its blocks are freed, it goes back to the head of the queue and
   later prefills its prompt plus the tokens generated so far. Where the replica caches
   prefixes, the blocks the engine keeps of it (`Policy.keeps_on_preemption`) stay cached,
   evictable, and are not computed again if they are still there when it is readmitted (the
   pool evicts them block by block, the tail first, as vLLM does).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from fleetplan.sim.decode_set import DecodeSet
from fleetplan.sim.dp_ranks import RankBudget
from fleetplan.sim.kv_pool import KEPT_IDS_FROM, KvPool
from fleetplan.sim.metrics import Recorder
from fleetplan.sim.policy import LPM_MAX_QUEUE, RATIO_INIT, Policy
from fleetplan.sim.sequence import DECODING, PREFILLING, WAITING, Seq


class Admission(DecodeSet):
    """The admission state of a replica: its queue, running and prefilling sequences, KV pool
    and the engine's admission rules (a `BatchingReplica` extends it)."""

    def __init__(
        self,
        rec: Recorder,
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
        super().__init__(pool.block_size, policy.admission == "reserve_full")
        # data-parallel attention ranks with schedulers of their own (sim/dp_ranks.py): each
        # takes `rank_tokens` prompt tokens a step; 0: the replica schedules as one
        self.ranks = attention_dp if rank_tokens else 1
        self.rank_tokens = rank_tokens
        self.dealt = 0  # requests dealt to the ranks so far (round robin)
        self.rec = rec
        self.pool = pool
        self.max_seqs = max_num_seqs
        self.max_tokens = max_num_batched_tokens
        self.prefix_caching = prefix_caching
        self.window_blocks = window_blocks  # sliding-window layers' blocks (`kv_pool`)
        self.no_watermark = policy.admission != "watermark"
        self.chunked, self.mixed, self.lpm = policy.chunked, policy.mixed, policy.lpm
        self.keeps = policy.keeps_on_preemption if prefix_caching else ""
        self.ratio = RATIO_INIT if policy.admission == "token_ratio" else -1.0
        self.prefill_out = 0  # output tokens still to come of the admitted, prefilling ones
        self.waiting: deque[Seq] = deque()
        self.running: dict[int, Seq] = {}  # admission order; the last is preempted first
        self.prefilling: list[Seq] = []

    def _take_chunks(self, now: float, reserve: int) -> list[tuple[Seq, int]]:
        """The prefill chunks of the iteration that starts at `now`: the prompts part-way
        through first, in admission order, then waiting requests admitted while the rules
        allow (their KV blocks taken). `reserve`: blocks the decoding sequences need for their
        next token. Empty if no chunk can run."""
        pool, bs = self.pool, self.bs
        mixed, chunked, full = self.mixed, self.chunked, self.reserve_full
        budget = self.max_tokens - self.b if mixed else self.max_tokens
        ranks = RankBudget(self.ranks, self.rank_tokens) if self.rank_tokens else None
        chunks: list[tuple[Seq, int]] = []
        for s in self.prefilling if self.prefilling else ():
            if budget <= 0:
                break
            n = min(s.prompt - s.done, budget)
            if ranks is not None:  # its rank's own budget; the other ranks go on
                n = min(n, ranks.room(s))
                if n <= 0:
                    continue
                ranks.take(s, n)
            if not chunked and n < s.prompt - s.done and chunks:
                break  # whole prompts only (one longer than a whole step is split)
            need = 0 if full else -(-(s.done + n) // bs) - s.held
            if need > pool.free + pool.idle - reserve:
                break
            if need:
                pool.take(need)
                s.held += need
            chunks.append((s, n))
            budget -= n
        waiting, running, rec = self.waiting, self.running, self.rec
        if self.lpm and 1 < len(waiting) <= LPM_MAX_QUEUE:
            self._longest_prefix_first()
        max_seqs, ratio, prefilling = self.max_seqs, self.ratio, self.prefilling
        floor = 0 if self.no_watermark else pool.watermark_blocks
        while waiting and budget > 0 and len(running) < max_seqs:
            s = waiting[0]
            hit = 0
            refs = None
            if self._cached_blocks(s):
                refs = pool.peek(s.pid, s.pblocks)
                if refs is not None:
                    hit = s.pblocks
            done = hit * bs
            n = min(s.prompt - done, budget)
            if ranks is not None:  # the head waits for its rank's next step
                n = min(n, ranks.room(s))
                if n <= 0:
                    break
            if not chunked and n < s.prompt - done and chunks:
                break
            if full:  # TensorRT-LLM guaranteed-no-evict: the whole sequence, reserved now
                need = -(-(s.prompt + s.out - s.gen) // bs) - hit + s.win
            else:
                need = -(-(done + n) // bs) - hit + s.win
            extra = hit if (hit and refs == 0) else 0  # an idle cached prefix comes back in use
            room = pool.free + pool.idle - need - reserve - extra
            if ratio >= 0:  # SGLang: keep room for the running requests' outputs
                room -= ratio * (self._remaining_out() + s.out - s.gen) / bs
            if room < floor:
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
            s.shared, s.done, s.held = hit, done, hit + need - s.win
            s.state = PREFILLING
            if s.sched < 0:
                s.sched = now
            running[s.rid] = s
            prefilling.append(s)
            self.prefill_out += s.out - s.gen
            chunks.append((s, n))
            budget -= n
            if ranks is not None:
                ranks.take(s, n)
        return chunks

    def _preempt(self, now: float) -> None:
        """Recompute preemption of the most recently admitted running sequence."""
        rid = next(reversed(self.running))
        s = self.running.pop(rid)
        if s.state == DECODING:
            computed = s.base + self.steps
            blocks = self._leave_decode(s)
        else:
            computed = s.done
            self.prefilling.remove(s)
            self.prefill_out -= s.out - s.gen
            blocks = s.held
        if self.ratio >= 0:  # SGLang retracts and becomes conservative again
            self.ratio = RATIO_INIT
        own = s.pid == _kept_id(s)  # blocks it kept when preempted before, found again
        if own and s.shared:  # they are its own blocks again, to keep with the rest
            self.pool.unpublish(s.pid, s.shared)
            s.shared = 0
        keep = 0
        if self.keeps and not s.shared and (own or not s.pblocks):
            tokens = computed if self.keeps == "all" else min(computed, s.tokens_in)
            # its last token is computed again (vLLM computes at least one token of a prompt
            # that the cache holds whole)
            keep = min(tokens, s.tokens_in + s.gen - 1) // self.bs
            keep = min(keep, blocks)
        self.pool.give(blocks - keep + s.win - s.shared)
        if s.shared:
            self.pool.release(s.pid, s.shared)
        if keep:  # cached, evictable, found again if still there when it is readmitted
            # (its id is its own: no entry of that id is left, the one it had is unpublished
            # above or was evicted)
            s.pid, s.pblocks = _kept_id(s), keep
            self.pool.publish(s.pid, keep)
            self.pool.release(s.pid, keep)
        s.prompt = s.tokens_in + s.gen
        s.done = s.held = s.shared = 0
        s.state = WAITING
        s.stall_from = now if s.gen else -1.0
        self.waiting.appendleft(s)
        self.rec.preemptions += 1

    def _cached_blocks(self, s: Seq) -> int:
        """The full blocks of a waiting sequence's prefix the cache may hold: its shared
        prefix's, or what it kept when preempted less what was evicted since."""
        if s.pid <= KEPT_IDS_FROM:
            s.pblocks = self.pool.kept(s.pid)
        return s.pblocks

    def _remaining_out(self) -> int:
        """Output tokens the admitted sequences have still to generate."""
        return self.sum_finish - self.b * self.steps + self.prefill_out

    def _longest_prefix_first(self) -> None:
        """SGLang's longest-prefix-match order: cached prefixes first, longest first, else
        arrival order (a stable sort)."""
        pool = self.pool

        def cached(s: Seq) -> int:
            if self._cached_blocks(s) and pool.peek(s.pid, s.pblocks) is not None:
                return -s.pblocks
            return 0

        order = sorted(self.waiting, key=cached)
        self.waiting.clear()
        self.waiting.extend(order)


def _kept_id(s: Seq) -> int:
    """The prefix-cache id of the blocks a preempted sequence keeps: from `KEPT_IDS_FROM` down,
    below the -1 of a request without a shared prefix, so that it meets no shared prefix's id."""
    return KEPT_IDS_FROM - s.rid
