"""`fleetplan perf`: prefill, TTFT, TPOT and tokens/s per batch size on one replica."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, print_json, table
from fleetplan.cli.options import (
    CalibrationOpt,
    CatalogOpt,
    EngineOpt,
    ExplainOpt,
    GpuOpt,
    InputTokensOpt,
    JsonOpt,
    KvOpt,
    ModelArg,
    OutputTokensOpt,
    PrecisionOpt,
    TpOpt,
)


@app.command()
def perf(
    model: ModelArg,
    gpu: GpuOpt,
    precision: PrecisionOpt = "bf16",
    kv_precision: KvOpt = "auto",
    tp: TpOpt = 1,
    input_tokens: InputTokensOpt = 512,
    output_tokens: OutputTokensOpt = 256,
    batch: Annotated[
        str, typer.Option(help="Comma-separated sequences in flight; 'max' = largest that fits.")
    ] = "1,8,32,64,max",
    engine: EngineOpt = "vllm",
    schedule: Annotated[
        str, typer.Option(help="continuous (closed loop, chunked prefill) or static batches.")
    ] = "continuous",
    explain: ExplainOpt = False,
    catalog: CatalogOpt = None,
    calibration: CalibrationOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Throughput and latency per batch size (analytic roofline with engine efficiencies)."""
    from fleetplan.estimate import estimate_perf, parse_batches
    from fleetplan.render.explain import explain_perf
    from fleetplan.render.records import perf_records

    cat = catalog_from(catalog, calibration)
    pe = estimate_perf(
        model,
        gpu,
        precision=precision,
        kv_precision=kv_precision,
        tp=tp,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        batches=parse_batches(batch),
        engine=engine,
        schedule_name=schedule,
        catalog=cat,
    )
    records = perf_records(pe)
    if as_json:
        print_json(records)
        return
    if explain:
        print("\n".join(explain_perf(pe)))
        return
    rows = [
        [
            r["batch"],
            "yes" if r["fits"] else "NO",
            f"{r['prefill_ms']:,.1f}",
            f"{r['ttft_ms']:,.1f}",
            f"{r['tpot_ms']:,.2f}",
            f"{r['output_tok_per_s']:,.0f}",
            f"{r['total_tok_per_s']:,.0f}",
            r["bound"],
        ]
        for r in records
    ]
    cols = [
        ("batch", "right"),
        ("fits", "left"),
        ("prefill ms", "right"),
        ("TTFT ms", "right"),
        ("TPOT ms", "right"),
        ("out tok/s", "right"),
        ("total tok/s", "right"),
        ("bound", "left"),
    ]
    s = pe.setup
    title = f"Perf: {s.label}, {input_tokens} in / {output_tokens} out, {schedule} batching"
    print(table(title, cols, rows))
    f = pe.fit
    print(
        f"KV room: {f.kv_capacity_tokens:,} tokens = {f.max_concurrent_sequences} sequences of "
        f"{f.context:,}; engine cap {f.max_num_seqs}. TTFT excludes queueing."
    )
    for n in s.notes:
        print(f"note: {n}")
    print(
        "basis: analytic roofline x engine efficiency factors (fleetplan engines --json for "
        "sources; docs/model/performance.md)"
    )
