"""The main job: Scenario -> Plan (recommended deployment, alternatives, Pareto, why-nots).

Pure: no files and no printing; `load_scenario` and the renderers sit at the edges.
"""

from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import ParamSpec, TypeVar

from fleetplan.catalog import Catalog, load_catalog, resolve_model
from fleetplan.catalog.error_bands import for_configuration
from fleetplan.catalog.specs import ModelSpec
from fleetplan.plan.context import api_comparisons, fleet_mix, hand_sizing_check, horizons
from fleetplan.plan.search import Prepared, _rank, _workload, check_context, prepare, search
from fleetplan.plan.types import Plan
from fleetplan.scenario import ScenarioSpec
from fleetplan.search.candidates import Candidate, Rejection, SetupEval, Workload
from fleetplan.search.pareto import pareto_front

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _cycle_collection_paused(f: Callable[_P, _R]) -> Callable[_P, _R]:
    """`f` run with Python's cyclic garbage collector paused. A plan allocates tens of
    thousands of small objects that live until it returns (setups, fits, candidates and their
    figures: 13,569 candidates in the widest search); each burst of allocations set off
    collections that walked every object the process holds, some 15 % of the widest plan's
    time. Reference counting still frees what a plan drops at once; a cycle (none is made on
    purpose) waits for the next collection after it. The collector is left as it was found
    (a plan in another thread may have paused it first)."""

    @functools.wraps(f)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        was = gc.isenabled()
        gc.disable()
        try:
            return f(*args, **kwargs)
        finally:
            if was:
                gc.enable()

    return run


@_cycle_collection_paused
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
    check_context(model, work)
    t0 = time.perf_counter()
    prep = prepare(spec, model, cat, work)
    cands, rejected, evals, n = search(spec, model, cat, work, prep)
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
    # Pareto: cheapest offer per setup within the budget, cost vs TPOT; a setup missing an SLO
    # hides none that meets them
    best_by_setup: dict[tuple, Candidate] = {}
    for x in cands:
        if not x.within_budget:
            continue
        key = (x.gpu, x.precision, x.tp, x.engine)
        if key not in best_by_setup or x.usd_per_month < best_by_setup[key].usd_per_month:
            best_by_setup[key] = x
    if recommended is not None:  # its setup's point is the recommendation itself
        rec_key = (recommended.gpu, recommended.precision, recommended.tp, recommended.engine)
        best_by_setup[rec_key] = recommended
    pool = list(best_by_setup.values())
    front = pareto_front(
        [x.usd_per_month for x in pool], [x.tpot_p95_ms for x in pool], [x.ok for x in pool]
    )
    pareto = [pool[i] for i in front]
    notes = []
    if recommended is None:
        notes.append("no candidate meets every SLO and constraint; see 'rejected' for why")
    if recommended is not None:
        notes += offer_caveats(recommended, cat)
    for c in alternatives:  # said of an alternative, never as if of the recommendation
        notes += [n for n in offer_caveats(c, cat, ALTERNATIVE_CAVEAT) if n not in notes]
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
        by_provider=best_per_provider(ranked),
        arrivals=work.arrivals,
        expected_error=(
            for_configuration(cat, recommended.engine, recommended.gpu, model)
            if recommended
            else None
        ),
    )
    return _extend(plan, spec, base, cat, model, work, evals, prep, cands)


def best_per_provider(ranked: list[Candidate]) -> list[Candidate]:
    """The cheapest candidate per (provider, pricing), cheapest first (`ranked` is sorted)."""
    best: dict[tuple[str, str], Candidate] = {}
    for x in ranked:
        best.setdefault((x.offer.provider, x.offer.pricing), x)
    return list(best.values())


CAVEATS = {
    "consumer": "consumer GPU ({gpu}): no ECC on its memory, the GeForce driver licence "
    "restricts datacenter use, and supply varies; allowed by constraints.allow",
    "community": "{provider} {tier} tier: third-party hosts with no uptime commitment; "
    "allowed by constraints.allow",
    "range": "{provider} {gpu} is priced at the midpoint of a range "
    "(${lo:.2f}-{hi:.2f}/GPU-h), not a price you can buy at",
    "multi-year": "{provider} {pricing}: a multi-year commitment, paid whether used or not",
    "spot": "{provider} spot: capacity can be reclaimed at short notice; plan an on-demand "
    "fallback",
}


ALTERNATIVE_CAVEAT = "caveat for an alternative: "


def offer_caveats(c: Candidate, cat: Catalog, prefix: str = "caveat: ") -> list[str]:
    """What a buyer must know about an offer production defaults would leave out."""
    o = c.offer
    fields = {
        "gpu": c.gpu, "provider": o.provider, "tier": o.tier, "pricing": o.pricing,
        "lo": o.usd_per_gpu_hour_low, "hi": o.usd_per_gpu_hour_high,
    }  # fmt: skip
    keys = []
    if cat.gpu(c.gpu).segment == "consumer":
        keys.append("consumer")
    if o.tier in ("community", "marketplace"):
        keys.append("community")
    if o.is_range:
        keys.append("range")
    if o.pricing.endswith("-3y"):
        keys.append("multi-year")
    if o.pricing == "spot":
        keys.append("spot")
    return [prefix + CAVEATS[k].format(**fields) for k in keys]


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
    prep: Prepared,
    cands: list[Candidate],
) -> Plan:
    extras: dict[str, object] = {}
    if spec.traffic.growth_per_month or spec.traffic.forecast:
        extras["horizons"] = horizons(plan, spec, base, cat, model, prep, evals, cands)
    if spec.hand_sizing is not None:
        extras["hand_sizing_check"] = hand_sizing_check(spec, cat, model, work)
    if spec.compare_apis and plan.recommended is not None:
        extras["apis"] = api_comparisons(plan.recommended, spec, work)
    if spec.classes:
        extras["mix"] = fleet_mix(spec, base, cat, model, plan.recommended)
    return replace(plan, **extras)
