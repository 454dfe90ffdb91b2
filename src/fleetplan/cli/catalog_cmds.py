"""`fleetplan gpus|models|offers|engines|precisions`: list the catalogs."""

from __future__ import annotations

from pathlib import Path

import click

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, print_json, table
from fleetplan.cli.options import catalog_opt, json_opt, provider_opt


def _fmt_money(x: float | None) -> str:
    return f"${x:,.0f}" if x else "-"


@app.command("gpus")
@catalog_opt()
@json_opt("as_json")
def gpus(
    catalog: list[Path] | None,
    as_json: bool,
) -> None:
    """List GPUs: memory, bandwidth, dense peak per format, interconnect, power, price."""
    from fleetplan.render.records import gpu_record

    cat = catalog_from(catalog)
    items = sorted(cat.gpus.values(), key=lambda g: (g.vendor, -g.memory_bandwidth_gb_s))
    if as_json:
        print_json([gpu_record(g) for g in items])
        return
    rows = [
        [
            g.id,
            g.memory_label or f"{g.memory_gib:g} GiB",
            f"{g.memory_gib:g}",
            f"{g.memory_bandwidth_gb_s:,.0f}",
            f"{g.dense_tflops.get('bf16', g.dense_tflops.get('fp16', 0)):,.0f}",
            f"{g.dense_tflops['fp8']:,.0f}" if "fp8" in g.dense_tflops else "-",
            f"{g.dense_tflops['fp4']:,.0f}" if "fp4" in g.dense_tflops else "-",
            f"{g.interconnect} {g.interconnect_gb_s:g}",
            f"{g.tdp_w:,.0f}",
            _fmt_money(g.purchase_price_usd),
            ", ".join(g.aliases),
        ]
        for g in items
    ]
    cols = [
        ("id", "left"),
        ("memory", "left"),
        ("GiB", "right"),
        ("GB/s", "right"),
        ("bf16 TFLOPS", "right"),
        ("fp8", "right"),
        ("fp4", "right"),
        ("interconnect GB/s", "left"),
        ("W", "right"),
        ("price", "right"),
        ("aliases", "left"),
    ]
    print(table("GPUs (dense figures; sources: fleetplan gpus --json)", cols, rows))


@app.command("models")
@catalog_opt()
@json_opt("as_json")
def models(
    catalog: list[Path] | None,
    as_json: bool,
) -> None:
    """List models with their architecture facts."""
    from fleetplan.render.records import model_record

    cat = catalog_from(catalog)
    items = sorted(cat.models.values(), key=lambda m: (m.family, m.params_total_b))
    if as_json:
        print_json([model_record(m) for m in items])
        return
    rows = []
    for m in items:
        attn = "MLA" if m.is_mla else ("MHA" if m.kv_heads == m.attention_heads else "GQA")
        moe = f"{m.moe_experts}e/{m.moe_experts_per_token}" if m.is_moe else "-"
        rows.append(
            [
                m.id,
                f"{m.params_total_b:g}",
                f"{m.params_active_b:g}",
                m.layers,
                m.hidden_size,
                f"{m.attention_heads}/{m.kv_heads}",
                attn,
                moe,
                m.native_precision,
                f"{m.max_context:,}",
            ]
        )
    cols = [
        ("id", "left"),
        ("params B", "right"),
        ("active B", "right"),
        ("layers", "right"),
        ("hidden", "right"),
        ("heads/kv", "right"),
        ("attention", "left"),
        ("MoE", "left"),
        ("weights", "left"),  # the format they ship in: what precision "auto" runs
        ("context", "right"),
    ]
    print(table("Models", cols, rows))


@app.command("offers")
@click.option("--gpu", help="Only offers of this GPU.")
@provider_opt(default=None)
@catalog_opt()
@json_opt("as_json")
def offers(
    gpu: str | None,
    provider: str | None,
    catalog: list[Path] | None,
    as_json: bool,
) -> None:
    """List GPU offers as sold: instance type, GPUs per instance, $/instance-hour, regions."""
    from fleetplan.render.records import offer_record
    from fleetplan.search.packing import check_providers

    cat = catalog_from(catalog)
    check_providers(cat, [provider] if provider else None)  # as plan refuses it
    items = sorted(
        cat.offers_for(gpu=gpu, provider=provider.lower() if provider else None),
        key=lambda o: (o.gpu, o.usd_per_gpu_hour),
    )
    if as_json:
        print_json([offer_record(o) for o in items])
        return
    from fleetplan.render.terminal import price_text

    rows = []
    for o in items:  # prices as listed (0.805, not 0.81), a GPU's share to 4 decimals
        per_gpu = (
            f"{price_text(o.usd_per_gpu_hour_low, 4)}-{price_text(o.usd_per_gpu_hour_high, 4)}"
            if o.is_range
            else price_text(o.usd_per_gpu_hour, 4)
        )
        rows.append(
            [
                o.gpu,
                o.provider,
                o.pricing,
                o.tier,
                o.instance_type or "-",
                o.gpus_per_instance,
                price_text(o.usd_per_instance_hour, 4),
                per_gpu,
                o.region or "not stated",
                o.as_of,
            ]
        )
    cols = [
        ("gpu", "left"),
        ("provider", "left"),
        ("pricing", "left"),
        ("tier", "left"),
        ("instance type", "left"),
        ("GPUs", "right"),
        ("$/instance-h", "right"),
        ("$/GPU-h", "right"),
        ("regions", "left"),
        ("as of", "left"),
    ]
    providers = len({o.provider for o in items})
    print(table(f"GPU offers: {len(items)} from {providers} providers", cols, rows))
    print("sources and notes: fleetplan offers --json")


@app.command("engines")
@catalog_opt()
@json_opt("as_json")
def engines(
    catalog: list[Path] | None,
    as_json: bool,
) -> None:
    """List engine release families: version range, first release, efficiency factors.

    `--engine NAME` selects an engine's current family, `--engine NAME@VERSION` (vllm@0.6)
    the family whose range holds that version."""
    from fleetplan.catalog.error_bands import family_error, load_bands, packaged_profile
    from fleetplan.render.records import engine_record

    cat = catalog_from(catalog)
    items = sorted(cat.engines.values(), key=lambda e: (e.engine, not e.current, e.id))
    # each family's out-of-sample error over its published rows, where it has rows and its
    # profile is the packaged one (catalog.error_bands)
    errors = {e.id: family_error(e.id) for e in items if packaged_profile(cat, e.id)}
    errors = {k: v for k, v in errors.items() if v.bands}
    if as_json:
        print_json(
            [
                {
                    **engine_record(e),
                    "expected_error": errors[e.id].record() if e.id in errors else None,
                }
                for e in items
            ]
        )
        return

    def tok_s_error(engine_id: str) -> str:
        bands = errors[engine_id].bands if engine_id in errors else ()
        band = next((b for b in bands if b.metric == "output tok/s"), None)
        return f"{band.median_abs_pct:g} % ({band.rows})" if band else "-"

    rows = [
        [
            e.id,
            e.engine + ("" if e.current else f"@{e.version_min}"),
            e.family or e.name,
            e.versions,
            e.released or "-",
            f"{e.mbu:.2f}",
            f"{e.attention_mbu:.2f}",
            f"{e.mfu_prefill:.2f}",
            f"{e.step_overhead_ms:.2f}",
            e.memory_semantics,
            e.max_num_seqs,
            e.max_num_batched_tokens,
            tok_s_error(e.id),
        ]
        for e in items
    ]
    cols = [
        ("id", "left"),
        ("--engine", "left"),
        ("family", "left"),
        ("versions", "left"),
        ("released", "left"),
        ("mbu", "right"),
        ("attn mbu", "right"),
        ("mfu", "right"),
        ("step ms", "right"),
        ("memory share of", "left"),
        ("max seqs", "right"),
        ("max tokens", "right"),
        ("tok/s error (rows)", "right"),
    ]
    print(table("Engine release families (sources: fleetplan engines --json)", cols, rows))
    print(
        "tok/s error: median absolute error of output tok/s against the family's published "
        "measurements, each predicted without its source's data (accuracy bands of "
        f"{load_bands().generated}; TTFT and TPOT in --json); '-': no published rows, or a "
        "catalog file changes the profile"
    )
    for e in items:
        for r in e.gpu_batch_defaults:
            but = f" except {', '.join(r.exclude)}" if r.exclude else ""
            print(
                f"{e.id}: on GPUs with >= {r.min_memory_gib:g} GiB{but}: max seqs "
                f"{r.max_num_seqs}, max tokens {r.max_num_batched_tokens}"
            )
        if e.long_context_chunk_tokens:
            print(
                f"{e.id}: for models with a context window over {e.long_context_min_tokens:,} "
                f"tokens (not MLA or sliding-window): chunked prefill, max tokens "
                f"{e.long_context_chunk_tokens}"
            )
        lenders: dict[str, list[str]] = {}
        for gen, lender in e.borrowed_from:
            lenders.setdefault(lender, []).append(gen)
        if lenders:
            said = "; ".join(f"{', '.join(gens)} from {who}" for who, gens in lenders.items())
            print(f"{e.id}: GPU-generation scales taken from other families: {said}")


@app.command("precisions")
@catalog_opt()
@json_opt("as_json")
def precisions(
    catalog: list[Path] | None,
    as_json: bool,
) -> None:
    """List weight precisions with their effective bits per parameter."""
    from dataclasses import asdict

    cat = catalog_from(catalog)
    items = list(cat.precisions.values())
    if as_json:
        print_json([asdict(p) for p in items])
        return
    rows = [
        [p.id, f"{p.weight_bits:g}", p.compute_format, ", ".join(p.engines), p.quality_note]
        for p in items
    ]
    cols = [
        ("id", "left"),
        ("bits/param", "right"),
        ("compute", "left"),
        ("engines", "left"),
        ("quality", "left"),
    ]
    print(table("Precisions", cols, rows))
