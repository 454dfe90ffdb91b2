"""Autoscaling: the example week (a reactive policy with a 10-minute cold start misses the
Monday surge; predictive and warm standby hold; costs in the expected order), the fleet model
held to the discrete-event simulator, scale to zero, overflow, emitted KEDA objects, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest
import yaml

from fleetplan.autoscale import load_autoscale, parse_autoscale, run_autoscale
from fleetplan.autoscale.run import deployment_for
from fleetplan.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
WEEK = ROOT / "examples" / "autoscale-week.yaml"
CRDS = ROOT / "tests" / "data" / "crds"
SURGE_H = (9.0, 11.5)  # Monday 09:00 ramp, one hour at the top, plus the queue's drain


@pytest.fixture(scope="module")
def week(catalog) -> dict:
    sc, base = load_autoscale(WEEK)
    return run_autoscale(sc, base, catalog).to_dict(timeline=True)


def _by_name(d: dict) -> dict[str, dict]:
    return {p["name"]: p for p in d["policies"]}


def test_reactive_misses_the_surge_predictive_and_standby_hold(week: dict) -> None:
    p = _by_name(week)
    reactive = p["reactive"]
    assert reactive["violated_windows"] > 0 and reactive["ttft_slo_attainment"] < 1.0
    tl = reactive["timeline"]
    slo = week["slo"]["ttft_p95_ms"]
    missed_h = [
        t / 3600 for t, v in zip(tl["t_s"], tl["ttft_p95_ms"], strict=True) if v and v > slo
    ]
    assert missed_h and all(SURGE_H[0] <= h <= SURGE_H[1] for h in missed_h), missed_h
    for name in ("predictive", "warm-standby", "static-peak"):
        assert p[name]["violated_windows"] == 0, name
        assert p[name]["dropped_requests"] == 0, name
    # what holding the SLO costs: replicas started ahead of the surge cost more than reacting
    # to it; standing capacity (a standby reserve, a fleet sized for the peak) more than both
    usd = {n: p[n]["usd"] for n in p}
    assert usd["reactive"] <= usd["predictive"] < usd["warm-standby"]
    assert usd["predictive"] < usd["static-peak"]
    assert week["best_policy"] == "predictive"


def test_json_contract(cli, tmp_path: Path) -> None:
    r = cli("autoscale", "simulate", str(WEEK), "--policy", "reactive", "--json")
    assert r.code == 0, r.err
    d = r.json()
    (pol,) = d["policies"]
    for key in (
        "name",
        "gpu_hours",
        "usd",
        "ttft_slo_attainment",
        "tpot_slo_attainment",
        "overflowed_requests",
        "dropped_requests",
    ):
        assert key in pol
    assert "timeline" not in pol
    assert d["deployment"]["cold_start_s"] == 600
    assert d["traffic"]["requests"] > 1_000_000


def _lognormal_tokens(mean: float, sigma: float) -> dict[str, float]:
    """A lognormal's mean, median, p95 and p99 (the plan's length fields)."""
    median = mean * math.exp(-sigma * sigma / 2)
    return {
        "mean": mean,
        "p50": round(median),
        "p95": round(median * math.exp(1.6449 * sigma)),
        "p99": round(median * math.exp(2.3263 * sigma)),
    }


def test_fleet_model_held_to_the_simulator(catalog) -> None:
    """The fleet model's replica (capacity, TTFT at load) against the discrete-event simulator
    running the same deployment on the same lengths (the plan's given as the simulated
    lognormals' percentiles): light load TTFT p95, and the throughput it sustains when
    overloaded."""
    from fleetplan.sim import parse_scenario, simulate

    data = yaml.safe_load(WEEK.read_text())
    data["plan"]["input_tokens"] = _lognormal_tokens(900, 0.8)
    data["plan"]["output_tokens"] = _lognormal_tokens(300, 0.6)
    sc = parse_autoscale(data)
    dep, _, p = deployment_for(sc, WEEK.parent, catalog)
    c = p.recommended
    for load in (0.7, 1.3):
        rate = load * dep.replica_req_per_s * 2
        des = simulate(
            parse_scenario(
                {
                    "model": p.model.id,
                    "gpu": c.gpu,
                    "precision": c.precision,
                    "engine": c.engine,
                    "tp": c.tp,
                    "replicas": 2,
                    "max_num_seqs": c.max_batch,
                    "arrivals": {"kind": "poisson", "rate_per_s": rate, "duration_s": 200},
                    "lengths": {
                        "input": {"mean": 900, "dist": "lognormal", "sigma": 0.8},
                        "output": {"mean": 300, "dist": "lognormal", "sigma": 0.6},
                    },
                    "seed": 1,
                }
            ),
            catalog=catalog,
        )
        if load < 1:  # the plan's analytic TTFT, held to the simulator in tests/plan too
            fluid = float(dep.ttft_p95_ms([load])[0])
            assert fluid == pytest.approx(des.ttft_ms.p95, rel=0.10)
        else:  # saturated: both serve at the replica's capacity
            assert des.to_dict()["req_per_s"] == pytest.approx(2 * dep.replica_req_per_s, rel=0.1)


def _small(policies: list[dict], **traffic: object) -> dict:
    data = yaml.safe_load(WEEK.read_text())
    data["plan"]["traffic"] = {"avg_qps": 10, "peak_qps": 30}
    data["traffic"] = {"kind": "synthetic", "days": 1, "night_qps": 0, "day_qps": 20, **traffic}
    data["policies"] = policies
    return data


def test_scale_to_zero_and_overflow(catalog) -> None:
    # a Friday of traffic, then a Saturday without any (weekend_factor 0)
    data = _small(
        [
            {"name": "zero", "kind": "queue", "min_replicas": 0, "cooldown_s": 600},
            {
                "name": "zero-overflow",
                "kind": "queue",
                "min_replicas": 0,
                "cooldown_s": 600,
                "overflow": {"api": "gpt-4o-mini", "max_wait_s": 2},
            },
        ],
        start_weekday=4,
        weekend_factor=0.0,
    )
    data["traffic"]["days"] = 2
    data["cold_start"] = {"seconds": 300}
    res = run_autoscale(parse_autoscale(data), WEEK.parent, catalog)
    zero, over = res.policies
    assert min(zero.timeline["replicas_billed"]) == 0  # the fleet went to zero on Saturday
    assert zero.gpu_hours < 24 * zero.peak_replicas
    assert zero.overflowed_requests == 0 and over.overflowed_requests > 0
    assert over.usd_overflow == pytest.approx(over.overflowed_requests * res.api_usd_per_request)
    assert over.dropped_requests <= zero.dropped_requests


def test_billing_granularity_rounds_up(catalog) -> None:
    data = _small([{"name": "static", "kind": "static", "replicas": 1}])
    data["traffic"]["days"] = 0.25  # 6 hours, 10-second ticks
    for gran, hours in ((60, 6.0), (7 * 3600, 7.0)):
        data["billing_granularity_s"] = gran
        (r,) = run_autoscale(parse_autoscale(data), WEEK.parent, catalog).policies
        assert r.gpu_hours == pytest.approx(hours)


def test_emit_predictive_schedule_and_overflow(cli, tmp_path: Path) -> None:
    out = tmp_path / "scale"
    r = cli("autoscale", "simulate", str(WEEK), "--emit", str(out), "--json")
    assert r.code == 0, r.err
    so = yaml.safe_load((out / "keda-scaledobject.yaml").read_text())
    schema = json.loads((CRDS / "keda.sh_scaledobject_v1alpha1.json").read_text())
    jsonschema.validate(so, schema)
    kinds = [t["type"] for t in so["spec"]["triggers"]]
    assert kinds[0] == "prometheus" and "cron" in kinds  # queue depth plus the schedule
    monday = next(t for t in so["spec"]["triggers"] if t["type"] == "cron")["metadata"]
    assert monday["start"].endswith("* * 1") and int(monday["desiredReplicas"]) > 2
    overflow = yaml.safe_load((out / "router-overflow.yaml").read_text())
    assert overflow["gateway"]["overflow"]["max_in_flight"] > 0
    assert "&id" not in (out / "keda-scaledobject.yaml").read_text()


def test_bad_input_is_one_line(cli, tmp_path: Path) -> None:
    r = cli("autoscale", "simulate", str(WEEK), "--policy", "nope")
    assert r.code == 2 and "--policy 'nope'" in r.err and "reactive" in r.err
    bad = yaml.safe_load(WEEK.read_text())
    bad["policies"].append(dict(bad["policies"][0]))
    f = tmp_path / "dup.yaml"
    f.write_text(yaml.safe_dump(bad))
    r2 = cli("autoscale", "simulate", str(f))
    assert r2.code == 2 and "unique" in r2.err and "static-peak" in r2.err
    bad = yaml.safe_load(WEEK.read_text())
    bad["policies"][1]["target_utilization"] = 1.5
    f.write_text(yaml.safe_dump(bad))
    r3 = cli("autoscale", "simulate", str(f))
    assert r3.code == 2 and "target_utilization" in r3.err
    r4 = cli("autoscale", "simulate", str(WEEK), "--chart", str(tmp_path / "x.png"))
    assert r4.code == 2 and ".html" in r4.err
    with pytest.raises(InputError, match="min_replicas 5 is above max_replicas 2"):
        parse_autoscale(_small([{"name": "x", "kind": "reactive", "min_replicas": 5,
                                 "max_replicas": 2}]))  # fmt: skip


@pytest.mark.parametrize("value", ["nan", "1.5", "0", "-0.1"])
def test_slo_attainment_is_a_share_whatever_is_wrong_with_it(cli, value: str) -> None:
    """NaN was refused as "accepted: a finite number in [-1e+15, 1e+15]", 1.5 as "0 < value <=
    1": two answers to one question."""
    r = cli("autoscale", "simulate", str(WEEK), "--slo-attainment", value)
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
    assert "--slo-attainment = " in r.err and "accepted: a finite number in (0, 1]" in r.err


def test_timeline_without_json_is_refused(cli) -> None:
    """--timeline only changes the JSON; the table run ignored it without a word."""
    r = cli("autoscale", "simulate", str(WEEK), "--policy", "reactive", "--timeline")
    assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1, r.err
    assert "--timeline only adds to the --json output; give --json too" in r.err


def test_an_unknown_policy_lists_the_scenario_in_its_order(cli) -> None:
    r = cli("autoscale", "simulate", str(WEEK), "--policy", "nope")
    names = "static-peak, reactive, queue-depth, predictive, warm-standby"
    assert r.code == 2 and f"accepted: {names}" in r.err, r.err  # was a set's order


def test_chart_page(cli, tmp_path: Path) -> None:
    page = tmp_path / "week.html"
    r = cli("autoscale", "simulate", str(WEEK), "--policy", "reactive", "--chart", str(page))
    assert r.code == 0, r.err
    text = page.read_text()
    assert "autoscaleReplicas" in text and "chart-latency" in text and "reactive" in text


def test_history_longer_than_a_synthetic_run_is_refused(tmp_path: Path) -> None:
    """A replayed history gets the synthetic traffic's bound (366 days at 1-second ticks), not
    one array entry per second of however many years it spans."""
    from fleetplan.autoscale.config import HistoryTraffic
    from fleetplan.autoscale.traffic import MAX_TICKS, tick_traffic

    f = tmp_path / "hourly.csv"
    f.write_text("timestamp,requests\n1700000000,10\n1734560000,10\n")  # 400 days apart
    spec = HistoryTraffic(kind="history", path=str(f))
    with pytest.raises(InputError, match=r"traffic.path: 9,601 hours .* tick_s 1 .* at most"):
        tick_traffic(spec, 1.0, 0, tmp_path)
    t = tick_traffic(spec, 60.0, 0, tmp_path)  # the same history at 1-minute ticks fits
    assert len(t.arrivals) == 9_601 * 60 < MAX_TICKS
