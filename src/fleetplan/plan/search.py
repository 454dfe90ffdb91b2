"""The search proper: every setup x batch x offer for one workload, costed and ranked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fleetplan.catalog import Catalog
from fleetplan.catalog.specs import ModelSpec, Offer
from fleetplan.errors import InputError
from fleetplan.perf.memory import Fit
from fleetplan.perf.roofline import Setup
from fleetplan.scenario import ScenarioSpec
from fleetplan.search.candidates import (
    Candidate,
    Rejection,
    SetupEval,
    Workload,
    cost_candidates,
    evaluate,
    miss_reason,
)
from fleetplan.search.packing import check_providers, offers_for
from fleetplan.search.setups import enumerate_setups


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
        arrivals=spec.traffic.arrivals.resolve(base),
    )


def check_context(model: ModelSpec, work: Workload, field: str = "") -> None:
    """A mean request (input + output tokens) must fit the model's context: a tail past it is
    sized at the context (`search.setups`), a mean past it has no request to plan for."""
    need = work.input.mean + work.output.mean
    if need > model.max_context:
        where = f"{field}." if field else ""
        raise InputError(
            f"{where}input_tokens.mean + {where}output_tokens.mean = {need:,.0f} tokens exceeds "
            f"{model.id}'s maximum context of {model.max_context:,} tokens"
        )


@dataclass
class Prepared:
    """The traffic-independent part of a search: setups that run and fit, their fits, the
    allowed offers and the rejections so far (reused by the horizons)."""

    pairs: list[tuple[Setup, Fit]]
    rejected: list[Rejection]
    offers: dict[str, list[Offer]]


def search(
    spec: ScenarioSpec,
    model: ModelSpec,
    cat: Catalog,
    work: Workload,
    prepared: Prepared | None = None,
) -> tuple[list[Candidate], list[Rejection], list[SetupEval], int]:
    """All candidates for one workload: costed candidates, rejections, evaluations, count.
    With `prepared` (from `prepare`), setups, fits and offers are not enumerated again."""
    prep = prepared or prepare(spec, model, cat, work)
    c = spec.constraints
    rejected = list(prep.rejected)
    evals = evaluate(prep.pairs, work, prep.offers)
    cands, n = cost_candidates(evals, prep.offers, work, c.max_usd_per_month)
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


def prepare(spec: ScenarioSpec, model: ModelSpec, cat: Catalog, work: Workload) -> Prepared:
    """Setups, fits and offers of a scenario: what does not depend on the traffic."""
    c = spec.constraints
    gpus = [cat.gpu(g).id for g in c.gpus] if c.gpus else sorted(cat.gpus)
    for p in spec.precisions:
        cat.precision_for(model, p)
    for e in spec.engines:
        cat.engine(e)
    check_providers(cat, c.providers)
    pairs, rejected = enumerate_setups(
        model, cat, gpus, spec.precisions, spec.engines, list(c.tp), work, spec.kv_precision
    )
    pairs = _runnable(pairs, rejected)
    if c.gpus:
        for g in sorted(set(cat.gpus) - set(gpus)):
            rejected.append(Rejection(g, "*", 0, "*", "not allowed: not in constraints.gpus"))
    offers = {g: offers_for(cat, g, c.providers, c.pricing_allowed, c.allow) for g in gpus}
    for g in gpus:
        if not offers[g]:
            rejected.append(Rejection(g, "*", 0, "*", no_offer_reason(cat, g, c.allow)))
    return Prepared(pairs, rejected, offers)


def _runnable(pairs: list[tuple[Setup, Fit]], rejected: list[Rejection]) -> list[tuple[Setup, Fit]]:
    """The setups whose engine runs on their GPU: a plan never recommends what cannot be
    deployed (TensorRT-LLM on an MI300X). Each left-out (GPU, engine) joins `rejected` once."""
    from fleetplan.render.deploy.engines import platform_gap

    kept = []
    for s, f in pairs:
        gap = platform_gap(s.engine.engine or s.engine.id, s.gpu.vendor, s.gpu.architecture)
        if not gap:
            kept.append((s, f))
        elif not any(r.gpu == s.gpu.id and r.engine == s.engine.id and r.tp == 0 for r in rejected):
            rejected.append(Rejection(s.gpu.id, "*", 0, s.engine.id, f"unsupported: {gap}"))
    return kept


def no_offer_reason(cat: Catalog, gpu: str, allow: list[str]) -> str:
    """Why a GPU has no offer to plan with: left out by production defaults, or none listed."""
    if cat.gpu(gpu).segment == "consumer" and "consumer" not in allow:
        return "consumer GPU: left out unless constraints.allow includes consumer"
    return "no offer matches the allowed providers, pricing and tiers"


def _rank(cands: list[Candidate]) -> list[Candidate]:
    return sorted(cands, key=lambda x: (x.usd_per_month, x.tpot_p95_ms, x.ttft_p95_ms))
