"""`fleetplan cache-roi`, `tenancy` and `fleet-mix`: sharing capacity — a prompt cache, a GPU
pool across tenants, a base fleet with burst on spot GPUs or an API — each with --json and a
labelled table."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, exclusive, only_with, print_json
from fleetplan.cli.figure_tables import count, num, pct, show_figures, usd
from fleetplan.cli.options import catalog_opt, gpu_opt, json_opt
from fleetplan.errors import InputError
from fleetplan.render.terminal import price_text, small_usd_text


def _g(value: float) -> str:
    return f"{value:g}"


def _floats(text: str, field: str) -> list[float]:
    from fleetplan.validation import Fraction, GpuDemand, NonNegative, NonNegCount, number_list

    kinds = {"--utilization": Fraction, "--peak-gpus": NonNegCount, "--demand-gpus": GpuDemand}
    return number_list(field, text, kinds.get(field, NonNegative))


@app.command("cache-roi")
@click.option(
    "--prefix-tokens", type=int, required=True, help="Shared prompt prefix (system prompt)."
)
@click.option(
    "--suffix-tokens", type=int, required=True, help="Per-request tokens after the prefix."
)
@click.option("--requests-per-hour", type=float, required=True, help="Request rate.")
@click.option("--hit-rate", type=float, required=True, help="Prefix-cache hit rate (0-1).")
@click.option("--api", help="API model: its input/cached prices.")
@click.option(
    "--output-tokens", type=int, help="Output tokens per request: what a semantic hit saves."
)
@click.option(
    "--semantic-hit-rate", type=float, help="Semantic-cache hits (0-1); needs --api and the below."
)
@click.option(
    "--embedding-usd-per-mtok", type=float, help="Embedding price per query (semantic; default 0)."
)
@click.option(
    "--vector-store-usd-per-month", type=float, help="Vector store cost (semantic; default 0)."
)
@json_opt("as_json")
def cache_roi(
    prefix_tokens: int,
    suffix_tokens: int,
    requests_per_hour: float,
    hit_rate: float,
    api: str | None,
    output_tokens: int | None,
    semantic_hit_rate: float | None,
    embedding_usd_per_mtok: float | None,
    vector_store_usd_per_month: float | None,
    as_json: bool,
) -> None:
    """Prefix caching in tokens and dollars; semantic caching net of its own costs."""
    from fleetplan.catalog.api_prices import api_price
    from fleetplan.economics.caching import prefix_caching, semantic_caching
    from fleetplan.units import HOURS_PER_MONTH

    # each prices the semantic cache only: never silently unused
    only_with("--semantic-hit-rate", semantic_hit_rate is not None, {
        "--output-tokens": (output_tokens, None),
        "--embedding-usd-per-mtok": (embedding_usd_per_mtok, None),
        "--vector-store-usd-per-month": (vector_store_usd_per_month, None),
    }, show=_g)  # fmt: skip
    if semantic_hit_rate is not None and api is None:
        raise InputError("--semantic-hit-rate needs --api for the price of a request")
    if semantic_hit_rate is not None and output_tokens is None:  # 0: a hit with no answer
        raise InputError(
            "--semantic-hit-rate needs --output-tokens: a hit saves the whole request, its "
            "answer included"
        )
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
        assert card is not None and output_tokens is not None
        per_req = card.usd_per_request(prefix_tokens + suffix_tokens, output_tokens)
        sc = semantic_caching(
            requests_per_hour * HOURS_PER_MONTH,
            per_req,
            semantic_hit_rate,
            embedding_tokens_per_request=suffix_tokens,
            embedding_usd_per_mtok=embedding_usd_per_mtok or 0.0,
            vector_store_usd_per_month=vector_store_usd_per_month or 0.0,
        )
        rec["semantic"] = asdict(sc)
    if as_json:
        print_json(rec)
        return
    flat = {f"prefix_{k}": v for k, v in rec["prefix"].items()}
    flat |= {f"semantic_{k}": v for k, v in rec.get("semantic", {}).items()}
    price = "give --api for dollars"
    if card:  # the rates in the table; their source under it (100 columns stay readable)
        cached = card.cached_input_usd_per_mtok
        price = f"{card.provider}:{card.model} input ${card.input_usd_per_mtok:g}/1M" + (
            f", cached ${cached:g}/1M" if cached is not None else ", no cached price"
        )
    fields = [
        ("prefix_prefill_tokens_per_hour_uncached", "prefill tokens/hour, no cache", count,
         f"{requests_per_hour:,.0f} requests/hour x {prefix_tokens + suffix_tokens:,} tokens"),
        ("prefix_prefill_tokens_per_hour_cached", "prefill tokens/hour, cached", count,
         f"hit rate {hit_rate:.0%} on a {prefix_tokens:,}-token prefix"),
        ("prefix_reduction", "prefill tokens saved", pct, ""),
        ("prefix_usd_per_month_uncached", "input $/month, no cache", usd, price),
        ("prefix_usd_per_month_cached", "input $/month, cached", usd, price),
        ("prefix_saves_usd_per_month", "prefix cache saves $/month", usd, price),
    ]  # fmt: skip
    if "semantic" in rec:
        saves = rec["semantic"]["saves_usd_per_month"]
        fields += [
            ("semantic_requests_per_month", "requests/month", count, "requests/hour x 730 h"),
            ("semantic_llm_usd_per_month_uncached", "LLM $/month, no cache", usd,
             f"${small_usd_text(per_req)}/request ({prefix_tokens + suffix_tokens:,} in, "
             f"{output_tokens:,} out), no cache"),
            ("semantic_llm_usd_per_month_cached", "LLM $/month, cached", usd,
             f"{pct(semantic_hit_rate)} answered from the cache"),
            ("semantic_embedding_usd_per_month", "embedding $/month", usd,
             f"{suffix_tokens:,} query tokens a request x ${embedding_usd_per_mtok or 0:g}/1M"),
            ("semantic_vector_store_usd_per_month", "vector store $/month", usd,
             "user-given" if vector_store_usd_per_month is not None else "none given"),
            ("semantic_saves_usd_per_month", "semantic cache saves $/month", usd,
             "negative: it costs more than it saves" if saves < 0
             else "LLM $ saved less embedding and vector store"),
            ("semantic_breakeven_hit_rate", "breakeven semantic hit rate", pct, ""),
        ]  # fmt: skip
    notes = [f"API price: {pc.price_basis}" if card else ""]
    show_figures("caching ROI", flat, fields, False, notes)


@app.command("tenancy")
@click.option("--peak-gpus", required=True, help="Comma-separated peak GPUs per tenant.")
@click.option("--utilization", required=True, help="Comma-separated active fraction per tenant.")
@click.option("--quantile", type=float, default=0.99, help="Demand quantile the pool must cover.")
@json_opt("as_json")
def tenancy(
    peak_gpus: str,
    utilization: str,
    quantile: float,
    as_json: bool,
) -> None:
    """Pooled GPUs for N tenants versus the sum of their peaks (exact, not averaged)."""
    from fleetplan.economics.tenancy import multiplexing

    peaks = _floats(peak_gpus, "--peak-gpus")
    utils = _floats(utilization, "--utilization")
    if len(utils) == 1:
        utils = utils * len(peaks)
    elif len(utils) != len(peaks):
        raise InputError(
            f"--utilization = {utilization!r} gives {len(utils)} fractions for {len(peaks)} "
            "tenants (--peak-gpus); give one per tenant, or one for all"
        )
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
@click.option("--demand-gpus", required=True, help="GPUs needed per hour of a day, comma-sep.")
@gpu_opt()
@click.option("--base-percentile", type=float, default=50.0, help="Size the base for this pct.")
@click.option("--base-pricing", default="on-demand", help="on-demand, reserved-1y, ...")
@click.option("--base-usd-per-hour", type=float, help="Base $/GPU-h.")
@click.option("--burst-usd-per-hour", type=float, help="Burst (spot) $/GPU-h.")
@click.option("--spot-interruption", type=float, help="Fraction of spot hours reclaimed.")
@click.option("--burst-api", help="Send the burst to this API model instead of spot GPUs.")
@click.option(
    "--req-per-gpu-hour", type=float, help="Requests one GPU-hour serves (with --burst-api)."
)
@click.option("--input-tokens", type=int, default=0, help="Prompt tokens per request (API burst).")
@click.option("--output-tokens", type=int, default=0, help="Output tokens per request (API burst).")
@catalog_opt()
@json_opt("as_json")
def fleet_mix(
    demand_gpus: str,
    gpu: str,
    base_percentile: float,
    base_pricing: str,
    base_usd_per_hour: float | None,
    burst_usd_per_hour: float | None,
    spot_interruption: float | None,
    burst_api: str | None,
    req_per_gpu_hour: float | None,
    input_tokens: int,
    output_tokens: int,
    catalog: list[Path] | None,
    as_json: bool,
) -> None:
    """Base fleet for a traffic percentile plus burst on spot GPUs or an API, versus a
    peak-sized fleet."""
    from fleetplan.economics.fleet_mix import hybrid_from_profile
    from fleetplan.economics.pricing import gpu_price
    from fleetplan.errors import InputError

    # each option prices one kind of burst: never silently unused by the other
    for spot_flag, value in (
        ("--burst-usd-per-hour", burst_usd_per_hour),
        ("--spot-interruption", spot_interruption),
    ):
        exclusive({"--burst-api": burst_api, spot_flag: value})
    only_with("--burst-api", bool(burst_api), {
        "--req-per-gpu-hour": (req_per_gpu_hour, None),
        "--input-tokens": (input_tokens, 0),
        "--output-tokens": (output_tokens, 0),
    }, show=_g)  # fmt: skip
    cat = catalog_from(catalog)
    demand = _floats(demand_gpus, "--demand-gpus")
    fleet = max(1, int(max(demand, default=1)))  # instances are bought for the whole fleet
    base = gpu_price(
        cat, gpu, base_usd_per_hour, pricing=base_pricing, gpus=fleet,
        price_field="--base-usd-per-hour", pricing_field="--base-pricing",
    )  # fmt: skip
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
            f"{burst_api} ${small_usd_text(per_req)}/request x {req_per_gpu_hour:g} requests per "
            "GPU-hour "
            f"= ${burst_usd:.2f} per GPU-hour equivalent ({price.source}, as of {price.as_of})"
        )
    else:
        burst = gpu_price(
            cat, gpu, burst_usd_per_hour, pricing="spot", gpus=fleet,
            price_field="--burst-usd-per-hour",
        )  # fmt: skip
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
    # the prices the table's figures multiply, in the JSON too (it had the figures alone)
    record = {
        **asdict(h), "base_pricing": base.pricing, "base_usd_per_gpu_hour": base.usd_per_gpu_hour,
        "base_price_basis": base.basis, "burst_usd_per_gpu_hour": burst_usd,
        "burst_price_basis": burst_basis,
    }  # fmt: skip
    rate, burst_rate = f"${price_text(base.usd_per_gpu_hour)}", f"${price_text(burst_usd)}"
    fields = [
        ("base_gpus", "base GPUs", count, f"{base_percentile:g}th percentile of hourly demand"),
        ("burst_gpus", f"{burst_label}, GPUs at peak", count, ""),
        ("burst_gpu_hours_per_month", f"{burst_label}, GPU-hours/month", count,
         "GPUs above the base, hour by hour, x 730 h"),
        ("base_usd_per_month", "base $/month", usd,
         f"{h.base_gpus} GPUs x 730 h x {rate} ({base.pricing})"),
        ("burst_usd_per_month", f"{burst_label} $/month", usd,
         f"GPU-hours x {burst_rate}" + (" (API cost of a GPU-hour's requests)" if burst_api
                                         else " (spot)")),
        ("interruption_usd_per_month", "spot interruptions $/month", usd,
         "none: the burst goes to an API" if burst_api
         else "not priced: give --spot-interruption" if spot_interruption is None
         else f"{spot_interruption:.0%} of burst hours re-bought at the base price"),
        ("total_usd_per_month", "hybrid total $/month", usd, "base + burst + interruptions"),
        ("compare_gpus", "peak-sized fleet, GPUs", count, "every hour at the peak"),
        ("compare_usd_per_month", "peak-sized fleet $/month", usd,
         f"{h.compare_gpus} GPUs x 730 h x {rate} ({base.pricing})"),
        ("saving_fraction", "hybrid saves", pct, "against the peak-sized fleet"),
    ]  # fmt: skip
    show_figures(
        "hybrid fleet (compared with a peak-sized base-priced fleet)",
        record, fields, as_json, notes,
    )  # fmt: skip
