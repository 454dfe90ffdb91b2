"""What one client request leaves behind: its context while it runs, then one log row and metrics.

Every request that passes authentication is recorded exactly once (``finish``), whatever ends
it: a validation error, shedding, a failover that succeeds, an error, a stream cut short or a
client that went away. The log row is written before the metrics move, so anyone who sees the
metrics can flush the log and find the row.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from fleetplan.router.log import LogRow
from fleetplan.router.upstream import Usage

if TYPE_CHECKING:
    from fleetplan.router.config import Provider
    from fleetplan.router.keys import VirtualKey


# the metric label of a request whose model the config does not serve: a label per name a
# client invents would grow /metrics without bound
UNSERVED_MODEL_LABEL = "(not served)"


class Ctx:
    """What one client request accumulates for its log row and metrics."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.id = uuid.uuid4().hex
        self.model, self.stream = "", False
        self.model_label = UNSERVED_MODEL_LABEL  # the model, once the config is seen to serve it
        self.provider: Provider | None = None
        self.status, self.attempts, self.overflow = 0, 0, False
        self.usage = Usage()
        self.ttft_s: float | None = None
        self.error = ""
        self.key: VirtualKey | None = None  # the virtual key that made it (None: gateway key)
        self.key_tokens_est = 0  # tokens charged to the key's tokens/min, to reconcile
        self.relayed = False  # a stream relay owns the end of this request
        self.finished = False


def cost_usd(ctx: Ctx) -> float:
    p, u = ctx.provider, ctx.usage
    return p.prices[ctx.model].cost_usd(u.input_tokens, u.output_tokens) if p else 0.0


def finish(gw: Any, ctx: Ctx) -> None:
    """Record `ctx` once: the SQLite row, then the counters."""
    if ctx.finished:
        return
    ctx.finished = True
    p, u = ctx.provider, ctx.usage
    name = p.name if p else "none"
    cost = cost_usd(ctx)
    if not u.reported and ctx.status == 200:
        ctx.error = "upstream reported no usage; tokens and cost recorded as 0"
    overflowed = ctx.overflow and p is not None and not p.self_hosted
    if gw.log is not None:
        gw.log.write(
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
                overflow=int(overflowed),
                error=ctx.error,
                key_id=ctx.key.id if ctx.key else "",
            )
        )
    if ctx.key is not None and gw.keys is not None and cost:
        gw.keys.charge(ctx.key.id, time.time(), cost, u.input_tokens, u.output_tokens)
    m = gw.metrics
    if p is not None:
        m.child(m.cost, name).inc(cost)
        m.child(m.tokens, name, "input").inc(u.input_tokens)
        m.child(m.tokens, name, "output").inc(u.output_tokens)
        if overflowed:
            m.child(m.overflow, ctx.model_label).inc()
    m.child(m.requests, name, ctx.model_label, str(ctx.status)).inc()
    m.in_flight.dec()
