"""The autoscaling comparison as an HTML page: traffic and replicas over time per policy, TTFT
p95 per window against the SLO, and the table — drawn with the web app's vendored charts."""

from __future__ import annotations

import html
import json
from typing import Any


def html_page(result: dict[str, Any], title: str) -> str:
    from fleetplan.render.charts import _asset, _script_text

    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                p["name"],
                p["kind"],
                f"{p['gpu_hours']:,.1f}",
                f"${p['usd']:,.0f}",
                f"{100 * p['ttft_slo_attainment']:.1f}%",
                p["violated_windows"],
                f"{p['overflowed_requests']:,}",
                f"{p['dropped_requests']:,}",
                p["peak_replicas"],
            )
        )
        + "</tr>"
        for p in result["policies"]
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "policy",
            "kind",
            "GPU-hours",
            "$ total",
            "TTFT SLO windows",
            "windows missed",
            "overflowed",
            "dropped",
            "peak replicas",
        )
    )
    data = _script_text(json.dumps(result, allow_nan=False))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5em;max-width:1200px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px;
text-align:right}}th{{background:#f3f3f3}}.c{{height:320px;margin:1em 0}}</style>
<script>{_script_text(_asset("vendor/chart.umd.min.js"))}</script>
<script>{_script_text(_asset("charts.js"))}</script></head><body>
<h1>{html.escape(title)}</h1><p>{html.escape(result["deployment"]["basis"])}</p>
<p>{html.escape(result["traffic"]["basis"])}</p>
<table><tr>{head}</tr>{rows}</table>
<h2>Traffic and replicas</h2><div class="c"><canvas id="chart-replicas"></canvas></div>
<h2>TTFT p95 per window</h2><div class="c"><canvas id="chart-latency"></canvas></div>
<script>const R = {data};
window.addEventListener("load", () => {{
  FleetplanCharts.autoscaleReplicas(document.getElementById("chart-replicas"), R);
  FleetplanCharts.autoscaleLatency(document.getElementById("chart-latency"), R);
}});</script></body></html>
"""
