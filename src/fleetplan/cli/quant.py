"""`fleetplan quantize` and `fleetplan lora`: what quantization and adapter sharing save."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, print_json, table
from fleetplan.cli.options import (
    calibration_opt,
    catalog_opt,
    engine_opt,
    gpu_opt,
    input_tokens_opt,
    json_opt,
    model_arg,
    output_tokens_opt,
    tpot_slo_opt,
    ttft_slo_opt,
)
from fleetplan.economics.unit_cost import DEFAULT_TPOT_P95_MS, DEFAULT_TTFT_P95_MS


@app.command("quantize")
@model_arg("model")
@gpu_opt()
@click.option(
    "--precisions",
    default="auto,bf16,fp8,int8,awq",
    help="Comma-separated precisions; auto = the format the model's weights ship in.",
)
@input_tokens_opt(default=512)
@output_tokens_opt(default=256)
@click.option("--utilization", type=float, default=0.7, help="Busy fraction of the hours paid.")
@click.option("--usd-per-hour", type=float, help="$/GPU-hour (default: cheapest on-demand offer).")
@engine_opt(default="vllm")
@tpot_slo_opt(default=DEFAULT_TPOT_P95_MS)
@ttft_slo_opt(default=DEFAULT_TTFT_P95_MS)
@catalog_opt()
@calibration_opt()
@json_opt("as_json")
def quantize(
    model: str,
    gpu: str,
    precisions: str,
    input_tokens: int,
    output_tokens: int,
    utilization: float,
    usd_per_hour: float | None,
    engine: str,
    tpot_p95_ms: float,
    ttft_p95_ms: float,
    catalog: list[Path] | None,
    calibration: list[Path] | None,
    as_json: bool,
) -> None:
    """The same model at several precisions: GPUs needed, tokens/s, $/1M tokens, quality —
    each at the largest batch meeting the SLO.

    MODEL: Catalog model id or alias, or a config.json path."""
    from fleetplan.catalog import resolve_model
    from fleetplan.economics.pricing import GpuPrice, gpu_price
    from fleetplan.economics.quantization import compare_precisions
    from fleetplan.validation import name_list

    cat = catalog_from(catalog, calibration)
    m = resolve_model(cat, model)
    prices: dict[int, GpuPrice] = {}

    def price_for(tp: int) -> float:
        """One replica of `tp` GPUs in whole instances, as `cost --gpus TP --tp TP` prices it."""
        if tp not in prices:
            prices[tp] = gpu_price(cat, gpu, usd_per_hour, gpus=tp, tp=tp)
        return prices[tp].usd_per_gpu_hour

    rows = compare_precisions(
        m,
        gpu,
        name_list("--precisions", precisions, "bf16,fp8"),
        price_for,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        utilization=utilization,
        engine=engine,
        catalog=cat,
        tpot_slo_ms=tpot_p95_ms or None,
        ttft_slo_ms=ttft_p95_ms or None,
    )
    price_for(1) if not prices else None  # an unpriced GPU is refused even where none runs
    bases = {prices[r.tp].basis for r in rows if r.tp is not None} or {prices[1].basis}
    basis = (
        bases.pop()
        if len(bases) == 1
        else "; ".join(f"{tp} GPU(s): {prices[tp].basis}" for tp in sorted(prices))
    )
    slo = {"tpot_p95_ms": tpot_p95_ms or None, "ttft_ms": ttft_p95_ms or None}
    if as_json:
        print_json(
            {
                "model": m.id,
                "gpu": cat.gpu(gpu).id,
                "utilization": utilization,
                "slo": slo,
                "price_basis": basis,
                "rows": [asdict(r) for r in rows],
            }
        )
        return
    cols = [
        ("precision", "left"), ("engine", "left"), ("GPUs", "right"), ("weights GB", "right"),
        ("batch", "right"),
        ("out tok/s", "right"), ("TPOT ms", "right"), ("$/1M out", "right"),
        ("$/1M all", "right"), ("quality", "left"),
    ]  # fmt: skip
    body = []
    for r in rows:
        if not r.runs:
            body.append([r.precision, r.engine, "-", "-", "-", "-", "-", "-", "-", r.reason])
            continue
        body.append(
            [
                r.precision,
                r.engine,
                str(r.tp),
                f"{r.weights_gb:.1f}",
                str(r.batch),
                f"{r.output_tok_per_s:,.0f}",
                f"{r.tpot_ms:.1f}",
                f"${r.usd_per_million_output_tokens:.3f}",
                f"${r.usd_per_million_tokens:.3f}",
                r.quality_note,
            ]
        )
    title = f"{m.id} on {cat.gpu(gpu).id}, {input_tokens} in / {output_tokens} out"
    print(table(title, cols, body))
    print(f"price: {basis}; $/1M at {utilization:.0%} utilization")
    for r in rows:
        if r.runs and r.reason:
            print(f"note ({r.precision}): {r.reason}")
    print(
        "basis: performance model at the largest batch that fits and meets the SLO "
        f"(TPOT ≤ {tpot_p95_ms:g} ms, TTFT ≤ {ttft_p95_ms:g} ms without queueing; 0 = no limit); "
        "quality notes from the precision catalog — check your own evaluation set"
    )


@app.command("lora")
@click.option("--loads", required=True, help="Comma-separated requests/hour per adapter.")
@click.option(
    "--capacity-req-per-hour", type=float, required=True, help="One replica's requests/hour."
)
@click.option("--usd-per-hour", type=float, required=True, help="$/GPU-hour.")
@click.option("--gpus-per-replica", type=int, default=1, help="GPUs per replica.")
@click.option(
    "--adapter-overhead",
    type=float,
    default=0.03,
    help="Capacity lost to multi-LoRA batching (fraction).",
)
@json_opt("as_json")
def lora(
    loads: str,
    capacity_req_per_hour: float,
    usd_per_hour: float,
    gpus_per_replica: int,
    adapter_overhead: float,
    as_json: bool,
) -> None:
    """N fine-tuned variants: a deployment each, or one base model serving every adapter."""
    from fleetplan.economics.tenancy import lora_sharing
    from fleetplan.validation import RatePerHour, number_list

    values = number_list("--loads", loads, RatePerHour)
    r = lora_sharing(
        values,
        capacity_req_per_hour,
        gpus_per_replica,
        usd_per_hour,
        adapter_overhead=adapter_overhead,
    )
    inputs = {  # what the figures are computed from, in the JSON as under the table
        "usd_per_gpu_hour": usd_per_hour, "capacity_req_per_hour": capacity_req_per_hour,
        "gpus_per_replica": gpus_per_replica, "load_req_per_hour": values,
    }  # fmt: skip
    if as_json:
        print_json({**asdict(r), **inputs})
        return
    cols = [("deployment", "left"), ("GPUs", "right"), ("$/month", "right")]
    rows = [
        [f"dedicated ({r.adapters} deployments)", str(r.dedicated_gpus),
         f"${r.dedicated_usd_per_month:,.0f}"],
        [f"shared base + {r.adapters} adapters", str(r.shared_gpus),
         f"${r.shared_usd_per_month:,.0f}"],
    ]  # fmt: skip
    print(table("LoRA adapter multiplexing", cols, rows))
    print(
        f"saving {r.saving_fraction:.0%}; shared capacity reduced by {r.adapter_overhead:.0%} "
        "for multi-adapter batching (user-given)\n"
        f"$/month: GPUs x 730 h x ${usd_per_hour:g}/GPU-h (user-given); a replica of "
        f"{gpus_per_replica} GPU(s) serves {capacity_req_per_hour:,g} requests/hour; each "
        "adapter's own deployment runs at least one replica"
    )
