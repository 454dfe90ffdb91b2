"""A fault-injecting OpenAI-compatible upstream, and a helper serving any ASGI app on loopback.

Used by the router's tests and its latency benchmark; handy to rehearse a routing policy
locally. ``Faults`` is mutable and read on every request, so a test can change it between
requests: added latency, an HTTP error status (with Retry-After for 429), a hang, a connection
dropped after N streamed chunks, a required key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Faults:
    latency_s: float = 0.0  # before the response starts
    chunk_delay_s: float = 0.0  # between streamed chunks
    status: int | None = None  # answer every request with this HTTP status
    retry_after: str | None = None  # Retry-After header sent with `status`
    hang: bool = False  # accept the request and never answer
    cut_after_chunks: int | None = None  # drop the connection after this many chunks
    echo_auth_in_errors: bool = False  # put the Authorization header in error bodies
    require_key: str | None = None  # answer 401 unless `Authorization: Bearer <key>`
    output_tokens: int = 5
    report_usage: bool = True
    bad_chunk_after: int | None = None  # a stream sends a chunk that is not JSON after N chunks
    bad_chunk: str = "{not json"  # that chunk's data
    error_event_after: int | None = None  # a stream sends an error event after N chunks
    gate: threading.Event | None = None  # hold each request until the event is set
    chunk_gate: threading.Event | None = None  # a stream holds after its first chunk until set
    end_gate: threading.Event | None = None  # a stream holds its body open after [DONE] until set
    bad_body: bool = False  # a non-streamed 200 whose body is not JSON
    set_cookie: str | None = None  # a Set-Cookie header on every answer (a load balancer's)


async def _held(gate: threading.Event) -> None:
    while not gate.is_set():  # a test releases what it holds
        await asyncio.sleep(0.005)


def _stop_reason(body: dict[str, Any], n_out: int) -> str:
    if body.get("tools"):
        return "tool_use"
    return "max_tokens" if body.get("max_tokens", 1 << 30) <= n_out else "end_turn"


def _sse(kind: str, obj: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(dict(obj, type=kind))}\n\n"


class _Messages:
    """The Messages API side of `Upstream` (a mixin, to keep the OpenAI side readable)."""

    name: str
    faults: Faults

    def _message(self, body: dict[str, Any], n_in: int) -> dict[str, Any]:
        n = self.faults.output_tokens
        content: list[dict[str, Any]] = [
            {"type": "text", "text": " ".join(f"t{i}" for i in range(n))}
        ]
        if body.get("tools"):
            tool = body["tools"][0]["name"]
            content.append({"type": "tool_use", "id": "tu_1", "name": tool, "input": {"q": 1}})
        return {
            "id": f"msg_{self.name}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": content,
            "stop_reason": _stop_reason(body, n),
            "stop_sequence": None,
            "usage": {"input_tokens": n_in, "output_tokens": n},
        }

    async def _message_events(self, body: dict[str, Any], n_in: int) -> Any:
        f = self.faults
        n = f.output_tokens
        msg = self._message(body, n_in)
        start = dict(
            msg, content=[], stop_reason=None, usage={"input_tokens": n_in, "output_tokens": 1}
        )
        yield _sse("message_start", {"message": start})
        yield _sse("ping", {})
        block = {"type": "text", "text": ""}
        yield _sse("content_block_start", {"index": 0, "content_block": block})
        for i in range(n):
            if f.cut_after_chunks is not None and i >= f.cut_after_chunks:
                raise ConnectionError("injected disconnect mid-stream")
            if f.error_event_after is not None and i == f.error_event_after:
                err = {"type": "overloaded_error", "message": "Overloaded"}
                yield _sse("error", {"error": err})
                return
            d = {"type": "text_delta", "text": f"t{i} "}
            yield _sse("content_block_delta", {"index": 0, "delta": d})
            if f.chunk_delay_s:
                await asyncio.sleep(f.chunk_delay_s)
        yield _sse("content_block_stop", {"index": 0})
        if body.get("tools"):
            tb = {"type": "tool_use", "id": "tu_1", "name": body["tools"][0]["name"], "input": {}}
            yield _sse("content_block_start", {"index": 1, "content_block": tb})
            d = {"type": "input_json_delta", "partial_json": '{"q": 1}'}
            yield _sse("content_block_delta", {"index": 1, "delta": d})
            yield _sse("content_block_stop", {"index": 1})
        delta = {"stop_reason": msg["stop_reason"], "stop_sequence": None}
        yield _sse("message_delta", {"delta": delta, "usage": {"output_tokens": n}})
        yield _sse("message_stop", {})


@dataclass
class Upstream(_Messages):
    """An upstream's behaviour and what it saw."""

    name: str = "fake"
    faults: Faults = field(default_factory=Faults)
    requests: int = 0
    auth_seen: set[str] = field(default_factory=set)
    bodies: list[dict[str, Any]] = field(default_factory=list)  # Messages API bodies seen
    connections: set[tuple[str, int]] = field(default_factory=set)  # client (host, port) seen
    chunks_sent: int = 0  # streamed token chunks handed to the server
    cookies_seen: list[str] = field(default_factory=list)  # Cookie headers sent to it
    _stop: asyncio.Event | None = None

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, StreamingResponse
        from starlette.routing import Route

        async def completions(request: Any) -> Any:
            self.requests += 1
            f = self.faults
            if request.client is not None:
                self.connections.add((request.client.host, request.client.port))
            auth = request.headers.get("authorization", "")
            self.auth_seen.add(auth)
            if cookie := request.headers.get("cookie"):
                self.cookies_seen.append(cookie)
            body = await request.json()
            if f.gate is not None:
                await _held(f.gate)
            if f.latency_s:
                await asyncio.sleep(f.latency_s)
            if f.hang:
                await asyncio.sleep(3600)
            if f.require_key is not None and auth != f"Bearer {f.require_key}":
                return self._err(401, "bad key " + (auth if f.echo_auth_in_errors else ""))
            if f.status is not None:
                headers = {"Retry-After": f.retry_after} if f.retry_after else None
                msg = f"injected {f.status}" + (f" auth={auth}" if f.echo_auth_in_errors else "")
                return self._err(f.status, msg, headers)
            n_in = len(json.dumps(body.get("messages", body.get("prompt", "")))) // 4
            chat = request.url.path.endswith("chat/completions")
            if not body.get("stream"):
                if f.chunk_delay_s:  # generate as long as a stream would
                    await asyncio.sleep(f.chunk_delay_s * f.output_tokens)
                if f.bad_body:
                    from starlette.responses import Response

                    return Response(b"{not json", 200, media_type="application/json")
                resp = JSONResponse(self._full(body, chat, n_in))
            else:
                resp = StreamingResponse(
                    self._stream(body, chat, n_in), media_type="text/event-stream"
                )
            if f.set_cookie:
                resp.headers["set-cookie"] = f.set_cookie
            return resp

        async def messages(request: Any) -> Any:
            """The Anthropic Messages API: same faults, same text, its own wire format."""
            self.requests += 1
            f = self.faults
            self.auth_seen.add(request.headers.get("x-api-key", ""))
            body = await request.json()
            if f.latency_s:
                await asyncio.sleep(f.latency_s)
            if f.require_key is not None and request.headers.get("x-api-key") != f.require_key:
                return self._err(401, "bad key")
            if f.status is not None:
                headers = {"Retry-After": f.retry_after} if f.retry_after else None
                return self._err(f.status, f"injected {f.status}", headers)
            self.bodies.append(body)
            n_in = len(json.dumps(body.get("messages", ""))) // 4
            if not body.get("stream"):
                return JSONResponse(self._message(body, n_in))
            return StreamingResponse(
                self._message_events(body, n_in), media_type="text/event-stream"
            )

        async def models(request: Any) -> Any:
            if self.faults.status is not None or self.faults.hang:
                return self._err(self.faults.status or 503, "unhealthy")
            return JSONResponse({"object": "list", "data": [{"id": "m", "object": "model"}]})

        routes = [
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
        return Starlette(routes=routes)

    @staticmethod
    def _err(status: int, message: str, headers: dict[str, str] | None = None) -> Any:
        from starlette.responses import JSONResponse

        body = {"error": {"message": message, "type": "fake", "code": str(status)}}
        return JSONResponse(body, status_code=status, headers=headers)

    def _usage(self, n_in: int) -> dict[str, int]:
        n_out = self.faults.output_tokens
        return {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}

    def _full(self, body: dict[str, Any], chat: bool, n_in: int) -> dict[str, Any]:
        text = " ".join(f"t{i}" for i in range(self.faults.output_tokens))
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        out = {
            "id": f"{self.name}-1",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [choice],
        }
        if self.faults.report_usage:
            out["usage"] = self._usage(n_in)
        return out

    async def _stream(self, body: dict[str, Any], chat: bool, n_in: int) -> Any:
        f = self.faults
        base = {
            "id": f"{self.name}-1",
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
        }
        for i in range(f.output_tokens):
            if f.cut_after_chunks is not None and i >= f.cut_after_chunks:
                raise ConnectionError("injected disconnect mid-stream")
            if f.bad_chunk_after is not None and i == f.bad_chunk_after:
                yield f"data: {f.bad_chunk}\n\n"
            if f.error_event_after is not None and i == f.error_event_after:
                err = {"error": {"message": "injected overload", "type": "server_error"}}
                yield f"data: {json.dumps(err)}\n\n"
            piece = f"t{i} "
            choice: dict[str, Any] = {"index": 0, "finish_reason": None}
            if chat:
                choice["delta"] = (
                    {"content": piece} if i else {"role": "assistant", "content": piece}
                )
            else:
                choice["text"] = piece
            self.chunks_sent += 1
            yield f"data: {json.dumps(dict(base, choices=[choice]))}\n\n"
            if i == 0 and f.chunk_gate is not None:
                await _held(f.chunk_gate)
            if f.chunk_delay_s:
                await asyncio.sleep(f.chunk_delay_s)
        last: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        last["delta" if chat else "text"] = {} if chat else ""
        yield f"data: {json.dumps(dict(base, choices=[last]))}\n\n"
        if f.report_usage and (body.get("stream_options") or {}).get("include_usage"):
            yield f"data: {json.dumps(dict(base, choices=[], usage=self._usage(n_in)))}\n\n"
        yield "data: [DONE]\n\n"
        if f.end_gate is not None:
            await _held(f.end_gate)


class Served:
    """An ASGI app served by uvicorn on 127.0.0.1 (an ephemeral port) in a daemon thread."""

    def __init__(self, app: Any, port: int = 0, log_level: str = "warning") -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(
            app, log_level=log_level, access_log=False, lifespan="auto", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10.0
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start on loopback")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5.0)
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
