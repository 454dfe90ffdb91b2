"""A virtual key's own admission: the models it may use, its monthly budget, its rates.

Checked after the request's fields and before gateway-wide admission, so a refused key costs
no slot. Its tokens/min are charged the request's estimate here and reconciled with what the
request used when it ends (``settle_key``), like a provider's.
"""

from __future__ import annotations

import calendar
import contextlib
import time
from typing import TYPE_CHECKING, Any

from fleetplan.router.limits import Rates, retry_after_header
from fleetplan.router.record import Ctx
from fleetplan.router.state import StateUnavailable

if TYPE_CHECKING:
    from fleetplan.router.gateway import Gateway
    from fleetplan.router.keys import VirtualKey


async def admit_key(gw: Gateway, ctx: Ctx, vk: VirtualKey, tokens_est: int) -> Any:
    """A refusal response for a key's models, budget or limits; None to go on."""
    if not vk.allows(ctx.model):
        ctx.status, ctx.error = 403, f"key {vk.name!r} may not use model {ctx.model!r}"
        return gw.error_response(
            403, ctx.error, "invalid_request_error", "model_not_allowed", "model"
        )
    assert gw.keys is not None
    budget = vk.budget_usd_per_month
    if budget is not None:
        spent = gw.keys.spent_usd(vk.id, time.time())
        if spent >= budget:
            ctx.status = 429
            ctx.error = (
                f"key {vk.name!r} has spent ${spent:.4f} of its ${budget:g} budget this month"
            )
            return gw.error_response(
                429,
                ctx.error,
                "budget_exceeded",
                "budget_exceeded",
                **{"Retry-After": retry_after_header(_to_next_month_s())},
            )
    refusal = await Rates(f"key:{vk.id}", vk.rpm, vk.tpm).take(gw.state, tokens_est)
    if refusal is not None:
        ctx.status, ctx.error = 429, f"key {vk.name!r}: {refusal.reason}"
        ra = retry_after_header(refusal.retry_after_s)
        return gw.error_response(
            429, ctx.error, "rate_limit_error", "rate_limited", **{"Retry-After": ra}
        )
    ctx.key_tokens_est = tokens_est
    return None


async def settle_key(gw: Gateway, ctx: Ctx) -> None:
    """Reconcile the key's tokens/min with what the request used."""
    vk = ctx.key
    if vk is None or not ctx.key_tokens_est:
        return
    est, ctx.key_tokens_est = ctx.key_tokens_est, 0
    used = ctx.usage.input_tokens + ctx.usage.output_tokens
    with contextlib.suppress(StateUnavailable):  # the bucket refills by itself anyway
        await Rates(f"key:{vk.id}", vk.rpm, vk.tpm).refund(gw.state, est - used)


def _to_next_month_s() -> float:
    t = time.gmtime()
    y, m = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return calendar.timegm((y, m, 1, 0, 0, 0, 0, 0, 0)) - time.time()
