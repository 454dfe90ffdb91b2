"""The analytic sizing against the simulator on ten workloads: TTFT p95 and TPOT p95 within
±10 % of the simulated p95 at the planned fleet (mean of three seeds), and the planned
replicas no more than max(replicas_min + 1, 1.1 x replicas_min), replicas_min being the fewest
the simulator finds meeting every SLO at the plan's headroom (`plan --verify`'s search), and no
fewer than the fewest meeting every SLO; TTFT p95 and TPOT p95 of two one-replica plans
within ±10 %; and one bursty replica's TPOT p95 within its known band (±25 %).
src/fleetplan/docs/sizing.md lists every figure."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest

from fleetplan.catalog import load_catalog
from fleetplan.plan import make_plan
from fleetplan.plan.verify import FleetSimulator, fewest_replicas
from fleetplan.scenario import parse_scenario

CAT = load_catalog()
TTFT_BAND, TPOT_BAND = 0.10, 0.10
TRACE = Path(__file__).parents[2] / "examples" / "sim-trace.csv"
CHAT = {
    "model": "llama-3.1-8b",
    "precisions": ["bf16"],
    "traffic": {"avg_qps": 20, "peak_qps": 50},
    "input_tokens": {"mean": 900, "p50": 600, "p95": 2800, "p99": 5000},
    "output_tokens": {"mean": 300, "p50": 250, "p95": 700, "p99": 1000},
    "slo": {"ttft_p95_ms": 1500, "tpot_p95_ms": 50},
    "constraints": {"gpus": ["h100-sxm"], "tp": [1]},
}


def _with(base: dict, **changes) -> dict:
    out = copy.deepcopy(base)
    out.update(changes)
    return out


SCENARIOS = {
    "chat-8b": CHAT,
    "rag-70b-tp": _with(
        CHAT,
        model="llama-3.1-70b",
        traffic={"avg_qps": 4, "peak_qps": 8},
        input_tokens={"mean": 6000, "p95": 12000},
        output_tokens={"mean": 250, "p95": 600},
        slo={"ttft_p95_ms": 3000, "tpot_p95_ms": 60},
        constraints={"gpus": ["h100-sxm"], "tp": [4, 8]},
    ),
    "moe": _with(
        CHAT,
        model="mixtral-8x7b",
        traffic={"avg_qps": 10, "peak_qps": 20},
        slo={"ttft_p95_ms": 2000, "tpot_p95_ms": 50},
        constraints={"gpus": ["h100-sxm"], "tp": [2]},
    ),
    # many experts: the step grows steeply with the sequences decoding (each reads more
    # experts), where the operating point must be solved to the end
    "moe-many-experts": _with(
        CHAT,
        model="qwen3-30b-a3b",
        traffic={"avg_qps": 1, "peak_qps": 2},
        input_tokens={"mean": 4000, "p95": 6000},
        slo={"ttft_p95_ms": 5000, "tpot_p95_ms": 200},
        constraints={"gpus": ["a100-80gb"], "tp": [1]},
    ),
    # a large MoE on one 8-GPU node per replica (FP8, 256 experts)
    "moe-deepseek": _with(
        CHAT,
        model="deepseek-r1",
        precisions=["fp8"],
        traffic={"avg_qps": 4, "peak_qps": 10},
        slo={"ttft_p95_ms": 3000, "tpot_p95_ms": 80},
        constraints={"gpus": ["h200"], "tp": [8]},
    ),
    "bursty": _with(
        CHAT, traffic={"avg_qps": 20, "peak_qps": 50, "arrivals": {"kind": "gamma", "cv": 3}}
    ),
    # the same bursts over twice the fleet: the balancer spreads each burst thinner
    "bursty-fleet": _with(
        CHAT, traffic={"avg_qps": 40, "peak_qps": 100, "arrivals": {"kind": "gamma", "cv": 3}}
    ),
    # long answers to short prompts: the sequences in flight are mostly long ones
    "long-outputs": _with(
        CHAT,
        input_tokens={"mean": 300, "p95": 1000},
        output_tokens={"mean": 1500, "p95": 4000},
        traffic={"avg_qps": 5, "peak_qps": 10},
        slo={"ttft_p95_ms": 1000, "tpot_p95_ms": 40},
    ),
    "low-traffic": _with(
        CHAT,
        traffic={"avg_qps": 0.2, "peak_qps": 0.5},
        slo={"ttft_p95_ms": 1000, "tpot_p95_ms": 30},
        constraints={"gpus": ["a100-80gb"], "tp": [1]},
    ),
    "trace": _with(
        CHAT,
        traffic={"avg_qps": 10, "peak_qps": 25, "arrivals": {"kind": "trace", "path": str(TRACE)}},
        input_tokens={"csv": str(TRACE), "column": "input_tokens"},
        output_tokens={"csv": str(TRACE), "column": "output_tokens"},
        slo={"ttft_p95_ms": 1000, "tpot_p95_ms": 40},
        constraints={"gpus": ["a100-80gb"], "tp": [1]},
    ),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_analytic_percentiles_and_replicas_match_the_simulator(name):
    plan = make_plan(parse_scenario(SCENARIOS[name]), catalog=CAT)
    rec = plan.recommended
    assert rec is not None
    sim = FleetSimulator(plan, CAT, requests=5000, seeds=(0, 1, 2))
    try:
        run = sim.run(rec.replicas)
        least = fewest_replicas(sim, rec.replicas, plan.scenario.slo.min_replicas)
    finally:
        sim.close()
    ttft, tpot = run.values_ms["ttft_p95_ms"], run.values_ms["tpot_p95_ms"]
    assert rec.ttft_p95_ms == pytest.approx(ttft, rel=TTFT_BAND), (rec.ttft_p95_ms, ttft)
    assert rec.tpot_p95_ms == pytest.approx(tpot, rel=TPOT_BAND), (rec.tpot_p95_ms, tpot)
    assert least is not None
    floor = math.ceil(sim.peak / (plan.scenario.headroom * rec.replica_req_per_s) - 1e-9)
    minimum = max(least, floor)
    assert rec.replicas <= max(minimum + 1, 1.1 * minimum), (rec.replicas, least, floor)
    # and never fewer than the simulator needs to meet every SLO (a plan one short misses them)
    assert rec.replicas >= least, (rec.replicas, least)


# one replica at the load where six share 50 req/s (chat) and where RAG's replicas sit: no
# balancer evens the arrivals out: prompts queue beyond a step (TTFT's backlog), and a request
# caught in a busy spell decodes longer, meets more prefills on the way (TPOT's life-long count)
# and decodes beside more sequences (its congestion term)
ONE_REPLICA = {
    "chat": _with(CHAT, traffic={"avg_qps": 3, "peak_qps": 8}),
    "rag-70b": _with(
        SCENARIOS["rag-70b-tp"],
        traffic={"avg_qps": 0.4, "peak_qps": 0.9},
        constraints={"gpus": ["h100-sxm"], "tp": [8]},
    ),
}


def _one_replica(scenario: dict) -> tuple:
    """The plan's recommendation, which must be one replica, and the simulator's run of it
    (three seeds)."""
    plan = make_plan(parse_scenario(scenario), catalog=CAT)
    rec = plan.recommended
    assert rec is not None and rec.replicas == 1
    sim = FleetSimulator(plan, CAT, requests=5000, seeds=(0, 1, 2))
    try:
        return rec, sim.run(1)
    finally:
        sim.close()


@pytest.mark.parametrize("name", sorted(ONE_REPLICA))
def test_one_replica_plans_match_the_simulator(name):
    """TTFT p95 and TPOT p95 of a one-replica plan within ±10 % of the simulator's: without a
    balancer the busy spells stay (the prefill backlog beyond a step's, ρ^R of the time; the
    life counted at the mean step), which put TTFT 28-33 % and TPOT 20-23 % under it."""
    rec, run = _one_replica(ONE_REPLICA[name])
    ttft, tpot = run.values_ms["ttft_p95_ms"], run.values_ms["tpot_p95_ms"]
    assert rec.ttft_p95_ms == pytest.approx(ttft, rel=TTFT_BAND), (rec.ttft_p95_ms, ttft)
    assert rec.tpot_p95_ms == pytest.approx(tpot, rel=TPOT_BAND), (rec.tpot_p95_ms, tpot)


# one replica under strong bursts (chat 8B at CV 3, 5 req/s at the peak): TPOT p95 is the
# known short one (src/fleetplan/docs/sizing.md, known limits), held to its band so it cannot
# slip back
BURSTY_ONE = _with(
    CHAT, traffic={"avg_qps": 2, "peak_qps": 5, "arrivals": {"kind": "gamma", "cv": 3}}
)
BURSTY_ONE_TPOT_BAND = 0.25


def test_one_bursty_replica_tpot_within_its_band():
    """TPOT p95 of one replica at CV 3 within ±25 % of the simulator's: −19 % since the
    request's own burst counts (the rest of its geometric batch is prefilled in its first
    decode steps, `percentiles._own_burst_rest`), −31 % without it."""
    rec, run = _one_replica(BURSTY_ONE)
    tpot = run.values_ms["tpot_p95_ms"]
    assert rec.tpot_p95_ms == pytest.approx(tpot, rel=BURSTY_ONE_TPOT_BAND), (rec.tpot_p95_ms, tpot)
