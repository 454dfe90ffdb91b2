"""The plan report as sections (title, columns, rows, notes), rendered three ways: a terminal
(plain-text tables), Markdown and HTML (with charts). One source of content for every format."""

from __future__ import annotations

import html
from typing import Any

from fleetplan.catalog.error_bands import unknown_line
from fleetplan.plan import Plan
from fleetplan.plan.build import ALTERNATIVE_CAVEAT
from fleetplan.render.plan_rows import (
    DEPLOY_COLS,
    Section,
    by_provider_section,
    deploy_row,
    instances_label,
    money,
    offer_label,
    price_note,
    sizes_note,
)
from fleetplan.search.candidates import Candidate


def _na(value: float | None, spread: list[float] | None) -> str:
    """A simulated value over seeds with its spread; n/a when nothing was measured."""
    if value is None:
        return "n/a"
    if spread is None or spread[0] == spread[1]:
        return f"{value:,.1f}"
    return f"{value:,.1f} ({spread[0]:,.1f}-{spread[1]:,.1f})"


def sections(p: Plan) -> list[Section]:
    s = p.scenario
    t = s.traffic.resolve()
    out: list[Section] = []
    head = Section(
        f"Plan: {s.name or p.model.id}",
        notes=[
            f"model {p.model.id}; traffic {t.avg_qps:g} req/s average, {t.peak_qps:g} at peak; "
            f"input {p.input.mean:,.0f} tokens mean (p95 {p.input.p95:,.0f}), output "
            f"{p.output.mean:,.0f} (p95 {p.output.p95:,.0f}); headroom: run at most "
            f"{s.headroom:.0%} of capacity at peak",
            "SLOs: "
            + ", ".join(f"{k} {v:g}" for k, v in s.slo.model_dump().items() if v is not None),
        ],
    )
    out.append(head)
    if p.recommended is None:
        out.append(Section("No deployment meets every SLO and constraint", notes=p.notes))
    else:
        r = p.recommended
        rec = Section("Recommended", DEPLOY_COLS, [deploy_row(r)])
        bursty = p.arrivals.sizing_cv2(t.peak_qps) > 1
        queued = "earlier bursts' and prompts' prefills" if bursty else "earlier prompts' prefills"

        rec.notes.append(
            f"{r.replicas} replica(s) of {r.tp} GPU(s) at batch ≤ {r.max_batch}: each serves "
            f"{r.replica_req_per_s:.2f} req/s flat out and runs at {r.utilization_at_peak:.0%} "
            f"at peak. TTFT p95 = slot wait (G/G/c over {r.replicas * r.max_batch} slots) and "
            f"{queued} queued beyond a step + the step in flight + the prefill (p95 prompt alone "
            f"{r.prefill_p95_ms:,.0f} ms) with the prompts sharing its step; TPOT from the "
            "prefills and sequences sharing a request's decode steps over its life. $/1M tokens "
            "counts input + output tokens at average traffic."
        )
        rec.notes.append(
            f"bought as {instances_label(r)} at {offer_label(r)}: $/month counts whole "
            f"instances ({r.gpus_billed} GPUs billed, {r.gpus_total} used)"
        )
        rec.notes += [sizes_note(r), price_note(r)]
        rec.notes += list(r.notes)
        rec.notes += [n for n in p.notes if n.startswith("caveat:")]
        out.append(rec)
    if p.verification is not None:
        v = p.verification
        out.append(
            Section(
                "Verified by simulation (--verify)",
                [
                    "replicas",
                    "requests",
                    "TTFT p95 ms",
                    "TTFT p99 ms",
                    "TPOT p95 ms",
                    "TPOT p99 ms",
                    "goodput",
                    "SLOs",
                ],
                [
                    [
                        str(r["replicas"]),
                        f"{r['requests']:,}",
                        *(
                            _na(r[k], r[f"{k}_spread"])
                            for k in ("ttft_p95_ms", "ttft_p99_ms", "tpot_p95_ms", "tpot_p99_ms")
                        ),
                        f"{r['goodput']:.1%}",
                        "met" if r["met"] else "missed",
                    ]
                    for r in v.runs
                ],
                [v.message],
            )
        )
    if p.alternatives:
        alt = Section("Alternatives", DEPLOY_COLS, [deploy_row(c) for c in p.alternatives])
        alt.notes = [n for n in p.notes if n.startswith(ALTERNATIVE_CAVEAT)]
        out.append(alt)
    if p.by_provider:
        out.append(by_provider_section(p))
    if p.pareto:
        out.append(
            Section(
                "Pareto frontier (cost vs TPOT p95; cheapest offer per setup; one missing an SLO "
                "hides none meeting them)",
                [*DEPLOY_COLS, "meets SLO"],
                [[*deploy_row(c), "yes" if c.meets_slo else "no"] for c in p.pareto],
            )
        )
    if p.apis:
        out.append(
            Section(
                "Against APIs (at average traffic)",
                ["api", "$/request", "API $/month", "self-hosted $/month", "breakeven req/month"],
                [
                    [
                        a.api,
                        f"${a.api_usd_per_request:.6f}",
                        money(a.api_usd_per_month),
                        money(a.self_hosted_usd_per_month),
                        f"{a.breakeven_requests_per_month:,}"
                        if a.breakeven_requests_per_month is not None
                        else "none",
                    ]
                    for a in p.apis
                ],
                [f"{a.api}: {a.reason}. Prices: {a.price_basis}." for a in p.apis]
                + ["self-hosted includes ops_usd_per_month" if s.ops_usd_per_month else ""]
                + [
                    "constraints.self_host_only: data must stay on your own deployment; APIs "
                    "are shown for reference, not as an option"
                    if s.constraints.self_host_only
                    else ""
                ],
            )
        )
    if p.horizons:
        out.append(
            Section(
                "Capacity horizons ("
                + (
                    f"forecast {s.traffic.forecast}"
                    if s.traffic.forecast
                    else f"growth {s.traffic.growth_per_month:.0%}/month"
                )
                + ")",
                ["days", "peak req/s", *DEPLOY_COLS],
                [
                    [str(h.days), f"{h.peak_qps:,.1f}"]
                    + (
                        deploy_row(h.candidate)
                        if h.candidate
                        else [h.reason] + [""] * (len(DEPLOY_COLS) - 1)
                    )
                    for h in p.horizons
                ],
            )
        )
    if p.mix is not None:
        out.append(_mix_section(p.mix, p.recommended))
    if p.hand_sizing_check is not None:
        sc = p.hand_sizing_check
        out.append(
            Section(
                "Hand derivation (fixed step time) vs the model",
                ["method", "t_step ms", "GPUs"],
                [
                    ["hand: given t_step, decode only", f"{sc.given_t_step_ms:g}", str(sc.gpus)],
                    [
                        "model t_step, decode only",
                        f"{sc.derived_t_step_ms:.1f}",
                        str(sc.derived_gpus_decode_only),
                    ],
                    [
                        "model t_step + chunked prefill",
                        f"{sc.derived_t_step_ms + sc.derived_prefill_ms:.1f}",
                        str(sc.derived_gpus_with_prefill),
                    ],
                ],
                [sc.explanation],
            )
        )
    if p.rejected:
        out.append(
            Section(
                "Why not (rejected setups)",
                ["gpu", "precision", "tp", "reason"],
                [[r.gpu, r.precision, str(r.tp or "*"), r.reason] for r in p.rejected],
            )
        )
    out.append(
        Section(
            "Basis",
            notes=[
                f"searched {p.candidates_evaluated:,} candidates (GPU x precision x tp x engine "
                f"x max batch x offer) in {p.search_s * 1e3:.0f} ms",
                "performance: analytic roofline with engine efficiency factors "
                "(fleetplan docs performance); latency percentiles from a queue and step "
                "model checked against the simulator "
                "(fleetplan docs sizing); prices from the offer catalog with sources",
                *_expected_error(p),
            ],
        )
    )
    for sec in out:
        sec.notes = [n for n in sec.notes if n]
    return out


def _expected_error(p: Plan) -> list[str]:
    """How far the performance model was from measurements of setups like the recommendation's
    (catalog.error_bands), as notes; the recommendation's TTFT and TPOT p95 and its replica
    capacity stand on these numbers."""
    if p.recommended is None:
        return []
    if p.expected_error is None:
        return [unknown_line(p.recommended.engine)]
    # one note a line, whatever the format: the terminal's alignment padding goes
    return [" ".join(line.split()) for line in p.expected_error.lines()]


def _mix_section(m: Any, rec: Candidate | None) -> Section:
    routed = ""
    if rec is not None and not m.recommendation_kept and rec.usd_per_month > m.baseline_usd:
        routed = (
            f"the recommendation above ({money(rec.usd_per_month)}/month) serves every class "
            "from one pool, long prompts beside short ones; the mix and its single-type "
            "baseline give each class replicas of its own, sized for that class alone: their "
            "figures hold with a router that sends each class to its replicas"
        )
    if m.recommendation_kept:
        verdict = (
            f"no mix of types beats the recommendation: the cheapest mix costs "
            f"{money(m.best_mix_usd_per_month)}/month against {money(m.usd_per_month)} "
            f"for the {m.baseline_label}; keep it"
        )
    else:
        verdict = (
            f"mix {money(m.usd_per_month)}/month vs {m.baseline_label} "
            f"{money(m.baseline_usd)}: saves {money(m.saving_usd_per_month)} "
            f"({m.saving_fraction:.1%})"
        )
    inst = m.instances or {}
    return Section(
        "Heterogeneous fleet (MILP over request classes, each on replicas of its own)",
        ["deployment type", "replicas", "instances"],
        [[k, str(v), str(inst.get(k, ""))] for k, v in m.replicas.items()],
        [
            verdict,
            routed,
            *[
                f"class {c}: " + ", ".join(f"{k} {v:.0%}{_own(m, c, k)}" for k, v in sh.items())
                for c, sh in m.shares.items()
            ],
        ],
    )


def _own(m: Any, cls: str, label: str) -> str:
    """' on 3 replicas of its own' where the mix gives the class its own replicas of a type."""
    n = m.class_replicas.get(cls, {}).get(label)
    return f" on {n} replica{'s' if n > 1 else ''} of its own" if n else ""


def print_terminal(p: Plan) -> None:
    from fleetplan.render.terminal import table

    for sec in sections(p):
        if sec.columns:
            print(table(sec.title, [(col, "left") for col in sec.columns], sec.rows))
        else:
            print(sec.title)
        for n in sec.notes:
            print(f"  {n}")
        print()


def markdown(p: Plan) -> str:
    lines: list[str] = []
    for i, sec in enumerate(sections(p)):
        lines.append(("# " if i == 0 else "## ") + sec.title)
        lines.append("")
        if sec.columns:
            lines.append("| " + " | ".join(sec.columns) + " |")
            lines.append("|" + "---|" * len(sec.columns))
            for row in sec.rows:
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
            lines.append("")
        for n in sec.notes:
            lines.append(f"- {n}")
        if sec.notes:
            lines.append("")
    return "\n".join(lines)


def html_report(p: Plan) -> str:
    from fleetplan.render.charts import chart, chart_head

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(p.scenario.name or p.model.id)} — fleetplan</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
        "padding:3px 8px;font-size:13px}th{background:#f3f3f3}</style>",
        chart_head(p),
        "</head><body>",
    ]
    for i, sec in enumerate(sections(p)):
        tag = "h1" if i == 0 else "h2"
        parts.append(f"<{tag}>{html.escape(sec.title)}</{tag}>")
        if sec.columns:
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in sec.columns))
            for row in sec.rows:
                parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
            parts.append("</table>")
        if sec.notes:
            parts.append(
                "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in sec.notes) + "</ul>"
            )
        if sec.title.startswith("Pareto"):
            parts.append(chart("pareto"))
        if sec.title.startswith("Against APIs"):
            parts.append(chart("volume"))
        if sec.title.startswith("Capacity horizons"):
            parts.append(chart("budget"))
    parts.append("</body></html>")
    return "\n".join(parts)
