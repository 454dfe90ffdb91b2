"""The decoding sequences of a replica, kept relative to its decode-step counter.

A run of k decode steps changes every decoding sequence the same way, so none is touched: a
sequence stores `base` (its context is base + steps) and `finish` (the step at which it
completes). Remaining tokens sit in a heap of finishing steps and the KV block boundaries in a
histogram of `(context - steps) mod block_size`, so the blocks a run needs and the steps a
number of free blocks allows are O(block_size) whatever the batch.
"""

from __future__ import annotations

import heapq

from fleetplan.sim.sequence import Seq


class DecodeSet:
    """State and KV-block arithmetic of the decoding sequences (a replica extends it)."""

    def __init__(self, block_size: int, reserve_full: bool) -> None:
        self.bs = block_size
        self.reserve_full = reserve_full  # blocks of whole sequences reserved at admission
        # (finish step, join number, seq): a sequence preempted and joining again gets a new
        # entry; the old one is skipped as stale (its step no longer matches `seq.finish`)
        self.finishing: list[tuple[int, int, Seq]] = []
        self.joins = 0
        self.hist = [0] * block_size  # decoding sequences by (context - steps) mod block size
        self.b = 0  # decoding sequences
        self.sum_base = 0  # sum of their `base`
        self.sum_finish = 0  # sum of their `finish`
        self.steps = 0  # decode steps so far

    def _new_blocks(self, k: int) -> int:
        """Blocks the decoding sequences need for their next k tokens."""
        bs = self.bs
        m, q = divmod(k, bs)
        n = self.b * m
        if q:  # a sequence with r free slots needs a block at step r + 1, r < q: the
            # histogram entries (-steps - r) mod bs, a circular slice ending at (-steps) mod bs
            hist, top = self.hist, -self.steps % bs
            low = top - q + 1
            if low >= 0:
                n += sum(hist[low : top + 1])
            else:
                n += sum(hist[: top + 1]) + sum(hist[bs + low :])
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

    def _join_decode(self, s: Seq) -> None:
        """A sequence whose prompt is computed (`s.done` tokens) starts decoding."""
        s.base = s.done - self.steps
        s.finish = self.steps + s.out - s.gen
        self.hist[s.base % self.bs] += 1
        self.b += 1
        self.sum_base += s.base
        self.sum_finish += s.finish
        self.joins += 1
        heapq.heappush(self.finishing, (s.finish, self.joins, s))

    def _leave_decode(self, s: Seq) -> int:
        """Take a decoding sequence out of the decode set; returns the blocks it holds."""
        self.b -= 1
        self.sum_base -= s.base
        self.sum_finish -= s.finish
        self.hist[s.base % self.bs] -= 1
        s.finish = -1
        if self.reserve_full:
            return s.held  # the whole reservation
        ctx = s.base + self.steps
        return -(-ctx // self.bs)

    def _next_finish(self) -> int:
        """The step at which the next decoding sequence completes (needs one decoding)."""
        fin = self.finishing
        while fin[0][2].finish != fin[0][0]:
            heapq.heappop(fin)
        return fin[0][0]
