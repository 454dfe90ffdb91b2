"""Routing one checked request: order the providers, try them in turn, say why none served it.

A provider is skipped (not tried) when its circuit is open or one of its limits refuses the
request; it is *tried* when its request is sent. At most ``gateway.max_attempts`` providers are
tried. When none serves the request the client gets 429 with ``Retry-After`` if every provider
was rate limited, 503 if every circuit was open, otherwise 502 — each naming every provider and
why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fleetplan.router.limits import PRESENT, retry_after_header
from fleetplan.router.record import Ctx
from fleetplan.router.relay import attempt
from fleetplan.router.request_check import Checked
from fleetplan.router.strategies import Candidate, cascade, order, with_overflow
from fleetplan.router.upstream import AttemptFailed, ClientFault

if TYPE_CHECKING:
    from fleetplan.router.gateway import Gateway

RATE_REASONS = ("HTTP 429", "requests/min limit", "tokens/min limit", "max concurrent")


@dataclass(frozen=True)
class Failure:
    provider: str
    reason: str
    retry_after_s: float | None = None


def is_hard(gw: Gateway, req: Checked, headers: Any) -> bool:
    """Whether `cascade` sends this request to the frontier tier (see CascadeIn)."""
    c = gw.cfg.gateway.cascade
    assert c is not None
    if c.tier_header:
        tier = (headers.get(c.tier_header) or "").strip().lower()
        if tier in ("small", "frontier"):
            return tier == "frontier"
    if c.hard_if_tools and (req.payload.get("tools") or req.payload.get("functions")):
        return True
    return c.max_prompt_tokens is not None and req.prompt_tokens_est > c.max_prompt_tokens


def needs_in_flight(gw: Gateway) -> bool:
    """Whether ordering reads in-flight counts (a state round trip per provider otherwise saved):
    least_busy does, and overflow does."""
    g = gw.cfg.gateway
    return g.strategy == "least_busy" or g.overflow is not None


async def candidates(gw: Gateway, model: str, req: Checked) -> list[Candidate]:
    out = []
    est_out = req.max_output_tokens or 256
    read = needs_in_flight(gw)
    for p in gw.cfg.providers_for(model):
        out.append(
            Candidate(
                name=p.name,
                self_hosted=p.self_hosted,
                weight=p.weight,
                priority=p.priority,
                cost_usd=p.prices[model].cost_usd(req.prompt_tokens_est, est_out),
                ttft_ema_s=gw.ttft_ema_s.get(p.name),
                in_flight=await gw.limits.in_flight(p) if read else 0,
                max_concurrent=p.limits.max_concurrent,
            )
        )
    return out


async def route(gw: Gateway, ctx: Ctx, path: str, req: Checked, headers: Any) -> Any:
    g = gw.cfg.gateway
    cands = await candidates(gw, ctx.model, req)
    if g.strategy == "cascade":
        assert g.cascade is not None
        ranked = cascade(cands, is_hard(gw, req, headers), set(g.cascade.small))
    else:
        ranked = order(g.strategy, cands, gw.rng)
    ordered, ctx.overflow = with_overflow(ranked, g.overflow)
    max_attempts = g.max_attempts or len(ordered)
    failures: list[Failure] = []
    payload = req.payload
    for c in ordered:
        if ctx.attempts >= max_attempts:
            break
        p = gw.by_name[c.name]
        lease = gw.lease(p, req.tokens_est)
        # one state round trip while the circuit is plainly closed; otherwise the breaker
        # decides (and may claim the half-open probe) before the limits are charged
        closed = gw.breaker.closed_keys(p.name)
        refusal = await gw.limits.acquire(p, lease.id, req.tokens_est, closed)
        if refusal is PRESENT:
            if not await gw.breaker.allow(p.name):
                gw.unhold(lease)
                failures.append(Failure(p.name, "circuit open"))
                continue
            refusal = await gw.limits.acquire(p, lease.id, req.tokens_est)
        if refusal is not None:
            gw.unhold(lease)
            await gw.breaker.release_probe(p.name)
            failures.append(Failure(p.name, refusal.reason, refusal.retry_after_s))
            continue
        ctx.attempts += 1
        if ctx.attempts > 1:
            gw.metrics.child(gw.metrics.retries, ctx.model).inc()
        body = dict(payload, model=p.models[ctx.model])
        if ctx.stream and "stream_options" not in payload:
            body["stream_options"] = {"include_usage": True}
        try:
            return await attempt(gw, ctx, p, lease, path, body, "stream_options" not in payload)
        except AttemptFailed as exc:
            await gw.release(lease, 0)
            gw.metrics.errors.labels(p.name, exc.reason.split(":")[0]).inc()
            if exc.health:
                await gw.breaker.failure(p.name, exc.retry_after_s)
            gw.warn(f"upstream {p.name} failed: {exc.reason}")
            failures.append(Failure(p.name, exc.reason, exc.retry_after_s))
        except ClientFault as fault:
            await gw.release(lease, 0)
            await gw.breaker.release_probe(p.name)
            ctx.provider, ctx.status = p, fault.status
            ctx.error = f"upstream {p.name} refused the request (HTTP {fault.status})"
            from starlette.responses import Response

            content = gw.redact(fault.body.decode("utf-8", "replace"))
            return Response(content, fault.status, media_type="application/json")
        except BaseException:  # a gateway error or a cancel: free the lease, then let it rise
            if not ctx.relayed:
                await gw.release(lease, 0)
            raise
    return all_failed(gw, ctx, failures)


def all_failed(gw: Gateway, ctx: Ctx, failures: list[Failure]) -> Any:
    reasons = "; ".join(f"{f.provider}: {f.reason}" for f in failures) or "no provider tried"
    headers: dict[str, str] = {}
    if failures and all(f.reason.startswith(RATE_REASONS) for f in failures):
        status, code = 429, "rate_limited"
        waits = [f.retry_after_s for f in failures if f.retry_after_s is not None]
        cap = gw.cfg.gateway.health.max_retry_after_s
        headers["Retry-After"] = retry_after_header(min(min(waits, default=1.0), cap))
    elif failures and all(f.reason == "circuit open" for f in failures):
        status, code = 503, "providers_unavailable"
        headers["Retry-After"] = retry_after_header(gw.cfg.gateway.health.cooldown_s)
    else:
        status, code = 502, "upstream_failed"
    msg = gw.redact(f"no provider could serve model {ctx.model!r}: {reasons}")
    ctx.status, ctx.error = status, msg
    return gw.error_response(status, msg, "upstream_error", code, **headers)


def new_lease_id() -> str:
    return uuid.uuid4().hex
