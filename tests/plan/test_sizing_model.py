"""The pieces of the analytic sizing: Erlang C without scipy, the length fits' limits, any
percentile SLO, and `--verify`'s empty statistics."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from fleetplan.catalog import load_catalog
from fleetplan.errors import InputError
from fleetplan.plan import make_plan
from fleetplan.plan.verify import verify
from fleetplan.queueing import erlang_c, quantile, slot_wait
from fleetplan.scenario import parse_scenario
from fleetplan.workload import from_percentiles, parse_slo_name

CAT = load_catalog()


def _erlang_c_exact(c: int, a: float) -> float:
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1 - rho * (1 - b))


@pytest.mark.parametrize("c", [1, 2, 8, 48, 512, 5000])
@pytest.mark.parametrize("rho", [0.3, 0.7, 0.9, 0.98])
def test_erlang_c_matches_the_exact_recursion(c, rho):
    exact = _erlang_c_exact(c, rho * c)
    got = float(erlang_c(c, rho * c))
    assert got == pytest.approx(exact, rel=0.03, abs=2e-4)


def test_slot_wait_is_shorter_for_deterministic_service_and_longer_for_bursts():
    p, theta_md = slot_wait(48, 40.0, 1.0, 0.0, 1.0)
    _, theta_mm = slot_wait(48, 40.0, 1.0, 1.0, 1.0)
    _, theta_bursty = slot_wait(48, 40.0, 1.0, 0.0, 9.0)
    assert 0 < p < 1
    assert theta_md == pytest.approx(2 * theta_mm)  # M/D/c tail: half the M/M/c wait
    assert theta_bursty < theta_mm


def test_quantile_inverts_a_cdf():
    x = quantile(lambda t: 1 - np.exp(-t / 0.2), 0.95, np.array([1e-3]), np.array([0.01]))
    assert float(x[0]) == pytest.approx(-0.2 * math.log(0.05), rel=5e-3)  # 11 halvings


def test_mean_and_tail_fit_up_to_the_lognormal_limit_and_beyond():
    # p95/mean = 4 > e^(z²/2) = 3.87: no lognormal, a Weibull through both
    x = from_percentiles("input_tokens", mean=500, p95=2000)
    assert x.mean == 500 and x.p95 == pytest.approx(2000)
    assert "weibull" in x.basis
    y = from_percentiles("input_tokens", mean=500, p95=1500)
    assert y.p95 == pytest.approx(1500) and "lognormal" in y.basis
    with pytest.raises(InputError, match="p95 = 400 is not above the mean"):
        from_percentiles("input_tokens", mean=500, p95=400)


def test_slo_names_at_any_percentile():
    assert parse_slo_name("ttft_p99_ms") == ("ttft", 99.0)
    assert parse_slo_name("e2e_p999_ms") == ("e2e", 99.9)
    assert parse_slo_name("tpot_p50_ms") == ("tpot", 50.0)
    assert parse_slo_name("ttft_p95") is None
    base = {
        "model": "llama-3.1-8b",
        "traffic": {"avg_qps": 5, "peak_qps": 10},
        "input_tokens": {"mean": 800, "p95": 2000},
        "output_tokens": {"mean": 200, "p95": 500},
        "constraints": {"gpus": ["h100-sxm"], "tp": [1]},
    }
    loose = make_plan(parse_scenario({**base, "slo": {"ttft_p95_ms": 400}}), catalog=CAT)
    tight = make_plan(parse_scenario({**base, "slo": {"ttft_p99_ms": 400}}), catalog=CAT)
    p99 = dict(tight.recommended.slo_ms)["ttft_p99_ms"]
    assert p99 <= 400 and p99 >= tight.recommended.ttft_p95_ms
    assert tight.recommended.usd_per_month >= loose.recommended.usd_per_month
    with pytest.raises(InputError, match="ttft_p20_ms"):
        parse_scenario({**base, "slo": {"ttft_p20_ms": 400}})


def test_verify_reports_no_tpot_for_one_token_outputs_as_na():
    data = {
        "model": "llama-3.1-8b",
        "traffic": {"avg_qps": 5, "peak_qps": 10},
        "input_tokens": {"mean": 500},
        "output_tokens": {"mean": 1},
        "slo": {"ttft_p95_ms": 500, "tpot_p95_ms": 20},
        "constraints": {"gpus": ["h100-sxm"], "tp": [1]},
    }
    plan = make_plan(parse_scenario(data), catalog=CAT)
    plan = replace(plan, recommended=replace(plan.recommended, replicas=1))
    v = verify(plan, CAT, requests=1000, seeds=(0, 1, 2)).verification
    assert v.planned.values_ms["tpot_p95_ms"] is None
    assert "tpot_p95_ms" in v.planned.not_applicable
    assert "n/a" in v.message and "0.0 ms" not in v.message


def test_horizons_equal_a_full_search_at_the_grown_traffic():
    from pathlib import Path

    from fleetplan.plan.search import _rank, _workload, search

    data = {
        "model": "llama-3.1-8b",
        "precisions": ["bf16", "fp8"],
        "traffic": {"avg_qps": 10, "peak_qps": 25, "growth_per_month": 0.2},
        "input_tokens": {"mean": 900, "p50": 600, "p95": 2800},
        "output_tokens": {"mean": 300, "p95": 700},
        "slo": {"ttft_p95_ms": 1500, "tpot_p95_ms": 50},
        "constraints": {"gpus": ["h100-sxm", "a100-80gb", "l40s", "l4"], "tp": [1, 2]},
    }
    spec = parse_scenario(data)
    plan = make_plan(spec, catalog=CAT)
    for h in plan.horizons:
        work = _workload(spec, Path("."), peak_scale=1.2 ** (h.days * 24 / 730))
        cands, _, _, _ = search(spec, plan.model, CAT, work)
        best = _rank([x for x in cands if x.ok])[0]
        assert h.candidate is not None
        assert (h.candidate.gpu, h.candidate.precision, h.candidate.usd_per_month) == (
            best.gpu,
            best.precision,
            best.usd_per_month,
        )


def test_search_tpot_at_a_trickle_is_perf_batch_1_tpot():
    """A request that decodes alone has the TPOT of `perf --batch 1`: a pure decode step, its
    own prompt's prefill being in its TTFT (the search and perf are held to each other)."""
    from fleetplan.perf.roofline import setup
    from fleetplan.perf.schedule import continuous

    sc = {
        "model": "llama-3.1-8b",
        "precisions": ["bf16"],
        "engines": ["vllm"],
        "traffic": {"avg_qps": 0.01, "peak_qps": 0.01},
        "input_tokens": {"mean": 2000, "p95": 2400},
        "output_tokens": {"mean": 200, "p95": 240},
        "slo": {"ttft_p95_ms": 5000, "tpot_p95_ms": 200},
        "constraints": {"gpus": ["h100-sxm"], "tp": [1]},
    }
    rec = make_plan(parse_scenario(sc), catalog=CAT).recommended
    s = setup(CAT.model("llama-3.1-8b"), CAT.gpu("h100-sxm"), CAT.precision("bf16"),
              CAT.engine("vllm"))  # fmt: skip
    perf_ms = float(continuous(s, [1.0], 2000, 200).tpot_s[0]) * 1e3
    assert rec.tpot_p95_ms == pytest.approx(perf_ms, rel=0.03)
