"""Data-parallel attention ranks that schedule on their own (SGLang `--enable-dp-attention`,
perf/dp_prefill.py): the replica deals each request to a rank round robin
(`BatchingReplica.submit`), each rank takes its own prefill budget a step (`RankBudget`, in
`Admission._take_chunks`), and a prefill step lasts as long as the rank that carries the most
prompt tokens (`busiest`, timed by `StepTable.dp_prefill_extra_s`)."""

from __future__ import annotations

from fleetplan.sim.sequence import Seq


class RankBudget:
    """The prefill tokens each rank has left in the step being planned."""

    __slots__ = ("left",)

    def __init__(self, ranks: int, tokens: int) -> None:
        self.left = [tokens] * ranks

    def room(self, s: Seq) -> int:
        return self.left[s.rank]

    def take(self, s: Seq, n: int) -> None:
        self.left[s.rank] -= n


def busiest(chunks: list[tuple[Seq, int]], ranks: int) -> tuple[float, float]:
    """(prompt tokens, their summed attended context) of the rank that carries the most
    prompt tokens in a step's chunks (`pc` as `BatchingReplica._mixed` sums it)."""
    tokens = [0.0] * ranks
    ctx = [0.0] * ranks
    for s, n in chunks:
        tokens[s.rank] += n
        ctx[s.rank] += n * (s.done + 0.5 * n)
    r = max(range(ranks), key=tokens.__getitem__)
    return tokens[r], ctx[r]
