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

from fleetplan.router.key_admission import settle_key
from fleetplan.router.record import Ctx, finish
from fleetplan.router.upstream import (
    AttemptFailed,
    close,
    read_json,
    send,
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
    events = sse_events(resp)
    if adapter:
        events = adapter.stream(events, body)
    try:
        async with asyncio.timeout(t.first_token_s):
            first = await anext(events)
    except (StopAsyncIteration, *_UPSTREAM_FAULTS) as exc:
        close(resp)
        raise AttemptFailed(
            f"stream failed before its first event ({type(exc).__name__})"
        ) from None
    ctx.ttft_s = time.perf_counter() - t_sent
    gw.note_ttft(p.name, ctx.ttft_s)
    ctx.provider, ctx.relayed = p, True
    relay = Relay(gw, ctx, p, lease, resp, events, first, t_sent, strip)
    return RelayResponse(relay)


class Relay:
    """A committed stream: its events to the client, then exactly one ending."""

    def __init__(
        self,
        gw: Gateway,
        ctx: Ctx,
        p: Provider,
        lease: Lease,
        resp: Any,
        events: AsyncIterator[tuple[bytes, str | None]],
        first: tuple[bytes, str | None],
        t_sent: float,
        strip_usage: bool,
    ) -> None:
        self.gw, self.ctx, self.p, self.lease = gw, ctx, p, lease
        self.resp, self.events, self.first = resp, events, first
        self.t_sent, self.strip_usage = t_sent, strip_usage
        self.ended = False

    async def end(self, status: int, error: str = "") -> None:
        """Settle limits, breaker, log and metrics — before the last chunk goes out."""
        if self.ended:
            return
        self.ended = True
        ctx, gw = self.ctx, self.gw
        if ctx.status == 0:
            ctx.status, ctx.error = status, error
        try:
            close(self.resp)
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
        err = error_body(ctx.error, "upstream_error", "stream_cut")
        return f"data: {json.dumps(err)}\n\n".encode()

    async def chunks(self) -> AsyncIterator[bytes]:
        ctx, gw, p = self.ctx, self.gw, self.p
        t = p.timeouts
        usage, last = ctx.usage, time.perf_counter()
        event: tuple[bytes, str | None] | None = self.first
        try:
            while event is not None:
                raw, data = event
                if data is not None and data.strip() == "[DONE]":
                    await self.end(200)
                    yield raw
                    return
                if data is not None:
                    try:
                        obj = json.loads(data)
                    except ValueError:
                        raise AttemptFailed("a chunk that is not JSON") from None
                    if not isinstance(obj, dict) or "error" in obj:
                        what = obj.get("error") if isinstance(obj, dict) else obj
                        raise AttemptFailed(f"an error event: {str(what)[:200]}")
                    usage.take(obj)
                    is_usage_only = obj.get("choices") == []
                    if not is_usage_only:
                        usage.chunks += 1
                    if not (self.strip_usage and is_usage_only and obj.get("usage")):
                        yield raw
                left = t.total_s - (time.perf_counter() - self.t_sent)
                async with asyncio.timeout(max(0.0, min(t.idle_s, left))):
                    event = await anext(self.events, None)
                now = time.perf_counter()
                gw.note_itl(p.name, now - last)
                last = now
            raise AttemptFailed("upstream closed the stream before [DONE]")
        except _UPSTREAM_FAULTS as exc:
            reason = exc.reason if isinstance(exc, AttemptFailed) else type(exc).__name__
            chunk = self._fail(reason)
            gw.metrics.errors.labels(p.name, "mid-stream").inc()
            await gw.breaker.failure(p.name)
            await self.end(502)
            yield chunk
        except Exception:  # a gateway bug: the client gets an error, the provider no blame
            logger.exception("gateway error while relaying a stream from %s", p.name)
            ctx.status, ctx.error = 500, "gateway error while relaying the stream"
            await self.end(500)
            err = error_body(ctx.error, "server_error", "gateway_error")
            yield f"data: {json.dumps(err)}\n\n".encode()
        finally:
            await self.end(499, "client closed the stream")


class RelayResponse:
    """A streaming response whose relay is ended even if the body was never iterated."""

    def __init__(self, relay: Relay) -> None:
        from starlette.responses import StreamingResponse

        self.relay = relay
        self._inner = StreamingResponse(relay.chunks(), media_type="text/event-stream")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self._inner(scope, receive, send)
        finally:
            await self.relay.end(499, "client closed the stream")
