"""`fleetplan perf`: prefill, TTFT, TPOT and tokens/s per batch size on one replica."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, print_json, table
from fleetplan.cli.options import (
    calibration_opt,
    catalog_opt,
    engine_opt,
    explain_opt,
    gpu_opt,
    input_tokens_opt,
    json_opt,
    kv_opt,
    model_arg,
    output_tokens_opt,
    precision_opt,
    tp_opt,
)

if TYPE_CHECKING:
    from fleetplan.estimate import PerfEstimate


@app.command("perf")
@model_arg("model")
@gpu_opt()
@precision_opt(default="auto")
@kv_opt(default="auto")
@tp_opt(default=1)
@input_tokens_opt(default=512)
@output_tokens_opt(default=256)
@click.option(
    "--batch",
    default="1,8,32,64,max",
    help="Comma-separated sequences in flight; 'max' = largest that fits.",
)
@engine_opt(default="vllm")
@click.option(
    "--schedule",
    default="continuous",
    help="continuous (closed loop, chunked prefill) or static batches.",
)
@explain_opt()
@catalog_opt()
@calibration_opt()
@json_opt("as_json")
def perf(
    model: str,
    gpu: str,
    precision: str,
    kv_precision: str,
    tp: int,
    input_tokens: int,
    output_tokens: int,
    batch: str,
    engine: str,
    schedule: str,
    explain: bool,
    catalog: list[Path] | None,
    calibration: list[Path] | None,
    as_json: bool,
) -> None:
    """Throughput and latency per batch size (analytic roofline with engine efficiencies).

    MODEL: Catalog model id or alias, or a config.json path."""
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
        print("\n".join(explain_perf(pe) + _expected_error(pe)))
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
        "sources; fleetplan docs performance)"
    )
    print("\n".join(_expected_error(pe)))


def _expected_error(pe: PerfEstimate) -> list[str]:
    """How far the model was from published measurements like this setup (catalog.error_bands)."""
    from fleetplan.catalog.error_bands import unknown_line

    if pe.expected_error:
        return pe.expected_error.lines()
    return [unknown_line(pe.setup.engine.id)]
