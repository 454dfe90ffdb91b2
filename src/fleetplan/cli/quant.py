"""`fleetplan quantize` and `fleetplan lora`: what quantization and adapter sharing save."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, print_json, table
from fleetplan.cli.options import (
    CalibrationOpt,
    CatalogOpt,
    EngineOpt,
    GpuOpt,
    InputTokensOpt,
    JsonOpt,
    ModelArg,
    OutputTokensOpt,
    TpotSloOpt,
    TtftSloOpt,
)
from fleetplan.economics.unit_cost import DEFAULT_TPOT_P95_MS, DEFAULT_TTFT_P95_MS


@app.command()
def quantize(
    model: ModelArg,
    gpu: GpuOpt,
    precisions: Annotated[str, typer.Option(help="Comma-separated precisions.")] = (
        "bf16,fp8,int8,awq"
    ),
    input_tokens: InputTokensOpt = 512,
    output_tokens: OutputTokensOpt = 256,
    utilization: Annotated[float, typer.Option(help="Busy fraction of the hours paid.")] = 0.7,
    usd_per_hour: Annotated[
        float | None, typer.Option(help="$/GPU-hour (default: cheapest on-demand offer).")
    ] = None,
    engine: EngineOpt = "vllm",
    tpot_p95_ms: TpotSloOpt = DEFAULT_TPOT_P95_MS,
    ttft_p95_ms: TtftSloOpt = DEFAULT_TTFT_P95_MS,
    catalog: CatalogOpt = None,
    calibration: CalibrationOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The same model at several precisions: GPUs needed, tokens/s, $/1M tokens, quality —
    each at the largest batch meeting the SLO."""
    from fleetplan.catalog import resolve_model
    from fleetplan.economics.pricing import gpu_price
    from fleetplan.economics.quantization import compare_precisions

    cat = catalog_from(catalog, calibration)
    m = resolve_model(cat, model)
    price = gpu_price(cat, gpu, usd_per_hour)
    rows = compare_precisions(
        m,
        gpu,
        [p.strip() for p in precisions.split(",") if p.strip()],
        price.usd_per_gpu_hour,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        utilization=utilization,
        engine=engine,
        catalog=cat,
        tpot_slo_ms=tpot_p95_ms or None,
        ttft_slo_ms=ttft_p95_ms or None,
    )
    slo = {"tpot_p95_ms": tpot_p95_ms or None, "ttft_ms": ttft_p95_ms or None}
    if as_json:
        print_json(
            {
                "model": m.id,
                "gpu": cat.gpu(gpu).id,
                "utilization": utilization,
                "slo": slo,
                "price_basis": price.basis,
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
    print(f"price: {price.basis}; $/1M at {utilization:.0%} utilization")
    for r in rows:
        if r.runs and r.reason:
            print(f"note ({r.precision}): {r.reason}")
    print(
        "basis: performance model at the largest batch that fits and meets the SLO "
        f"(TPOT ≤ {tpot_p95_ms:g} ms, TTFT ≤ {ttft_p95_ms:g} ms without queueing; 0 = no limit); "
        "quality notes from the precision catalog — check your own evaluation set"
    )


@app.command()
def lora(
    loads: Annotated[str, typer.Option(help="Comma-separated requests/hour per adapter.")],
    capacity_req_per_hour: Annotated[float, typer.Option(help="One replica's requests/hour.")],
    usd_per_hour: Annotated[float, typer.Option(help="$/GPU-hour.")],
    gpus_per_replica: Annotated[int, typer.Option(help="GPUs per replica.")] = 1,
    adapter_overhead: Annotated[
        float, typer.Option(help="Capacity lost to multi-LoRA batching (fraction).")
    ] = 0.03,
    as_json: JsonOpt = False,
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
    if as_json:
        print_json(asdict(r))
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
        "for multi-adapter batching (user-given)"
    )
