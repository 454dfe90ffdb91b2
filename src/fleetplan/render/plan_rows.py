"""The rows and labels of the plan report's tables: a deployment as one row, what it buys
(instances of an offer) and at what price, with the price's source and the catalog's note."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetplan.plan import Plan
from fleetplan.plan.context import instance_kind
from fleetplan.search.candidates import Candidate


@dataclass
class Section:
    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def money(x: float) -> str:
    return f"${x:,.0f}"


def offer_label(c: Candidate) -> str:
    """'aws on-demand $55.04/instance-h' — the price of one instance as sold, said per instance (a
    GPU-hour is how prices are often quoted; a range shows its per-GPU span)."""
    o = c.offer
    price = f"${c.usd_per_instance_hour:,.2f}/instance-h"
    if o.is_range:
        price += f" (${o.usd_per_gpu_hour_low:.2f}-{o.usd_per_gpu_hour_high:.2f}/GPU-h)"
    return f"{o.provider} {o.pricing} {price}"


def instances_label(c: Candidate) -> str:
    """'1 x p5.48xlarge (8 GPUs, 8 replicas each)'."""
    kind = instance_kind(c)
    inside = f"{c.instance_gpus} GPU" + ("s" if c.instance_gpus > 1 else "")
    if c.replicas_per_instance > 1:
        inside += f", {c.replicas_per_instance} replicas each"
    return f"{c.instances} x {kind} ({inside})"


def deploy_row(c: Candidate) -> list[str]:
    return [
        f"{c.gpu} x{c.tp}" if c.tp > 1 else c.gpu,
        c.precision,
        c.engine,
        str(c.max_batch),
        str(c.replicas),
        instances_label(c),
        offer_label(c),
        money(c.usd_per_month),
        f"${c.usd_per_million_tokens:,.3f}",
        f"{c.ttft_p95_ms:,.0f}",
        f"{c.tpot_p95_ms:.1f}",
        f"{c.utilization_at_peak:.0%}",
    ]


DEPLOY_COLS = [
    "gpu", "precision", "engine", "max batch", "replicas", "instances", "offer", "$/month",
    "$/1M tok", "TTFT p95 ms", "TPOT p95 ms", "util @peak",
]  # fmt: skip


BY_PROVIDER_COLS = [
    "provider", "pricing", "tier", "gpu", "precision", "replicas", "instances",
    "$/instance-h", "$/month", "regions", "as of",
]  # fmt: skip


def by_provider_section(p: Plan) -> Section:
    return Section(
        "Best per provider and pricing (SLOs met)",
        BY_PROVIDER_COLS,
        [
            [
                c.offer.provider,
                c.offer.pricing,
                c.offer.tier,
                f"{c.gpu} x{c.tp}" if c.tp > 1 else c.gpu,
                c.precision,
                str(c.replicas),
                instances_label(c),
                f"${c.usd_per_instance_hour:,.2f}",
                money(c.usd_per_month),
                c.offer.region or "not stated",
                c.offer.as_of,
            ]
            for c in p.by_provider
        ],
        [
            "one row per (provider, pricing) with an offer the scenario allows",
            *(
                f"{c.offer.provider} {c.offer.pricing}: {c.offer.notes}"
                for c in p.by_provider
                if c.offer.notes
            ),
        ],
    )


def sizes_note(c: Candidate) -> str:
    """How an instance bought at another size than the one the offer lists is sold ("" where
    it is the size listed)."""
    o = c.offer
    if c.instance_gpus == o.gpus_per_instance:
        return ""
    sizes = ", ".join(str(n) for n in sorted({o.gpus_per_instance, *o.gpu_counts}))
    return (
        f"{o.provider} lists {o.instance_type or c.gpu} with {o.gpus_per_instance} GPU(s) and "
        f"sells it in {sizes} GPUs at the same per-GPU price: buy its {c.instance_gpus}-GPU "
        "size"
    )


def price_note(c: Candidate) -> str:
    """Where the offer's price comes from, and what its catalog entry says of it (what the
    instance price leaves out, a price recalled rather than read)."""
    o = c.offer
    return f"price: {o.source} (as of {o.as_of})" + (f"; {o.notes}" if o.notes else "")
