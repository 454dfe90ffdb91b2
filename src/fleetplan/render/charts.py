"""Charts for the HTML report, drawn with matplotlib (optional extra `report`) as inline SVG."""

from __future__ import annotations

import io

from fleetplan.plan import Plan

MISSING = "<p><em>Charts need matplotlib: pip install 'fleetplan[report]'.</em></p>"


def _svg(fig: object) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")  # type: ignore[attr-defined]
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _finish(plt: object, fig: object, ax: object, xlabel: str, ylabel: str, title: str) -> str:
    """Label, render to SVG text and close a figure."""
    ax.set_xlabel(xlabel)  # type: ignore[attr-defined]
    ax.set_ylabel(ylabel)  # type: ignore[attr-defined]
    ax.set_title(title)  # type: ignore[attr-defined]
    ax.legend(fontsize=8)  # type: ignore[attr-defined]
    svg = _svg(fig)
    plt.close(fig)  # type: ignore[attr-defined]
    return svg


def _pyplot() -> object | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def pareto_svg(p: Plan) -> str:
    plt = _pyplot()
    if plt is None:
        return MISSING
    fig, ax = plt.subplots(figsize=(7, 4))  # type: ignore[attr-defined]
    xs = [c.usd_per_month for c in p.pareto]
    ys = [c.tpot_p95_ms for c in p.pareto]
    ax.plot(xs, ys, "o-", label="Pareto frontier")
    for c in p.pareto:
        ax.annotate(f"{c.gpu} {c.precision} tp{c.tp}", (c.usd_per_month, c.tpot_p95_ms),
                    fontsize=7, xytext=(4, 4), textcoords="offset points")  # fmt: skip
    if p.recommended:
        ax.plot([p.recommended.usd_per_month], [p.recommended.tpot_p95_ms], "r*", ms=14,
                label="recommended")  # fmt: skip
    slo = p.scenario.slo.tpot_p95_ms
    if slo:
        ax.axhline(slo, color="gray", ls="--", lw=1, label=f"TPOT SLO {slo:g} ms")
    return _finish(plt, fig, ax, "$/month", "TPOT p95 (ms)", "Cost vs latency")


def cost_volume_svg(p: Plan) -> str:
    plt = _pyplot()
    if plt is None:
        return MISSING
    fig, ax = plt.subplots(figsize=(7, 4))  # type: ignore[attr-defined]
    drawn_self = False
    for a in p.apis:
        curve = a.curve
        if curve is None:
            continue
        vols = list(curve.requests_per_month)  # type: ignore[attr-defined]
        if not drawn_self:
            ax.step(vols, curve.self_hosted_usd_per_month, where="post",  # type: ignore[attr-defined]
                    label="self-hosted (recommended)", lw=2)  # fmt: skip
            drawn_self = True
        ax.plot(vols, curve.api_usd_per_month, label=a.api)  # type: ignore[attr-defined]
    return _finish(plt, fig, ax, "requests / month", "$/month", "Cost vs volume")
