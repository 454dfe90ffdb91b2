"""`plan --verify`: the simulator checks the recommendation and grows it when SLOs are missed."""

from __future__ import annotations

from dataclasses import replace

from fleetplan.catalog import load_catalog
from fleetplan.plan import make_plan
from fleetplan.plan.verify import verify
from fleetplan.scenario import parse_scenario

SCENARIO = {
    "model": "llama-3.1-8b",
    "precisions": ["bf16"],
    "traffic": {"avg_qps": 50, "peak_qps": 100},
    "input_tokens": {"mean": 500, "p95": 1200},
    "output_tokens": {"mean": 200, "p95": 500},
    "slo": {"ttft_p95_ms": 1000, "tpot_p95_ms": 60},
    "constraints": {"gpus": ["h100-sxm"], "tp": [1]},
}


def test_verify_confirms_the_plan(cli):
    r = cli("plan", "--verify", "--json")
    assert r.code == 0, r.err
    v = r.json()["verification"]
    assert v["met"] and v["runs"][-1]["requests"] > 5000
    assert v["runs"][-1]["ttft_p95_ms"] <= 1500 and v["runs"][-1]["tpot_p95_ms"] <= 50


def test_verify_grows_an_undersized_deployment():
    cat = load_catalog()
    plan = make_plan(parse_scenario(SCENARIO), catalog=cat)
    small = replace(plan, recommended=replace(plan.recommended, replicas=1, gpus_total=1))
    out = verify(small, cat)
    v = out.verification
    assert v.replicas_planned == 1
    assert v.met and v.replicas_verified > 1
    assert out.recommended.replicas == v.replicas_verified
    assert "grew" in v.message
    first, last = v.runs[0], v.runs[-1]
    assert first["ttft_p95_ms"] > 1000 or first["tpot_p95_ms"] > 60
    assert last["ttft_p95_ms"] <= 1000 and last["tpot_p95_ms"] <= 60
