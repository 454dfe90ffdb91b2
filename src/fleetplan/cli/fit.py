"""`fleetplan fit`: does a model fit, with how much KV cache and concurrency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, print_json, table
from fleetplan.cli.options import (
    calibration_opt,
    catalog_opt,
    engine_opt,
    explain_opt,
    json_opt,
    kv_opt,
    model_arg,
    precision_opt,
    tp_opt,
)
from fleetplan.errors import UnsupportedError


@app.command("fit")
@model_arg("model")
@click.option("--gpu", help="GPU id; without it, every GPU.")
@precision_opt(default="auto")
@kv_opt(default="auto")
@tp_opt(default=1)
@click.option(
    "--context", type=int, help="Tokens per sequence (default 8,192 or the model's maximum)."
)
@engine_opt(default="vllm")
@click.option(
    "--gpu-memory-utilization", type=float, help="Fraction of GPU memory the engine may use."
)
@explain_opt()
@catalog_opt()
@calibration_opt()
@json_opt("as_json")
def fit(
    model: str,
    gpu: str | None,
    precision: str,
    kv_precision: str,
    tp: int,
    context: int | None,
    engine: str,
    gpu_memory_utilization: float | None,
    explain: bool,
    catalog: list[Path] | None,
    calibration: list[Path] | None,
    as_json: bool,
) -> None:
    """Fit, KV capacity in tokens, max concurrent sequences and the binding limit.

    MODEL: Catalog model id or alias, or a config.json path."""
    from fleetplan.catalog import resolve_model
    from fleetplan.estimate import estimate_fit, fitting_tp, resolve_setup
    from fleetplan.render.explain import explain_fit
    from fleetplan.render.records import fit_record, unsupported_fit_record

    cat = catalog_from(catalog, calibration)
    m = resolve_model(cat, model)
    kw = dict(
        precision=precision,
        kv_precision=kv_precision,
        tp=tp,
        context=context,
        engine=engine,
        gpu_memory_utilization=gpu_memory_utilization,
        catalog=cat,
    )

    def record(g: str, f: Any) -> dict:
        """The fit's record; one that does not fit says the smallest --tp that would."""
        r = fit_record(f)
        if not f.fits:
            s = resolve_setup(m, g, precision, engine, tp, kv_precision, cat)
            r["fits_at_tp"] = fitting_tp(s, f, kv_precision, gpu_memory_utilization)
        return r

    if gpu is not None:
        f = estimate_fit(m, gpu, **kw)  # type: ignore[arg-type]
        if as_json:
            print_json(record(gpu, f))
        elif explain:
            s = resolve_setup(m, gpu, precision, engine, tp, kv_precision, cat)
            print("\n".join(explain_fit(f, s)))
        else:
            on = f"{f.tp} x {f.gpu}" if f.tp > 1 else f.gpu
            _print_fits([record(gpu, f)], f"{m.id}, {f.precision}, on {on}")
        return
    precision = cat.precision_for(m, precision).id  # unknown names fail before the loop
    cat.engine(engine)
    records = []
    for g in sorted(cat.gpus.values(), key=lambda g: -g.memory_gib):
        try:
            records.append(record(g.id, estimate_fit(m, g, **kw)))  # type: ignore[arg-type]
        except UnsupportedError as exc:
            records.append(unsupported_fit_record(m.id, g.id, precision, tp, str(exc)))
    if as_json:
        print_json(records)
    else:
        _print_fits(records, f"{m.id}, {precision}, tp {tp}, every GPU")


def _print_fits(records: list[dict], title: str) -> None:
    rows = []
    for r in records:
        w = r["weights_gb_per_gpu"] if r.get("weights_gb_per_gpu") is not None else None
        rows.append(
            [
                r["gpu"],
                "yes" if r["fits"] else "no",
                f"{w:.1f}" if w is not None else "-",
                f"{r['kv_budget_gb_per_gpu']:.1f}" if "kv_budget_gb_per_gpu" in r else "-",
                f"{r['kv_capacity_tokens']:,}",
                f"{r['max_concurrent_sequences']:,}",
                r["limit"],
            ]
        )
    ctx = records[0].get("context")
    cols = [
        ("gpu", "left"),
        ("fits", "left"),
        ("weights GB/GPU", "right"),
        ("KV GB/GPU", "right"),
        ("KV tokens", "right"),
        (f"seqs @ {ctx:,}" if ctx else "seqs", "right"),
        ("limit", "left"),
    ]
    print(table(f"Fit: {title}", cols, rows))
    notes = sorted({n for r in records for n in r.get("notes", [])})
    for n in notes:
        print(f"note: {n}")
    if len(records) == 1 and "fits_at_tp" in records[0] and records[0]["fits_at_tp"] is None:
        from fleetplan.estimate import TP_CHOICES

        r = records[0]
        print(f"note: no --tp up to {TP_CHOICES[-1]} fits {r['model']} on {r['gpu']}; "
              f"`fleetplan fit {r['model']}` lists the GPUs it fits")  # fmt: skip
    bigger = [f"{r['gpu']} {r['fits_at_tp']}" for r in records if r.get("fits_at_tp")]
    if bigger:
        tp = records[0]["tp"]
        print(f"note: where it does not fit at --tp {tp}, the smallest --tp that does: "
              + ", ".join(bigger))  # fmt: skip
    print("basis: analytic memory model (fleetplan docs memory); GB = 1e9 bytes")
