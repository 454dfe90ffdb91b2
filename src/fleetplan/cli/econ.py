"""`fleetplan cost` and `fleetplan breakeven`: unit cost and self-hosted-versus-API breakeven,
every $ figure with its utilization and price basis."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from fleetplan.cli import app
from fleetplan.cli.common import (
    api_overrides,
    catalog_from,
    exclusive,
    json_only,
    only_with,
    print_json,
    table,
)
from fleetplan.cli.options import (
    catalog_opt,
    gpu_opt,
    input_tokens_opt,
    json_opt,
    output_tokens_opt,
    precision_opt,
    prices_opt,
    pricing_opt,
    provider_opt,
    tp_opt,
    tpot_slo_opt,
    ttft_slo_opt,
    update_prices_opt,
    util_opt,
)
from fleetplan.economics.unit_cost import DEFAULT_TPOT_P95_MS, DEFAULT_TTFT_P95_MS
from fleetplan.errors import InputError
from fleetplan.render.terminal import small_usd_text


@app.command("cost")
@gpu_opt()
@click.option("--gpus", type=int, default=1, help="GPUs in the deployment.")
@click.option("--usd-per-hour", type=float, help="$/GPU-hour; default: cheapest catalog offer.")
@provider_opt(default=None)
@pricing_opt(default="on-demand")
@click.option("--tok-per-s", type=float, help="Sustained tokens/s of the deployment when busy.")
@click.option("--model", help="Model: throughput from the perf model.")
@precision_opt(default="auto")
@click.option(
    "--tp",
    type=int,
    help="GPUs per replica: instances hold whole replicas; with --model, default the "
    "smallest that fits.",
)
@input_tokens_opt(default=512)
@output_tokens_opt(default=256)
@util_opt(default=1.0)
@click.option(
    "--requests-per-day",
    type=float,
    help="$/request at this daily volume, idle hours included (always-on).",
)
@tpot_slo_opt(default=DEFAULT_TPOT_P95_MS)
@ttft_slo_opt(default=DEFAULT_TTFT_P95_MS)
@catalog_opt()
@json_opt("as_json")
def cost(
    gpu: str,
    gpus: int,
    usd_per_hour: float | None,
    provider: str | None,
    pricing: str,
    tok_per_s: float | None,
    model: str | None,
    precision: str,
    tp: int | None,
    input_tokens: int,
    output_tokens: int,
    utilization: float,
    requests_per_day: float | None,
    tpot_p95_ms: float,
    ttft_p95_ms: float,
    catalog: list[Path] | None,
    as_json: bool,
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
    # unused without --model, so refused (--tp stays: it packs the GPUs into instances)
    only_with("--model", model is not None, {
        "--precision": (precision, "auto"),
        "--input-tokens": (input_tokens, 512), "--output-tokens": (output_tokens, 256),
        "--tpot-p95-ms": (tpot_p95_ms, DEFAULT_TPOT_P95_MS),
        "--ttft-p95-ms": (ttft_p95_ms, DEFAULT_TTFT_P95_MS),
    })  # fmt: skip
    cat = catalog_from(catalog)
    if gpus < 1:
        raise InputError(f"--gpus = {gpus}; expected a positive number of GPUs")
    per_request, tps, tbasis, notes, over = None, None, "", [], ""
    if model is not None and tp is None:
        tp = smallest_tp(model, gpu, gpus, precision, cat)
        notes.append(f"--tp not given: {tp}, the smallest tensor-parallel degree that fits")
    if tp is not None and (tp < 1 or gpus % tp):
        raise InputError(f"--tp = {tp}; expected a divisor of --gpus {gpus}")
    # whole instances, packed as a plan packs replicas of `tp` GPUs
    price = gpu_price(
        cat, gpu, usd_per_hour, provider=provider, pricing=pricing, gpus=gpus, tp=tp or 1
    )
    usd_hour = price.usd_per_gpu_hour * gpus
    if tok_per_s is not None:
        tps, tbasis = tok_per_s, "user-given"
    elif model is not None:
        assert tp is not None
        cap = model_capacity(
            model, gpu, precision=precision, tp=tp, input_tokens=input_tokens,
            output_tokens=output_tokens, catalog=cat, tpot_slo_ms=tpot_p95_ms or None,
            ttft_slo_ms=ttft_p95_ms or None,
        )  # fmt: skip
        replicas = gpus // tp
        notes.append(f"{replicas} replica(s) of {tp} GPU(s)")
        tps = cap.total_tok_per_s * replicas
        tbasis = f"{replicas} x {cap.basis}, {tps:,.0f} total tok/s"
        if cap.error_basis:
            tbasis += f"; {cap.error_basis}"
        per_request = usd_hour / (cap.req_per_hour * replicas * utilization)
        if requests_per_day and requests_per_day > cap.req_per_hour * replicas * 24:
            over = (
                f"{requests_per_day:,.0f} requests/day exceed the deployment's "
                f"{cap.req_per_hour * replicas * 24:,.0f} at full load: add GPUs"
            )
            notes.append(over)
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
        # a volume the deployment cannot serve has no $/request on it (it read 0.0000, below
        # the $/request at full load)
        if not over:
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
    at_util = f"at {utilization:.0%} utilization"
    if tps is not None:
        counted = "input + output tokens" if model is not None else "the tokens of --tok-per-s"
        rows.append(["$/1M tokens", f"{uc.usd_per_mtok:,.4f}", f"{counted}, {at_util}"])
    if per_request is not None:
        rows.append(["$/request", small_usd_text(per_request), at_util])
    if requests_per_day is not None:
        rows.append(
            [
                "$/request at volume",
                "-" if at_volume is None else small_usd_text(at_volume),
                over
                or f"{requests_per_day:,.0f} requests/day on an always-on deployment "
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
    print("\n".join([*lines, *(n for n in notes if n != over)]))


@app.command("breakeven")
@click.option("--api", multiple=True, required=True, help="API model (repeatable).")
@gpu_opt()
@input_tokens_opt()
@output_tokens_opt()
@click.option(
    "--cached-input-tokens",
    type=int,
    default=0,
    help="Of the input, tokens billed at the API's cached price.",
)
@click.option("--usd-per-hour", type=float, help="$/GPU-hour; default: cheapest catalog offer.")
@provider_opt(default=None)
@pricing_opt(default="on-demand")
@click.option(
    "--capacity-req-per-hour", type=float, help="Requests/hour one replica serves when busy."
)
@click.option("--model", help="Self-hosted model (capacity from perf).")
@precision_opt(default="auto")
@tp_opt(default=1)
@click.option(
    "--min-replicas",
    type=int,
    default=1,
    help="Replicas kept at any volume (a plan's slo.min_replicas).",
)
@tpot_slo_opt(default=DEFAULT_TPOT_P95_MS)
@ttft_slo_opt(default=DEFAULT_TTFT_P95_MS)
@click.option("--ops-usd-per-month", type=float, default=0.0, help="Fixed ops/engineering $/month.")
@util_opt(default=1.0)
@click.option("--batch-api/--no-batch-api", is_flag=True, help="Compare with batch-API prices.")
@click.option(
    "--volume-max", type=float, help="Largest requests/month on the curves (--json's `curve`)."
)
@prices_opt()
@update_prices_opt()
@catalog_opt()
@json_opt("as_json")
def breakeven(
    api: list[str],
    gpu: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int,
    usd_per_hour: float | None,
    provider: str | None,
    pricing: str,
    capacity_req_per_hour: float | None,
    model: str | None,
    precision: str,
    tp: int,
    min_replicas: int,
    tpot_p95_ms: float,
    ttft_p95_ms: float,
    ops_usd_per_month: float,
    utilization: float,
    batch_api: bool,
    volume_max: float | None,
    api_prices: list[Path] | None,
    update_prices: bool,
    catalog: list[Path] | None,
    as_json: bool,
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
    exclusive({"--capacity-req-per-hour": capacity_req_per_hour, "--model": model})
    if min_replicas < 1:
        raise InputError(f"--min-replicas = {min_replicas}; expected at least 1")
    only_with("--model", model is not None, {
        "--precision": (precision, "auto"),
        "--tpot-p95-ms": (tpot_p95_ms, DEFAULT_TPOT_P95_MS),
        "--ttft-p95-ms": (ttft_p95_ms, DEFAULT_TTFT_P95_MS),
    })  # fmt: skip
    json_only("--volume-max", volume_max is not None, as_json, " (the table shows no curve)")
    overrides = api_overrides(api_prices, update_prices)
    cat = catalog_from(catalog)
    # the offer cheapest for the smallest deployment; replicas are then bought as its whole
    # instances, packed as a plan packs them (SelfHosted.instances)
    price = gpu_price(
        cat, gpu, usd_per_hour, provider=provider, pricing=pricing, gpus=tp * min_replicas, tp=tp
    )
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
        if cap.error_basis:
            cap_basis += f"; {cap.error_basis}"
    else:
        raise InputError("give --capacity-req-per-hour, or --model for capacity from perf")
    sh = SelfHosted(
        usd_per_gpu_hour=price.offer_usd_per_gpu_hour,
        capacity_req_per_hour=capacity,
        ops_usd_per_month=ops_usd_per_month,
        utilization=utilization,
        gpus_per_replica=tp,
        min_replicas=min_replicas,
        price_basis=price.basis,
        capacity_basis=cap_basis,
        instance_gpus=price.instance_gpus,
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
            "gpus_per_instance": sh.gpus_per_instance,
            "min_replicas": min_replicas,
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
                small_usd_text(r["api_usd_per_request"]),
                small_usd_text(r["self_hosted_usd_per_request_at_capacity"]),
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
        f"self-hosted {sh['gpus_per_replica']}× {sh['gpu']}"
        + (
            f" (in {sh['gpus_per_instance']}-GPU instances)"
            if sh["gpus_per_instance"] > sh["gpus_per_replica"]
            else ""
        )
        + f" at ${sh['usd_per_gpu_hour']:.2f}/GPU-h, "
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
