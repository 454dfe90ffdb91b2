"""`fleetplan cost`, `fleetplan breakeven` and `fleetplan api models|price`: unit cost and
self-hosted-versus-API breakeven, every $ figure with its utilization and price basis."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, exclusive, print_json, table
from fleetplan.cli.options import (
    CatalogOpt,
    GpuOpt,
    InputTokensOpt,
    JsonOpt,
    OutputTokensOpt,
    PrecisionOpt,
    PricesOpt,
    PricingOpt,
    ProviderOpt,
    TpOpt,
    TpotSloOpt,
    TtftSloOpt,
    UpdatePricesOpt,
    UtilOpt,
)
from fleetplan.economics.unit_cost import DEFAULT_TPOT_P95_MS, DEFAULT_TTFT_P95_MS
from fleetplan.errors import InputError

api_app = typer.Typer(help="API model prices (from genai-prices, offline).", no_args_is_help=True)
app.add_typer(api_app, name="api")


def _overrides(paths: list[Path] | None, update: bool) -> dict[str, Any]:
    from fleetplan.catalog.api_prices import load_api_overrides, update_prices

    if update:
        update_prices()
    return load_api_overrides(*(paths or []))


@api_app.command("models")
def api_models(
    query: Annotated[str, typer.Argument(help="Substring to filter on.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """API model names genai-prices knows (name a host's model as provider:model)."""
    from fleetplan.catalog.api_prices import known_api_models

    names = [n for n in known_api_models() if query.lower() in n.lower()]
    if as_json:
        print_json(names)
    else:
        for n in names:
            print(n)


@api_app.command("price")
def api_price_cmd(
    model: Annotated[str, typer.Argument(help="API model, or provider:model.")],
    batch: Annotated[bool, typer.Option(help="Batch-API prices.")] = False,
    api_prices: PricesOpt = None,
    update_prices: UpdatePricesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """One API model's $/1M input, output and cached-input tokens, tiers and source."""
    from fleetplan.catalog.api_prices import api_price

    card = api_price(model, batch=batch, overrides=_overrides(api_prices, update_prices))
    if as_json:
        print_json(asdict(card))
        return

    def rate(x: float | None) -> str:
        return "not offered" if x is None else (f"${x:,.2f}" if x >= 0.1 else f"${x:.4f}")

    rows = [
        ["input", rate(card.input_usd_per_mtok), card.pricing],
        ["output", rate(card.output_usd_per_mtok), card.pricing],
        ["cached input", rate(card.cached_input_usd_per_mtok), card.pricing],
    ]
    for t in card.tiers:
        start = f"from {t.start_input_tokens:,} input tokens"
        rows += [
            ["input", rate(t.input_usd_per_mtok), start],
            ["output", rate(t.output_usd_per_mtok), start],
        ]
    cols = [("tokens", "left"), ("$/1M tokens", "right"), ("pricing", "left")]
    print(table(f"{card.provider}:{card.model}", cols, rows))
    print(
        f"source: {card.source}, {card.as_of}"
        + (f"; provider's page: {card.pricing_url}" if card.pricing_url else "")
    )


@app.command()
def cost(
    gpu: GpuOpt,
    gpus: Annotated[int, typer.Option(help="GPUs in the deployment.")] = 1,
    usd_per_hour: Annotated[
        float | None, typer.Option(help="$/GPU-hour; default: cheapest catalog offer.")
    ] = None,
    provider: ProviderOpt = None,
    pricing: PricingOpt = "on-demand",
    tok_per_s: Annotated[
        float | None, typer.Option(help="Sustained tokens/s of the deployment when busy.")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model: throughput from the perf model.")
    ] = None,
    precision: PrecisionOpt = "bf16",
    tp: Annotated[
        int | None,
        typer.Option(help="GPUs per replica (with --model); default: the smallest that fits."),
    ] = None,
    input_tokens: InputTokensOpt = 512,
    output_tokens: OutputTokensOpt = 256,
    utilization: UtilOpt = 1.0,
    requests_per_day: Annotated[
        float | None,
        typer.Option(help="$/request at this daily volume, idle hours included (always-on)."),
    ] = None,
    tpot_p95_ms: TpotSloOpt = DEFAULT_TPOT_P95_MS,
    ttft_p95_ms: TtftSloOpt = DEFAULT_TTFT_P95_MS,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """$/hour, $/month, $/request and $/1M tokens of a deployment at a utilization, and
    $/request at a daily volume (--requests-per-day) with the idle time paid for."""
    from fleetplan.economics.pricing import gpu_price
    from fleetplan.economics.unit_cost import (
        model_capacity,
        smallest_tp,
        unit_cost,
        usd_per_request_at_volume,
    )

    exclusive({"--tok-per-s": tok_per_s, "--model": model})
    cat = catalog_from(catalog)
    if gpus < 1:
        raise InputError(f"--gpus = {gpus}; expected a positive number of GPUs")
    price = gpu_price(cat, gpu, usd_per_hour, provider=provider, pricing=pricing, gpus=gpus)
    per_request, tps, tbasis, notes = None, None, "", []
    usd_hour = price.usd_per_gpu_hour * gpus
    if tok_per_s is not None:
        tps, tbasis = tok_per_s, "user-given"
    elif model is not None:
        if tp is None:
            tp = smallest_tp(model, gpu, gpus, precision, cat)
            notes.append(f"--tp not given: {tp}, the smallest tensor-parallel degree that fits")
        if tp < 1 or gpus % tp:
            raise InputError(f"--tp = {tp}; expected a divisor of --gpus {gpus}")
        cap = model_capacity(
            model, gpu, precision=precision, tp=tp, input_tokens=input_tokens,
            output_tokens=output_tokens, catalog=cat, tpot_slo_ms=tpot_p95_ms or None,
            ttft_slo_ms=ttft_p95_ms or None,
        )  # fmt: skip
        replicas = gpus // tp
        notes.append(f"{replicas} replica(s) of {tp} GPU(s)")
        tps = cap.total_tok_per_s * replicas
        tbasis = f"{replicas} x {cap.basis}, {tps:,.0f} total tok/s"
        per_request = usd_hour / (cap.req_per_hour * replicas * utilization)
        if requests_per_day and requests_per_day > cap.req_per_hour * replicas * 24:
            notes.append(
                f"{requests_per_day:,.0f} requests/day exceed the deployment's "
                f"{cap.req_per_hour * replicas * 24:,.0f} at full load: add GPUs"
            )
    elif requests_per_day is None:
        raise InputError(
            "give --tok-per-s, --model for throughput from the performance model, or "
            "--requests-per-day for $/request at a volume"
        )
    record: dict[str, Any] = {}
    if tps is not None:
        uc = unit_cost(
            price.usd_per_gpu_hour, gpus, tps, utilization,
            price_basis=price.basis, throughput_basis=tbasis,
        )  # fmt: skip
        record = {**asdict(uc), "usd_per_request": per_request}
    at_volume = None
    if requests_per_day is not None:
        at_volume = usd_per_request_at_volume(usd_hour, requests_per_day)
        record["requests_per_day"] = requests_per_day
        record["usd_per_request_at_volume"] = at_volume
    record.update(
        gpu=price.gpu, gpus=gpus, tp=tp, usd_per_gpu_hour=price.usd_per_gpu_hour,
        price_basis=price.basis, notes=notes,
        slo={"tpot_p95_ms": tpot_p95_ms or None, "ttft_ms": ttft_p95_ms or None}
        if model is not None else None,
    )  # fmt: skip
    if as_json:
        print_json(record)
        return
    rows = [
        ["$/hour", f"{usd_hour:,.2f}", f"{gpus} × ${price.usd_per_gpu_hour:.2f}/GPU-h"],
        ["$/month", f"{usd_hour * 730:,.2f}", "730 h"],
    ]
    if tps is not None:
        rows.append(["$/1M tokens", f"{uc.usd_per_mtok:,.4f}", f"at {utilization:.0%} utilization"])
    if per_request is not None:
        rows.append(["$/request", f"{per_request:.6f}", f"at {utilization:.0%} utilization"])
    if at_volume is not None:
        rows.append(
            [
                "$/request at volume",
                f"{at_volume:.4f}",
                f"{requests_per_day:,.0f} requests/day on an always-on deployment "
                f"(24 h x ${usd_hour:.2f}/h / {requests_per_day:,.0f})",
            ]
        )
    print(
        table(
            f"cost of {gpus}× {price.gpu}",
            [("figure", "left"), ("value", "right"), ("basis", "left")],
            rows,
        )
    )
    lines = [f"price: {price.basis}"]
    if tps is not None:
        lines.append(f"throughput: {tbasis}")
    print("\n".join([*lines, *notes]))


@app.command()
def breakeven(
    api: Annotated[list[str], typer.Option("--api", help="API model (repeatable).")],
    gpu: GpuOpt,
    input_tokens: InputTokensOpt,
    output_tokens: OutputTokensOpt,
    cached_input_tokens: Annotated[
        int, typer.Option(help="Of the input, tokens billed at the API's cached price.")
    ] = 0,
    usd_per_hour: Annotated[
        float | None, typer.Option(help="$/GPU-hour; default: cheapest catalog offer.")
    ] = None,
    provider: ProviderOpt = None,
    pricing: PricingOpt = "on-demand",
    capacity_req_per_hour: Annotated[
        float | None, typer.Option(help="Requests/hour one replica serves when busy.")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Self-hosted model (capacity from perf).")
    ] = None,
    precision: PrecisionOpt = "bf16",
    tp: TpOpt = 1,
    tpot_p95_ms: TpotSloOpt = DEFAULT_TPOT_P95_MS,
    ttft_p95_ms: TtftSloOpt = DEFAULT_TTFT_P95_MS,
    ops_usd_per_month: Annotated[float, typer.Option(help="Fixed ops/engineering $/month.")] = 0.0,
    utilization: UtilOpt = 1.0,
    batch_api: Annotated[bool, typer.Option(help="Compare with batch-API prices.")] = False,
    volume_max: Annotated[
        float | None, typer.Option(help="Largest requests/month on the curves.")
    ] = None,
    api_prices: PricesOpt = None,
    update_prices: UpdatePricesOpt = False,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Capacity-aware breakeven of self-hosting against API models."""
    from fleetplan.catalog.api_prices import api_price
    from fleetplan.economics.breakeven import SelfHosted
    from fleetplan.economics.breakeven import breakeven as solve
    from fleetplan.economics.pricing import gpu_price
    from fleetplan.economics.unit_cost import check_nonnegative, model_capacity

    for name, v in (("--input-tokens", input_tokens), ("--output-tokens", output_tokens)):
        if v < 1:
            raise InputError(f"{name} = {v}; expected a positive number of tokens")
    check_nonnegative(ops_usd_per_month, "--ops-usd-per-month")
    overrides = _overrides(api_prices, update_prices)
    cat = catalog_from(catalog)
    price = gpu_price(cat, gpu, usd_per_hour, provider=provider, pricing=pricing, gpus=tp)
    if capacity_req_per_hour is not None:
        cap_basis, capacity = "user-given", capacity_req_per_hour
    elif model is not None:
        cap = model_capacity(
            model,
            gpu,
            precision=precision,
            tp=tp,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            catalog=cat,
            tpot_slo_ms=tpot_p95_ms or None,
            ttft_slo_ms=ttft_p95_ms or None,
        )
        capacity = cap.req_per_hour
        cap_basis = f"{cap.basis} / {output_tokens} output tokens = {capacity:,.0f} req/h"
    else:
        raise InputError("give --capacity-req-per-hour, or --model for capacity from perf")
    sh = SelfHosted(
        usd_per_gpu_hour=price.usd_per_gpu_hour,
        capacity_req_per_hour=capacity,
        ops_usd_per_month=ops_usd_per_month,
        utilization=utilization,
        gpus_per_replica=tp,
        price_basis=price.basis,
        capacity_basis=cap_basis,
    )
    records = []
    for name in api:
        card = api_price(name, batch=batch_api, overrides=overrides)
        per_req = card.usd_per_request(input_tokens, output_tokens, cached_input_tokens)
        b = solve(
            f"{card.provider}:{card.model}", per_req, sh, input_tokens + output_tokens, volume_max
        )
        rec = asdict(b)
        rec["curve"] = {k: list(v) for k, v in rec["curve"].items()}
        rec["api_price"] = asdict(card)
        rec["self_hosted"] = {
            "gpu": price.gpu,
            "usd_per_gpu_hour": sh.usd_per_gpu_hour,
            "gpus_per_replica": tp,
            "capacity_req_per_hour": capacity,
            "capacity_batch": None if model is None else cap.batch,
            "ops_usd_per_month": ops_usd_per_month,
            "utilization": utilization,
            "price_basis": price.basis,
            "capacity_basis": cap_basis,
        }
        records.append(rec)
    if as_json:
        print_json(records)
        return
    _print_breakeven(records)


def _print_breakeven(records: list[dict[str, Any]]) -> None:
    sh = records[0]["self_hosted"]
    rows = []
    for r in records:
        be = r["breakeven_requests_per_month"]
        rows.append(
            [
                r["api"],
                f"{r['api_usd_per_request']:.6f}",
                f"{r['self_hosted_usd_per_request_at_capacity']:.6f}",
                "none" if be is None else f"{be:,}",
                "-" if be is None else f"{r['breakeven_tokens_per_month']:,}",
                "-" if be is None else r["gpus_at_breakeven"],
                f"{r['naive_breakeven_requests_per_month']:,.0f}",
            ]
        )
    cols = [
        ("API", "left"),
        ("API $/req", "right"),
        ("self $/req at capacity", "right"),
        ("breakeven req/mo", "right"),
        ("tokens/mo", "right"),
        ("GPUs", "right"),
        ("naive req/mo", "right"),
    ]
    title = (
        f"self-hosted {sh['gpus_per_replica']}× {sh['gpu']} at "
        f"${sh['usd_per_gpu_hour']:.2f}/GPU-h, "
        f"{sh['capacity_req_per_hour']:,.0f} req/h, ops ${sh['ops_usd_per_month']:,.0f}/month, "
        f"{sh['utilization']:.0%} utilization"
    )
    print(table(title, cols, rows))
    lines = [f"GPU price: {sh['price_basis']}", f"capacity: {sh['capacity_basis']}"]
    for r in records:
        p = r["api_price"]
        lines.append(f"{r['api']}: {r['reason']}")
        label = "naive breakeven" if r["naive_holds"] else "naive breakeven is wrong"
        lines.append(f"  {label}: {r['naive_note']}")
        lines.append(f"  API price: {p['source']}, {p['as_of']}")
    print("\n".join(lines))
