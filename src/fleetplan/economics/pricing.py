"""Which GPU price a figure uses: the user's, or a catalog offer — and saying which."""

from __future__ import annotations

from dataclasses import dataclass

from fleetplan.catalog import Catalog
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
) -> GpuPrice:
    """The user's price if given, else the cheapest catalog offer for the GPU (and provider)
    under `pricing` — never a silent default: the basis names the offer."""
    gid = catalog.gpu(gpu).id
    if usd_per_gpu_hour is not None:
        check_nonnegative(usd_per_gpu_hour, "--usd-per-hour")
        return GpuPrice(gid, usd_per_gpu_hour, pricing, "user-given")
    offers = [o for o in catalog.offers_for(gpu=gid, provider=provider) if o.pricing == pricing]
    if not offers:
        where = f" from {provider}" if provider else ""
        raise InputError(
            f"no {pricing} offer for {gid}{where} in the catalog; give --usd-per-hour or add an "
            f"offer with --catalog"
        )
    o = min(offers, key=lambda o: (o.usd_per_gpu_hour, o.provider))
    rng = (
        f" (midpoint of {o.usd_per_gpu_hour_low:g}-{o.usd_per_gpu_hour_high:g})"
        if o.is_range
        else ""
    )
    inst = f" {o.instance_type}" if o.instance_type else ""
    basis = (
        f"cheapest {pricing} catalog offer: {o.provider}{inst} ${o.usd_per_gpu_hour:.2f}/GPU-h"
        f"{rng}, {o.source}, as of {o.as_of}"
    )
    return GpuPrice(gid, o.usd_per_gpu_hour, pricing, basis)
