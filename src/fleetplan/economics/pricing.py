"""Which GPU price a figure uses: the user's, or a catalog offer — and saying which."""

from __future__ import annotations

from dataclasses import dataclass

from fleetplan.catalog import Catalog
from fleetplan.catalog.specs import Offer
from fleetplan.economics.unit_cost import check_nonnegative
from fleetplan.errors import InputError


@dataclass(frozen=True)
class GpuPrice:
    gpu: str
    usd_per_gpu_hour: float
    pricing: str
    basis: str  # "user-given" or the offer's provider, instance, source and as_of


def gpu_price(
    catalog: Catalog,
    gpu: str,
    usd_per_gpu_hour: float | None = None,
    *,
    provider: str | None = None,
    pricing: str = "on-demand",
    gpus: int = 1,
    gpus_per_replica: int = 1,
    price_field: str = "--usd-per-hour",
    pricing_field: str = "--pricing",
) -> GpuPrice:
    """The user's price if given, else the catalog offer that rents `gpus` GPUs cheapest under
    `pricing`, as sold: whole instances (one GPU on an 8-GPU-only offer pays for eight), each
    holding whole replicas of `gpus_per_replica` GPUs, in the instance size that bills the
    fewest GPUs (five 1-GPU pods, not one 8-GPU pod, for five single-GPU replicas); secure
    tiers and point prices first. Never a silent default: the basis names the offer.
    `price_field` and `pricing_field` name where the user gives the price and the pricing
    model (an option, a file's field)."""
    from fleetplan.catalog.schema import PRICING_MODELS

    if pricing not in PRICING_MODELS:  # never "no foo offer": foo is no pricing model
        raise InputError(f"{pricing_field} = {pricing!r}; accepted: {', '.join(PRICING_MODELS)}")
    from fleetplan.search.packing import check_providers

    gid = catalog.gpu(gpu).id
    check_providers(catalog, [provider] if provider else None)  # as plan and offers refuse it
    if usd_per_gpu_hour is not None:
        check_nonnegative(usd_per_gpu_hour, price_field)
        return GpuPrice(gid, usd_per_gpu_hour, pricing, "user-given")
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

    def per_gpu_used(o: Offer) -> float:
        return billed_gpus(o, gpus, gpus_per_replica) * o.usd_per_gpu_hour / gpus

    o = min(pool, key=lambda o: (per_gpu_used(o), o.provider))
    rate = per_gpu_used(o)
    rng = (
        f" (midpoint of {o.usd_per_gpu_hour_low:g}-{o.usd_per_gpu_hour_high:g})"
        if o.is_range
        else ""
    )
    inst = f" {o.instance_type}" if o.instance_type else ""
    whole = (
        f" (sold as {o.gpus_per_instance}-GPU instances at ${o.usd_per_instance_hour:,.2f}/h: "
        f"${rate:.2f} per GPU used)"
        if abs(rate - o.usd_per_gpu_hour) > 1e-9
        else ""
    )
    tier = f" {o.tier} tier," if o.tier != "secure" else ""
    basis = (
        f"cheapest {pricing} catalog offer:{tier} {o.provider}{inst} "
        f"${o.usd_per_gpu_hour:.2f}/GPU-h{rng}{whole}, {o.source}, as of {o.as_of}"
    )
    return GpuPrice(gid, rate, pricing, basis)


def billed_gpus(offer: Offer, gpus: int, gpus_per_replica: int = 1) -> int:
    """GPUs billed to rent `gpus` GPUs on `offer`, in replicas of `gpus_per_replica` GPUs: whole
    instances of the size sold that bills the fewest, each holding whole replicas (a replica
    larger than every size spans instances of the largest)."""
    sizes = sorted({offer.gpus_per_instance, *offer.gpu_counts})
    tp = max(1, min(gpus_per_replica, gpus))
    replicas = -(-gpus // tp)
    holding = [s for s in sizes if s >= tp]
    if not holding:
        return -(-gpus // sizes[-1]) * sizes[-1]
    return min(-(-replicas // (s // tp)) * s for s in holding)
