"""`cost_candidates` costs every setup on every offer as arrays; a candidate reads what costing
that one setup on that one offer by hand gives: whole instances of the offer for the replicas
of the batch size picked (meeting the SLOs first, then cheapest, then the most room on every
SLO target, `slo_share`, to within `SHARE_BAND`, then the lowest TTFT p95)."""

from __future__ import annotations

import math
from pathlib import Path

from fleetplan.plan.search import _workload, prepare
from fleetplan.scenario import parse_scenario
from fleetplan.search.candidates import SHARE_BAND, cost_candidates, evaluate
from fleetplan.units import HOURS_PER_MONTH, SECONDS_PER_HOUR


def test_each_candidate_is_its_setup_costed_on_its_offer_alone(catalog):
    spec = parse_scenario(
        {
            "model": "llama-3.1-8b",
            "precisions": ["bf16", "fp8"],
            "engines": ["vllm", "sglang"],
            "traffic": {"avg_qps": 20, "peak_qps": 50},
            "input_tokens": {"mean": 900, "p50": 600, "p95": 2800, "p99": 5000},
            "output_tokens": {"mean": 300, "p50": 250, "p95": 700, "p99": 1000},
            "slo": {"ttft_p95_ms": 1500, "tpot_p95_ms": 50, "e2e_p95_ms": 20000},
            "constraints": {
                "gpus": ["h100-sxm", "l4", "a100-80gb"],
                "tp": [1, 2, 4],
                "pricing": ["on-demand", "spot", "reserved-1y"],
            },
        }
    )
    work = _workload(spec, Path("."))
    prep = prepare(spec, catalog.model("llama-3.1-8b"), catalog, work)
    evals = evaluate(prep.pairs, work, prep.offers)
    unbounded, _ = cost_candidates(evals, prep.offers, work, None)
    assert all(c.within_budget for c in unbounded)
    budget = sorted(c.usd_per_month for c in unbounded)[len(unbounded) // 2]  # half within
    cands, evaluated = cost_candidates(evals, prep.offers, work, budget)
    tokens = work.traffic.avg_qps * SECONDS_PER_HOUR * HOURS_PER_MONTH
    tokens *= work.input.mean + work.output.mean
    want, count = [], 0
    for ev in evals:
        for o in prep.offers.get(ev.setup.gpu.id, []):
            packed = o.instance_for(ev.setup.tp)
            count += ev.batch.size
            if packed is None:
                continue
            size, per = packed
            options = []
            for k in range(ev.batch.size):
                inst = math.ceil(int(ev.replicas[k]) / per - 1e-9)
                usd = inst * o.usd_per_gpu_hour * size * HOURS_PER_MONTH
                # an entry missing an SLO ranks after every one meeting them all
                options.append((usd + (0.0 if ev.meets[k] else 1e18), usd, k, inst))
            least = min(x[0] for x in options)
            tied = [x for x in options if x[0] <= least * (1 + 1e-12)]
            low = min(ev.slo_share[x[2]] for x in tied)
            near = [x for x in tied if ev.slo_share[x[2]] <= low * (1 + SHARE_BAND)]
            _, usd, k, inst = min(near, key=lambda x: (ev.ttft_p95_s[x[2]], x[2]))
            want.append((ev, o, k, usd, inst, size))
    assert evaluated == sum(
        ev.batch.size * sum(o.instance_for(ev.setup.tp) is not None for o in prep.offers[g])
        for ev in evals
        for g in [ev.setup.gpu.id]
    )
    assert count >= evaluated
    assert len(cands) == len(want) > 50
    for c, (ev, o, k, usd, inst, size) in zip(cands, want, strict=True):
        s = ev.setup
        assert (c.gpu, c.precision, c.tp, c.engine, c.offer) == (
            s.gpu.id, s.precision.id, s.tp, s.engine.id, o,
        )  # fmt: skip
        assert c.max_batch == int(ev.batch[k]) and c.replicas == int(ev.replicas[k])
        assert c.gpus_total == c.replicas * s.tp
        assert c.instances == inst and c.instance_gpus == size
        assert c.usd_per_month == usd or math.isclose(c.usd_per_month, usd, rel_tol=1e-12)
        assert math.isclose(c.usd_per_million_tokens, c.usd_per_month / tokens * 1e6)
        assert c.usd_per_instance_hour == o.usd_per_gpu_hour * size
        assert c.tpot_p95_ms == ev.tpot_p95_s[k] * 1e3 and c.ttft_p95_ms == ev.ttft_p95_s[k] * 1e3
        assert c.prefill_p95_ms == ev.prefill_p95_s[k] * 1e3
        assert c.utilization_at_peak == ev.utilization[k]
        assert c.replica_req_per_s == ev.replica_req_s[k]
        assert c.kv_capacity_tokens == ev.fit.kv_capacity_tokens
        assert c.meets_slo is bool(ev.meets[k]) and c.notes == s.notes
        assert c.within_budget is (c.usd_per_month <= budget)
        assert c.slo_ms == tuple((name, v[k] * 1e3) for name, v in ev.slo_s.items())
        assert [type(v) for v in (c.max_batch, c.replicas, c.instances)] == [int] * 3
        assert type(c.usd_per_month) is float and type(c.meets_slo) is bool
    assert any(c.within_budget for c in cands) and not all(c.within_budget for c in cands)
