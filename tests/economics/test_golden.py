"""Seed examples E2-E8, E11-E14 and the corrected W4-W7 (shared/seed-examples.md)."""

from __future__ import annotations

import pytest

from fleetplan.catalog.api_prices import ApiPrice
from fleetplan.economics.breakeven import SelfHosted, breakeven
from fleetplan.economics.budget import compute_budget, parse_budget
from fleetplan.economics.caching import prefix_caching
from fleetplan.economics.fleet_mix import hybrid
from fleetplan.economics.tco import tco
from fleetplan.economics.unit_cost import (
    unit_cost,
    usd_per_mtok,
    usd_per_request_at_volume,
)


def card(inp: float, out: float, cached: float | None = None) -> ApiPrice:
    return ApiPrice("seed", "user", inp, out, cached, (), "user-given", "seed document")


MINI, GPT4O = card(0.15, 0.60), card(2.50, 10.00)
SEED_SH = SelfHosted(usd_per_gpu_hour=1.60, capacity_req_per_hour=1800, ops_usd_per_month=500)


def test_e2_e4_api_per_request() -> None:
    assert MINI.usd_per_request(800, 300) == pytest.approx(0.000300)
    assert GPT4O.usd_per_request(800, 300) == pytest.approx(0.00500)


def test_e3_e4_w4_breakeven_capacity_aware() -> None:
    mini = breakeven("mini", MINI.usd_per_request(800, 300), SEED_SH, 1100)
    assert SEED_SH.usd_per_month(1) == pytest.approx(1668)
    assert mini.naive_breakeven_requests_per_month == pytest.approx(5_560_000)
    assert mini.breakeven_requests_per_month is None
    assert mini.self_hosted_usd_per_request_at_capacity == pytest.approx(0.00127, abs=5e-6)
    assert mini.self_hosted_marginal_usd_per_request == pytest.approx(0.00089, abs=5e-6)
    assert "no breakeven" in mini.reason and "5 GPUs" in mini.naive_note
    big = breakeven("4o", GPT4O.usd_per_request(800, 300), SEED_SH, 1100)
    assert big.breakeven_requests_per_month == 333_600
    assert big.breakeven_tokens_per_month == 333_600 * 1100
    assert big.gpus_at_breakeven == 1


def test_breakeven_across_steps_is_exact() -> None:
    # ops large enough that the first replica cannot pay for itself: k(aC - R) >= ops
    sh = SelfHosted(usd_per_gpu_hour=1.0, capacity_req_per_hour=1000, ops_usd_per_month=2000)
    a = 0.002  # aC = 1460, R = 730 -> k = ceil(2000/730) = 3
    b = breakeven("x", a, sh, 1)
    assert b.gpus_at_breakeven == 3
    v = b.breakeven_requests_per_month
    assert v == pytest.approx((3 * 730 + 2000) / a)
    assert sh.usd_per_month(v) <= a * v
    assert all(sh.usd_per_month(x) > a * x for x in range(1, v, 997))


def test_e5_budget() -> None:
    spec = parse_budget(
        {
            "lines": [
                {
                    "category": "online-inference",
                    "gpu": "l40s",
                    "count": 2,
                    "hours_per_month": 730,
                    "usd_per_gpu_hour": 1.60,
                },
                {
                    "category": "fine-tuning",
                    "gpu": "a100-80gb",
                    "count": 4,
                    "hours_per_month": 40,
                    "usd_per_gpu_hour": 2.75,
                },
                {
                    "category": "embeddings",
                    "gpu": "a10g",
                    "count": 1,
                    "hours_per_month": 730,
                    "usd_per_gpu_hour": 0.95,
                },
                {
                    "category": "experimentation",
                    "gpu": "a100-80gb",
                    "count": 2,
                    "hours_per_month": 80,
                    "usd_per_gpu_hour": 2.75,
                },
            ]
        }
    )
    from fleetplan.catalog import load_catalog

    b = compute_budget(spec, load_catalog(), lambda m, batch: (0.0, ""))
    assert [x.usd_per_month for x in b.lines] == pytest.approx([2336, 440, 693.50, 440])
    assert b.total_usd_per_month == pytest.approx(3909.50)
    assert b.share_by_category["online-inference"] == pytest.approx(0.598, abs=5e-4)


def test_w6_embedding_backfill() -> None:
    spec = parse_budget(
        {
            "lines": [
                {
                    "category": "embeddings",
                    "tokens_per_month": 10e6 * 2000,
                    "usd_per_mtok": 0.88,
                    "batch_usd_per_mtok": 0.44,
                }
            ]
        }
    )
    from fleetplan.catalog import load_catalog

    b = compute_budget(spec, load_catalog(), lambda m, batch: (0.0, ""))
    assert b.total_usd_per_month == pytest.approx(17_600)
    assert b.lines[0].savings[0].usd_per_month == pytest.approx(8_800)


def test_e6_w5_unit_cost_states_utilization() -> None:
    at70 = unit_cost(2.21, 4, 2400, 0.70)
    assert at70.usd_per_mtok == pytest.approx(1.4616, abs=5e-5)
    assert at70.utilization == 0.70
    assert unit_cost(2.21, 4, 2400, 1.0).usd_per_mtok == pytest.approx(1.023, abs=5e-4)


@pytest.mark.parametrize(
    ("usd", "tps", "want"),
    [
        (2.69, 600, 1.245),
        (4.50, 4800, 0.260),
        (2.21, 2900, 0.212),
        (1.01, 850, 0.330),
        (0.54, 620, 0.242),
        (0.38, 350, 0.302),
        (4.50, 400, 3.13),
        (4.50, 3800, 0.33),
    ],
)
def test_e11_e12_e13_usd_per_mtok(usd: float, tps: float, want: float) -> None:
    assert usd_per_mtok(usd, tps, 1.0) == pytest.approx(want, abs=5e-3)


def test_e13_as_utilization_of_peak() -> None:
    assert usd_per_mtok(4.50, 4800, 400 / 4800) == pytest.approx(3.125)


def test_e7_prefix_caching_with_api_prices() -> None:
    pc = prefix_caching(2048, 256, 10_000, 0.85, input_usd_per_mtok=2.5, cached_usd_per_mtok=1.25)
    assert pc.prefill_tokens_per_hour_uncached == pytest.approx(23.04e6)
    assert pc.prefill_tokens_per_hour_cached == pytest.approx(5.632e6)
    assert pc.reduction == pytest.approx(0.7556, abs=5e-5)
    hits = 10_000 * 0.85 * 2048
    assert pc.usd_per_month_cached == pytest.approx((5.632e6 * 2.5 + hits * 1.25) / 1e6 * 730)


def test_e8_hybrid_fleet() -> None:
    h = hybrid(4, 2.21, 4, 0.73, 0.6, 6)
    assert h.base_usd_per_month == pytest.approx(6453.20)
    assert h.burst_usd_per_month == pytest.approx(1278.96)
    assert h.total_usd_per_month == pytest.approx(7732.16)
    assert h.compare_usd_per_month == pytest.approx(9679.80)
    assert h.saving_fraction == pytest.approx(0.201, abs=5e-4)
    assert "not priced" in h.risk


def test_e14_amortization_and_payback() -> None:
    t = tco(1600, 1, life_years=3)
    assert t.amortized_usd_per_gpu_hour == pytest.approx(0.0609, abs=5e-5)
    t = tco(1600, 1, life_years=3, rent_usd_per_gpu_hour=0.34, power_w=450, usd_per_kwh=0.15)
    run = 0.45 * 0.15 * 730  # $/month of power
    assert t.payback_month == -(-1600 // (0.34 * 730 - run))


def test_w7_per_request_of_a_mostly_idle_gpu() -> None:
    assert usd_per_request_at_volume(0.34, 50) == pytest.approx(0.163, abs=5e-4)
    assert usd_per_request_at_volume(0.16, 50) == pytest.approx(0.077, abs=5e-4)
    saving = 1 - 0.16 / 0.34
    assert saving == pytest.approx(0.53, abs=5e-3)
