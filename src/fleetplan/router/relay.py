"""One attempt at one provider, and the relay of a committed stream to the client.

The provider's timeouts start when its request is sent (never while the request waited for the
gateway), and only upstream faults are caught around the upstream call: a bug in the gateway is
a 500 of its own, never a failure charged to a healthy provider's circuit.

Once an upstream has committed (a non-streamed response's headers, or a stream's first event),
nothing is retried elsewhere — the request may have been generated in full — and what goes
wrong after that is the client's to see as an error: a malformed chunk, an error event, a stall
or a cut stream ends the stream with an error event and is logged as 502, never as 200.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp

from fleetplan.router.json_codec import loads
from fleetplan.router.key_admission import settle_key
from fleetplan.router.record import Ctx, finish
from fleetplan.router.upstream import (
    AttemptFailed,
    Event,
    close,
    finish_body,
    read_json,
    send,
    sse_batches,
    sse_events,
    upstream_request,
)

if TYPE_CHECKING:
    from fleetplan.router.config import Provider
    from fleetplan.router.gateway import Gateway, Lease

logger = logging.getLogger("fleetplan.router")
_UPSTREAM_FAULTS = (TimeoutError, aiohttp.ClientError, AttemptFailed)


def _json_response(raw: bytes, status: int = 200) -> Any:
    from starlette.responses import Response

    return Response(raw, status, media_type="application/json")


def error_body(message: str, kind: str, code: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


async def attempt(
    gw: Gateway, ctx: Ctx, p: Provider, lease: Lease, path: str, body: dict[str, Any], strip: bool
) -> Any:
    """Send to `p` and return the client's response; raise AttemptFailed to try another."""
    t = p.timeouts
    adapter = gw.adapter(p)
    out = adapter.request(p, path, body) if adapter else upstream_request(p, path, body)
    t_sent = time.perf_counter()  # the upstream's clock starts here
    first_wait_s = t.first_token_s if ctx.stream else t.first_byte_s
    resp = await send(gw.client, out, min(first_wait_s, t.total_s))
    if not ctx.stream:
        # headers are in: the upstream committed. What fails now is final (not retried).
        try:
            left = max(0.001, t.total_s - (time.perf_counter() - t_sent))
            raw, usage = await read_json(resp, left, adapter)
        except AttemptFailed as exc:
            await gw.breaker.failure(p.name)
            gw.metrics.errors.labels(p.name, exc.reason.split(":")[0]).inc()
            await gw.release(lease, 0)
            ctx.provider, ctx.status = p, 502
            ctx.error = gw.redact(
                f"upstream {p.name} failed while sending its response ({exc.reason}); "
                "not retried, as it may have generated it"
            )
            return gw.error_response(502, ctx.error, "upstream_error", "upstream_failed")
        total_s = time.perf_counter() - t_sent
        ctx.provider, ctx.status, ctx.usage = p, 200, usage
        gw.note_complete(p.name, total_s, usage.output_tokens)
        await gw.release(lease, usage.input_tokens + usage.output_tokens, healthy=True)
        return _json_response(raw)
    batches = _one_by_one(adapter.stream(sse_events(resp), body)) if adapter else sse_batches(resp)
    try:
        async with asyncio.timeout(t.first_token_s):
            first = await anext(batches)
    except (StopAsyncIteration, *_UPSTREAM_FAULTS) as exc:
        close(resp)
        raise AttemptFailed(
            f"stream failed before its first event ({type(exc).__name__})"
        ) from None
    ctx.ttft_s = time.perf_counter() - t_sent
    gw.note_ttft(p.name, ctx.ttft_s)
    ctx.provider, ctx.relayed = p, True
    return RelayResponse(Relay(gw, ctx, p, lease, resp, batches, first, t_sent, strip))


async def _one_by_one(events: AsyncIterator[Event]) -> AsyncIterator[list[Event]]:
    async for event in events:
        yield [event]


_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/event-stream; charset=utf-8")],
}
_DRAIN_S = 2.0  # after [DONE]: how long the rest of the upstream's body may take


class Relay:
    """A committed stream: its events to the client, then exactly one ending.

    The relay runs in the request's own task and writes the first event as soon as it has it
    (no task is started before the first chunk goes out). Events that arrived together go out in
    one write. The upstream's idle and total timeouts share one timer per stream, re-armed when
    it comes due rather than set and cancelled on every event; it and the client's disconnect
    cancel the relay only while it waits for the upstream."""

    def __init__(
        self,
        gw: Gateway,
        ctx: Ctx,
        p: Provider,
        lease: Lease,
        resp: Any,
        batches: AsyncIterator[list[Event]],
        first: list[Event],
        t_sent: float,
        strip_usage: bool,
    ) -> None:
        self.gw, self.ctx, self.p, self.lease = gw, ctx, p, lease
        self.resp, self.batches, self.first = resp, batches, first
        self.t_sent, self.strip_usage = t_sent, strip_usage
        self.ended = False
        self.out: list[bytes] = []  # events checked and not yet written
        self.last: float | None = None  # when the previous event arrived (loop time)
        self.task: asyncio.Task[Any] | None = None
        self.reading_since: float | None = None  # loop time; None while not reading upstream
        self.cancelled_for: str | None = None  # "timeout" or "client", once one cancelled us
        self.upstream_open = True
        gw.upstream_streams += 1

    def release_upstream(self) -> None:
        """Done with the upstream's response (its connection pooled if it was read to the end)."""
        if self.upstream_open:
            self.upstream_open = False
            self.gw.upstream_streams -= 1
            close(self.resp)

    async def end(self, status: int, error: str = "") -> None:
        """Settle limits, breaker, log and metrics — before the last chunk goes out."""
        if self.ended:
            return
        self.ended = True
        ctx, gw = self.ctx, self.gw
        if ctx.status == 0:
            ctx.status, ctx.error = status, error
        try:
            u = ctx.usage
            await gw.release(self.lease, u.input_tokens + u.output_tokens, ctx.status == 200)
        finally:
            gw.admission.release()
            await settle_key(gw, ctx)
            finish(gw, ctx)

    def _fail(self, reason: str) -> bytes:
        ctx = self.ctx
        ctx.status = 502
        ctx.error = self.gw.redact(
            f"upstream {self.p.name} failed mid-stream after {ctx.usage.chunks} chunks "
            f"({reason}); the response is incomplete and was not retried"
        )
        return _sse(error_body(ctx.error, "upstream_error", "stream_cut"))

    def _take(self, batch: list[Event], arrived: float) -> bool:
        """Check and account for events that arrived together, queueing those to relay in
        `out`; True once `[DONE]` is among them (what follows it is dropped)."""
        usage, out, name = self.ctx.usage, self.out, self.p.name
        for raw, data in batch:
            if self.last is not None:
                self.gw.note_itl(name, arrived - self.last)
            self.last = arrived
            if data is None:
                continue
            if data[:1] != "{" and data.strip() == "[DONE]":
                out.append(raw)
                return True
            try:  # every chunk is parsed in full: one cut short or malformed ends the stream
                obj = loads(data)
            except ValueError:
                raise AttemptFailed("a chunk that is not JSON") from None
            if not isinstance(obj, dict) or "error" in obj:
                what = obj.get("error") if isinstance(obj, dict) else obj
                raise AttemptFailed(f"an error event: {str(what)[:200]}")
            if "usage" in obj:
                usage.take(obj)
            is_usage_only = obj.get("choices") == []
            if not is_usage_only:
                usage.chunks += 1
            if not (self.strip_usage and is_usage_only and obj.get("usage")):
                out.append(raw)
        return False

    def _body(self, extra: bytes = b"") -> bytes:
        body = b"".join(self.out) + extra
        self.out.clear()
        return body

    async def _next(self, loop: asyncio.AbstractEventLoop, end_at: float) -> list[Event] | None:
        """The upstream's next events (None at its end); TimeoutError past a deadline."""
        if loop.time() >= end_at:
            raise TimeoutError
        self.reading_since = loop.time()
        try:
            return await anext(self.batches, None)
        except asyncio.CancelledError:
            if self.cancelled_for is None or self.task is None:
                raise  # not ours: the server is stopping
            self.task.uncancel()
            if self.cancelled_for == "client":
                return None
            raise TimeoutError from None
        finally:
            self.reading_since = None

    async def run(self, send: Any, receive: Any) -> None:
        """Relay the stream to the client; end it exactly once, however it goes."""
        ctx, gw, p = self.ctx, self.gw, self.p
        t = p.timeouts
        loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        end_at = loop.time() + t.total_s - (time.perf_counter() - self.t_sent)
        deadline = _Deadline(self, loop, t.idle_s, end_at)
        watcher: asyncio.Task[None] | None = None
        batch = self.first
        try:
            await send(_START)
            while True:
                if self._take(batch, loop.time()):
                    await self.end(200)
                    await send({"type": "http.response.body", "body": self._body()})
                    deadline.cancel()
                    await finish_body(self.resp, _DRAIN_S)  # the connection back to the pool
                    return
                if self.out:
                    body = self._body()
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                if watcher is None:  # after the first chunk went out, not before
                    watcher = asyncio.create_task(self._watch_client(receive))
                if self.cancelled_for == "client":
                    return
                got = await self._next(loop, end_at)
                if got is None:
                    if self.cancelled_for == "client":
                        return
                    raise AttemptFailed("upstream closed the stream before [DONE]")
                batch = got
        except _UPSTREAM_FAULTS as exc:
            reason = exc.reason if isinstance(exc, AttemptFailed) else type(exc).__name__
            chunk = self._fail(reason)
            gw.metrics.errors.labels(p.name, "mid-stream").inc()
            await gw.breaker.failure(p.name)
            await self.end(502)
            await send({"type": "http.response.body", "body": self._body(chunk)})
        except Exception:  # a gateway bug: the client gets an error, the provider no blame
            logger.exception("gateway error while relaying a stream from %s", p.name)
            ctx.status, ctx.error = 500, "gateway error while relaying the stream"
            await self.end(500)
            err = error_body(ctx.error, "server_error", "gateway_error")
            await send({"type": "http.response.body", "body": self._body(_sse(err))})
        finally:
            deadline.cancel()
            if watcher is not None:
                watcher.cancel()
            self.release_upstream()
            await self.end(499, "client closed the stream")

    async def _watch_client(self, receive: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if self.reading_since is not None and self.cancelled_for is None and self.task:
            self.cancelled_for = "client"
            self.task.cancel()
        elif self.cancelled_for is None:
            self.cancelled_for = "client"  # seen after the next write or read


class _Deadline:
    """A stream's idle and total timeouts on one timer. It cancels the relay when the upstream
    has been silent `idle_s` (or past `end_at`) while the relay waits for it; otherwise it
    re-arms for the next moment that could be due."""

    def __init__(self, relay: Relay, loop: asyncio.AbstractEventLoop, idle_s: float, end_at: float):
        self.relay, self.loop, self.idle_s, self.end_at = relay, loop, idle_s, end_at
        self.handle = loop.call_at(min(loop.time() + idle_s, end_at), self._due)

    def _due(self) -> None:
        r, now = self.relay, self.loop.time()
        if r.cancelled_for is not None or r.task is None:
            return
        since = r.reading_since
        if since is None:  # writing to the client: not the upstream's time
            self.handle = self.loop.call_at(now + self.idle_s, self._due)
            return
        due = min(since + self.idle_s, self.end_at)
        if now + 0.001 >= due:
            r.cancelled_for = "timeout"
            r.task.cancel()
            return
        self.handle = self.loop.call_at(due, self._due)

    def cancel(self) -> None:
        self.handle.cancel()


def _sse(obj: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


class RelayResponse:
    """The ASGI response of a committed stream: its relay is ended even if it never ran."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.relay.run(send, receive)
        finally:
            self.relay.release_upstream()
            await self.relay.end(499, "client closed the stream")
