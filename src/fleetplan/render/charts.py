"""Charts for the HTML report: the web app's own chart script (Chart.js, vendored in the
package), inlined with the plan's JSON so the file is self-contained and works offline."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from fleetplan.plan import Plan

# (canvas id, caption, FleetplanCharts function)
PLAN_CHARTS = {
    "pareto": ("Cost vs latency (Pareto frontier; hover for details)", "pareto"),
    "volume": ("Cost vs monthly volume: self-hosted vs APIs", "volume"),
    "budget": ("Monthly budget: now and at the growth horizons", "budget"),
}


@cache
def _asset(name: str) -> str:
    return resources.files("fleetplan.web").joinpath("static", name).read_text("utf-8")


def _script_text(text: str) -> str:
    """Text safe inside an inline <script> element."""
    return text.replace("</", "<\\/")


def chart_head(p: Plan) -> str:
    """The chart library, the chart script and the plan's JSON, once per report."""
    from fleetplan.render.plan_records import plan_record

    data = json.dumps(plan_record(p), allow_nan=False)
    return (
        f"<script>{_script_text(_asset('vendor/chart.umd.min.js'))}</script>\n"
        f"<script>{_script_text(_asset('charts.js'))}</script>\n"
        f"<script>window.FLEETPLAN_PLAN = {_script_text(data)};</script>"
    )


def chart(kind: str) -> str:
    """A figure whose canvas is drawn from the embedded plan once the page has loaded."""
    caption, fn = PLAN_CHARTS[kind]
    cid = f"chart-{kind}"
    return (
        f"<figure style='max-width:760px'><figcaption><b>{caption}</b></figcaption>"
        f"<div style='height:320px'><canvas id='{cid}'></canvas></div></figure>\n"
        "<script>window.addEventListener('load', () => FleetplanCharts."
        f"{fn}(document.getElementById('{cid}'), window.FLEETPLAN_PLAN));</script>"
    )
