"""Which (setup, batch) entries can tie in whole instances: an offer bills whole instances,
so entries needing different replica counts cost the same when those counts fill the same
number of instances. The search evaluates only entries that can still tie their setup's best
(`tie_reach`) and breaks the ties it finds by the tightest SLO target's share of its limit
(`fewest_instances`; `candidates.slo_share`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def tie_reach(sizes: list[set[int]]) -> Callable[[np.ndarray], np.ndarray]:
    """Per row, the most replicas whose whole instances of some offer (of the row's instance
    sizes) are no more than those of a count `best` (rows, 1): the largest multiple of a size
    at or above `best`. Unbounded where a row has a free offer (every count costs the same)."""
    big = np.iinfo(np.int64).max
    width = max((len(z) for z in sizes), default=0) or 1
    per = np.ones((len(sizes), width), dtype=np.int64)  # a size of 1 reaches `best` itself
    for i, z in enumerate(sizes):
        per[i, : len(z)] = sorted(z)
    free = (per == 0).any(axis=1, keepdims=True)
    per = np.maximum(per, 1)

    def reach(best: np.ndarray) -> np.ndarray:
        finite = np.minimum(best, big // 2)
        top = (per * -(-finite // per)).max(axis=1, keepdims=True)
        return np.where(free | (best >= big // 2), big, top)

    return reach


def fewest_instances(replicas: np.ndarray, meets: np.ndarray, sizes: list[set[int]]) -> np.ndarray:
    """Per instance size (replicas per instance; 0: a free offer), the entries of each row
    meeting the SLOs with the fewest whole instances of that size — those `cost_candidates`
    breaks the tie between by `candidates.slo_share` — as a stack (sizes, rows, batches)."""
    out = []
    for size in sorted(set().union(*sizes)):
        has = np.array([size in z for z in sizes])[:, None]
        if size == 0:
            out.append(meets & has)
            continue
        inst = np.where(meets, np.ceil(replicas / size - 1e-9), np.inf)
        out.append(meets & has & (inst == inst.min(axis=1, keepdims=True)))
    return np.array(out, dtype=bool).reshape(len(out), *replicas.shape)
