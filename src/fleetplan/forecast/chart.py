"""The forecast as an HTML page: the hourly history, the forecast mean with its prediction
interval and the quantile the fleet is sized for, each horizon's peak, and the horizons table
(with `--plan`, the fleet per horizon) — drawn with the web app's vendored charts."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from fleetplan.forecast.history import History
from fleetplan.forecast.model import Forecast


def chart_data(
    out: dict[str, Any], history: History, fc: Forecast, level: float, quantile: float
) -> dict[str, Any]:
    """Series in requests/s per hour, on a time axis of days from the first forecast hour
    (negative for the history), cut at the longest horizon."""
    hours = max(h["days"] for h in out["horizons"]) * 24
    lo, hi = fc.interval(level)

    def qps(a: np.ndarray) -> list[float]:
        return [round(float(x) / 3600, 4) for x in a[:hours]]

    n = history.hours
    return {
        "history": {"t_days": [round((i - n) / 24, 4) for i in range(n)],
                    "qps": qps(history.counts_per_hour)},
        "forecast": {
            "t_days": [round(i / 24, 4) for i in range(min(hours, len(fc.mean_per_hour)))],
            "mean_qps": qps(fc.mean_per_hour),
            "low_qps": qps(lo),
            "high_qps": qps(hi),
            "quantile_qps": qps(fc.quantile(quantile)),
        },
        "level": level,
        "quantile": quantile,
        "horizons": out["horizons"],
    }  # fmt: skip


def interval_header(level: float) -> str:
    """The interval column's title: the week's mean of each hour's interval, not the interval
    of the busiest hour (whose quantile can sit above it)."""
    return f"{level:.0%} interval req/s (hourly, last week's mean)"


def html_page(out: dict[str, Any], data: dict[str, Any], title: str) -> str:
    from fleetplan.render.charts import html_table, standalone_page

    fleet = {f["days"]: f for f in out.get("fleet", {}).get("horizons", [])}
    head = ["days ahead", "mean req/s (last week)", f"peak req/s at q{out['quantile']:g}",
            interval_header(out["interval_level"])]  # fmt: skip
    if fleet:
        head += ["replicas", "GPUs", "$/month"]
    rows = []
    for h in out["horizons"]:
        cells = [h["days"], f"{h['mean_qps']:,.2f}", f"{h['peak_qps']:,.2f}",
                 f"{h['interval_low_qps']:,.2f}-{h['interval_high_qps']:,.2f}"]  # fmt: skip
        if h["days"] in fleet:
            f = fleet[h["days"]]
            cells += [f["replicas"], f["gpus"], f"${f['usd_per_month']:,.0f}"]
        rows.append(cells)
    notes = [out["history"]["basis"], out["basis"]]
    if "fleet" in out:
        notes.append(out["fleet"]["basis"])
    body = (
        "".join(f"<p>{html.escape(str(x))}</p>" for x in notes)
        + f"\n{html_table(head, rows)}\n"
        + '<h2>History and forecast</h2><div class="c"><canvas id="chart-forecast"></canvas></div>'
    )
    draw = 'FleetplanCharts.forecastTraffic(document.getElementById("chart-forecast"), D);'
    return standalone_page(title, body, data, draw)
