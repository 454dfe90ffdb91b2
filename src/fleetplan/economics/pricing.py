"""Which GPU price a figure uses: the user's, or a catalog offer — and saying which."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetplan.catalog import Catalog
from fleetplan.catalog.specs import Offer
from fleetplan.economics.unit_cost import check_nonnegative
from fleetplan.errors import InputError


@dataclass(frozen=True)
class GpuPrice:
    gpu: str
    usd_per_gpu_hour: float  # per GPU used: the whole instances bought / the GPUs used
    pricing: str
    basis: str  # "user-given" or the offer's provider, instance, source and as_of
    # the offer's own rate per GPU billed, and the GPUs in each instance bought (0: bought a
    # GPU at a time, as a user-given price is)
    offer_usd_per_gpu_hour: float = 0.0
    instance_gpus: int = 0


def instances_bought(o: Offer, gpus: int, tp: int = 1) -> tuple[int, int]:
    """(instances, GPUs in each) of offer `o` bought for `gpus` GPUs in replicas of `tp`:
    the plan's packing (`Offer.instance_for`, `search.packing`) — the smallest size sold that
    holds one replica, as many replicas on each as fit. Where no size holds a replica (tensor
    parallelism across instances), the largest size, as many as the GPUs need."""
    held = o.instance_for(tp)
    if held is None:
        size = max((o.gpus_per_instance, *o.gpu_counts))
        return math.ceil(gpus / size), size
    size, per = held
    return math.ceil(math.ceil(gpus / tp) / per), size


def billed_gpus(o: Offer, gpus: int, tp: int = 1) -> int:
    """GPUs billed to rent `gpus` GPUs of offer `o` in replicas of `tp`: the whole instances a
    plan buys (`instances_bought`)."""
    instances, size = instances_bought(o, gpus, tp)
    return instances * size


def gpu_price(
    catalog: Catalog,
    gpu: str,
    usd_per_gpu_hour: float | None = None,
    *,
    provider: str | None = None,
    pricing: str = "on-demand",
    gpus: int = 1,
    tp: int = 1,
    price_field: str = "--usd-per-hour",
    pricing_field: str = "--pricing",
) -> GpuPrice:
    """The user's price if given, else the catalog offer that rents `gpus` GPUs (replicas of
    `tp`) cheapest under `pricing`, as sold and as a plan buys them (`instances_bought`):
    whole instances (one GPU on an 8-GPU-only offer pays for eight; three on an offer sold in
    1, 2, 4 and 8 GPUs pay for three), secure tiers and point prices first. Never a silent
    default: the basis names the offer. `price_field` and `pricing_field` name where the user
    gives the price and the pricing model (an option, a file's field)."""
    from fleetplan.catalog.schema import PRICING_MODELS

    if pricing not in PRICING_MODELS:  # never "no foo offer": foo is no pricing model
        raise InputError(f"{pricing_field} = {pricing!r}; accepted: {', '.join(PRICING_MODELS)}")
    from fleetplan.search.packing import check_providers

    gid = catalog.gpu(gpu).id
    check_providers(catalog, [provider] if provider else None)  # as plan and offers refuse it
    if usd_per_gpu_hour is not None:
        check_nonnegative(usd_per_gpu_hour, price_field)
        return GpuPrice(gid, usd_per_gpu_hour, pricing, "user-given", usd_per_gpu_hour)
    offers = [o for o in catalog.offers_for(gpu=gid, provider=provider) if o.pricing == pricing]
    if not offers:
        where = f" from {provider}" if provider else ""
        raise InputError(
            f"no {pricing} offer for {gid}{where} in the catalog; give {price_field} or add an "
            f"offer with --catalog"
        )
    production = [o for o in offers if o.tier not in ("community", "marketplace")]
    production = [o for o in production if not o.is_range] or production
    pool = production or offers
    # a replica within one instance, as a plan buys it, where any offer sells such a size
    pool = [o for o in pool if o.instance_for(tp) is not None] or pool

    def per_gpu_used(o: Offer) -> float:
        return billed_gpus(o, gpus, tp) * o.usd_per_gpu_hour / gpus

    o = min(pool, key=lambda o: (per_gpu_used(o), o.provider))
    instances, size = instances_bought(o, gpus, tp)
    rate = instances * size * o.usd_per_gpu_hour / gpus
    rng = (
        f" (midpoint of {o.usd_per_gpu_hour_low:g}-{o.usd_per_gpu_hour_high:g})"
        if o.is_range
        else ""
    )
    inst = f" {o.instance_type}" if o.instance_type else ""
    whole = (
        f" ({gpus} GPU(s) buy {instances} {size}-GPU instance(s) at "
        f"${size * o.usd_per_gpu_hour:,.2f}/h: ${rate:.2f} per GPU used)"
        if abs(rate - o.usd_per_gpu_hour) > 1e-9
        else ""
    )
    tier = f" {o.tier} tier," if o.tier != "secure" else ""
    span = (
        "" if o.instance_for(tp) else f" (no size sold holds {tp} GPUs: a replica spans instances)"
    )
    basis = (
        f"cheapest {pricing} catalog offer:{tier} {o.provider}{inst} "
        f"${o.usd_per_gpu_hour:.2f}/GPU-h{rng}{whole}{span}, {o.source}, as of {o.as_of}"
    )
    return GpuPrice(gid, rate, pricing, basis, o.usd_per_gpu_hour, size)
