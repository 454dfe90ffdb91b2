"""`fleetplan tco`, `cache-roi`, `tenancy` and `fleet-mix`: owned hardware, caching, sharing
and base-plus-burst fleets, each with --json and a table."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from fleetplan.cli import app
from fleetplan.cli.common import CatalogOpt, JsonOpt, catalog_from, console, print_json, table
from fleetplan.errors import InputError


def _show(title: str, record: dict[str, Any], as_json: bool, notes: list[str] = ()) -> None:  # type: ignore[assignment]
    if as_json:
        print_json(record)
        return
    rows = []
    for k, v in record.items():
        shown = f"{v:,.4f}".rstrip("0").rstrip(".") if isinstance(v, float) else v
        rows.append([k, shown])
    out = console()
    out.print(table(title, [("", "left"), ("", "right")], rows))
    if notes:
        out.print("\n".join(notes), markup=False)


def _floats(text: str, field: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"{field} = {text!r}; expected comma-separated numbers") from None


@app.command()
def tco(
    gpu: Annotated[str, typer.Option(help="GPU id: capex and power from the catalog.")],
    gpus: Annotated[int, typer.Option(help="GPUs bought.")] = 1,
    price_usd: Annotated[float | None, typer.Option(help="Purchase price per GPU.")] = None,
    life_years: Annotated[float, typer.Option(help="Amortization life.")] = 3.0,
    load: Annotated[float, typer.Option(help="Average power draw as a fraction of TDP.")] = 1.0,
    pue: Annotated[float, typer.Option(help="Power usage effectiveness (≥ 1).")] = 1.0,
    usd_per_kwh: Annotated[float, typer.Option(help="Electricity price.")] = 0.0,
    network_setup_usd: Annotated[float, typer.Option(help="Networking and setup capex.")] = 0.0,
    ops_usd_per_month: Annotated[float, typer.Option(help="Ops labor per month.")] = 0.0,
    rent_usd_per_hour: Annotated[
        float | None, typer.Option(help="Rent $/GPU-h to compare; default: cheapest offer.")
    ] = None,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Owned-hardware cost per GPU-hour versus renting, with the payback month."""
    from fleetplan.economics.pricing import gpu_price
    from fleetplan.economics.tco import tco as solve

    cat = catalog_from(catalog)
    spec = cat.gpu(gpu)
    if price_usd is None:
        if spec.purchase_price_usd is None:
            raise InputError(f"the catalog has no purchase price for {spec.id}; give --price-usd")
        price_usd = spec.purchase_price_usd
        basis = (
            f"catalog: {spec.price_source or spec.source}, as of {spec.price_as_of or spec.as_of}"
        )
    else:
        basis = "user-given"
    try:
        rent = gpu_price(cat, spec.id, rent_usd_per_hour)
    except InputError:
        rent = None
    t = solve(
        price_usd,
        gpus,
        life_years=life_years,
        power_w=spec.tdp_w,
        load=load,
        pue=pue,
        usd_per_kwh=usd_per_kwh,
        network_setup_usd=network_setup_usd,
        ops_usd_per_month=ops_usd_per_month,
        rent_usd_per_gpu_hour=None if rent is None else rent.usd_per_gpu_hour,
        capex_basis=basis,
    )
    rec = {**asdict(t), "rent_basis": None if rent is None else rent.basis, "power_w": spec.tdp_w}
    notes = [f"capex: {basis}", f"power: TDP {spec.tdp_w:g} W × {load:g} load × PUE {pue:g}"]
    if rent is not None:
        notes.append(f"rent: {rent.basis}")
    _show(f"owning {gpus}× {spec.id}", rec, as_json, notes)


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
    flat = {f"prefix {k}": v for k, v in rec["prefix"].items()}
    flat |= {f"semantic {k}": v for k, v in rec.get("semantic", {}).items()}
    _show("caching ROI", flat, False)


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
    m = multiplexing([int(p) if p == int(p) else p for p in peaks], utils, quantile)  # type: ignore[misc]
    _show("multi-tenancy", asdict(m), as_json)


@app.command("fleet-mix")
def fleet_mix(
    demand_gpus: Annotated[str, typer.Option(help="GPUs needed per hour of a day, comma-sep.")],
    gpu: Annotated[str, typer.Option(help="GPU id, for catalog prices.")],
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
    base = gpu_price(cat, gpu, base_usd_per_hour, pricing=base_pricing)
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
        burst = gpu_price(cat, gpu, burst_usd_per_hour, pricing="spot")
        burst_usd, burst_basis = burst.usd_per_gpu_hour, burst.basis
    h = hybrid_from_profile(
        _floats(demand_gpus, "--demand-gpus"),
        base_percentile,
        base.usd_per_gpu_hour,
        burst_usd,
        spot_interruption_fraction=spot_interruption,
        api_burst=burst_api or "",
    )
    notes = [f"base price: {base.basis}", f"burst price: {burst_basis}", h.risk]
    _show("hybrid fleet (compared with a peak-sized base-priced fleet)", asdict(h), as_json, notes)
