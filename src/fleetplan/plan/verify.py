"""`plan --verify`: simulate the recommended deployment at peak traffic and, if a percentile
SLO is missed, grow replicas until the simulator says it is met."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from fleetplan.catalog import Catalog
from fleetplan.plan.types import Plan
from fleetplan.search.candidates import monthly_cost
from fleetplan.workload import Lengths

TARGET_REQUESTS = 20_000  # enough arrivals for stable p95s, about a second of simulation
MAX_ROUNDS = 8


@dataclass(frozen=True)
class Verification:
    replicas_planned: int
    replicas_verified: int
    met: bool
    runs: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


def _lengths(x: Lengths, cap: int) -> dict[str, Any]:
    if x.std <= 0:
        return {"mean": x.mean, "dist": "fixed", "max": cap}
    sigma = math.sqrt(math.log(1 + (x.std / x.mean) ** 2))
    return {"mean": x.mean, "dist": "lognormal", "sigma": sigma, "max": cap}


def verify(plan: Plan, catalog: Catalog, seed: int = 0) -> Plan:
    """The plan with `verification` set (and the recommendation grown if the simulator asks)."""
    from fleetplan.sim.run import simulate

    rec = plan.recommended
    if rec is None:
        return plan
    s = plan.scenario
    slo = s.slo
    peak = s.traffic.resolve().peak_qps
    duration = min(max(TARGET_REQUESTS / peak, 60.0), 900.0)
    cap = plan.model.max_context
    base: dict[str, Any] = {
        "model": plan.model.id,
        "gpu": rec.gpu,
        "precision": rec.precision,
        "kv_precision": s.kv_precision,
        "tp": rec.tp,
        "engine": rec.engine,
        "max_num_seqs": rec.max_batch,
        "load_balancer": "least_outstanding",
        "arrivals": {"kind": "poisson", "rate_per_s": peak, "duration_s": duration},
        "lengths": {"input": _lengths(plan.input, cap), "output": _lengths(plan.output, cap)},
        "slo": {"ttft_ms": slo.ttft_p95_ms, "tpot_ms": slo.tpot_p95_ms},
        "seed": seed,
    }
    replicas = rec.replicas
    runs: list[dict[str, Any]] = []
    met = False
    for _ in range(MAX_ROUNDS):
        r = simulate({**base, "replicas": replicas}, catalog=catalog)
        ttft, tpot = r.ttft_ms.p95, r.tpot_ms.p95
        ok = (slo.ttft_p95_ms is None or ttft <= slo.ttft_p95_ms) and (
            slo.tpot_p95_ms is None or tpot <= slo.tpot_p95_ms
        )
        runs.append(
            {
                "replicas": replicas,
                "requests": r.requests,
                "ttft_p95_ms": round(ttft, 1),
                "tpot_p95_ms": round(tpot, 2),
                "goodput": round(r.goodput, 4),
                "preemptions": r.preemptions,
                "wall_s": round(r.wall_s, 2),
            }
        )
        if ok:
            met = True
            break
        replicas += max(1, math.ceil(replicas * 0.15))
    final = runs[-1]["replicas"]
    if not met:
        msg = (
            f"simulated SLOs still missed at {final} replicas "
            f"(TTFT p95 {runs[-1]['ttft_p95_ms']} ms, TPOT p95 {runs[-1]['tpot_p95_ms']} ms); "
            "the analytic sizing is optimistic for this workload"
        )
    elif final == rec.replicas:
        msg = (
            f"simulated {runs[-1]['requests']:,} requests at {peak:g} req/s on {final} "
            f"replicas: TTFT p95 {runs[-1]['ttft_p95_ms']} ms, TPOT p95 "
            f"{runs[-1]['tpot_p95_ms']} ms — SLOs met, plan confirmed"
        )
    else:
        msg = (
            f"simulation missed a percentile SLO at {rec.replicas} replicas; grew to {final}, "
            f"where TTFT p95 {runs[-1]['ttft_p95_ms']} ms and TPOT p95 "
            f"{runs[-1]['tpot_p95_ms']} ms meet it"
        )
    v = Verification(rec.replicas, final, met, runs, msg)
    new_rec = rec
    if met and final != rec.replicas:
        instances, usd = monthly_cost(rec.offer, final, rec.tp)
        new_rec = replace(
            rec,
            instances=instances,
            replicas=final,
            gpus_total=final * rec.tp,
            usd_per_month=usd,
            usd_per_million_tokens=rec.usd_per_million_tokens * usd / rec.usd_per_month,
            ttft_p95_ms=runs[-1]["ttft_p95_ms"],
            tpot_p95_ms=runs[-1]["tpot_p95_ms"],
            utilization_at_peak=rec.utilization_at_peak * rec.replicas / final,
            notes=(*rec.notes, f"replicas grown from {rec.replicas} by simulation (--verify)"),
        )
    return replace(plan, recommended=new_rec, verification=v)
