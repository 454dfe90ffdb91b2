"""The gateway: an OpenAI-compatible ASGI app (Starlette) that routes to configured upstreams.

Endpoints: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (streaming and not),
``GET /v1/models``, ``GET /health``, ``GET /metrics``. Clients authenticate with the gateway key
(``Authorization: Bearer …``); ``/metrics`` takes the gateway key or ``gateway.metrics_key_env``.
Upstream keys come from the environment, go only to their own upstream, and are scrubbed from
every message the gateway writes. Requests go only to the configured base URLs; bodies over
``max_body_bytes`` are refused with 413, bodies slower than ``body_timeout_s`` with 408.

A request passes, in order: authentication, the body read, the field checks
(``request_check``), gateway-wide admission (``admission``), then routing (``routing``) with one
attempt per provider (``relay``); ``record`` writes its log row and metrics exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fleetplan.router.admission import Admission, Shed
from fleetplan.router.config import Provider, RouterConfig
from fleetplan.router.dispatch import ROUTE_ERRORS, Dispatch
from fleetplan.router.health import Breaker, check_loop
from fleetplan.router.key_admission import admit_key, settle_key
from fleetplan.router.keys import VirtualKey, open_keys
from fleetplan.router.limits import Limits, inflight_key, retry_after_header
from fleetplan.router.log import RequestLog
from fleetplan.router.metrics import Metrics
from fleetplan.router.record import Ctx, finish
from fleetplan.router.relay import error_body
from fleetplan.router.request_check import BadRequest, check
from fleetplan.router.routing import new_lease_id, route
from fleetplan.router.state import MemoryState, State, StateUnavailable

logger = logging.getLogger("fleetplan.router")


@dataclass(frozen=True)
class Lease:
    """One admitted attempt at a provider: its in-flight lease and the tokens it was charged."""

    provider: Provider
    id: str
    tokens_est: int


class _TooBig(Exception):
    pass


class Gateway:
    def __init__(
        self,
        config: RouterConfig,
        state: State | None = None,
        log_path: str | None = None,
    ) -> None:
        self.key = config.gateway_key()
        config.check_keys()
        self.cfg = config
        g = config.gateway
        self.metrics_key = config.metrics_key()
        self._secrets = [k for k in [*config.upstream_keys(), self.key, self.metrics_key] if k]
        self.state: State = state or MemoryState()
        self.limits = Limits(self.state, g.lease_ttl_s)
        self.breaker = Breaker(self.state, g.health)
        self.admission = Admission(g.admission)
        self.metrics = Metrics()
        path = log_path or g.log_path
        self.log: RequestLog | None = RequestLog(path) if path else None
        self.keys: Any = open_keys(g.keys_db) if g.keys_db else None  # SQLite or Redis
        self.rng = random.Random(g.seed)
        self.by_name = {p.name: p for p in config.providers}
        self.ttft_ema_s: dict[str, float] = {}
        self.itl_ema_s: dict[str, float] = {}
        self.held: dict[str, set[str]] = {}  # in-flight lease ids by state key, renewed
        self.upstream_streams = 0  # streams whose upstream response is still open
        self._tasks: list[asyncio.Task[None]] = []
        self.client: Any = None  # the HTTP session to the upstreams, opened in `start`
        self.app = self._build()

    # -- plumbing -------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "[redacted]")
        return text

    def warn(self, text: str) -> None:
        logger.warning("%s", self.redact(text))

    def adapter(self, p: Provider) -> Any:
        if p.api == "anthropic":
            from fleetplan.router import anthropic

            return anthropic
        return None

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
        app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=ROUTE_ERRORS)
        return Dispatch(app, self._proxy)

    async def start(self) -> None:
        from fleetplan.router.upstream import session

        self.loop = asyncio.get_running_loop()  # the loop serving this gateway
        self.client = session()
        self.admission.start()
        if self.keys is not None:
            self.keys.start()
        self._tasks.append(asyncio.create_task(self._renew_loop()))
        h = self.cfg.gateway.health
        if h.check_interval_s > 0:
            loop = check_loop(self.client, self.cfg.providers, self.breaker, h)
            self._tasks.append(asyncio.create_task(loop))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.admission.stop()
        await self.client.close()
        await self.state.close()
        if self.log is not None:
            self.log.close()
        if self.keys is not None:
            self.keys.close()

    # -- leases ---------------------------------------------------------------------------
    def lease(self, p: Provider, tokens_est: int) -> Lease:
        lease = Lease(p, new_lease_id(), tokens_est)
        self.held.setdefault(inflight_key(p.name), set()).add(lease.id)
        return lease

    def unhold(self, lease: Lease) -> None:
        self.held.get(inflight_key(lease.provider.name), set()).discard(lease.id)

    async def release(self, lease: Lease, tokens_used: int, healthy: bool = False) -> None:
        """End an attempt's lease and reconcile its tokens — once, however it ended; a
        `healthy` attempt also closes its provider's circuit (in the same state round trip)."""
        name = lease.provider.name
        ids = self.held.get(inflight_key(name))
        if ids is None or lease.id not in ids:
            if healthy:
                await self.breaker.success(name)
            return
        ids.discard(lease.id)
        clear = self.breaker.success_keys(name) if healthy else ()
        try:
            await self.limits.release(
                lease.provider, lease.id, lease.tokens_est, tokens_used, clear
            )
        except StateUnavailable as exc:
            # the answer is already in hand: keep it. The lease is no longer renewed, so the
            # shared state frees it within its TTL; the token bucket refills by itself.
            self.warn(f"could not release an in-flight lease (expires with its TTL): {exc}")

    async def _renew_loop(self) -> None:
        """Keep this process's leases alive; a process that dies stops, and they expire."""
        ttl = self.cfg.gateway.lease_ttl_s
        while True:
            await asyncio.sleep(ttl / 3)
            for key, ids in list(self.held.items()):
                try:
                    await self.state.renew(key, list(ids), ttl)
                except StateUnavailable as exc:
                    self.warn(f"could not renew in-flight leases: {exc}")

    # -- measurements -----------------------------------------------------------------------
    def _ema(self, table: dict[str, float], name: str, value_s: float) -> None:
        a = self.cfg.gateway.latency_ema_alpha
        prev = table.get(name)
        table[name] = value_s if prev is None else a * value_s + (1 - a) * prev

    def note_ttft(self, name: str, ttft_s: float) -> None:
        self._ema(self.ttft_ema_s, name, ttft_s)
        self.metrics.child(self.metrics.ttft, name).observe(ttft_s)

    def note_itl(self, name: str, itl_s: float) -> None:
        """Once per streamed chunk."""
        self._ema(self.itl_ema_s, name, itl_s)
        self.metrics.child(self.metrics.itl, name).observe(itl_s)

    def note_complete(self, name: str, total_s: float, output_tokens: int) -> None:
        """A non-streamed response's TTFT is not seen: estimate it from the provider's
        measured inter-token time (total minus the decode), or leave the average alone."""
        itl = self.itl_ema_s.get(name)
        if itl is not None:
            self._ema(self.ttft_ema_s, name, max(0.0, total_s - output_tokens * itl))

    # -- responses and auth -----------------------------------------------------------------
    def error_response(
        self, status: int, message: str, kind: str, code: str, param: str | None = None, **h: str
    ) -> Any:
        from starlette.responses import JSONResponse

        body = error_body(self.redact(message), kind, code, param)
        return JSONResponse(body, status_code=status, headers=h or None)

    def _bearer(self, request: Any) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    def _authorized(self, request: Any, *also: str | None) -> bool:
        token = self._bearer(request)
        if token is None:
            return False
        keys = [self.key, *(k for k in also if k)]
        return any(hmac.compare_digest(token.encode(), k.encode()) for k in keys)

    def _client_key(self, request: Any) -> tuple[bool, VirtualKey | None]:
        """(authorized, the virtual key used — None for the gateway key)."""
        token = self._bearer(request)
        if token is None:
            return False, None
        if hmac.compare_digest(token.encode(), self.key.encode()):
            return True, None
        vk = self.keys.lookup(token) if self.keys is not None else None
        return vk is not None, vk

    def _unauthorized(self) -> Any:
        return self.error_response(
            401, "missing or wrong gateway key", "auth_error", "invalid_api_key"
        )

    async def _body(self, request: Any) -> bytes:
        limit = self.cfg.gateway.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _TooBig
        chunks, size = [], 0
        async with asyncio.timeout(self.cfg.gateway.body_timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _TooBig
                chunks.append(chunk)
        return b"".join(chunks)

    # -- small endpoints --------------------------------------------------------------------
    async def _models(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        if not self._authorized(request):
            return self._unauthorized()
        data = [{"id": m, "object": "model", "owned_by": "fleetplan"} for m in self.cfg.models]
        return JSONResponse({"object": "list", "data": data})

    async def _health(self, request: Any) -> Any:
        """Honest health: circuits, in-flight leases against limits, and the shared state."""
        from starlette.responses import JSONResponse

        status: dict[str, str] = {}
        in_flight: dict[str, int] = {}
        try:
            for p in self.cfg.providers:
                status[p.name] = await self.breaker.status(p.name)
                in_flight[p.name] = await self.limits.in_flight(p)
            state = "ok"
        except StateUnavailable as exc:
            state = f"unavailable: {exc}"
        full = [
            p.name
            for p in self.cfg.providers
            if p.limits.max_concurrent is not None
            and in_flight.get(p.name, 0) >= p.limits.max_concurrent
        ]
        ok = state == "ok" and any(s != "open" for s in status.values())
        degraded = not ok or bool(full) or any(s != "closed" for s in status.values())
        body = {
            "ok": ok,
            "degraded": degraded,
            "state": state,
            "providers": status,
            "in_flight": in_flight,
            "at_max_concurrent": full,
            "gateway": {"active": self.admission.active, "queued": self.admission.queued},
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    async def _metrics(self, request: Any) -> Any:
        from starlette.responses import Response

        if not self._authorized(request, self.metrics_key):
            return self._unauthorized()
        body, ctype = self.metrics.render()
        return Response(body, media_type=ctype)

    async def _chat(self, request: Any) -> Any:
        return await self._proxy(request, "chat/completions")

    async def _completions(self, request: Any) -> Any:
        return await self._proxy(request, "completions")

    # -- the proxied request ----------------------------------------------------------------
    async def _proxy(self, request: Any, path: str) -> Any:
        ok, vk = self._client_key(request)
        if not ok:
            return self._unauthorized()
        ctx = Ctx()
        ctx.key = vk
        self.metrics.in_flight.inc()
        try:
            return await self._serve(request, path, ctx)
        except StateUnavailable as exc:
            ctx.status, ctx.error = 503, f"shared state unavailable: {exc}"
            return self.error_response(
                503, ctx.error, "server_error", "state_unavailable", **{"Retry-After": "1"}
            )
        except Exception:
            logger.exception("gateway error")
            ctx.status, ctx.error = 500, "gateway error"
            return self.error_response(500, "gateway error", "server_error", "gateway_error")
        finally:
            if not ctx.relayed:
                if ctx.status == 0:  # cancelled: the client went away before an answer
                    ctx.status, ctx.error = 499, "client closed the request"
                await settle_key(self, ctx)
                finish(self, ctx)

    async def _serve(self, request: Any, path: str, ctx: Ctx) -> Any:
        try:
            raw = await self._body(request)
            req = check(raw, path, request.headers.get("content-type"))
        except _TooBig:
            lim = self.cfg.gateway.max_body_bytes
            ctx.status, ctx.error = 413, f"request body over {lim} bytes"
            return self.error_response(413, ctx.error, "invalid_request_error", "too_big")
        except TimeoutError:
            t = self.cfg.gateway.body_timeout_s
            ctx.status, ctx.error = 408, f"request body not complete within {t:g} s"
            return self.error_response(408, ctx.error, "invalid_request_error", "body_timeout")
        except BadRequest as bad:
            ctx.status, ctx.error = bad.status, bad.message
            return self.error_response(
                bad.status, bad.message, "invalid_request_error", bad.code, bad.param
            )
        ctx.model, ctx.stream = req.model, req.stream
        if not self.cfg.providers_for(req.model):
            known = ", ".join(self.cfg.models)
            ctx.status, ctx.error = 404, f"model {req.model!r} is not served here; known: {known}"
            return self.error_response(
                404, ctx.error, "invalid_request_error", "model_not_found", "model"
            )
        ctx.model_label = req.model
        if ctx.key is not None:
            refused = await admit_key(self, ctx, ctx.key, req.tokens_est)
            if refused is not None:
                return refused
        try:
            await self.admission.acquire()
        except Shed as shed:
            ctx.status, ctx.error = 503, f"gateway busy: {shed.reason}"
            ra = retry_after_header(shed.retry_after_s)
            return self.error_response(
                503, ctx.error, "server_error", "gateway_busy", **{"Retry-After": ra}
            )
        try:
            return await route(self, ctx, path, req, request.headers)
        finally:
            if not ctx.relayed:
                self.admission.release()


def build_app(
    config: RouterConfig, redis_url: str | None = None, log_path: str | None = None
) -> Gateway:
    """A gateway with memory state, or Redis state shared by replicas when `redis_url` is set."""
    state: State | None = None
    if redis_url:
        from fleetplan.router.state import RedisState

        g = config.gateway
        state = RedisState(redis_url, max_connections=g.redis_max_connections)
    return Gateway(config, state=state, log_path=log_path)
