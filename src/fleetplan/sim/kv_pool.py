"""The paged KV cache of one replica, as vLLM's block manager counts it.

Memory is `num_blocks` blocks of `block_size` tokens. A sequence holds ceil(tokens / block_size)
blocks; a new prompt is admitted only if the pool keeps `watermark` of its blocks free after
the allocation (vLLM's watermark, which leaves room for running sequences to grow). Prefix
caching: the full blocks of a shared prompt prefix are kept once and referenced by every
sequence that starts with it; when the last reference goes they stay cached, evictable
least-recently-used first, until memory is needed.

Sliding-window layers (gpt-oss, Gemma 2/3, ...) hold at most the window of a sequence's tokens,
as vLLM's hybrid KV-cache manager frees the blocks that slide out of the window: the pool's
token is then one token in the full-attention layers only, and a sequence also holds the
blocks of its window layers (`window_blocks`), reserved when it is admitted. Both come from
`perf.memory` (`kv_pool_tokens`, `kv_window_pool_tokens`), the memory model's own count, so
the sequences the pool admits at a context are the memory model's `max_concurrent_sequences`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

from fleetplan.catalog.specs import ModelSpec
from fleetplan.perf.memory import kv_pool_layers, kv_window_pool_tokens


def window_blocks(
    model: ModelSpec, block_size: int, swa_full_tokens_ratio: float = 0.0
) -> Callable[[int], int] | None:
    """Pool blocks the sliding-window layers of a sequence of n tokens hold (None: no window
    layers beside full ones, or they have a pool of their own, `swa_full_tokens_ratio` > 0,
    whose size the pool's token already pays for); a pool block is `block_size` tokens of
    `kv_pool_layers`."""
    if kv_pool_layers(model) == model.layers or swa_full_tokens_ratio > 0:
        return None

    def blocks(n: int) -> int:
        return math.ceil(kv_window_pool_tokens(model, n) / block_size)

    return blocks


# prefix ids from this one down are the blocks a preempted sequence keeps (sim/admission.py),
# which the pool evicts block by block, the tail first, as vLLM frees a request's blocks in
# reverse order onto the queue it evicts from; a shared prefix goes whole
KEPT_IDS_FROM = -2


class KvPool:
    __slots__ = (
        "_kept",
        "_prefixes",
        "block_size",
        "free",
        "idle",
        "num_blocks",
        "used",
        "watermark_blocks",
    )

    def __init__(self, num_blocks: int, block_size: int, watermark: float) -> None:
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.watermark_blocks = int(watermark * num_blocks)
        self.used = 0  # blocks held by sequences or referenced prefixes
        self.idle = 0  # blocks of cached prefixes nobody references (evictable)
        self.free = num_blocks
        # (prefix id, blocks) -> references; insertion order is the LRU order of idle entries
        self._prefixes: OrderedDict[tuple[int, int], int] = OrderedDict()
        self._kept: dict[int, int] = {}  # kept id -> blocks of its entry now

    def available(self) -> int:
        """Blocks an allocation can get: free ones plus evictable cached prefixes."""
        return self.free + self.idle

    def can_admit(self, blocks: int) -> bool:
        return self.free + self.idle - blocks >= self.watermark_blocks

    def take(self, blocks: int) -> bool:
        """Allocate `blocks`, evicting idle cached prefixes if needed; False if impossible."""
        if blocks > self.free:
            if blocks > self.free + self.idle:
                return False
            self._evict(blocks - self.free)
        self.free -= blocks
        self.used += blocks
        return True

    def give(self, blocks: int) -> None:
        self.used -= blocks
        self.free += blocks

    def _evict(self, need: int) -> None:
        for key in [k for k, refs in self._prefixes.items() if refs == 0]:
            pid, blocks = key
            del self._prefixes[key]
            if pid <= KEPT_IDS_FROM and blocks > need:  # its tail only; the rest stays first
                rest = (pid, blocks - need)
                self._prefixes[rest] = 0
                self._prefixes.move_to_end(rest, last=False)
                self._kept[pid] = blocks - need
                blocks = need
            else:
                self._kept.pop(pid, None)
            self.idle -= blocks
            self.free += blocks
            need -= blocks
            if need <= 0:
                return

    def kept(self, prefix_id: int) -> int:
        """Blocks still cached of what a preempted sequence kept (`KEPT_IDS_FROM`), 0 if none."""
        return self._kept.get(prefix_id, 0)

    # prefix caching ---------------------------------------------------------------------------
    def peek(self, prefix_id: int, blocks: int) -> int | None:
        """References of a cached prefix (0: cached but idle), None if not cached."""
        return self._prefixes.get((prefix_id, blocks))

    def lookup(self, prefix_id: int, blocks: int) -> bool:
        """Reference a cached prefix if present (a hit); its blocks are not allocated again."""
        key = (prefix_id, blocks)
        refs = self._prefixes.get(key)
        if refs is None:
            return False
        if refs == 0:
            self.idle -= blocks
            self.used += blocks
        self._prefixes[key] = refs + 1
        return True

    def publish(self, prefix_id: int, blocks: int) -> bool:
        """A sequence that computed its prefix hands those blocks to the cache (it keeps one
        reference). False if the prefix is cached already (the sequence keeps its copy)."""
        key = (prefix_id, blocks)
        if key in self._prefixes:
            return False
        self._prefixes[key] = 1
        if prefix_id <= KEPT_IDS_FROM:
            self._kept[prefix_id] = blocks
        return True

    def unpublish(self, prefix_id: int, blocks: int) -> None:
        """The only holder of a cached entry takes its blocks back as its own (still in use)."""
        del self._prefixes[(prefix_id, blocks)]
        self._kept.pop(prefix_id, None)

    def release(self, prefix_id: int, blocks: int) -> None:
        key = (prefix_id, blocks)
        refs = self._prefixes[key] - 1
        self._prefixes[key] = refs
        if refs == 0:
            self.used -= blocks
            self.idle += blocks
            self._prefixes.move_to_end(key)

    def check(self) -> None:
        """Raise RuntimeError if the block counts are inconsistent."""
        idle = sum(k[1] for k, r in self._prefixes.items() if r == 0)
        if (
            min(self.used, self.idle, self.free) < 0
            or self.used + self.idle + self.free != self.num_blocks
            or idle != self.idle
        ):
            raise RuntimeError(
                f"KV pool inconsistent: used {self.used}, idle {self.idle} (cached {idle}), "
                f"free {self.free}, total {self.num_blocks}"
            )
