"""The gateway: an OpenAI-compatible ASGI app (Starlette) that routes to configured upstreams.

Endpoints: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (streaming and not),
``GET /v1/models``, ``GET /health``, ``GET /metrics``. Clients authenticate with the gateway key
(``Authorization: Bearer …``); upstream keys come from the environment, go only to their own
upstream, and are scrubbed from every message the gateway writes. Requests go only to the
configured base URLs; bodies over ``max_body_bytes`` are refused with 413.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fleetplan.router.config import Provider, RouterConfig
from fleetplan.router.health import Breaker, check_loop
from fleetplan.router.limits import Limits
from fleetplan.router.log import LogRow, RequestLog
from fleetplan.router.metrics import Metrics
from fleetplan.router.state import MemoryState, State
from fleetplan.router.strategies import Candidate, order, with_overflow
from fleetplan.router.upstream import (
    AttemptFailed,
    ClientFault,
    Usage,
    read_json,
    send,
    sse_events,
    upstream_request,
)

logger = logging.getLogger("fleetplan.router")
_RATE_REASONS = ("HTTP 429", "requests/min limit", "tokens/min limit", "max concurrent")


class _Ctx:
    """What one client request accumulates for its log row and metrics."""

    def __init__(self, model: str, stream: bool) -> None:
        self.t0 = time.perf_counter()
        self.id = uuid.uuid4().hex
        self.model, self.stream = model, stream
        self.provider: Provider | None = None
        self.status, self.attempts, self.overflow = 0, 0, False
        self.usage = Usage()
        self.ttft_s: float | None = None
        self.error = ""


def _error(status: int, message: str, kind: str, code: str, **headers: str) -> Any:
    from starlette.responses import JSONResponse

    body = {"error": {"message": message, "type": kind, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers or None)


class Gateway:
    def __init__(
        self,
        config: RouterConfig,
        state: State | None = None,
        log_path: str | None = None,
        transport: Any = None,
    ) -> None:
        self.cfg = config
        self.key = config.gateway_key()
        self._secrets = [k for k in [*config.upstream_keys(), self.key] if k]
        self.state: State = state or MemoryState()
        self.limits = Limits(self.state)
        self.breaker = Breaker(self.state, config.gateway.health)
        self.metrics = Metrics()
        self.log = RequestLog(log_path or config.gateway.log_path)
        self.rng = random.Random(config.gateway.seed)
        self.by_name = {p.name: p for p in config.providers}
        self.ttft_ema_s: dict[str, float] = {}
        self._transport = transport
        self.client: Any = None
        self.app = self._build()

    # -- plumbing -------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "[redacted]")
        return text

    def _build(self) -> Any:
        from starlette.applications import Starlette
        from starlette.routing import Route

        @contextlib.asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        routes = [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/completions", self._completions, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/health", self._health, methods=["GET"]),
            Route("/metrics", self._metrics, methods=["GET"]),
        ]
        return Starlette(routes=routes, lifespan=lifespan)

    async def start(self) -> None:
        import httpx

        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
        self.client = httpx.AsyncClient(
            limits=limits, trust_env=False, follow_redirects=False, transport=self._transport
        )
        self._checker = None
        h = self.cfg.gateway.health
        if h.check_interval_s > 0:
            loop = check_loop(self.client, self.cfg.providers, self.breaker, h)
            self._checker = asyncio.create_task(loop)

    async def stop(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
        await self.client.aclose()
        await self.state.close()
        self.log.close()

    def _authorized(self, request: Any) -> bool:
        got = request.headers.get("authorization", "")
        scheme, _, token = got.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), self.key.encode())

    async def _body(self, request: Any) -> bytes | None:
        limit = self.cfg.gateway.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return None
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    # -- small endpoints --------------------------------------------------------------------
    async def _models(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        if not self._authorized(request):
            return _error(401, "missing or wrong gateway key", "auth_error", "invalid_api_key")
        data = [{"id": m, "object": "model", "owned_by": "fleetplan"} for m in self.cfg.models]
        return JSONResponse({"object": "list", "data": data})

    async def _health(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        status = {p.name: await self.breaker.status(p.name) for p in self.cfg.providers}
        ok = any(s != "open" for s in status.values())
        return JSONResponse({"ok": ok, "providers": status}, status_code=200 if ok else 503)

    async def _metrics(self, request: Any) -> Any:
        from starlette.responses import Response

        body, ctype = self.metrics.render()
        return Response(body, media_type=ctype)

    async def _chat(self, request: Any) -> Any:
        return await self._proxy(request, "chat/completions")

    async def _completions(self, request: Any) -> Any:
        return await self._proxy(request, "completions")

    # -- routing ----------------------------------------------------------------------------
    async def _candidates(self, model: str, est_in: int, est_out: int) -> list[Candidate]:
        out = []
        for p in self.cfg.providers_for(model):
            price = p.prices[model]
            out.append(
                Candidate(
                    name=p.name,
                    self_hosted=p.self_hosted,
                    weight=p.weight,
                    priority=p.priority,
                    cost_usd=price.cost_usd(est_in, est_out),
                    ttft_ema_s=self.ttft_ema_s.get(p.name),
                    in_flight=await self.limits.in_flight(p),
                    max_concurrent=p.limits.max_concurrent,
                )
            )
        return out

    def _note_ttft(self, name: str, ttft_s: float) -> None:
        a = self.cfg.gateway.latency_ema_alpha
        prev = self.ttft_ema_s.get(name)
        self.ttft_ema_s[name] = ttft_s if prev is None else a * ttft_s + (1 - a) * prev

    async def _proxy(self, request: Any, path: str) -> Any:
        if not self._authorized(request):
            return _error(401, "missing or wrong gateway key", "auth_error", "invalid_api_key")
        raw = await self._body(request)
        if raw is None:
            lim = self.cfg.gateway.max_body_bytes
            return _error(413, f"request body over {lim} bytes", "invalid_request_error", "too_big")
        try:
            payload = json.loads(raw)
        except ValueError:
            return _error(400, "body is not JSON", "invalid_request_error", "bad_json")
        model = payload.get("model") if isinstance(payload, dict) else None
        if not isinstance(model, str) or not model:
            return _error(400, "body needs a `model` string", "invalid_request_error", "no_model")
        if not self.cfg.providers_for(model):
            msg = f"model {model!r} is not served here; known: {', '.join(self.cfg.models)}"
            return _error(404, msg, "invalid_request_error", "model_not_found")
        ctx = _Ctx(model, bool(payload.get("stream")))
        self.metrics.in_flight.inc()
        try:
            resp = await self._route(ctx, path, payload, len(raw))
        except BaseException:
            self.metrics.in_flight.dec()
            raise
        if ctx.status != 0:  # finished here; a stream finishes in its generator
            self._finish(ctx)
        return resp

    async def _route(self, ctx: _Ctx, path: str, payload: dict[str, Any], nbytes: int) -> Any:
        est_out = int(payload.get("max_tokens") or payload.get("max_completion_tokens") or 256)
        cands = await self._candidates(ctx.model, nbytes // 4, est_out)
        ordered, ctx.overflow = with_overflow(
            order(self.cfg.gateway.strategy, cands, self.rng), self.cfg.gateway.overflow
        )
        max_attempts = self.cfg.gateway.max_attempts or len(ordered)
        failures: list[tuple[str, str]] = []
        for c in ordered:
            if ctx.attempts >= max_attempts:
                break
            p = self.by_name[c.name]
            if not await self.breaker.allow(p.name):
                failures.append((p.name, "circuit open"))
                continue
            why = await self.limits.acquire(p)
            if why is not None:
                await self.breaker.release_probe(p.name)
                failures.append((p.name, why))
                continue
            ctx.attempts += 1
            if ctx.attempts > 1:
                self.metrics.retries.labels(ctx.model).inc()
            body = dict(payload, model=p.models[ctx.model])
            if ctx.stream and "stream_options" not in payload:
                body["stream_options"] = {"include_usage": True}
            try:
                return await self._attempt(
                    ctx, p, path, body, strip_usage="stream_options" not in payload
                )
            except AttemptFailed as exc:
                await self.limits.release(p, 0)
                self.metrics.errors.labels(p.name, exc.reason.split(":")[0]).inc()
                if exc.health:
                    await self.breaker.failure(p.name, exc.retry_after_s)
                logger.warning("upstream %s failed: %s", p.name, self.redact(exc.reason))
                failures.append((p.name, exc.reason))
            except ClientFault as fault:
                await self.limits.release(p, 0)
                await self.breaker.release_probe(p.name)
                ctx.provider, ctx.status = p, fault.status
                ctx.error = f"upstream {p.name} refused the request (HTTP {fault.status})"
                from starlette.responses import Response

                content = self.redact(fault.body.decode("utf-8", "replace"))
                return Response(content, fault.status, media_type="application/json")
        return self._all_failed(ctx, failures)

    def _all_failed(self, ctx: _Ctx, failures: list[tuple[str, str]]) -> Any:
        reasons = "; ".join(f"{n}: {r}" for n, r in failures) or "no provider tried"
        if failures and all(r.startswith(_RATE_REASONS) for _, r in failures):
            status, code = 429, "rate_limited"
        elif failures and all(r == "circuit open" for _, r in failures):
            status, code = 503, "providers_unavailable"
        else:
            status, code = 502, "upstream_failed"
        msg = self.redact(f"no provider could serve model {ctx.model!r}: {reasons}")
        ctx.status, ctx.error = status, msg
        return _error(status, msg, "upstream_error", code)

    async def _attempt(
        self, ctx: _Ctx, p: Provider, path: str, body: dict[str, Any], strip_usage: bool
    ) -> Any:
        from starlette.responses import Response, StreamingResponse

        t = p.timeouts
        t_start = time.perf_counter()
        req = upstream_request(self.client, p, path, body)
        first_wait = t.first_token_s if ctx.stream else t.total_s
        resp = await send(self.client, req, first_wait)
        if not ctx.stream:
            raw, usage = await read_json(resp, t.total_s)
            ctx.provider, ctx.status, ctx.usage = p, 200, usage
            ctx.ttft_s = time.perf_counter() - t_start
            self._note_ttft(p.name, ctx.ttft_s)
            self.metrics.ttft.labels(p.name).observe(ctx.ttft_s)
            await self.breaker.success(p.name)
            await self._settle(p, usage)
            return Response(raw, 200, media_type="application/json")
        events = sse_events(resp)
        try:
            async with asyncio.timeout(t.first_token_s):
                first = await anext(events)
        except (TimeoutError, StopAsyncIteration, Exception) as exc:
            await resp.aclose()
            raise AttemptFailed(
                f"stream failed before its first event ({type(exc).__name__})"
            ) from None
        ctx.ttft_s = time.perf_counter() - t_start
        self._note_ttft(p.name, ctx.ttft_s)
        self.metrics.ttft.labels(p.name).observe(ctx.ttft_s)
        ctx.provider = p
        gen = self._relay(ctx, p, resp, events, first, t_start, strip_usage)
        return StreamingResponse(gen, media_type="text/event-stream")

    async def _relay(
        self,
        ctx: _Ctx,
        p: Provider,
        resp: Any,
        events: Any,
        first: tuple[bytes, str | None],
        t_start: float,
        strip_usage: bool,
    ) -> AsyncIterator[bytes]:
        t = p.timeouts
        usage, last = ctx.usage, time.perf_counter()
        event: tuple[bytes, str | None] | None = first
        ended = False

        async def end() -> None:
            # The log row, metrics and limits are settled BEFORE the final chunk goes out, so a
            # client that has seen `[DONE]` (or the error event) can rely on them.
            nonlocal ended
            ended = True
            await resp.aclose()
            if ctx.status == 200:
                await self.breaker.success(p.name)
            await self._settle(p, usage)
            self._finish(ctx)

        try:
            while event is not None:
                raw, data = event
                if data is not None and data.strip() == "[DONE]":
                    ctx.status = 200
                    await end()
                    yield raw
                    return
                if data is not None:
                    try:
                        obj = json.loads(data)
                    except ValueError:
                        obj = None
                    usage.take(obj)
                    is_usage_only = isinstance(obj, dict) and obj.get("choices") == []
                    if not is_usage_only:
                        usage.chunks += 1
                    if not (strip_usage and is_usage_only and obj.get("usage")):
                        yield raw
                left = t.total_s - (time.perf_counter() - t_start)
                async with asyncio.timeout(max(0.0, min(t.idle_s, left))):
                    event = await anext(events, None)
                now = time.perf_counter()
                self.metrics.itl.labels(p.name).observe(now - last)
                last = now
            raise AttemptFailed("upstream closed the stream before [DONE]")
        except (AttemptFailed, TimeoutError, Exception) as exc:
            reason = exc.reason if isinstance(exc, AttemptFailed) else type(exc).__name__
            ctx.status = 502
            ctx.error = self.redact(
                f"upstream {p.name} failed mid-stream after {usage.chunks} chunks ({reason}); "
                "the response is incomplete and was not retried"
            )
            self.metrics.errors.labels(p.name, "mid-stream").inc()
            await self.breaker.failure(p.name)
            await end()
            err = {"error": {"message": ctx.error, "type": "upstream_error", "code": "stream_cut"}}
            yield f"data: {json.dumps(err)}\n\n".encode()
        finally:
            if not ended:  # the client went away mid-stream
                ctx.status, ctx.error = 499, "client closed the stream"
                await end()

    async def _settle(self, p: Provider, usage: Usage) -> None:
        await self.limits.release(p, usage.input_tokens + usage.output_tokens)

    def _finish(self, ctx: _Ctx) -> None:
        self.metrics.in_flight.dec()
        p, u = ctx.provider, ctx.usage
        name = p.name if p else "none"
        cost = p.prices[ctx.model].cost_usd(u.input_tokens, u.output_tokens) if p else 0.0
        if p is not None:
            self.metrics.cost.labels(name).inc(cost)
            self.metrics.tokens.labels(name, "input").inc(u.input_tokens)
            self.metrics.tokens.labels(name, "output").inc(u.output_tokens)
            if ctx.overflow and not p.self_hosted:
                self.metrics.overflow.labels(ctx.model).inc()
        self.metrics.requests.labels(name, ctx.model, str(ctx.status)).inc()
        if not u.reported and ctx.status == 200:
            ctx.error = "upstream reported no usage; tokens and cost recorded as 0"
        self.log.write(
            LogRow(
                ts_s=time.time(),
                request_id=ctx.id,
                model=ctx.model,
                provider=p.name if p else "",
                status=ctx.status,
                attempts=ctx.attempts,
                stream=int(ctx.stream),
                input_tokens=u.input_tokens,
                output_tokens=u.output_tokens,
                latency_ms=(time.perf_counter() - ctx.t0) * 1000.0,
                ttft_ms=None if ctx.ttft_s is None else ctx.ttft_s * 1000.0,
                cost_usd=cost,
                overflow=int(ctx.overflow and p is not None and not p.self_hosted),
                error=ctx.error,
            )
        )


def build_app(
    config: RouterConfig, redis_url: str | None = None, log_path: str | None = None
) -> Gateway:
    """A gateway with memory state, or Redis state shared by replicas when `redis_url` is set."""
    state: State | None = None
    if redis_url:
        from fleetplan.router.state import RedisState

        state = RedisState(redis_url)
    return Gateway(config, state=state, log_path=log_path)
