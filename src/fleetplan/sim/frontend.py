"""The engine's API server in front of a replica: a serial server that a request passes through
before it reaches the engine's queue.

An OpenAI-compatible server takes each request in one process, one after another: HTTP and
JSON parsing, the chat template, tokenization and the request's setup, then later the
detokenization and server-sent event of every output token (vLLM V1: one API-server process
per engine unless `--api-server-count` says otherwise; SGLang: the tokenizer manager).
Its work per request is modelled as `frontend_us_per_token` (engines.toml) times the request's
tokens, prompt and output. The prompt's share is done before the request reaches the engine,
so a request waits for every request taken in before it; the output's share (the streaming)
is charged to the server right after it, where it delays the requests that come next but not
the request's own first token — the server's capacity (requests a second) is right, the
timing of the streaming within a request's life is not replayed.

Under a burst (N requests sent at once) the k-th request reaches the engine only after the
server took in the k - 1 before it, which is what TTFT of a 1,000-request burst on one GPU
measures when the prefills themselves take well under a second.
"""

from __future__ import annotations

from collections.abc import Callable

from fleetplan.sim.batching import BatchingReplica
from fleetplan.sim.engine import PRIORITY_ARRIVAL, EventLoop


class Frontend:
    """A replica behind its API server; submits reach the replica when the server has taken
    them in. `s_per_token`: serial seconds per token of a request (prompt and output)."""

    def __init__(self, loop: EventLoop, inner: BatchingReplica, s_per_token: float) -> None:
        if s_per_token <= 0:
            raise ValueError(f"s_per_token = {s_per_token}: expected > 0")
        self.loop = loop
        self.inner = inner
        self.s = s_per_token
        self.free_at = 0.0  # when the server has done all the work handed to it so far
        self.held = 0  # requests in the server, not yet in the replica

    @property
    def outstanding(self) -> int:
        return self.inner.outstanding + self.held

    @property
    def watch(self) -> Callable[[], None] | None:
        return self.inner.watch

    @watch.setter
    def watch(self, fn: Callable[[], None] | None) -> None:
        self.inner.watch = fn

    @property
    def queue_len(self) -> int:
        return self.inner.queue_len + self.held

    @property
    def running_len(self) -> int:
        return self.inner.running_len

    def kv_used(self) -> float:
        return self.inner.kv_used()

    def check_drained(self) -> None:
        if self.held:
            raise RuntimeError(f"API server not drained: {self.held} requests held")
        self.inner.check_drained()

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
        """A request reaches the server at `now`; it reaches the replica once the server has
        worked through what came before it and through its prompt."""
        enter = (now if now > self.free_at else self.free_at) + self.s * tokens_in
        self.free_at = enter + self.s * out
        self.held += 1
        self.loop.schedule(
            enter, PRIORITY_ARRIVAL, self._enter, (now, rid, tokens_in, out, pid, ptok)
        )

    def _enter(self, t: float, req: tuple[float, int, int, int, int, int]) -> None:
        arrival, rid, tokens_in, out, pid, ptok = req
        self.held -= 1
        self.inner.submit(t, rid, tokens_in, out, pid, ptok, -1.0, arrival)
