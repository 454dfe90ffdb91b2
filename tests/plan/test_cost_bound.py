"""The horizons evaluate only the setups whose least possible cost reaches the best found: that
bound is never above what any candidate of the setup costs, and the bounded search ranks the
same first candidate as every setup evaluated."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fleetplan.catalog import load_catalog, resolve_model
from fleetplan.plan.search import _rank, _workload, prepare
from fleetplan.scenario import parse_scenario
from fleetplan.search.candidates import cost_candidates, evaluate_many
from fleetplan.search.cost_bound import cheapest_candidates, least_usd_per_month

CAT = load_catalog()


def _scenario(budget: float | None = None) -> dict:
    data = {
        "model": "llama-3.1-8b",
        "precisions": ["bf16", "fp8", "awq"],
        "traffic": {"avg_qps": 20, "peak_qps": 50},
        "input_tokens": {"mean": 900, "p50": 600, "p95": 2800},
        "output_tokens": {"mean": 300, "p95": 700},
        "slo": {"ttft_p95_ms": 1500, "tpot_p95_ms": 50, "min_replicas": 2},
        "constraints": {"gpus": ["h100-sxm", "a100-80gb", "l40s", "l4", "a10g"]},
    }
    if budget is not None:
        data["constraints"]["max_usd_per_month"] = budget
    return data


def test_least_cost_is_never_above_a_candidate_of_the_setup():
    spec = parse_scenario(_scenario())
    model = resolve_model(CAT, spec.model)
    jobs = []
    for scale in (1.0, 3.0):
        work = _workload(spec, Path("."), peak_scale=scale)
        jobs.append((prepare(spec, model, CAT, work).pairs, work))
    offers = prepare(spec, model, CAT, jobs[0][1]).offers
    for least, evals, (_, work) in zip(
        least_usd_per_month(jobs, offers), evaluate_many(jobs, offers), jobs, strict=True
    ):
        assert np.isfinite(least).any()
        for lb, ev in zip(least, evals, strict=True):
            cands, _ = cost_candidates([ev], offers, work, None)
            usd = [x.usd_per_month for x in cands if x.meets_slo]
            assert all(u >= lb for u in usd)
            if ev.meets.any() and cands:
                assert usd  # a setup meeting the SLOs has a priced candidate


def test_bounded_search_ranks_the_candidate_of_every_setup_evaluated():
    for budget in (None, 6000.0):
        spec = parse_scenario(_scenario(budget))
        model = resolve_model(CAT, spec.model)
        works = [_workload(spec, Path("."), peak_scale=s) for s in (0.5, 1.0, 2.0, 4.0)]
        prep = prepare(spec, model, CAT, works[0])
        jobs = [(prep.pairs, w) for w in works]
        bounded = cheapest_candidates(jobs, prep.offers, budget, [float("inf")] * len(jobs))
        for got, evals, w in zip(bounded, evaluate_many(jobs, prep.offers), works, strict=True):
            every, _ = cost_candidates(evals, prep.offers, w, budget)
            want = _rank([x for x in every if x.ok])[:1]
            assert _rank(got)[:1] == want
            if budget is None:
                assert want  # the check has something to compare
