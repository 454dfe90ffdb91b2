"""The engine's API server in front of a replica: a serial server that a request passes through
before it reaches the engine's queue.

An OpenAI-compatible server handles every request in one process, one after another: HTTP and
JSON, tokenization and the request's setup when it arrives, then the detokenization and
server-sent event of every output token (vLLM V1: one API-server process per engine unless
`--api-server-count` says otherwise). Streaming is most of that work at high concurrency:
sending every 10th token instead of every token gave vLLM 57 % more end-to-end throughput with
gpt-oss-20b at 1,024 concurrent requests (https://github.com/vllm-project/vllm/pull/27869,
https://blog.vllm.ai/2026/02/01/gpt-oss-optimizations.html). So the server's work per request
is modelled as `api_server_us_per_output_token` (engines.toml) times its output tokens.

The model keeps the server's capacity (requests a second, as measured) and its queue, not the
timing of the streaming within a request's life: a request's streaming is charged to the
server when the server takes the request in, where it delays the requests that arrive after
it, not the request's own first token. Under a burst (N requests sent at once) the k-th request
reaches the engine after the server has worked through the k - 1 before it.
"""

from __future__ import annotations

from collections.abc import Callable

from fleetplan.sim.batching import BatchingReplica
from fleetplan.sim.engine import PRIORITY_ARRIVAL, EventLoop


class Frontend:
    """A replica behind its API server; a request reaches the replica when the server has done
    the work charged before it. `s_per_token`: serial seconds per output token."""

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
        """A request reaches the server at `now`: an idle server hands it on at once, a busy
        one once the work charged before it is done; its own streaming is charged after."""
        if now >= self.free_at:
            self.free_at = now + self.s * out
            self.inner.submit(now, rid, tokens_in, out, pid, ptok, horizon)
            return
        enter = self.free_at
        self.free_at = enter + self.s * out
        self.held += 1
        req = (now, rid, tokens_in, out, pid, ptok)
        self.loop.schedule(enter, PRIORITY_ARRIVAL, self._enter, req)

    def _enter(self, t: float, req: tuple[float, int, int, int, int, int]) -> None:
        arrival, rid, tokens_in, out, pid, ptok = req
        self.held -= 1
        self.inner.submit(t, rid, tokens_in, out, pid, ptok, -1.0, arrival)
