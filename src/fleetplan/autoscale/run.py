"""Autoscaling simulation end to end: the plan's recommendation is the deployment, the
scenario's traffic is replayed against every policy, and the results are compared."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetplan.autoscale.config import AutoscaleScenario, check_span
from fleetplan.autoscale.fleet import Deployment, PolicyResult, Slo, simulate_policy
from fleetplan.autoscale.traffic import TickTraffic, tick_traffic
from fleetplan.catalog import Catalog, load_catalog
from fleetplan.errors import InputError

GRANULARITY_S = {"per-second": 1.0, "per-minute": 60.0, "per-hour": 3600.0, "monthly": 730 * 3600.0}


@dataclass
class AutoscaleResult:
    name: str
    deployment: Deployment
    traffic_basis: str
    duration_s: float
    requests: int
    slo: Slo
    window_s: float
    api: str | None
    api_usd_per_request: float | None
    policies: list[PolicyResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plan: Any = field(default=None, repr=False)
    traffic: TickTraffic | None = field(default=None, repr=False)

    min_attainment: float = 1.0  # share of windows that must meet the TTFT SLO to count

    def best(self, min_attainment: float | None = None) -> PolicyResult | None:
        """The cheapest policy whose windows meet the TTFT SLO at `min_attainment` and that
        drops no request; None when none does."""
        ok = [
            x
            for x in self.policies
            if x.ttft_slo_attainment >= (min_attainment or self.min_attainment)
            and x.dropped_requests == 0
        ]
        return min(ok, key=lambda x: x.usd) if ok else None

    def to_dict(self, timeline: bool = True) -> dict[str, Any]:
        best = self.best()
        d = self.deployment
        return {
            "name": self.name,
            "deployment": {
                "label": d.label,
                "replica_req_per_s": round(d.replica_req_per_s, 3),
                "max_batch": d.max_batch,
                "gpus_per_replica": d.gpus_per_replica,
                "usd_per_gpu_hour": d.usd_per_gpu_hour,
                "cold_start_s": d.cold_start_s,
                "billing_granularity_s": d.billing_granularity_s,
                "planned_replicas": d.planned_replicas,
                "basis": d.basis,
            },
            "traffic": {
                "basis": self.traffic_basis,
                "duration_s": self.duration_s,
                "requests": self.requests,
            },
            "slo": {"ttft_p95_ms": self.slo.ttft_p95_ms, "tpot_p95_ms": self.slo.tpot_p95_ms},
            "window_s": self.window_s,
            "overflow_api": self.api,
            "overflow_usd_per_request": self.api_usd_per_request,
            "best_policy": best.name if best else None,
            "best_policy_rule": (
                f"the cheapest policy meeting the TTFT SLO in at least "
                f"{self.min_attainment:.1%} of windows without dropping a request"
            ),
            "policies": [_policy_dict(x, timeline) for x in self.policies],
            "notes": self.notes,
        }


def _policy_dict(x: PolicyResult, timeline: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": x.name,
        "kind": x.kind,
        "gpu_hours": round(x.gpu_hours, 2),
        "usd": round(x.usd, 2),
        "usd_gpus": round(x.usd_gpus, 2),
        "usd_overflow": round(x.usd_overflow, 2),
        "ttft_slo_attainment": round(x.ttft_slo_attainment, 4),
        "ttft_slo_attainment_requests": round(x.ttft_slo_attainment_requests, 4),
        "tpot_slo_attainment": round(x.tpot_slo_attainment, 4),
        "violated_windows": x.violated_windows,
        "worst_window_ttft_p95_ms": round(x.worst_window_ttft_p95_ms, 1),
        "served_requests": x.served_requests,
        "overflowed_requests": x.overflowed_requests,
        "dropped_requests": x.dropped_requests,
        "peak_replicas": x.peak_replicas,
        "mean_replicas": round(x.mean_replicas, 2),
        "scale_events": x.scale_events,
    }
    if timeline:
        out["timeline"] = x.timeline
    return out


def _plan_spec(sc: AutoscaleScenario, base: Path) -> tuple[Any, Path]:
    from fleetplan.scenario import load_scenario, parse_scenario

    if isinstance(sc.plan, dict):
        return parse_scenario(sc.plan, "plan"), base
    return load_scenario(Path(base, sc.plan))


def deployment_for(sc: AutoscaleScenario, base: Path, cat: Catalog) -> tuple[Deployment, Slo, Any]:
    """The plan's recommendation as a deployment that scales; its cold start and billing."""
    from fleetplan.plan import make_plan
    from fleetplan.render.deploy.target import make_target

    spec, pbase = _plan_spec(sc, base)
    p = make_plan(spec, pbase, cat)
    c = p.recommended
    if c is None:
        raise InputError("plan: no deployment meets its SLOs and constraints, nothing to scale")
    if sc.cold_start.seconds is not None:
        cold, cold_basis = sc.cold_start.seconds, "given"
    else:
        load_s = make_target(p, cat).load_time_s
        cold = load_s + sc.cold_start.node_provision_s
        cold_basis = (
            f"model load estimate {load_s} s (container start + weights / storage bandwidth + "
            f"warm-up, as the emitted startupProbe) + node provisioning "
            f"{sc.cold_start.node_provision_s:g} s"
        )
    gran = sc.billing_granularity_s or GRANULARITY_S.get(c.offer.billing, 3600.0)
    grid_u, grid_ms = replica_ttft_grid(p, spec, pbase, cat)
    dep = Deployment(
        label=f"{c.gpu}{' x' + str(c.tp) if c.tp > 1 else ''} {c.precision} {c.engine}",
        replica_req_per_s=c.replica_req_per_s,
        max_batch=c.max_batch,
        prefill_p95_ms=c.prefill_p95_ms,
        tpot_p95_ms=c.tpot_p95_ms,
        gpus_per_replica=c.tp,
        usd_per_gpu_hour=c.offer.usd_per_gpu_hour,
        cold_start_s=float(cold),
        billing_granularity_s=float(gran),
        planned_replicas=c.replicas,
        ttft_grid_u=grid_u,
        ttft_grid_ms=grid_ms,
        basis=(
            f"plan recommendation: {c.replicas} x {c.gpu} tp{c.tp} {c.precision} {c.engine}, "
            f"batch <= {c.max_batch}, {c.replica_req_per_s:.2f} req/s per replica; "
            f"{c.offer.provider} {c.offer.pricing} ${c.offer.usd_per_gpu_hour:.2f}/GPU-h billed "
            f"per {gran:g} s; cold start {cold:g} s ({cold_basis})"
        ),
    )
    slo = Slo(spec.slo.ttft_p95_ms or math.inf, spec.slo.tpot_p95_ms)
    return dep, slo, p


# Utilizations at which a replica's steady-state TTFT p95 is computed. Above the last one the
# steady-state slot wait grows without bound, but in the fleet model the backlog that builds
# when a tick's arrivals exceed its capacity is carried by the fleet queue explicitly, so the
# per-tick value stops there (fleetplan/docs/autoscale.md).
UTILIZATION_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93)


def replica_ttft_grid(
    p: Any, spec: Any, base: Path, cat: Catalog
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """TTFT p95 (ms) of one replica of the plan's recommendation at each utilization of
    `UTILIZATION_GRID`: the plan's own latency model (`search.latency.LatencyModel`) at an
    arrival rate of that share of the replica's capacity, among the fewest replicas the plan
    allows (its `min_replicas`): a balancer pools the replicas' prefill queues, fewer pool
    less, so the autoscaler's smallest fleet reads the longest waits."""
    from dataclasses import replace

    import numpy as np

    from fleetplan.perf.roofline import setup
    from fleetplan.plan.search import _workload
    from fleetplan.search.latency import LatencyModel
    from fleetplan.search.stack import stack
    from fleetplan.workload import Traffic

    c = p.recommended
    s = stack(
        [
            setup(
                p.model,
                cat.gpu(c.gpu),
                cat.precision(c.precision),
                cat.engine(c.engine),
                tp=c.tp,
                kv_precision=spec.kv_precision,
            )
        ]
    )
    work = _workload(spec, base)
    batch = np.array([[float(c.max_batch)]])
    chunk = float(s.engine.max_num_batched_tokens)
    fleet = float(max(spec.slo.min_replicas, 1))
    out = []
    for u in UTILIZATION_GRID:
        rate = max(u, 1e-6) * c.replica_req_per_s * fleet
        m = LatencyModel(s, replace(work, traffic=Traffic(rate, rate)), batch, chunk)
        v = float(m.value(m.point(np.array([[fleet]])), "ttft", 95)[0, 0]) * 1000.0
        if not np.isfinite(v):
            raise InputError(
                f"plan: the latency model finds {c.gpu} unstable at {u:.0%} of its capacity"
            )
        out.append(v)
    return UTILIZATION_GRID, tuple(float(x) for x in np.maximum.accumulate(out))


def run_autoscale(
    sc: AutoscaleScenario,
    base: Path = Path("."),
    catalog: Catalog | None = None,
    policies: list[str] | None = None,
    seed: int | None = None,
) -> AutoscaleResult:
    cat = catalog or load_catalog()
    dep, slo, p = deployment_for(sc, base, cat)
    chosen = sc.policies
    if policies:
        names = dict.fromkeys(x.name for x in sc.policies)  # the scenario's order, every run
        unknown = [n for n in policies if n not in names]
        if unknown:
            raise InputError(
                f"--policy {unknown[0]!r} is not in the scenario; accepted: {', '.join(names)}"
            )
        chosen = [x for x in sc.policies if x.name in policies]
    traffic: TickTraffic = tick_traffic(
        sc.traffic, sc.tick_s, sc.seed if seed is None else seed, base
    )
    try:  # a history's span is known once read
        check_span(traffic.duration_s, sc.window_s, "traffic.path")
    except ValueError as exc:
        raise InputError(str(exc)) from None
    api, per_request = _overflow_price(chosen, p)
    res = AutoscaleResult(
        name=sc.name,
        deployment=dep,
        traffic_basis=traffic.basis,
        duration_s=traffic.duration_s,
        requests=int(traffic.arrivals.sum()),
        slo=slo,
        window_s=sc.window_s,
        api=api,
        api_usd_per_request=per_request,
        plan=p,
        traffic=traffic,
    )
    for pol in chosen:
        res.policies.append(
            simulate_policy(pol, dep, traffic, slo, sc.window_s, sc.max_queue_wait_s, per_request)
        )
    res.notes.append(
        "TTFT per window: fleet queue wait + the replica's TTFT p95 at its utilization (the "
        "plan's queue model); TPOT stays within the plan's at the batch limit, whatever the "
        "fleet size, so its attainment only says whether the plan's TPOT meets the SLO"
    )
    return res


def _overflow_price(chosen: list[Any], p: Any) -> tuple[str | None, float | None]:
    apis = {x.overflow.api for x in chosen if x.overflow}
    if not apis:
        return None, None
    if len(apis) > 1:
        raise InputError(
            f"policies overflow to different APIs ({', '.join(sorted(apis))}); use one"
        )
    from fleetplan.catalog.api_prices import api_price

    name = apis.pop()
    card = api_price(name)
    return name, card.usd_per_request(p.input.mean, p.output.mean)
