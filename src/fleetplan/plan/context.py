"""The context of a plan beyond the search: capacity horizons, the hand derivation next to the
model's, breakeven against named APIs, and the heterogeneous fleet mix."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fleetplan.catalog import Catalog
from fleetplan.catalog.specs import ModelSpec
from fleetplan.errors import InputError
from fleetplan.perf.roofline import setup
from fleetplan.perf.schedule import mixed_step, steady_mixed_step
from fleetplan.scenario import ScenarioSpec
from fleetplan.search.candidates import Candidate, SetupEval, Workload
from fleetplan.search.cost_bound import cheapest_candidates
from fleetplan.sizing import hand_method_gpus
from fleetplan.units import HOURS_PER_MONTH, SECONDS_PER_HOUR
from fleetplan.validation import MAX_RATE_PER_S

if TYPE_CHECKING:
    from fleetplan.plan.search import Prepared
    from fleetplan.plan.types import ApiComparison, HandSizingCheck, Horizon, Plan


def horizons(
    plan: Plan,
    spec: ScenarioSpec,
    base: Path,
    cat: Catalog,
    model: ModelSpec,
    prepared: Prepared | None = None,
    evals: list[SetupEval] | None = None,
    plan_candidates: list[Candidate] | None = None,
) -> list[Horizon]:
    """The cheapest deployment at the traffic of 30, 90 and 365 days of growth, or at the
    peaks a traffic forecast gives for those horizons.

    Reuses the search's traffic-independent part (`prepared`: setups, fits, offers) and, with
    `evals`, searches only the setups that met the SLOs at today's traffic: more traffic
    spreads over more replicas at the same per-replica load, so a setup that misses an SLO
    at every batch size today misses it at any growth. Within a round, only the setups whose
    least possible cost at the horizon (`search.cost_bound`) reaches the best found are
    evaluated. A horizon with less traffic than today (a forecast decline, a negative growth)
    searches every setup without the bound."""
    from fleetplan.plan.search import _rank, _workload, prepare, search
    from fleetplan.plan.types import HORIZON_DAYS, Horizon

    g = spec.traffic.growth_per_month
    prep = prepared or prepare(spec, model, cat, _workload(spec, base))
    # a setup costs at least as much with more traffic as with today's (more traffic never
    # needs fewer GPUs): search setups cheapest-today first, and stop once today's cost of
    # the next one is above the best found at the horizon (branch and bound)
    today: dict[tuple, float] = {}
    if evals is not None:
        for ev in evals:
            if ev.meets.any():
                key = (ev.setup.gpu.id, ev.setup.precision.id, ev.setup.tp, ev.setup.engine.id)
                today.setdefault(key, 0.0)
    for c in plan_candidates or []:
        if c.ok:
            key = (c.gpu, c.precision, c.tp, c.engine)
            if key in today and (not today[key] or c.usd_per_month < today[key]):
                today[key] = c.usd_per_month

    def key_of(s: object) -> tuple:
        return (s.gpu.id, s.precision.id, s.tp, s.engine.id)  # type: ignore[attr-defined]

    pairs = [p for p in prep.pairs if key_of(p[0]) in today] if evals is not None else prep.pairs
    pairs.sort(key=lambda p: today.get(key_of(p[0]), 0.0))
    # every horizon's next round of setups is evaluated in one set of arrays
    peaks = forecast_peaks(Path(base, spec.traffic.forecast)) if spec.traffic.forecast else {}
    if peaks:
        missing = [d for d in HORIZON_DAYS if d not in peaks]
        if missing:
            raise InputError(
                f"traffic.forecast: no {missing[0]}-day horizon in {spec.traffic.forecast!r}; "
                f"it has {sorted(peaks)} (fleetplan forecast --horizon {missing[0]})"
            )
        now = spec.traffic.resolve().peak_qps
        scales = [peaks[days] / now for days in HORIZON_DAYS]
    else:
        # months of 730 h, as every $/month (a year of 365 days is 12 of them)
        scales = [(1 + g) ** (days * 24 / HOURS_PER_MONTH) for days in HORIZON_DAYS]
    works = [_workload(spec, base, peak_scale=scale) for scale in scales]
    best: list[list[Candidate]] = [[] for _ in works]
    # a horizon past the request rate a plan takes is not searched (1000 %/month compounds to
    # 10^12 x in a year: hundreds of billions of replicas)
    beyond = [w.traffic.peak_qps > MAX_RATE_PER_S for w in works]
    at = [len(pairs) if past else 0 for past in beyond]
    for h, (scale, w) in enumerate(zip(scales, works, strict=True)):
        # less traffic than today: the bound and the filter do not hold
        if scale < 1 and not beyond[h]:
            cands, _, _, _ = search(spec, model, cat, w, prep)
            best[h] = _rank([x for x in cands if x.ok])[:1]
            at[h] = len(pairs)
    # first round: the setups costing today up to the growth factor x today's cheapest
    # (where the winner usually is); then rounds of doubling size until the bound stops
    cheapest = min((v for v in today.values() if v), default=0.0)
    sizes = [
        max(1, sum(1 for p in pairs if today.get(key_of(p[0]), 0.0) <= cheapest * scale))
        for scale in scales
    ]
    while True:
        jobs, who = [], []
        for h, w in enumerate(works):
            i = at[h]
            if i >= len(pairs):
                continue
            if best[h] and today.get(key_of(pairs[i][0]), 0.0) >= best[h][0].usd_per_month:
                at[h] = len(pairs)
                continue
            jobs.append((pairs[i : i + sizes[h]], w))
            who.append(h)
            at[h] += sizes[h]
            sizes[h] *= 2
        if not jobs:
            break
        # only the setups that can cost no more than the best are evaluated (the others
        # cannot be the horizon's cheapest)
        bounds = [best[h][0].usd_per_month if best[h] else math.inf for h in who]
        budget = spec.constraints.max_usd_per_month
        for h, cands in zip(
            who, cheapest_candidates(jobs, prep.offers, budget, bounds), strict=True
        ):
            best[h] = _rank(best[h] + cands)[:1]
    out = []
    for days, w, b, past in zip(HORIZON_DAYS, works, best, beyond, strict=True):
        reason = "" if b else "no candidate meets every SLO and constraint at this traffic"
        if past:
            reason = (
                f"not planned: a peak of {w.traffic.peak_qps:,.0f} req/s is past the "
                f"{MAX_RATE_PER_S:,.0f} req/s a plan takes"
            )
        out.append(Horizon(days, w.traffic.peak_qps, b[0] if b else None, reason))
    return out


def forecast_peaks(path: Path) -> dict[int, float]:
    """Peak requests/s per horizon (days) from a `fleetplan forecast --json` file."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        peaks = {int(h["days"]): float(h["peak_qps"]) for h in data["horizons"]}
    except FileNotFoundError:
        raise InputError(f"traffic.forecast: {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"traffic.forecast: {str(path)!r} is not `fleetplan forecast --json` output ({exc})"
        ) from None
    if any(not (math.isfinite(q) and q > 0) for q in peaks.values()):
        raise InputError(f"traffic.forecast: {str(path)!r} holds a peak that is not > 0")
    return peaks


def hand_sizing_check(
    spec: ScenarioSpec, cat: Catalog, model: ModelSpec, work: Workload
) -> HandSizingCheck:
    """A hand sizing with a given fixed t_step, and what the model derives instead."""
    from fleetplan.plan.types import HandSizingCheck

    hand = spec.hand_sizing
    assert hand is not None
    o = work.output.mean
    qps = work.traffic.peak_qps
    lam, usable, gpus = hand_method_gpus(qps, hand.batch, o, hand.t_step_ms / 1e3, spec.headroom)
    ctx_total = hand.context or int(work.input.mean + o)
    i = max(ctx_total - o, 1.0)
    if not spec.constraints.gpus:
        raise InputError(
            "hand_sizing needs constraints.gpus: the GPU the hand derivation assumed "
            "(e.g. [h100-sxm]), so the model can derive t_step on the same card"
        )
    gpu = cat.gpu(spec.constraints.gpus[0])
    s = setup(
        model, gpu, cat.precision_for(model, spec.precisions[0]), cat.engine(spec.engines[0]),
        kv_precision=spec.kv_precision,
    )  # fmt: skip
    ctx = i + o / 2
    t_dec = float(mixed_step(s, hand.batch, ctx).total_s)
    t_mix = float(steady_mixed_step(s, hand.batch, i, o, ctx).total_s)
    _, _, gpus_dec = hand_method_gpus(qps, hand.batch, o, t_dec, spec.headroom)
    _, _, gpus_mix = hand_method_gpus(qps, hand.batch, o, t_mix, spec.headroom)
    prefill_ms = (t_mix - t_dec) * 1e3
    text = (
        f"Hand method: λ = B/(G·t_step) = {hand.batch}/({o:g} × {hand.t_step_ms:g} ms) = "
        f"{lam:.2f} req/s per GPU; × u {spec.headroom:g} = {usable:.2f}; "
        f"⌈{qps:g}/{usable:.2f}⌉ = {gpus} GPUs. "
        f"The model derives t_step = {t_dec * 1e3:.1f} ms for batch {hand.batch} at a mean "
        f"context of {ctx:,.0f} tokens on {gpu.id} (weights + KV reads over bandwidth, FLOPs over "
        f"compute, step overhead), giving {gpus_dec} GPUs on decode alone. The hand method also "
        f"leaves out prefill: each request's {i:,.0f}-token prompt must be processed too, "
        f"{hand.batch * i / o:,.0f} prompt tokens per decode step with chunked prefill, adding "
        f"{prefill_ms:.1f} ms per step, so {gpus_mix} GPUs."
    )
    return HandSizingCheck(
        given_t_step_ms=hand.t_step_ms,
        batch=hand.batch,
        context=ctx_total,
        lam_req_s=lam,
        usable_req_s=usable,
        gpus=gpus,
        derived_t_step_ms=t_dec * 1e3,
        derived_gpus_decode_only=gpus_dec,
        derived_prefill_ms=prefill_ms,
        derived_gpus_with_prefill=gpus_mix,
        explanation=text,
    )


def api_comparisons(rec: Candidate, spec: ScenarioSpec, work: Workload) -> list[ApiComparison]:
    """Monthly cost of each named API at the scenario's traffic, and the capacity-aware
    breakeven of the recommended deployment against it."""
    from fleetplan.catalog.api_prices import api_price
    from fleetplan.economics.breakeven import SelfHosted, breakeven
    from fleetplan.plan.types import ApiComparison

    i, o = work.input.mean, work.output.mean
    req_month = work.traffic.avg_qps * SECONDS_PER_HOUR * HOURS_PER_MONTH
    sh = SelfHosted(
        usd_per_gpu_hour=rec.offer.usd_per_gpu_hour,
        capacity_req_per_hour=rec.replica_req_per_s * SECONDS_PER_HOUR,
        ops_usd_per_month=spec.ops_usd_per_month,
        utilization=spec.headroom,
        gpus_per_replica=rec.tp,
        min_replicas=spec.slo.min_replicas,
        instance_gpus=rec.instance_gpus,  # whole instances, as the recommendation buys them
        price_basis=f"{rec.offer.provider} {rec.offer.pricing} ({rec.offer.as_of})",
        capacity_basis="performance model",
    )
    out = []
    for name in spec.compare_apis:
        price = api_price(name)
        per_req = price.usd_per_request(i, o)
        be = breakeven(name, per_req, sh, round(i + o), max(req_month * 2, 1.0))
        out.append(
            ApiComparison(
                api=name,
                api_usd_per_request=per_req,
                api_usd_per_month=per_req * req_month,
                self_hosted_usd_per_month=rec.usd_per_month + spec.ops_usd_per_month,
                breakeven_requests_per_month=be.breakeven_requests_per_month,
                reason=be.reason,
                price_basis=f"{price.source}, as of {price.as_of}",
                curve=be.curve,
            )
        )
    return out


def fleet_mix(
    spec: ScenarioSpec,
    base: Path,
    cat: Catalog,
    model: ModelSpec,
    recommended: Candidate | None = None,
) -> object:
    """Cheapest mix of deployment types over the scenario's request classes (MILP)."""
    from fleetplan.plan.search import check_context, search
    from fleetplan.search.mix import cheapest_mix

    total = spec.traffic.resolve()
    per_class: list[dict[tuple, Candidate]] = []
    for cls in spec.classes:
        from fleetplan.workload import Traffic

        work = Workload(
            input=cls.input_tokens.resolve(
                f"classes.{cls.name}.input_tokens", base, "input_tokens"
            ),
            output=cls.output_tokens.resolve(
                f"classes.{cls.name}.output_tokens", base, "output_tokens"
            ),
            traffic=Traffic(total.avg_qps * cls.share, total.peak_qps * cls.share),
            slo=spec.slo.resolve(),
            headroom=spec.headroom,
            arrivals=spec.traffic.arrivals.resolve(base),
        )
        check_context(model, work, f"classes.{cls.name}")
        cands, _, _, _ = search(spec, model, cat, work)
        best: dict[tuple, Candidate] = {}
        for x in cands:
            if not x.meets_slo:
                continue
            key = (x.gpu, x.precision, x.tp, x.engine)
            if key not in best or x.usd_per_month < best[key].usd_per_month:
                best[key] = x
        per_class.append(best)
    keys = sorted(set().union(*[set(b) for b in per_class]))
    if not keys:
        raise InputError("classes: no deployment type serves any request class within the SLOs")
    labels, costs, per_instance = [], [], []
    cap = np.zeros((len(keys), len(spec.classes)))
    for ti, key in enumerate(keys):
        # the offer with the lowest cost per replica, bought as whole instances
        best = min(
            (b[key] for b in per_class if key in b),
            key=lambda x: x.usd_per_instance_hour / x.replicas_per_instance,
        )
        o = best.offer
        labels.append(f"{key[0]} {key[1]} tp{key[2]} {key[3]} ({o.provider} {o.pricing})")
        costs.append(best.usd_per_instance_hour * HOURS_PER_MONTH)
        per_instance.append(best.replicas_per_instance)
        for ci, b in enumerate(per_class):
            if key in b:
                cap[ti, ci] = b[key].replica_req_per_s * spec.headroom
    q = [total.peak_qps * c.share for c in spec.classes]
    mix = cheapest_mix(
        labels,
        costs,
        [c.name for c in spec.classes],
        q,
        cap,
        spec.slo.min_replicas,
        per_instance,
    )
    if recommended is not None and recommended.usd_per_month < mix.baseline_usd:
        # the plan's own single-type recommendation (sized on the whole mix) is a candidate
        # too: the baseline whenever it beats every single type sized class by class
        label = f"recommended: {candidate_label(recommended)}"
        mix = replace(mix, baseline_label=label, baseline_usd_per_month=recommended.usd_per_month)
        if recommended.usd_per_month <= mix.usd_per_month:  # and kept when no mix beats it
            mix = replace(
                mix,
                replicas={label: recommended.replicas},
                instances={label: recommended.instances},
                shares={c.name: {label: 1.0} for c in spec.classes},
                class_replicas={},
                usd_per_month=recommended.usd_per_month,
                best_mix_usd_per_month=mix.usd_per_month,
            )
    return mix


def instance_kind(c: Candidate) -> str:
    """What one instance bought is: the offer's instance type, or the size of it bought where
    the offer sells other sizes at its per-GPU price ('a2-highgpu-1g family's 4-GPU size': the
    type's name states the size listed, not the one bought)."""
    o = c.offer
    if not o.instance_type:
        return f"{c.instance_gpus}x {c.gpu}"
    if c.instance_gpus != o.gpus_per_instance:
        return f"{o.instance_type} family's {c.instance_gpus}-GPU size"
    return o.instance_type


def candidate_label(c: Candidate) -> str:
    """'3 x h100-sxm fp8 tp1 vllm on 1 x p5.48xlarge (aws on-demand)' for notes and mixes."""
    o = c.offer
    inst = f"{c.instances} x {instance_kind(c)}"
    return (
        f"{c.replicas} x {c.gpu} {c.precision} tp{c.tp} {c.engine} on {inst} "
        f"({o.provider} {o.pricing})"
    )


def replicas_ceil(x: float) -> int:
    return max(1, math.ceil(x - 1e-9))
