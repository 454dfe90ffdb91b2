"""A request inside a replica: its prompt, progress, KV blocks and timestamps."""

from __future__ import annotations

WAITING, PREFILLING, DECODING = 0, 1, 2


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
        "rank",
        "rid",
        "sched",
        "sent",
        "shared",
        "stall_from",
        "state",
        "tokens_in",
        "win",
    )

    def __init__(
        self, rid: int, arrival: float, tokens_in: int, out: int, pid: int, pblocks: int
    ) -> None:
        self.rid = rid
        self.arrival = arrival
        self.sched = -1.0  # first admitted
        self.first = -1.0  # first token
        self.sent = -1.0  # first token sent to the client (by the API server, if any)
        self.tokens_in = tokens_in
        self.prompt = tokens_in  # tokens to prefill (prompt + generated, after a preemption)
        self.out = out
        self.pid = pid
        self.pblocks = pblocks  # full blocks of its shared prefix (0: none)
        self.done = 0  # prompt tokens whose KV is computed
        self.gen = 0  # output tokens generated
        self.held = 0  # KV blocks covering `done` (shared prefix blocks included)
        self.shared = 0  # of which referenced from the prefix cache
        self.win = 0  # KV blocks of its sliding-window layers, held while admitted
        self.base = 0  # decoding: context = base + replica decode steps
        self.finish = -1  # decoding: the replica decode step at which it completes
        self.state = WAITING
        self.stall_from = -1.0  # preempted at this time (for the inter-token gap)
        self.rank = 0  # its data-parallel attention rank (sim/dp_ranks.py)
