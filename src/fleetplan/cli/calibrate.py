"""`fleetplan calibrate`: fit an engine profile's efficiency factors to your own benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetplan.cli import app
from fleetplan.cli.common import CatalogOpt, JsonOpt, catalog_from, console, print_json, table


@app.command()
def calibrate(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="vLLM `bench serve` / benchmark_serving.py result JSON, GuideLLM report JSON, "
            "or CSV with columns engine, model, precision, gpu, input_len, output_len, batch, "
            "metric, value (one measured number per row)."
        ),
    ],
    engine: Annotated[str | None, typer.Option(help="Engine the runs used.")] = None,
    model: Annotated[str | None, typer.Option(help="Model, where the file does not say.")] = None,
    gpu: Annotated[str | None, typer.Option(help="GPU, where the file does not say.")] = None,
    precision: Annotated[str | None, typer.Option(help="Weight format (default bf16).")] = None,
    tp: Annotated[int | None, typer.Option(help="Tensor-parallel degree (default 1).")] = None,
    factors: Annotated[
        str,
        typer.Option(help="Comma-separated factors to fit."),
    ] = "mbu,attention_mbu,mfu_prefill,step_overhead_ms",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the calibration profile (a --catalog TOML) here."),
    ] = None,
    catalog: CatalogOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit efficiency factors by least squares (SciPy) and report the error before and after.

    The profile written by --out is a catalog override file: pass it to any command with
    --catalog FILE to use the calibrated engine.
    """
    import datetime as dt

    from fleetplan.accuracy.calibrate import fit_engine, profile_toml, summarize
    from fleetplan.accuracy.readers import Context, read_results
    from fleetplan.errors import InputError

    cat = catalog_from(catalog)
    ctx = Context(
        engine=cat.engine(engine).id if engine else None,
        model=model,
        gpu=gpu,
        precision=precision,
        tp=tp,
    )
    read = read_results(list(files), ctx)
    rows = read.rows
    engines = sorted({cat.engine(r.engine).id for r in rows})
    if not rows:
        why = "; ".join(read.skipped) or "the files hold no measurements"
        raise InputError(f"nothing to calibrate on: {why}")
    if len(engines) > 1:
        raise InputError(f"the files mix engines ({', '.join(engines)}); pick one with --engine")
    names = [f.strip() for f in factors.split(",") if f.strip()]
    fit = fit_engine(rows, cat, engines[0], names)
    before, after = summarize(fit.errors_before), summarize(fit.errors_after)
    basis = ", ".join(p.name for p in files) + f" ({len(rows)} measurements)"
    if out is not None:
        today = dt.date.today().isoformat()
        out.write_text(profile_toml(fit, basis, today), encoding="utf-8")
    if json_out:
        print_json(
            {
                "engine": fit.engine.id,
                "rows": len(rows),
                "skipped": read.skipped,
                "factors_before": fit.before,
                "factors_after": fit.factors,
                "abs_error_pct_before": before,
                "abs_error_pct_after": after,
                "profile": str(out) if out else None,
            }
        )
        return
    con = console()
    for line in read.skipped:
        con.print(f"skipped {line}")
    con.print(
        table(
            f"calibration of {fit.engine.id} on {basis}",
            [("factor", "left"), ("before", "right"), ("fitted", "right")],
            [[n, f"{fit.before[n]:.4g}", f"{v:.4g}"] for n, v in fit.factors.items()],
        )
    )
    con.print(
        table(
            "|predicted / measured - 1| over the measurements",
            [("", "left"), ("median", "right"), ("p90", "right"), ("worst", "right")],
            [
                [k, f"{d['median']:.1f} %", f"{d['p90']:.1f} %", f"{d['worst']:.1f} %"]
                for k, d in (("before", before), ("after", after))
            ],
        )
    )
    if out is not None:
        con.print(f"profile written to {out}; use it with --catalog {out}")
