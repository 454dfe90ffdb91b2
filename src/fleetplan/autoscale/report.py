"""The autoscaling comparison as an HTML page: traffic and replicas over time per policy, TTFT
p95 per window against the SLO, and the table — drawn with the web app's vendored charts."""

from __future__ import annotations

import html
from typing import Any


def html_page(result: dict[str, Any], title: str) -> str:
    from fleetplan.render.charts import html_table, standalone_page

    head = ["policy", "kind", "GPU-hours", "$ total", "TTFT SLO windows", "windows missed",
            "overflowed", "dropped", "peak replicas"]  # fmt: skip
    rows = [
        [p["name"], p["kind"], f"{p['gpu_hours']:,.1f}", f"${p['usd']:,.0f}",
         f"{100 * p['ttft_slo_attainment']:.1f}%", p["violated_windows"],
         f"{p['overflowed_requests']:,}", f"{p['dropped_requests']:,}", p["peak_replicas"]]
        for p in result["policies"]
    ]  # fmt: skip
    body = (
        f"<p>{html.escape(result['deployment']['basis'])}</p>"
        f"<p>{html.escape(result['traffic']['basis'])}</p>\n{html_table(head, rows)}\n"
        '<h2>Traffic and replicas</h2><div class="c"><canvas id="chart-replicas"></canvas></div>\n'
        '<h2>TTFT p95 per window</h2><div class="c"><canvas id="chart-latency"></canvas></div>'
    )
    draw = (
        'FleetplanCharts.autoscaleReplicas(document.getElementById("chart-replicas"), D);\n'
        '  FleetplanCharts.autoscaleLatency(document.getElementById("chart-latency"), D);'
    )
    return standalone_page(title, body, result, draw)
