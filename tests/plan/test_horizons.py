"""The 30/90/365-day capacity horizons: what growth they compound and what they refuse."""

from __future__ import annotations

from pathlib import Path

from fleetplan.plan import make_plan
from fleetplan.scenario import parse_scenario
from fleetplan.validation import MAX_RATE_PER_S

SCENARIO = {
    "model": "llama-3.1-8b",
    "precisions": ["fp8"],
    "traffic": {"avg_qps": 5},
    "input_tokens": {"mean": 1000},
    "output_tokens": {"mean": 300},
    "constraints": {"gpus": ["h100-sxm", "b200"]},
}


def _plan(**traffic):
    return make_plan(
        parse_scenario({**SCENARIO, "traffic": {**SCENARIO["traffic"], **traffic}}), Path(".")
    )


def test_a_horizon_past_the_rate_a_plan_takes_is_not_planned():
    # 1000 %/month is accepted; its 365-day horizon (10^13 req/s) was planned as 930 billion
    # replicas and a $3.4e18/month bill
    p = _plan(growth_per_month=10)
    far = p.horizons[-1]
    assert far.days == 365 and far.peak_qps > MAX_RATE_PER_S
    assert far.candidate is None
    assert far.reason.startswith("not planned: a peak of ")
    assert far.reason.endswith("req/s is past the 1,000,000 req/s a plan takes")
    assert p.horizons[0].candidate is not None


def test_growth_compounds_over_months_of_730_hours_as_every_dollar_per_month():
    # 10 %/month over 365 days read 1.1^(365/30) = 3.19x (30-day months) where a year is the
    # 12 months of 730 h that $/month counts: 1.1^12 = 3.14x
    from fleetplan.workload import Traffic

    p = _plan(growth_per_month=0.1)
    peaks = {h.days: h.peak_qps for h in p.horizons}
    assert abs(peaks[365] - 5 * 1.1**12) < 1e-9
    assert abs(peaks[30] - 5 * 1.1 ** (30 * 24 / 730)) < 1e-9
    assert abs(Traffic(5, 5, growth_per_month=0.1).at_days(365).peak_qps - 5 * 1.1**12) < 1e-9


def test_a_new_average_keeps_the_scenarios_growth_and_arrivals(cli, tmp_path):
    """`plan --qps 40` on the built-in example (10 %/month growth) dropped its horizons: the
    option replaced the whole traffic block, growth and arrivals with it."""
    import yaml

    r = cli("plan", "--qps", "40", "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["workload"]["avg_qps"] == 40 and d["workload"]["peak_qps"] == 40
    assert [h["days"] for h in d["horizons"]] == [30, 90, 365]
    scenario = tmp_path / "s.yaml"
    data = {**SCENARIO, "traffic": {"avg_qps": 5, "peak_qps": 9, "hourly_qps": [9] + [4] * 23,
            "arrivals": {"kind": "gamma", "cv": 3}}}  # fmt: skip
    scenario.write_text(yaml.safe_dump(data))
    from fleetplan.cli.plan import override

    traffic = override(data, {"qps": 7})["traffic"]
    assert traffic == {"avg_qps": 7, "arrivals": {"kind": "gamma", "cv": 3}}
    assert cli("plan", str(scenario), "--qps", "7", "--json").code == 0
