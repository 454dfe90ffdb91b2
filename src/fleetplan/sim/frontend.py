"""The engine's API server in front of a replica: one serial server that takes each request in
before the engine sees it and streams every output token to the client after the engine made it.

An OpenAI-compatible server handles its requests in one process, one piece of work after
another (vLLM V1: one API-server process per engine unless `--api-server-count` says otherwise;
SGLang: the tokenizer manager; `trtllm-serve`: its main process, which detokenizes unless
`--num_postprocess_workers` is set). Its work comes in two kinds, charged on one clock in the
order they become ready:

- taking a request in (HTTP and JSON, the chat template, tokenization, the request's setup):
  `api_server_ms_per_request` (engines.toml). The request reaches the engine's queue when the
  server has done it (plus `api_server_latency_ms`, time on the way that does not hold the
  server: the hops between processes; `EngineProfile.server_latency_ms` adds the chat
  template's part where the server renders the model's prompt from it). Where the profile
  says so (`api_server_queued_hand_off`), the hand-off to the engine waits in line: vLLM's
  API server is one asyncio event loop that renders the chat
  template in the request's coroutine, then awaits the tokenizer's thread
  (`AsyncMicrobatchTokenizer`, vLLM 0.10-0.11 `OpenAIServing._preprocess_chat`,
  https://github.com/vllm-project/vllm/blob/v0.11.0/vllm/entrypoints/openai/serving_engine.py),
  and the coroutine resumes (and sends the request to the engine core) after the callbacks
  queued before it: the intake of the requests that came in meanwhile, the tokens of the
  steps that ended meanwhile. So a burst of N requests reaches the engine when the server
  has taken the N-th in, N times the per-request time after it came: GPUStack's 984
  requests of 128 tokens to Qwen3-235B on vLLM 0.11 had their first tokens between ~5.2 and
  5.8 s (mean 5.62 s, p99 5.80 s, the run 6.11 s; engine steps of ~0.1 s), not spread over
  the intake (https://github.com/gpustack/gpustack/blob/10e9444a07c73556f2ef0d10d2b2766bbf54c9c0/docs/performance-lab/qwen3-235b-a22b/h100.md).
  Otherwise a request reaches the engine when its own intake is done;
- streaming an output token (detokenization and its server-sent event):
  `api_server_us_per_output_token` per token, for the tokens of every engine step as the step
  ends. The client sees a token when the server has sent it: a server that sends 15,000 tokens
  a second serves each of 1,000 streams a token every ~65 ms, whatever the engine's step.

The engine does not wait for the server (its outputs queue up: vLLM V1's engine core, SGLang's
scheduler and TensorRT-LLM's executor run in processes of their own). What the client measures
comes from the server's times: TTFT to the first token sent, TPOT between the first and the
last, a request's end (and the next request of a closed-loop user) at its last token sent.
The tokens of a step are streamed as one batch, in the order the replica reports them; the
order among the requests of one step is not modelled, nor the per-step inter-token latency as
the client sees it (ITL stays the engine's).
"""

from __future__ import annotations

from collections.abc import Callable

from fleetplan.sim.batching import BatchingReplica
from fleetplan.sim.engine import PRIORITY_ARRIVAL, PRIORITY_STEP, EventLoop
from fleetplan.sim.metrics import Recorder


class Frontend:
    """A replica behind its API server. `s_per_request`: serial seconds to take a request in;
    `s_per_token`: serial seconds to stream one output token; `latency_s`: seconds a request
    takes to reach the engine after the server took it in, without holding the server;
    `queued_hand_off`: the server hands a request over only after the work queued on it by
    the time its intake is done."""

    def __init__(
        self,
        loop: EventLoop,
        inner: BatchingReplica,
        rec: Recorder,
        s_per_request: float,
        s_per_token: float,
        latency_s: float = 0.0,
        queued_hand_off: bool = False,
    ) -> None:
        if not (s_per_request >= 0 and s_per_token >= 0 and latency_s >= 0):
            raise ValueError(
                f"s_per_request = {s_per_request}, s_per_token = {s_per_token}, latency_s = "
                f"{latency_s}: expected >= 0"
            )
        self.loop = loop
        self.inner = inner
        self.rec = rec
        self.s_req = s_per_request
        self.s_tok = s_per_token
        self.latency = latency_s
        self.queued = queued_hand_off and s_per_request > 0
        self.free_at = 0.0  # when the server has done all the work handed to it so far
        self.held = 0  # requests in the server, not yet in the replica
        self.sending = 0  # requests the replica finished whose last token is not sent yet
        inner.delivery = self

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
        if self.held or self.sending:
            raise RuntimeError(
                f"API server not drained: {self.held} requests held, {self.sending} streaming"
            )
        self.inner.check_drained()

    # -- taking requests in -------------------------------------------------------------------
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
        done the work before it and taken it in, and the hop to the engine is made."""
        taken = (self.free_at if self.free_at > now else now) + self.s_req
        self.free_at = taken
        enter = taken + self.latency
        if enter <= now:  # nothing to do: an idle server with no per-request time
            # `horizon` holds for the replica only if no request of the server's is due first
            self.inner.submit(now, rid, tokens_in, out, pid, ptok, -1.0 if self.held else horizon)
            return
        self.held += 1
        req = (now, rid, tokens_in, out, pid, ptok)
        if self.queued:  # its hand-off waits in line behind the work queued by then
            self.loop.schedule(taken, PRIORITY_ARRIVAL, self._hand_off, req)
        else:
            self.loop.schedule(enter, PRIORITY_ARRIVAL, self._enter, req)

    def _hand_off(self, t: float, req: tuple[float, int, int, int, int, int]) -> None:
        """The request's intake is done at `t`; the server hands it to the engine after the
        work queued before this moment (the intake of the requests that came in meanwhile, the
        tokens of the steps that ended meanwhile)."""
        start = self.free_at if self.free_at > t else t
        self.loop.schedule(start + self.latency, PRIORITY_ARRIVAL, self._enter, req)

    def _enter(self, t: float, req: tuple[float, int, int, int, int, int]) -> None:
        arrival, rid, tokens_in, out, pid, ptok = req
        self.held -= 1
        self.inner.submit(t, rid, tokens_in, out, pid, ptok, -1.0, arrival)

    # -- streaming tokens out ------------------------------------------------------------------
    def send(self, t0: float, t1: float, tokens: int) -> float:
        """`tokens` output tokens made evenly over [t0, t1]: when the server has sent the last
        of them (one token's time after `t1` if it keeps up)."""
        start = self.free_at if self.free_at > t0 else t0
        end = start + tokens * self.s_tok
        last = t1 + self.s_tok
        self.free_at = end if end > last else last
        return self.free_at

    def finished(
        self,
        now: float,
        rid: int,
        arrival: float,
        sched: float,
        first_sent: float,
        tokens_in: int,
        out: int,
        last_sent: float,
    ) -> None:
        """The replica finished request `rid` at `now`; the client has it at `last_sent`."""
        row = (rid, arrival, sched, first_sent, tokens_in, out)
        if last_sent <= now:
            self.rec.done(now, *row)
            return
        self.sending += 1
        self.loop.schedule(last_sent, PRIORITY_STEP, self._sent, row)

    def _sent(self, t: float, row: tuple[int, float, float, float, int, int]) -> None:
        self.sending -= 1
        self.rec.done(t, *row)
