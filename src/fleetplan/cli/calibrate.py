"""`fleetplan calibrate`: fit an engine profile's efficiency factors to your own benchmarks,
and say what moved, what was dropped, and whether it predicts better out of sample."""

from __future__ import annotations

from pathlib import Path

import click

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, print_json, table
from fleetplan.cli.options import catalog_opt, json_opt


@app.command("calibrate")
@click.argument("files", type=click.Path(path_type=Path), nargs=-1, required=True)
@click.option("--engine", help="Engine the runs used.")
@click.option("--model", help="Model, where the file does not say.")
@click.option("--gpu", help="GPU, where the file does not say.")
@click.option("--precision", help="Weight format (default bf16).")
@click.option("--tp", type=int, help="Tensor-parallel degree (default 1).")
@click.option(
    "--factors",
    default="mbu,attention_mbu,mfu_prefill,step_overhead_ms",
    help="Comma-separated factors to fit.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Write the calibration profile (a --catalog TOML) here.",
)
@click.option(
    "--force", is_flag=True, help="Write the profile even when it predicts worse out of sample."
)
@catalog_opt()
@json_opt("json_out")
def calibrate(
    files: list[Path],
    engine: str | None,
    model: str | None,
    gpu: str | None,
    precision: str | None,
    tp: int | None,
    factors: str,
    out: Path | None,
    force: bool,
    catalog: list[Path] | None,
    json_out: bool,
) -> None:
    """Fit efficiency factors by least squares (SciPy) and explain the fit: which factors moved
    and by how much, which rows were dropped and why, and the cross-validated error before and
    after (each file's rows predicted by factors fitted on the other files; one file: 5 folds
    of its rows). A profile that predicts worse out of sample is not written unless --force.

    The profile written by --out is a catalog override file: pass it to any command with
    --catalog FILE to use the calibrated engine.

    FILES: vLLM `bench serve` / benchmark_serving.py result JSON, GuideLLM report JSON, or
    CSV in the validation columns (row_id, engine, model, precision, gpu, input_len,
    output_len, batch, metric, value, ...).
    """
    import datetime as dt

    from fleetplan.accuracy.calibrate import (
        ceiling_bounds,
        fit_engine,
        profile_toml,
        summarize,
    )
    from fleetplan.accuracy.crossval import predictable
    from fleetplan.accuracy.cv_user import cross_validated_errors
    from fleetplan.accuracy.predict import row_engine
    from fleetplan.accuracy.readers import Context, read_results
    from fleetplan.errors import InputError
    from fleetplan.validation import name_list

    names = name_list("--factors", factors, "mbu,mfu_prefill")  # before reading any file
    cat = catalog_from(catalog)
    ctx = Context(
        engine=cat.engine(engine).engine if engine else None,
        model=model,
        gpu=gpu,
        precision=precision,
        tp=tp,
    )
    read = read_results(list(files), ctx)
    rows, dropped = predictable(read.rows, cat)
    dropped_lines = list(read.skipped) + [f"{r.row_id}: {why}" for r, why in dropped]
    if not rows:
        why = "; ".join(dropped_lines) or "the files hold no measurements"
        raise InputError(f"nothing to calibrate on: {why}")
    families = sorted({row_engine(r, cat).id for r in rows})
    if len(families) > 1:
        raise InputError(
            f"the files mix engine families ({', '.join(families)}); pick one with --engine "
            "or split the files"
        )
    prior = cat.engines[families[0]]
    # the GPU generations the runs cover: the fit keeps each under its ceilings there, and the
    # profile keeps every other generation's factors as they were
    covered = {cat.gpu(r.gpu).architecture for r in rows}
    bounds = ceiling_bounds(prior, names, covered)
    fit = fit_engine(rows, cat, prior, names, bounds)
    cv_before, cv_after, scheme = cross_validated_errors(rows, cat, prior, names, bounds)
    before, after = summarize(fit.errors_before), summarize(fit.errors_after)
    cvb, cva = summarize(cv_before), summarize(cv_after)
    worse = cva["median"] > cvb["median"]
    write = out is not None and (not worse or force)
    basis = ", ".join(p.name for p in files) + f" ({len(fit.rows)} measurements)"
    if write:
        assert out is not None
        text = profile_toml(fit, basis, dt.date.today().isoformat(), prior, covered)
        out.write_text(text, encoding="utf-8")
    moved = {
        n: {
            "before": fit.before[n],
            "after": v,
            "change_pct": (v / fit.before[n] - 1) * 100 if fit.before[n] else None,
        }
        for n, v in fit.factors.items()
    }
    if json_out:
        print_json(
            {
                "engine": fit.engine.id,
                "engine_family": fit.engine.family_label,
                "rows": len(fit.rows),
                "skipped": dropped_lines,
                "factors_before": fit.before,
                "factors_after": fit.factors,
                "moved": moved,
                "abs_error_pct_before": before,
                "abs_error_pct_after": after,
                "cross_validation": scheme,
                "cv_abs_error_pct_before": cvb,
                "cv_abs_error_pct_after": cva,
                "profile": str(out) if write else None,
                "refused": bool(out is not None and not write),
            }
        )
    else:
        _explain(fit, basis, moved, dropped_lines, (before, after, cvb, cva), scheme)
    if out is not None and not write:
        if json_out:
            raise click.exceptions.Exit(1)
        print(
            f"not written: the fitted profile predicts worse out of sample ({scheme}: median "
            f"|error| {cva['median']:.1f} % against {cvb['median']:.1f} % with the current "
            f"{fit.engine.id} profile); pass --force to write it anyway"
        )
        raise click.exceptions.Exit(1)
    if write and not json_out:
        print(f"profile written to {out}; use it with --catalog {out}")


def _explain(fit, basis: str, moved: dict, dropped: list[str], errs: tuple, scheme: str) -> None:
    before, after, cvb, cva = errs
    for line in dropped:
        print(f"dropped {line}")
    print(
        table(
            f"calibration of {fit.engine.family_label} on {basis}",
            [("factor", "left"), ("before", "right"), ("fitted", "right"), ("change", "right")],
            [
                [
                    n,
                    f"{m['before']:.4g}",
                    f"{m['after']:.4g}",
                    "-" if m["change_pct"] is None else f"{m['change_pct']:+.0f} %",
                ]
                for n, m in moved.items()
            ],
        )
    )
    print(
        table(
            "|predicted / measured - 1|",
            [("", "left"), ("median", "right"), ("p90", "right"), ("worst", "right")],
            [
                [k, f"{d['median']:.1f} %", f"{d['p90']:.1f} %", f"{d['worst']:.1f} %"]
                for k, d in (
                    (f"out of sample ({scheme}), current profile", cvb),
                    (f"out of sample ({scheme}), fitted", cva),
                    ("in sample, current profile", before),
                    ("in sample, fitted", after),
                )
            ],
        )
    )
