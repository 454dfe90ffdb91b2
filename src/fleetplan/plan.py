"""The main job: Scenario -> Plan (recommended deployment, alternatives, Pareto, why-nots).

Pure: no files and no printing; `load_scenario` and the renderers sit at the edges.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from fleetplan.catalog import Catalog, load_catalog, resolve_model
from fleetplan.catalog.specs import ModelSpec
from fleetplan.errors import InputError, UnsupportedError
from fleetplan.scenario import ScenarioSpec
from fleetplan.search.candidates import (
    Candidate,
    Rejection,
    SetupEval,
    Workload,
    check_providers,
    cost_candidates,
    enumerate_setups,
    evaluate,
    miss_reason,
    offers_for,
)
from fleetplan.search.pareto import pareto_front
from fleetplan.sizing import seed_method_gpus
from fleetplan.workload import Lengths

HORIZON_DAYS = (30, 90, 365)


@dataclass(frozen=True)
class Horizon:
    days: int
    peak_qps: float
    candidate: Candidate | None
    reason: str = ""


@dataclass(frozen=True)
class SeedCheck:
    """A hand derivation (seed 003 §57.1.5) next to what the model derives (W8)."""

    given_t_step_ms: float
    batch: int
    context: int
    lam_req_s: float
    usable_req_s: float
    gpus: int
    derived_t_step_ms: float
    derived_gpus_decode_only: int
    derived_prefill_ms: float
    derived_gpus_with_prefill: int
    explanation: str


@dataclass(frozen=True)
class ApiComparison:
    api: str
    api_usd_per_request: float
    api_usd_per_month: float
    self_hosted_usd_per_month: float
    breakeven_requests_per_month: int | None
    reason: str
    price_basis: str
    curve: object = None


@dataclass(frozen=True)
class Plan:
    scenario: ScenarioSpec
    model: ModelSpec
    input: Lengths
    output: Lengths
    recommended: Candidate | None
    alternatives: list[Candidate]
    pareto: list[Candidate]
    rejected: list[Rejection]
    candidates_evaluated: int
    search_s: float
    horizons: list[Horizon] = field(default_factory=list)
    seed_check: SeedCheck | None = None
    apis: list[ApiComparison] = field(default_factory=list)
    mix: object = None
    notes: list[str] = field(default_factory=list)
    verification: object = None


def _workload(spec: ScenarioSpec, base: Path, peak_scale: float = 1.0) -> Workload:
    from fleetplan.workload import Traffic

    t = spec.traffic.resolve()
    if peak_scale != 1.0:
        t = Traffic(t.avg_qps * peak_scale, t.peak_qps * peak_scale, t.hourly_qps)
    return Workload(
        input=spec.input_tokens.resolve("input_tokens", base, "input_tokens"),
        output=spec.output_tokens.resolve("output_tokens", base, "output_tokens"),
        traffic=t,
        slo=spec.slo.resolve(),
        headroom=spec.headroom,
    )


def search(
    spec: ScenarioSpec,
    model: ModelSpec,
    cat: Catalog,
    work: Workload,
) -> tuple[list[Candidate], list[Rejection], list[SetupEval], int]:
    """All candidates for one workload: costed candidates, rejections, evaluations, count."""
    c = spec.constraints
    gpus = [cat.gpu(g).id for g in c.gpus] if c.gpus else sorted(cat.gpus)
    for p in spec.precisions:
        cat.precision(p)
    for e in spec.engines:
        cat.engine(e)
    check_providers(cat, c.providers)
    pairs, rejected = enumerate_setups(
        model, cat, gpus, spec.precisions, spec.engines, list(c.tp), work, spec.kv_precision
    )
    if c.gpus:
        for g in sorted(set(cat.gpus) - set(gpus)):
            rejected.append(Rejection(g, "*", 0, "*", "not allowed: not in constraints.gpus"))
    offers = {g: offers_for(cat, g, c.providers, list(c.pricing)) for g in gpus}
    for g in gpus:
        if not offers[g]:
            rejected.append(
                Rejection(g, "*", 0, "*", "no offer matches the allowed providers and pricing")
            )
    evals = evaluate(pairs, work)
    cands, n = cost_candidates(evals, offers, work, c.max_usd_per_month)
    for ev in evals:
        if not ev.meets.any():
            rejected.append(
                Rejection(
                    ev.setup.gpu.id,
                    ev.setup.precision.id,
                    ev.setup.tp,
                    ev.setup.engine.id,
                    miss_reason(ev, work.slo),
                )
            )
    return cands, rejected, evals, n


def _rank(cands: list[Candidate]) -> list[Candidate]:
    return sorted(cands, key=lambda x: (x.usd_per_month, x.tpot_p95_ms, x.ttft_p95_ms))


def make_plan(
    spec: ScenarioSpec,
    base: Path = Path("."),
    catalog: Catalog | None = None,
) -> Plan:
    cat = catalog or load_catalog()
    model = resolve_model(
        cat, spec.model if not spec.model.endswith(".json") else str(base / spec.model)
    )
    work = _workload(spec, base)
    t0 = time.perf_counter()
    cands, rejected, evals, n = search(spec, model, cat, work)
    search_s = time.perf_counter() - t0
    ranked = _rank([x for x in cands if x.ok])
    budget = spec.constraints.max_usd_per_month
    if budget is not None:
        for x in _rank([x for x in cands if x.meets_slo and not x.within_budget]):
            key = (x.gpu, x.precision, x.tp)
            if all((r.gpu, r.precision, r.tp) != key for r in rejected):
                rejected.append(
                    Rejection(
                        x.gpu,
                        x.precision,
                        x.tp,
                        x.engine,
                        f"above budget: ${x.usd_per_month:,.0f}/month at best > ${budget:,.0f}",
                    )
                )
    recommended = ranked[0] if ranked else None
    alternatives = _distinct(ranked[1:], exclude=recommended)[:5]
    # Pareto: cheapest offer per (setup, batch) that fits, cost vs TPOT
    best_by_setup: dict[tuple, Candidate] = {}
    for x in cands:
        if not x.within_budget:
            continue
        key = (x.gpu, x.precision, x.tp, x.engine)
        if key not in best_by_setup or x.usd_per_month < best_by_setup[key].usd_per_month:
            best_by_setup[key] = x
    pool = list(best_by_setup.values())
    front = pareto_front([x.usd_per_month for x in pool], [x.tpot_p95_ms for x in pool])
    pareto = [pool[i] for i in front]
    notes = []
    if recommended is None:
        notes.append("no candidate meets every SLO and constraint; see 'rejected' for why")
    plan = Plan(
        scenario=spec,
        model=model,
        input=work.input,
        output=work.output,
        recommended=recommended,
        alternatives=alternatives,
        pareto=pareto,
        rejected=_dedupe(rejected),
        candidates_evaluated=n,
        search_s=search_s,
        notes=notes,
    )
    return _extend(plan, spec, base, cat, model, work, evals)


def _distinct(cands: list[Candidate], exclude: Candidate | None) -> list[Candidate]:
    seen = set()
    if exclude is not None:
        seen.add((exclude.gpu, exclude.precision, exclude.tp, exclude.engine))
    out = []
    for x in cands:
        key = (x.gpu, x.precision, x.tp, x.engine)
        if key not in seen:
            seen.add(key)
            out.append(x)
    return out


def _dedupe(rs: list[Rejection]) -> list[Rejection]:
    seen, out = set(), []
    for r in rs:
        key = (r.gpu, r.precision, r.tp, r.engine, r.reason)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _extend(
    plan: Plan,
    spec: ScenarioSpec,
    base: Path,
    cat: Catalog,
    model: ModelSpec,
    work: Workload,
    evals: list[SetupEval],
) -> Plan:
    from dataclasses import replace

    from fleetplan.plan_extras import api_comparisons, fleet_mix, horizons, seed_check

    extras: dict[str, object] = {}
    if spec.traffic.growth_per_month:
        extras["horizons"] = horizons(plan, spec, base, cat, model)
    if spec.seed_sizing is not None:
        extras["seed_check"] = seed_check(spec, cat, model, work)
    if spec.compare_apis and plan.recommended is not None:
        extras["apis"] = api_comparisons(plan.recommended, spec, work)
    if spec.classes:
        extras["mix"] = fleet_mix(spec, base, cat, model)
    return replace(plan, **extras)


__all__ = [
    "HORIZON_DAYS",
    "ApiComparison",
    "Horizon",
    "InputError",
    "Plan",
    "SeedCheck",
    "UnsupportedError",
    "make_plan",
    "search",
    "seed_method_gpus",
]
