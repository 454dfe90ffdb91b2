"""`fleetplan forecast HISTORY`: hourly traffic forecast with prediction intervals, and the
fleet each horizon needs at a chosen forecast quantile."""

from __future__ import annotations

from pathlib import Path

import click

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, print_json, table
from fleetplan.cli.options import catalog_opt, json_opt
from fleetplan.errors import InputError


def parse_columns(items: list[str] | None) -> dict[str, str]:
    """`--columns timestamp=created_at` (repeatable, or comma-separated) as a mapping."""
    out: dict[str, str] = {}
    for item in items or []:
        for part in item.split(","):
            if "=" not in part:
                raise InputError(f"--columns {part!r}; expected FIELD=COLUMN")
            k, v = (x.strip() for x in part.split("=", 1))
            if not k or not v:
                raise InputError(f"--columns {part!r}; expected FIELD=COLUMN")
            out[k] = v
    return out


@app.command("forecast")
@click.argument("history", type=click.Path(path_type=Path))
@click.option("--columns", multiple=True, help="Column names: timestamp=COL,input_tokens=COL,…")
@click.option("--horizon", type=int, multiple=True, help="Days ahead (repeatable).")
@click.option(
    "--quantile", type=float, default=0.9, help="Forecast quantile the fleet is sized for."
)
@click.option("--level", type=float, default=0.8, help="Prediction interval level.")
@click.option(
    "--plan",
    type=click.Path(path_type=Path),
    help="Plan scenario whose recommendation sizes each horizon's fleet.",
)
@click.option(
    "--chart",
    type=click.Path(path_type=Path),
    help="Write the history, the forecast and its interval to an .html file.",
)
@catalog_opt()
@json_opt("as_json")
def forecast(
    history: Path,
    columns: list[str] | None,
    horizon: list[int] | None,
    quantile: float,
    level: float,
    plan: Path | None,
    chart: Path | None,
    catalog: list[Path] | None,
    as_json: bool,
) -> None:
    """Trend + daily and weekly seasonality (statsmodels, extra `forecast`); per horizon the
    busiest hour at the quantile and, with --plan, the replicas and $/month it needs.

    HISTORY: Traffic history: a gateway SQLite log, a CSV/JSONL of requests (epoch or
    ISO-8601 timestamps; OpenAI usage names), or hourly counts (timestamp, requests)."""
    import numpy as np

    from fleetplan.forecast.history import read_history
    from fleetplan.forecast.model import fit_forecast

    days = sorted(set(horizon or [30, 90, 365]))  # each checked as an option kind, as the rest
    if chart is not None:
        from fleetplan.files import check_output_file

        if chart.suffix.lower() != ".html":
            raise InputError(f"--chart = {str(chart)!r}; expected an .html file")
        check_output_file(chart, "--chart")
    h = read_history(history, parse_columns(columns))
    fc = fit_forecast(h, max(days) * 24)
    lo, hi = fc.interval(level)
    rows = []
    for d in days:
        end = d * 24
        wk = slice(max(0, end - 168), end)
        rows.append(
            {
                "days": d,
                "mean_qps": round(float(fc.mean_per_hour[wk].mean()) / 3600, 3),
                "peak_qps": round(float(fc.quantile(quantile)[wk].max()) / 3600, 3),
                "interval_low_qps": round(float(lo[wk].mean()) / 3600, 3),
                "interval_high_qps": round(float(hi[wk].mean()) / 3600, 3),
            }
        )
    out = {
        "history": {
            "basis": h.basis,
            "hours": h.hours,
            "mean_qps": round(float(np.mean(h.counts_per_hour)) / 3600, 3),
            "peak_qps": round(float(np.max(h.counts_per_hour)) / 3600, 3),
        },
        "quantile": quantile,
        "interval_level": level,
        "interval_basis": (
            f"each hour's {level:.0%} prediction interval, averaged over the horizon's last "
            f"week; peak_qps is the busiest hour at quantile {quantile:g}"
        ),
        "horizons": rows,
        "basis": fc.basis,
    }
    if plan is not None:
        out["fleet"] = _fleet(plan, fc, days, quantile, catalog)
    if chart is not None:
        from fleetplan.files import write_text_atomic
        from fleetplan.forecast.chart import chart_data, html_page

        data = chart_data(out, h, fc, level, quantile)
        write_text_atomic(chart, html_page(out, data, f"Traffic forecast: {history.name}"))
    if as_json:
        print_json(out)
        return
    from fleetplan.forecast.chart import interval_header

    cols = [
        ("days ahead", "right"),
        ("mean req/s (last week)", "right"),
        (f"peak req/s at q{quantile:g}", "right"),
        (interval_header(level), "right"),
    ]
    trs = [
        [
            str(r["days"]),
            f"{r['mean_qps']:,.2f}",
            f"{r['peak_qps']:,.2f}",
            f"{r['interval_low_qps']:,.2f}-{r['interval_high_qps']:,.2f}",
        ]
        for r in rows
    ]
    if "fleet" in out:
        cols += [("replicas", "right"), ("GPUs", "right"), ("$/month", "right")]
        for tr, f in zip(trs, out["fleet"]["horizons"], strict=True):
            tr += [str(f["replicas"]), str(f["gpus"]), f"${f['usd_per_month']:,.0f}"]
    print(table(f"Forecast from {h.hours:,} hours of history", cols, trs))
    print(f"basis: {fc.basis}")
    if "fleet" in out:
        print(f"fleet: {out['fleet']['basis']}")


def _fleet(plan: Path, fc, days, quantile, catalog) -> dict:  # type: ignore[no-untyped-def]
    from fleetplan.forecast.model import size_horizons
    from fleetplan.plan import make_plan
    from fleetplan.scenario import load_scenario

    spec, base = load_scenario(plan)
    p = make_plan(spec, base, catalog_from(catalog))
    c = p.recommended
    if c is None:
        raise InputError(f"--plan {str(plan)!r}: no deployment meets its SLOs; nothing to size")
    per_replica = c.usd_per_month / c.replicas
    sizes = size_horizons(
        fc, days, quantile, c.replica_req_per_s, spec.headroom, c.tp, per_replica,
        spec.slo.min_replicas,
    )  # fmt: skip
    return {
        "deployment": f"{c.gpu} tp{c.tp} {c.precision} {c.engine}",
        "horizons": [
            {
                "days": s.days,
                "peak_qps": round(s.peak_qps, 3),
                "replicas": s.replicas,
                "gpus": s.gpus,
                "usd_per_month": round(s.usd_per_month, 2),
            }
            for s in sizes
        ],
        "basis": (
            f"replicas = busiest hour of each horizon's last week at forecast quantile "
            f"{quantile:g} / ({c.replica_req_per_s:.2f} req/s per replica x headroom "
            f"{spec.headroom:g}); ${per_replica:,.0f} per replica-month from the plan's offer"
        ),
    }
