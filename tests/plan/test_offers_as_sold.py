"""Offers as sold: whole instances, production defaults, one truth per report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fleetplan.catalog import load_catalog
from fleetplan.plan import make_plan
from fleetplan.scenario import load_scenario, parse_scenario
from fleetplan.units import HOURS_PER_MONTH

EXAMPLES = Path(__file__).parents[2] / "examples"
PUBLIC = ("https://", "http://")

EIGHT_GPU_ONLY = Path(__file__).parents[1] / "data" / "catalogs" / "eight-gpu-only.toml"

SCENARIO = {
    "model": "llama-3.1-8b",
    "precisions": ["fp8"],
    "traffic": {"avg_qps": 5, "peak_qps": 12},
    "input_tokens": {"mean": 800, "p95": 2000, "p99": 3500},
    "output_tokens": {"mean": 250, "p95": 600},
    "slo": {"ttft_p95_ms": 2000, "tpot_p95_ms": 60, "min_replicas": 3},
    "constraints": {"gpus": ["h100-sxm"], "providers": ["acme"], "tp": [1, 2]},
}


@pytest.fixture
def acme():
    return load_catalog(EIGHT_GPU_ONLY)


def test_an_eight_gpu_instance_is_never_priced_per_gpu(acme):
    p = make_plan(parse_scenario(SCENARIO), catalog=acme)
    for c in [p.recommended, *p.alternatives, *p.pareto]:
        assert c is not None and c.offer.provider == "acme"
        assert c.instance_gpus == 8
        assert c.instances == math.ceil(c.replicas / (8 // c.tp))
        assert c.usd_per_month == pytest.approx(c.instances * 40.0 * HOURS_PER_MONTH)
    # a few 1-GPU replicas still buy a whole 8-GPU instance (and may as well fill it)
    data = json.loads(json.dumps(SCENARIO))
    data["constraints"]["tp"] = [1]
    rec = make_plan(parse_scenario(data), catalog=acme).recommended
    assert rec.gpus_total <= 8 and rec.instances == 1 and rec.gpus_billed == 8
    assert rec.usd_per_month == pytest.approx(40.0 * HOURS_PER_MONTH)


def test_tp_wider_than_any_instance_size_is_not_offered(acme):
    offer = acme.offers_for(provider="acme")[0]
    assert offer.instance_for(8) == (8, 1)
    assert offer.instance_for(2) == (8, 4)
    assert offer.instance_for(16) is None


def test_plan_json_shows_instances(cli):
    d = cli("plan", "--json").json()
    rec = d["recommended"]
    assert rec["instances"] * rec["gpus_per_instance"] == rec["gpus_billed"]
    assert rec["gpus_billed"] >= rec["gpus_total"]
    assert rec["offer"]["usd_per_instance_hour"] > 0 and rec["offer"]["tier"]
    pairs = [(c["offer"]["provider"], c["offer"]["pricing"]) for c in d["by_provider"]]
    assert len(pairs) == len(set(pairs)) >= 5


def test_builtin_plan_recommends_a_datacenter_gpu_on_a_secure_tier(cli):
    d = cli("plan", "--json").json()
    cat = load_catalog()
    assert cat.gpu(d["recommended"]["gpu"]).segment == "datacenter"
    for c in [d["recommended"], *d["alternatives"], *d["by_provider"]]:
        # production defaults leave out consumer GPUs (workstation cards stay allowed)
        assert cat.gpu(c["gpu"]).segment != "consumer", c["gpu"]
        assert c["offer"]["tier"] in ("secure", "serverless"), c["offer"]
        assert not c["offer"]["pricing"].endswith("-3y")
        assert c["offer"]["usd_per_gpu_hour_low"] == c["offer"]["usd_per_gpu_hour_high"]


def test_allowing_consumer_and_community_states_the_caveats():
    data = json.loads(json.dumps(SCENARIO))
    data["constraints"] = {"gpus": ["rtx-4090"], "allow": ["consumer", "community"], "tp": [1]}
    p = make_plan(parse_scenario(data))
    assert p.recommended is not None
    assert any("consumer GPU" in n for n in p.notes)
    if p.recommended.offer.tier == "community":
        assert any("community tier" in n for n in p.notes)
    data["constraints"] = {"gpus": ["rtx-4090"], "tp": [1]}
    assert make_plan(parse_scenario(data)).recommended is None


def test_multi_year_terms_need_allow():
    from fleetplan.errors import InputError

    data = json.loads(json.dumps(SCENARIO))
    data["constraints"] = {"pricing": ["on-demand", "reserved-3y"]}
    with pytest.raises(InputError, match=r"constraints\.allow"):
        parse_scenario(data)
    data["constraints"]["allow"] = ["reserved-3y"]
    assert "reserved-3y" in parse_scenario(data).constraints.pricing_allowed


def test_mix_never_claims_savings_against_a_costlier_baseline_than_the_recommendation():
    spec, base = load_scenario(EXAMPLES / "mixed-classes.yaml")
    p = make_plan(spec, base)
    m = p.mix
    assert p.recommended is not None and m is not None
    assert m.baseline_usd <= p.recommended.usd_per_month + 1e-6
    assert m.usd_per_month <= p.recommended.usd_per_month + 1e-6
    assert m.saving_usd_per_month >= -1e-6
    assert sum(m.replicas.values()) >= spec.slo.min_replicas


def test_min_replicas_is_a_constraint_of_the_mix_program():
    import numpy as np

    from fleetplan.search.mix import cheapest_mix

    # type a is cheap but one replica carries everything; the floor of 3 must be met in the
    # program (three a's at $10), not by topping up after solving
    m = cheapest_mix(["a", "b"], [10.0, 12.0], ["c"], [1.0], np.array([[5.0], [5.0]]), 3)
    assert sum(m.replicas.values()) >= 3
    assert m.usd_per_month == pytest.approx(30.0)
    assert m.usd_per_month <= m.best_single_usd_per_month + 1e-9


def test_packaged_offers_are_sold_as_instances_with_public_sources(catalog):
    assert len({o.provider for o in catalog.offers}) >= 8
    for gpu in ("h100-sxm", "h200", "b200", "mi300x", "l40s", "l4", "a100-80gb", "a10g"):
        assert catalog.offers_for(gpu=gpu), gpu
    assert {o.pricing for o in catalog.offers} >= {"on-demand", "spot", "reserved-1y"}
    for o in catalog.offers:
        assert o.instance_type and o.gpus_per_instance >= 1, o.id
        assert o.source.startswith(PUBLIC) and "shared/" not in o.source, o.id
        assert not o.is_range, o.id
    p4d = [o for o in catalog.offers if o.instance_type == "p4d.24xlarge"]
    assert p4d and all(o.gpu == "a100-40gb" for o in p4d)


def test_offers_command_lists_providers_regions_and_dates(cli):
    r = cli("offers")
    assert r.code == 0
    assert "from 8 providers" in r.out or "providers" in r.out
    rows = cli("offers", "--json").json()
    assert len({o["provider"] for o in rows}) >= 8
    assert all(o["instance_type"] and o["as_of"] for o in rows)
    assert any(o["regions"] for o in rows)


def test_import_offers_reads_a_local_skypilot_catalog_folder(cli, tmp_path):
    (tmp_path / "aws").mkdir()
    (tmp_path / "aws" / "vms.csv").write_text(
        "InstanceType,AcceleratorName,AcceleratorCount,Region,Price,SpotPrice\n"
        "p5.48xlarge,H100,8,us-east-1,55.04,20.1\n"
        "p5.48xlarge,H100,8,us-west-2,55.04,12.9\n"
    )
    r = cli("import-offers", str(tmp_path))
    assert r.code == 0, r.err
    assert "usd_per_instance_hour = 55.04" in r.out and "gpus_per_instance = 8" in r.out
    assert 'regions = ["us-east-1", "us-west-2"]' in r.out
    out = tmp_path / "offers.toml"
    assert cli("import-offers", str(tmp_path), "--out", str(out)).code == 0
    cat = load_catalog(out)
    o = [o for o in cat.offers if o.instance_type == "p5.48xlarge" and o.pricing == "on-demand"]
    assert o[0].usd_per_instance_hour == pytest.approx(55.04)


def test_plan_without_a_file(cli):
    args = ["plan", "--model", "llama-3.1-8b", "--qps", "8", "--input-tokens", "900",
            "--output-tokens", "300", "--ttft-p95-ms", "1500", "--tpot-p95-ms", "50",
            "--gpu", "h100", "--gpu", "l40s",
            "--provider", "aws", "--provider", "nebius"]  # fmt: skip
    d = cli(*args, "--json").json()
    assert d["model"] == "llama-3.1-8b" and d["workload"]["avg_qps"] == 8
    assert d["workload"]["slo"]["ttft_p95_ms"] == 1500
    for c in [d["recommended"], *d["alternatives"], *d["by_provider"]]:
        assert c["gpu"] in ("h100-sxm", "l40s") and c["offer"]["provider"] in ("aws", "nebius")
    r = cli("plan", "--model", "llama-3.1-8b", "--qps", "8")
    assert r.code == 2 and "--input-tokens" in r.err and "Traceback" not in r.err


def test_breakeven_capacity_is_the_slo_batch(cli):
    from fleetplan.economics.unit_cost import model_capacity

    args = ["breakeven", "--api", "gpt-4o-mini", "--gpu", "l40s", "--model", "llama-3.1-8b",
            "--input-tokens", "800", "--output-tokens", "300", "--json"]  # fmt: skip
    sh = cli(*args).json()[0]["self_hosted"]
    cap = model_capacity("llama-3.1-8b", "l40s", input_tokens=800, output_tokens=300)
    assert sh["capacity_batch"] == cap.batch and cap.tpot_ms <= 50
    assert sh["capacity_req_per_hour"] == pytest.approx(cap.req_per_hour)
    assert "TPOT ≤ 50 ms" in sh["capacity_basis"]
    unlimited = model_capacity(
        "llama-3.1-8b", "l40s", input_tokens=800, output_tokens=300, tpot_slo_ms=None,
        ttft_slo_ms=None,
    )  # fmt: skip
    assert unlimited.batch > cap.batch and unlimited.tpot_ms > 50
    loose = cli(*args, "--tpot-p95-ms", "200").json()[0]["self_hosted"]
    assert loose["capacity_batch"] > cap.batch


def test_cost_per_request_at_a_volume_pays_for_idle_hours(cli):
    d = cli("cost", "--gpu", "rtx-4090", "--usd-per-hour", "0.34", "--requests-per-day", "50",
            "--json").json()  # fmt: skip
    assert d["usd_per_request_at_volume"] == pytest.approx(0.34 * 24 / 50)
    assert round(d["usd_per_request_at_volume"], 3) == 0.163


def test_cost_gpus_with_a_model_uses_the_smallest_tp_and_says_so(cli):
    d = cli("cost", "--gpu", "l40s", "--gpus", "4", "--model", "llama-3.1-8b", "--json").json()
    assert d["tp"] == 1 and any("smallest tensor-parallel" in n for n in d["notes"])
    assert any("4 replica(s)" in n for n in d["notes"])
    d4 = cli("cost", "--gpu", "l40s", "--gpus", "4", "--tp", "4", "--model", "llama-3.1-8b",
             "--json").json()  # fmt: skip
    # one TP4 replica against four TP1 replicas (which is cheaper depends on the TPOT SLO)
    assert d4["throughput_basis"].startswith("1 x") and d["throughput_basis"].startswith("4 x")
    r = cli("cost", "--gpu", "l40s", "--gpus", "4", "--tp", "3", "--model", "llama-3.1-8b")
    assert r.code == 2 and "--tp" in r.err


def test_a_single_gpu_on_an_eight_gpu_only_offer_pays_for_the_instance(catalog):
    from fleetplan.economics.pricing import gpu_price

    p = gpu_price(catalog, "b200", provider="aws", gpus=1)
    assert p.usd_per_gpu_hour == pytest.approx(113.9328)
    assert gpu_price(catalog, "b200", provider="aws", gpus=8).usd_per_gpu_hour == pytest.approx(
        113.9328 / 8
    )


def test_tco_counts_host_power_pue_and_upkeep_with_sources(cli):
    from fleetplan.economics.tco import OWNED_DEFAULTS, tco

    d = cli("tco", "--gpu", "h100", "--gpus", "8", "--json").json()
    assert d["host_capex_usd"] == 8 * OWNED_DEFAULTS["host_usd_per_gpu"].value
    assert d["capex_usd"] == d["gpu_capex_usd"] + d["host_capex_usd"]
    assert d["pue"] == OWNED_DEFAULTS["pue"].value and d["support_usd_per_gpu_hour"] > 0
    assert d["power_w_per_gpu"] == 700 + OWNED_DEFAULTS["host_power_w_per_gpu"].value
    assert "load_fraction_of_tdp" in d and "utilization" not in d
    assert all(src.count("https://") for src in d["sources"].values() if "life" not in src)
    # owning costs more than the GPU's price over its life once host, power and upkeep count
    gpu_only = tco(30_000, 8, life_years=3)
    assert d["owned_usd_per_gpu_hour"] > gpu_only.owned_usd_per_gpu_hour * 1.5


def test_tco_against_the_plans_cloud_cost(cli):
    plan = cli("plan", "--json").json()["recommended"]
    d = cli("tco", "--plan", "builtin", "--json").json()
    assert d["gpu"] == plan["gpu"] and d["gpus"] == plan["gpus_total"]
    assert d["rent_usd_per_month"] == pytest.approx(plan["usd_per_month"], rel=1e-6)
    assert "plan's cloud cost" in d["rent_basis"]


def test_quantize_prices_every_precision_at_the_slo_batch_and_names_the_engine(cli):
    d = cli("quantize", "llama-3.1-8b", "--gpu", "l40s", "--precisions",
            "bf16,fp8,gguf-q4_k_m", "--json").json()  # fmt: skip
    assert d["slo"]["tpot_p95_ms"] == 50
    for r in d["rows"]:
        assert r["runs"] and r["tpot_ms"] <= 50, r
    gguf = next(r for r in d["rows"] if r["precision"] == "gguf-q4_k_m")
    assert gguf["engine"] == "llama.cpp" and "runs on llama.cpp" in gguf["reason"]
    assert {r["engine"] for r in d["rows"] if r["precision"] != "gguf-q4_k_m"} == {"vllm"}


def test_budget_never_suggests_a_move_that_costs_more(cli):
    d = cli("budget", str(EXAMPLES / "budget-monthly.yaml"), "--json").json()
    moves = [s for line in d["lines"] for s in line["savings"]]
    assert moves and all(s["saves_usd_per_month"] > 0 for s in moves)


def test_route_simulate_charges_the_reserved_fleet_as_a_fixed_cost(cli):
    args = ["route", "simulate", "--config", str(EXAMPLES / "router.yaml"),
            "--traffic", str(EXAMPLES / "router-traffic.yaml"), "--json"]  # fmt: skip
    rep = cli(*args).json()
    fleet = next(p for p in rep["providers"] if p["kind"] == "self_hosted")
    assert rep["fixed_usd_per_month"] == fleet["fixed_usd_per_month"] > 0
    api = sum(p["cost_usd"] for p in rep["providers"] if p["kind"] != "self_hosted")
    run_months = rep["cost_usd"] / rep["usd_per_month_at_this_rate"]
    assert rep["variable_usd_per_month"] == pytest.approx(api / run_months, rel=1e-6)
    assert fleet["cost_usd"] == pytest.approx(fleet["fixed_usd_per_month"] * run_months, rel=1e-6)
