"""The plan as plain dicts: the JSON contract of `fleetplan plan --json`."""

from __future__ import annotations

from typing import Any

from fleetplan.plan import Plan
from fleetplan.render.records import offer_record
from fleetplan.search.candidates import Candidate


def _r(x: float, nd: int = 2) -> float:
    return round(float(x), nd)


def candidate_record(c: Candidate) -> dict[str, Any]:
    o = c.offer
    return {
        "gpu": c.gpu,
        "precision": c.precision,
        "tp": c.tp,
        "engine": c.engine,
        "replicas": c.replicas,
        "gpus_total": c.gpus_total,
        "instances": c.instances,
        "gpus_per_instance": c.instance_gpus,
        "replicas_per_instance": c.replicas_per_instance,
        "gpus_billed": c.gpus_billed,
        "max_batch": c.max_batch,
        "offer": offer_record(o),
        "usd_per_instance_hour": _r(c.usd_per_instance_hour, 4),
        "usd_per_month": _r(c.usd_per_month),
        "usd_per_million_tokens": _r(c.usd_per_million_tokens, 4),
        "ttft_p95_ms": _r(c.ttft_p95_ms, 1),
        "tpot_p95_ms": _r(c.tpot_p95_ms, 2),
        "prefill_p95_ms": _r(c.prefill_p95_ms, 1),
        "utilization_at_peak": _r(c.utilization_at_peak, 3),
        "replica_req_per_s": _r(c.replica_req_per_s, 3),
        "kv_capacity_tokens": c.kv_capacity_tokens,
        "meets_slo": c.meets_slo,
        "within_budget": c.within_budget,
        "notes": list(c.notes),
    }


def plan_record(p: Plan) -> dict[str, Any]:
    s = p.scenario
    out: dict[str, Any] = {
        "scenario": s.name or s.model,
        "model": p.model.id,
        "workload": {
            "avg_qps": s.traffic.avg_qps,
            "peak_qps": s.traffic.resolve().peak_qps,
            "input_tokens": _lengths(p.input),
            "output_tokens": _lengths(p.output),
            "slo": s.slo.model_dump(),
            "headroom": s.headroom,
        },
        "recommended": candidate_record(p.recommended) if p.recommended else None,
        "expected_error": p.expected_error.record() if p.expected_error else None,
        "alternatives": [candidate_record(c) for c in p.alternatives],
        "by_provider": [candidate_record(c) for c in p.by_provider],
        "pareto": [candidate_record(c) for c in p.pareto],
        "rejected": [
            {
                "gpu": r.gpu,
                "precision": r.precision,
                "tp": r.tp,
                "engine": r.engine,
                "reason": r.reason,
            }
            for r in p.rejected
        ],
        "candidates_evaluated": p.candidates_evaluated,
        "search_s": _r(p.search_s, 4),
        "horizons": [
            {
                "days": h.days,
                "peak_qps": _r(h.peak_qps, 2),
                "deployment": candidate_record(h.candidate) if h.candidate else None,
                "reason": h.reason,
            }
            for h in p.horizons
        ],
        "apis": [
            {
                "api": a.api,
                "api_usd_per_request": _r(a.api_usd_per_request, 6),
                "api_usd_per_month": _r(a.api_usd_per_month),
                "self_hosted_usd_per_month": _r(a.self_hosted_usd_per_month),
                "breakeven_requests_per_month": a.breakeven_requests_per_month,
                "reason": a.reason,
                "price_basis": a.price_basis,
                "allowed": not s.constraints.self_host_only,
                "curve": _curve_record(a.curve),
            }
            for a in p.apis
        ],
        "notes": p.notes,
        "basis": (
            "analytic performance model with engine efficiency factors; latency percentiles "
            "from a queue and step model (fleetplan docs sizing); offer prices with their "
            "sources; $/1M tokens at average traffic"
        ),
    }
    if p.verification is not None:
        v = p.verification
        out["verification"] = {
            "replicas_planned": v.replicas_planned,
            "replicas_min": v.replicas_min,
            "replicas_min_slo": v.replicas_min_slo,
            "replicas_verified": v.replicas_verified,
            "met": v.met,
            "planned": v.planned.as_dict() if v.planned else None,
            "minimum": v.minimum.as_dict() if v.minimum else None,
            "runs": v.runs,
            "message": v.message,
            "basis": "discrete-event simulation at peak traffic (fleetplan.sim); values are "
            "means over seeds with their spread (min, max); null: nothing to measure (n/a)",
        }
    if p.hand_sizing_check is not None:
        out["hand_sizing_check"] = {k: v for k, v in p.hand_sizing_check.__dict__.items()}
    if p.mix is not None:
        m = p.mix
        out["mix"] = {
            "replicas": m.replicas,
            "shares": m.shares,
            "class_replicas": m.class_replicas,
            "usd_per_month": _r(m.usd_per_month),
            "instances": m.instances,
            "best_single": {
                "type": m.best_single_label,
                "replicas": m.best_single_replicas,
                "usd_per_month": _r(m.best_single_usd_per_month),
            },
            "baseline": {"type": m.baseline_label, "usd_per_month": _r(m.baseline_usd)},
            "recommendation_kept": m.recommendation_kept,
            "best_mix_usd_per_month": (
                None if m.best_mix_usd_per_month is None else _r(m.best_mix_usd_per_month)
            ),
            "saving_usd_per_month": _r(m.saving_usd_per_month),
            "saving_fraction": _r(m.saving_fraction, 4),
        }
    return out


def _lengths(x: Any) -> dict[str, Any]:
    return {
        "mean": _r(x.mean, 1),
        "p50": _r(x.p50, 1),
        "p95": _r(x.p95, 1),
        "p99": _r(x.p99, 1),
        "basis": x.basis,
    }


def _curve_record(curve: object) -> dict[str, list[float]] | None:
    """Cost versus monthly volume at the self-hosted step edges (economics.breakeven)."""
    if curve is None:
        return None
    return {
        "requests_per_month": list(curve.requests_per_month),  # type: ignore[attr-defined]
        "self_hosted_usd_per_month": [
            _r(x)
            for x in curve.self_hosted_usd_per_month  # type: ignore[attr-defined]
        ],
        "api_usd_per_month": [_r(x) for x in curve.api_usd_per_month],  # type: ignore[attr-defined]
    }
