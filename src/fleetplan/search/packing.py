"""The offers a plan may buy, and how they hold replicas: the instance size bought for a
replica of `tp` GPUs, the replicas packed on one instance, and the instance price, per GPU and
tensor parallel degree."""

from __future__ import annotations

import numpy as np

from fleetplan.catalog import Catalog
from fleetplan.catalog.specs import Offer
from fleetplan.errors import UnknownNameError


def instance_packing(offers: list[Offer], tp: int) -> tuple[list[Offer], np.ndarray, np.ndarray]:
    """The offers that hold a replica of `tp` GPUs, with per offer the instance size bought and
    the replicas packed on one instance."""
    usable, size, per = [], [], []
    for o in offers:
        packed = o.instance_for(tp)
        if packed is not None:
            usable.append(o)
            size.append(packed[0])
            per.append(packed[1])
    return usable, np.array(size, float), np.array(per, float)


class OfferPacking:
    """`instance_packing` of each GPU's allowed offers per tensor parallel degree, worked out
    once per (GPU, tp) rather than once per setup (a search has thousands of setups and a few
    dozen (GPU, tp) pairs)."""

    def __init__(self, offers: dict[str, list[Offer]]) -> None:
        self.offers = offers
        self.done: dict[tuple[str, int], tuple] = {}

    def __call__(self, gpu: str, tp: int) -> tuple[list[Offer], np.ndarray, np.ndarray, np.ndarray]:
        """(usable offers, instance sizes, replicas per instance, $/instance-hour)."""
        key = (gpu, tp)
        if key not in self.done:
            usable, size, per = instance_packing(self.offers.get(gpu, []), tp)
            usd_hour = np.array([o.usd_per_gpu_hour for o in usable]) * size
            self.done[key] = (usable, size, per, usd_hour)
        return self.done[key]

    def sizes(self, gpu: str, tp: int) -> set[int]:
        """The replicas per instance of the offers holding a replica of `tp` GPUs (0 stands
        for a free offer, where every entry costs the same)."""
        usable, _, per, _ = self(gpu, tp)
        return {0 if o.usd_per_gpu_hour <= 0 else int(p) for o, p in zip(usable, per, strict=True)}


def offers_for(
    cat: Catalog,
    gpu: str,
    providers: list[str] | None,
    pricing: list[str],
    allow: list[str] | tuple[str, ...] = (),
) -> list[Offer]:
    """The offers a plan may buy for `gpu`: allowed providers and pricing, and — unless the
    scenario allows them — no consumer GPUs, community/marketplace tiers or price ranges."""
    wanted = {p.lower() for p in providers} if providers else None
    if "consumer" not in allow and cat.gpu(gpu).segment == "consumer":
        return []
    return [
        o
        for o in cat.offers_for(gpu=gpu)
        if o.pricing in pricing
        and (wanted is None or o.provider in wanted)
        and ("community" in allow or o.tier not in COMMUNITY_TIERS)
        and ("price-range" in allow or not o.is_range)
    ]


COMMUNITY_TIERS = ("community", "marketplace")


def check_providers(cat: Catalog, providers: list[str] | None) -> None:
    known = {o.provider for o in cat.offers}
    for p in providers or []:
        if p.lower() not in known:
            raise UnknownNameError("provider", p, known)
