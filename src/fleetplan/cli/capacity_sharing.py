"""`fleetplan cache-roi`, `tenancy` and `fleet-mix`: sharing capacity — a prompt cache, a GPU
pool across tenants, a base fleet with burst on spot GPUs or an API — each with --json and a
labelled table."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, print_json
from fleetplan.cli.figure_tables import count, num, pct, show_figures, usd
from fleetplan.cli.options import CatalogOpt, GpuOpt, JsonOpt
from fleetplan.errors import InputError


def _floats(text: str, field: str) -> list[float]:
    from fleetplan.validation import Fraction, NonNegative, NonNegCount, number_list

    kinds = {"--utilization": Fraction, "--peak-gpus": NonNegCount}
    return number_list(field, text, kinds.get(field, NonNegative))


@app.command("cache-roi")
def cache_roi(
    prefix_tokens: Annotated[int, typer.Option(help="Shared prompt prefix (system prompt).")],
    suffix_tokens: Annotated[int, typer.Option(help="Per-request tokens after the prefix.")],
    requests_per_hour: Annotated[float, typer.Option(help="Request rate.")],
    hit_rate: Annotated[float, typer.Option(help="Prefix-cache hit rate (0-1).")],
    api: Annotated[str | None, typer.Option(help="API model: its input/cached prices.")] = None,
    output_tokens: Annotated[int, typer.Option(help="For semantic caching's $/request.")] = 0,
    semantic_hit_rate: Annotated[float | None, typer.Option(help="Semantic-cache hits.")] = None,
    embedding_usd_per_mtok: Annotated[float, typer.Option(help="Embedding price.")] = 0.0,
    vector_store_usd_per_month: Annotated[float, typer.Option(help="Vector store cost.")] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Prefix caching in tokens and dollars; semantic caching net of its own costs."""
    from fleetplan.catalog.api_prices import api_price
    from fleetplan.economics.caching import prefix_caching, semantic_caching
    from fleetplan.units import HOURS_PER_MONTH

    card = api_price(api) if api else None
    pc = prefix_caching(
        prefix_tokens,
        suffix_tokens,
        requests_per_hour,
        hit_rate,
        input_usd_per_mtok=card.input_usd_per_mtok if card else None,
        cached_usd_per_mtok=card.cached_input_usd_per_mtok if card else None,
        price_basis=f"{card.provider}:{card.model}, {card.source}, {card.as_of}" if card else "",
    )
    rec: dict[str, Any] = {"prefix": asdict(pc)}
    if semantic_hit_rate is not None:
        if card is None:
            raise InputError("--semantic-hit-rate needs --api for the price of a request")
        per_req = card.usd_per_request(prefix_tokens + suffix_tokens, output_tokens)
        sc = semantic_caching(
            requests_per_hour * HOURS_PER_MONTH,
            per_req,
            semantic_hit_rate,
            embedding_tokens_per_request=suffix_tokens,
            embedding_usd_per_mtok=embedding_usd_per_mtok,
            vector_store_usd_per_month=vector_store_usd_per_month,
        )
        rec["semantic"] = asdict(sc)
    if as_json:
        print_json(rec)
        return
    flat = {f"prefix_{k}": v for k, v in rec["prefix"].items()}
    flat |= {f"semantic_{k}": v for k, v in rec.get("semantic", {}).items()}
    price = pc.price_basis if card else "give --api for dollars"
    fields = [
        ("prefix_prefill_tokens_per_hour_uncached", "prefill tokens/hour, no cache", count, ""),
        ("prefix_prefill_tokens_per_hour_cached", "prefill tokens/hour, cached", count,
         f"hit rate {hit_rate:.0%} on a {prefix_tokens:,}-token prefix"),
        ("prefix_reduction", "prefill tokens saved", pct, ""),
        ("prefix_usd_per_month_uncached", "input $/month, no cache", usd, price),
        ("prefix_usd_per_month_cached", "input $/month, cached", usd, price),
        ("prefix_saves_usd_per_month", "prefix cache saves $/month", usd, price),
    ]  # fmt: skip
    if "semantic" in rec:
        fields += [
            ("semantic_requests_per_month", "requests/month", count, ""),
            ("semantic_llm_usd_per_month_uncached", "LLM $/month, no cache", usd, ""),
            ("semantic_llm_usd_per_month_cached", "LLM $/month, cached", usd,
             f"{semantic_hit_rate:.0%} answered from the cache"),
            ("semantic_embedding_usd_per_month", "embedding $/month", usd, ""),
            ("semantic_vector_store_usd_per_month", "vector store $/month", usd, ""),
            ("semantic_saves_usd_per_month", "semantic cache saves $/month", usd,
             "negative: it costs more than it saves"),
            ("semantic_breakeven_hit_rate", "breakeven semantic hit rate", pct, ""),
        ]  # fmt: skip
    show_figures("caching ROI", flat, fields, False)


@app.command()
def tenancy(
    peak_gpus: Annotated[str, typer.Option(help="Comma-separated peak GPUs per tenant.")],
    utilization: Annotated[str, typer.Option(help="Comma-separated active fraction per tenant.")],
    quantile: Annotated[float, typer.Option(help="Demand quantile the pool must cover.")] = 0.99,
    as_json: JsonOpt = False,
) -> None:
    """Pooled GPUs for N tenants versus the sum of their peaks (exact, not averaged)."""
    from fleetplan.economics.tenancy import multiplexing

    peaks = _floats(peak_gpus, "--peak-gpus")
    utils = _floats(utilization, "--utilization")
    if len(utils) == 1:
        utils = utils * len(peaks)
    m = multiplexing([int(p) for p in peaks], utils, quantile)
    fields = [
        ("tenants", "tenants", count, ""),
        ("sum_of_peaks_gpus", "GPUs, dedicated (sum of peaks)", count, "each tenant at its peak"),
        ("pooled_gpus", "GPUs, pooled", count,
         f"{m.quantile:.1%} quantile of the exact demand distribution"),
        ("mean_demand_gpus", "mean demand, GPUs", num, ""),
        ("dedicated_utilization", "utilization, dedicated", pct, "mean demand / GPUs"),
        ("pooled_utilization", "utilization, pooled", pct, "mean demand / GPUs"),
        ("saving_fraction", "GPUs saved by pooling", pct, ""),
    ]  # fmt: skip
    show_figures("multi-tenancy: dedicated versus pooled GPUs", asdict(m), fields, as_json)


@app.command("fleet-mix")
def fleet_mix(
    demand_gpus: Annotated[str, typer.Option(help="GPUs needed per hour of a day, comma-sep.")],
    gpu: GpuOpt,
    base_percentile: Annotated[float, typer.Option(help="Size the base for this pct.")] = 50.0,
    base_pricing: Annotated[str, typer.Option(help="on-demand, reserved-1y, ...")] = "on-demand",
    base_usd_per_hour: Annotated[float | None, typer.Option(help="Base $/GPU-h.")] = None,
    burst_usd_per_hour: Annotated[float | None, typer.Option(help="Burst (spot) $/GPU-h.")] = None,
    spot_interruption: Annotated[
        float | None, typer.Option(help="Fraction of spot hours reclaimed.")
    ] = None,
    burst_api: Annotated[
        str | None, typer.Option(help="Send the burst to this API model instead of spot GPUs.")
    ] = None,
    req_per_gpu_hour: Annotated[
        float | None, typer.Option(help="Requests one GPU-hour serves (with --burst-api).")
    ] = None,
    input_tokens: Annotated[int, typer.Option(help="Prompt tokens per request (API burst).")] = 0,
    output_tokens: Annotated[int, typer.Option(help="Output tokens per request (API burst).")] = 0,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Base fleet for a traffic percentile plus burst on spot GPUs or an API, versus a
    peak-sized fleet."""
    from fleetplan.economics.fleet_mix import hybrid_from_profile
    from fleetplan.economics.pricing import gpu_price
    from fleetplan.errors import InputError

    cat = catalog_from(catalog)
    demand = _floats(demand_gpus, "--demand-gpus")
    fleet = max(1, int(max(demand, default=1)))  # instances are bought for the whole fleet
    base = gpu_price(cat, gpu, base_usd_per_hour, pricing=base_pricing, gpus=fleet)
    if burst_api:
        from fleetplan.catalog.api_prices import api_price

        if not req_per_gpu_hour or req_per_gpu_hour <= 0 or input_tokens + output_tokens <= 0:
            raise InputError(
                "--burst-api needs --req-per-gpu-hour (> 0) and --input-tokens/--output-tokens "
                "to turn burst GPU-hours into API requests"
            )
        price = api_price(burst_api)
        per_req = price.usd_per_request(input_tokens, output_tokens)
        burst_usd = per_req * req_per_gpu_hour
        burst_basis = (
            f"{burst_api} ${per_req:.6f}/request x {req_per_gpu_hour:g} requests per GPU-hour "
            f"= ${burst_usd:.2f} per GPU-hour equivalent ({price.source}, as of {price.as_of})"
        )
    else:
        burst = gpu_price(cat, gpu, burst_usd_per_hour, pricing="spot", gpus=fleet)
        burst_usd, burst_basis = burst.usd_per_gpu_hour, burst.basis
    h = hybrid_from_profile(
        demand,
        base_percentile,
        base.usd_per_gpu_hour,
        burst_usd,
        spot_interruption_fraction=spot_interruption,
        api_burst=burst_api or "",
    )
    notes = [f"base price: {base.basis}", f"burst price: {burst_basis}", h.risk]
    burst_label = "API burst" if burst_api else "spot burst"
    fields = [
        ("base_gpus", "base GPUs", count, f"{base_percentile:g}th percentile of hourly demand"),
        ("burst_gpus", f"{burst_label}, GPUs at peak", count, ""),
        ("burst_gpu_hours_per_month", f"{burst_label}, GPU-hours/month", count, ""),
        ("base_usd_per_month", "base $/month", usd, f"{base.pricing}"),
        ("burst_usd_per_month", f"{burst_label} $/month", usd, ""),
        ("interruption_usd_per_month", "spot interruptions $/month", usd, "re-run work"),
        ("total_usd_per_month", "hybrid total $/month", usd, ""),
        ("compare_gpus", "peak-sized fleet, GPUs", count, "every hour at the peak"),
        ("compare_usd_per_month", "peak-sized fleet $/month", usd, f"{base.pricing}"),
        ("saving_fraction", "hybrid saves", pct, "against the peak-sized fleet"),
    ]  # fmt: skip
    show_figures(
        "hybrid fleet (compared with a peak-sized base-priced fleet)",
        asdict(h), fields, as_json, notes,
    )  # fmt: skip
