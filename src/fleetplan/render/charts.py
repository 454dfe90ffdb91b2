"""Charts for the HTML report: the web app's own chart script (Chart.js, vendored in the
package), inlined with the plan's JSON so the file is self-contained and works offline."""

from __future__ import annotations

import html
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


def standalone_page(title: str, body: str, data: object, draw: str) -> str:
    """A self-contained HTML page (offline): the vendored chart library and chart script,
    `body`, `data` as the JSON constant `D`, and `draw` run once the page has loaded."""
    payload = _script_text(json.dumps(data, allow_nan=False))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5em;max-width:1200px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px;
text-align:right}}th{{background:#f3f3f3}}.c{{height:340px;margin:1em 0}}</style>
<script>{_script_text(_asset("vendor/chart.umd.min.js"))}</script>
<script>{_script_text(_asset("charts.js"))}</script></head><body>
<h1>{html.escape(title)}</h1>
{body}
<script>const D = {payload};
window.addEventListener("load", () => {{ {draw} }});</script></body></html>
"""


def html_table(head: list[str], rows: list[list[object]]) -> str:
    """A plain table, every cell escaped."""
    ths = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    trs = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{ths}</tr>{trs}</table>"
