"""`fleetplan plan`: the JSON contract, a hand derivation beside the model's, search invariants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetplan.plan import make_plan
from fleetplan.scenario import load_scenario, parse_scenario

EXAMPLES = Path(__file__).parents[2] / "examples"
SHAPE = {
    "gpu", "precision", "tp", "engine", "replicas", "gpus_total", "offer", "usd_per_month",
    "usd_per_million_tokens", "ttft_p95_ms", "tpot_p95_ms", "max_batch",
}  # fmt: skip

BASE = {
    "model": "llama-3.1-8b",
    "precisions": ["bf16", "fp8"],
    "traffic": {"avg_qps": 10, "peak_qps": 20},
    "input_tokens": {"mean": 800, "p50": 600, "p95": 2000, "p99": 3500},
    "output_tokens": {"mean": 250, "p95": 600},
    "slo": {"ttft_p95_ms": 2000, "tpot_p95_ms": 60},
    "constraints": {"gpus": ["h100-sxm", "a100-80gb", "l40s", "l4"], "tp": [1, 2]},
}


def _plan(**changes):
    data = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        data[key] = value
    return make_plan(parse_scenario(data))


def test_builtin_plan_json_contract(cli):
    r = cli("plan", "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert SHAPE <= set(d["recommended"])
    assert d["alternatives"] and all(SHAPE <= set(a) for a in d["alternatives"])
    assert d["pareto"] and all(SHAPE <= set(a) for a in d["pareto"])
    assert all({"gpu", "precision", "tp", "reason"} <= set(x) for x in d["rejected"])
    rec = d["recommended"]
    assert rec["gpus_total"] == rec["replicas"] * rec["tp"]
    assert rec["ttft_p95_ms"] <= 1500 and rec["tpot_p95_ms"] <= 50
    assert d["candidates_evaluated"] >= 5_000  # benchmarks/plan_speed.py searches 35,000+
    assert {h["days"] for h in d["horizons"]} == {30, 90, 365}
    assert [a["api"] for a in d["apis"]] == ["gpt-4o-mini", "gpt-4o"]


def test_recommended_is_cheapest_meeting_slos():
    p = _plan()
    assert p.recommended is not None
    for c in p.alternatives + p.pareto:
        if c.ok:
            assert c.usd_per_month >= p.recommended.usd_per_month - 1e-6


def test_pareto_is_non_dominated():
    p = _plan()
    pts = [(c.usd_per_month, c.tpot_p95_ms, c.meets_slo) for c in p.pareto]
    for i, (ci, li, oi) in enumerate(pts):
        for j, (cj, lj, oj) in enumerate(pts):
            if i != j and oj >= oi:  # a point missing an SLO beats none meeting them
                assert not (cj <= ci and lj <= li and (cj, lj, oj) != (ci, li, oi))


def test_pareto_holds_the_recommendation_when_a_cheaper_faster_setup_misses_ttft():
    """A cheaper setup with a lower TPOT that misses the TTFT SLO dropped the recommendation
    from the frontier, whose cheapest SLO-meeting point then cost more than the recommendation."""
    p = make_plan(
        parse_scenario(
            {
                "model": "llama-3.1-8b",
                "traffic": {"avg_qps": 0.5},
                "input_tokens": {"mean": 2000, "p95": 6000},
                "output_tokens": {"mean": 300},
                "slo": {"ttft_p95_ms": 300, "tpot_p95_ms": 100, "min_replicas": 3},
            }
        )
    )
    assert p.recommended is not None
    assert p.recommended in p.pareto
    cheaper = [c for c in p.pareto if c.usd_per_month < p.recommended.usd_per_month]
    assert cheaper and not any(c.meets_slo for c in cheaper)  # shown, and said to miss


def test_why_not_names_each_reason():
    p = _plan(
        precisions=["bf16", "fp8"],
        constraints={"gpus": ["t4", "l4", "h100-sxm"], "tp": [1]},
        slo={"ttft_p95_ms": 2000, "tpot_p95_ms": 25},
    )
    reasons = {(r.gpu, r.precision): r.reason for r in p.rejected}
    assert "does not fit" in reasons[("t4", "bf16")]
    assert "unsupported" in reasons[("t4", "fp8")]
    assert "misses TPOT" in reasons[("l4", "bf16")]


def test_budget_rejects_with_reason():
    p = _plan(constraints={"gpus": ["h100-sxm"], "tp": [1], "max_usd_per_month": 100})
    assert p.recommended is None
    assert any("above budget" in r.reason for r in p.rejected)


def test_hand_derivation_reproduced_and_explained():
    spec, base = load_scenario(EXAMPLES / "hand-sizing.yaml")
    sc = make_plan(spec, base).hand_sizing_check
    assert sc is not None
    assert sc.lam_req_s == pytest.approx(10.42, abs=0.01)
    assert sc.usable_req_s == pytest.approx(7.29, abs=0.01)
    assert sc.gpus == 7
    # the model's t_step and the prefill the hand method leaves out both raise the count
    assert sc.derived_t_step_ms > 0 and sc.derived_prefill_ms > 0
    assert sc.derived_gpus_with_prefill >= sc.derived_gpus_decode_only
    assert "prefill" in sc.explanation and "18 ms" in sc.explanation


def test_heterogeneous_mix_never_costs_more_than_best_single_type():
    spec, base = load_scenario(EXAMPLES / "mixed-classes.yaml")
    m = make_plan(spec, base).mix
    assert m is not None
    assert m.usd_per_month <= m.best_single_usd_per_month + 1e-6
    assert m.saving_usd_per_month >= 0
    assert set(m.shares) == {"chat", "long-context"}
    for shares in m.shares.values():
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=12, deadline=None)
@given(st.floats(1, 40), st.floats(1.05, 3))
def test_more_qps_never_needs_fewer_gpus(qps, factor):
    def gpus(peak):
        p = _plan(
            traffic={"avg_qps": peak / 2, "peak_qps": peak},
            constraints={"gpus": ["h100-sxm"], "tp": [1]},
            precisions=["bf16"],
        )
        return p.recommended.gpus_total, p.recommended.usd_per_month

    g1, c1 = gpus(qps)
    g2, c2 = gpus(qps * factor)
    assert g2 >= g1 and c2 >= c1


@settings(max_examples=10, deadline=None)
@given(st.floats(20, 120), st.floats(0.3, 1.0))
def test_tighter_slo_never_costs_less(tpot, tighten):
    def cost(t):
        p = _plan(slo={"ttft_p95_ms": 2000, "tpot_p95_ms": t})
        return p.recommended.usd_per_month if p.recommended else float("inf")

    assert cost(tpot * tighten) >= cost(tpot)


@pytest.mark.parametrize("extra", ["a100-80gb", "rtx-4090", "b200", "mi300x"])
def test_adding_an_allowed_gpu_never_raises_the_cheapest_cost(extra):
    few = _plan(constraints={"gpus": ["l40s", "l4"], "tp": [1, 2]})
    more = _plan(constraints={"gpus": ["l40s", "l4", extra], "tp": [1, 2]})
    assert more.recommended.usd_per_month <= few.recommended.usd_per_month


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"model": None}, "missing field 'model'"),
        ({"input_tokens": {"p50": 900, "p95": 500}}, "p95 (500) is below p50 (900)"),
        ({"input_tokens": {"mean": -3}}, "input_tokens.mean"),
        ({"traffic": {"avg_qps": 10, "peak_qps": 5}}, "peak_qps (5) is below avg_qps"),
        ({"traffic": {"avg_qps": -1}}, "traffic.avg_qps"),
        ({"colour": "blue"}, "unknown field 'colour'"),
        ({"slo": {"ttft_p95": 100}}, "unknown field 'ttft_p95'"),
        ({"constraints": {"gpus": ["h1000"]}}, "unknown gpu 'h1000'"),
        ({"precisions": ["int3"]}, "unknown precision"),
        ({"model": "llama-9"}, "unknown model"),
        ({"headroom": 1.5}, "headroom"),
    ],
)
def test_malformed_scenarios_exit_2_naming_the_field(cli, tmp_path, patch, needle):
    data = json.loads(json.dumps(BASE))
    for k, v in patch.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(data))
    r = cli("plan", str(f), "--json")
    assert r.code == 2, r.out
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.err
    assert needle in lines[0]


def test_bad_yaml_and_missing_file(cli, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("model: [unclosed\n")
    r = cli("plan", str(f))
    assert r.code == 2 and "not valid YAML" in r.err
    r = cli("plan", str(tmp_path / "nope.yaml"))
    assert r.code == 2 and "does not exist" in r.err


def test_markdown_and_html_reports(cli, tmp_path):
    r = cli("plan", str(EXAMPLES / "hand-sizing.yaml"), "--format", "md")
    assert r.code == 0 and "## Recommended" in r.out and "Hand derivation" in r.out
    # the hand method is the user's own, not the project's source documents ("the seed")
    assert "seed" not in r.out.lower(), [ln for ln in r.out.splitlines() if "seed" in ln.lower()]
    j = cli("plan", str(EXAMPLES / "hand-sizing.yaml"), "--json").json()
    assert "hand_sizing_check" in j and "seed" not in json.dumps(j).lower()
    out = tmp_path / "plan.html"
    r = cli("plan", "--format", "html", "--output", str(out))
    assert r.code == 0, r.err
    text = out.read_text()
    # the web app's charts, inlined: Pareto frontier and cost-versus-volume, no external URL
    assert "chart-pareto" in text and "chart-volume" in text and "FleetplanCharts" in text
    assert 'src="http' not in text and "src='http" not in text
    assert "Pareto frontier" in text and "Against APIs" in text


def test_empirical_lengths_from_csv_and_self_host_only(tmp_path):
    from ..conftest import DATA

    data = json.loads(json.dumps(BASE))
    csv_path = str(DATA / "lengths" / "requests.csv")
    data["input_tokens"] = {"csv": csv_path, "column": "input_tokens"}
    data["output_tokens"] = {"csv": csv_path, "column": "output_tokens"}
    data["compare_apis"] = ["gpt-4o-mini"]
    data["constraints"] = {**data["constraints"], "self_host_only": True}
    p = make_plan(parse_scenario(data))
    assert "empirical, 2,000 requests" in p.input.basis
    assert p.input.p50 < p.input.mean < p.input.p95 < p.input.p99  # a right-skewed tail
    from fleetplan.render.plan_records import plan_record

    rec = plan_record(p)
    assert rec["apis"][0]["allowed"] is False
    assert rec["workload"]["input_tokens"]["p99"] == pytest.approx(p.input.p99, abs=0.1)


def test_bad_lengths_csv_names_the_line(cli, tmp_path):
    bad = tmp_path / "lengths.csv"
    bad.write_text("input_tokens,output_tokens\n100,20\nabc,30\n")
    data = json.loads(json.dumps(BASE))
    data["input_tokens"] = {"csv": str(bad), "column": "input_tokens"}
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(data))
    r = cli("plan", str(f), "--json")
    assert r.code == 2 and "line 3" in r.err and "input_tokens" in r.err


def test_gpus_outside_the_constraint_are_listed_as_not_allowed():
    p = _plan(constraints={"gpus": ["l40s"], "tp": [1]})
    reasons = {r.gpu: r.reason for r in p.rejected}
    assert reasons["h100-sxm"].startswith("not allowed")
    assert "l40s" not in reasons or not reasons["l40s"].startswith("not allowed")


def test_hand_sizing_needs_the_gpu_it_assumed(cli, tmp_path):
    data = json.loads(json.dumps(BASE))
    data.pop("constraints")
    data["hand_sizing"] = {"t_step_ms": 18, "batch": 48}
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(data))
    r = cli("plan", str(f), "--json")
    assert r.code == 2 and "constraints.gpus" in r.err
