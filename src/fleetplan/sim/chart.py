"""A self-contained chart of a simulation: latency percentiles and queue length over time.

Pure string output (SVG, or an HTML page around it); no plotting library needed. The CLI
writes the file (and a PNG, with matplotlib when it is installed).
"""

from __future__ import annotations

from html import escape
from typing import Any

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 900, 230, 70, 150, 30, 40
COLORS = ("#1f77b4", "#ff7f0e", "#d62728", "#2ca02c", "#9467bd")


def _panel(y0: int, title: str, unit: str, t: list[float], series: dict[str, list[float]]) -> str:
    xs = t or [0.0]
    x_lo, x_hi = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    values = [v for s in series.values() for v in s] or [0.0]
    y_hi = max(values) * 1.05 or 1.0
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def px(x: float) -> float:
        return PAD_L + (x - x_lo) / (x_hi - x_lo) * pw

    def py(y: float) -> float:
        return y0 + PAD_T + ph - y / y_hi * ph

    out = [f'<text x="{PAD_L}" y="{y0 + 18}" font-weight="bold">{escape(title)}</text>']
    out.append(
        f'<rect x="{PAD_L}" y="{y0 + PAD_T}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>'
    )
    for i in range(5):
        yv = y_hi * i / 4
        out.append(
            f'<text x="{PAD_L - 6}" y="{py(yv) + 4:.1f}" text-anchor="end" '
            f'font-size="11">{yv:,.4g}</text>'
        )
        xv = x_lo + (x_hi - x_lo) * i / 4
        out.append(
            f'<text x="{px(xv):.1f}" y="{y0 + H - 22}" text-anchor="middle" '
            f'font-size="11">{xv:,.0f} s</text>'
        )
    out.append(
        f'<text x="12" y="{y0 + PAD_T + ph / 2}" font-size="11" '
        f'transform="rotate(-90 12 {y0 + PAD_T + ph / 2})">{escape(unit)}</text>'
    )
    for i, (name, ys) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(t, ys, strict=True))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"/>')
        ly = y0 + PAD_T + 14 + 16 * i
        out.append(
            f'<text x="{W - PAD_R + 10}" y="{ly}" fill="{color}" font-size="12">'
            f"{escape(name)}</text>"
        )
    return "\n".join(out)


def chart_svg(result: Any, title: str = "fleetplan simulate") -> str:
    """SVG with three panels: TTFT and E2E percentiles per arrival window, queue over time."""
    w, tl = result.windows, result.timeline
    panels = [
        _panel(
            0,
            "TTFT by arrival time (percentiles per window)",
            "ms",
            w["t_s"],
            {"p50": w["ttft_p50"], "p95": w["ttft_p95"], "p99": w["ttft_p99"]},
        ),
        _panel(
            H,
            "End-to-end latency by arrival time",
            "ms",
            w["t_s"],
            {"p50": w["e2e_p50"], "p95": w["e2e_p95"], "p99": w["e2e_p99"]},
        ),
        _panel(
            2 * H,
            "Queue and requests in system (samples)",
            "requests",
            tl["t_s"],
            {"waiting": tl["queue"], "running": tl["running"], "in system": tl["in_system"]},
        ),
    ]
    body = "\n".join(panels)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{3 * H + 20}" '
        f'font-family="sans-serif"><title>{escape(title)}</title>\n{body}\n</svg>\n'
    )


def chart_html(result: Any, title: str) -> str:
    d = result.to_dict()
    lines = [
        f"TTFT p50/p95/p99 {d['ttft_ms']['p50']:.1f}/{d['ttft_ms']['p95']:.1f}/"
        f"{d['ttft_ms']['p99']:.1f} ms",
        f"E2E p50/p95/p99 {d['e2e_ms']['p50']:.0f}/{d['e2e_ms']['p95']:.0f}/"
        f"{d['e2e_ms']['p99']:.0f} ms",
        f"goodput {d['goodput']:.1%}, preemptions {d['preemptions']}",
        d["basis"],
    ]
    items = "".join(f"<li>{escape(x)}</li>" for x in lines)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"</head><body style='font-family:sans-serif'><h2>{escape(title)}</h2><ul>{items}</ul>"
        f"{chart_svg(result, title)}</body></html>\n"
    )
