"""Invariants: cost never negative, more volume never cheaper, utilization never raises $/1M."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetplan.economics.breakeven import SelfHosted, breakeven
from fleetplan.economics.unit_cost import usd_per_mtok

price = st.floats(0, 20, allow_nan=False)
cap = st.floats(1, 1e5, allow_nan=False)
util = st.floats(0.01, 1.0)
vol = st.floats(0, 1e9, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(price, cap, st.floats(0, 1e4), util, vol, vol)
def test_volume_never_lowers_cost(p, c, ops, u, v1, v2) -> None:
    sh = SelfHosted(p, c, ops, u)
    lo, hi = sorted((v1, v2))
    assert 0 <= sh.usd_per_month(lo) <= sh.usd_per_month(hi)


@settings(max_examples=200, deadline=None)
@given(price, cap, util, util, st.floats(1, 1e5))
def test_utilization_never_raises_unit_cost(p, tps, u1, u2, _) -> None:
    lo, hi = sorted((u1, u2))
    assert usd_per_mtok(p, tps, hi) <= usd_per_mtok(p, tps, lo)
    assert usd_per_mtok(p, tps, lo) >= 0


@settings(max_examples=150, deadline=None)
@given(st.floats(0.01, 20), cap, st.floats(0, 1e4), util, st.floats(1e-6, 0.1))
def test_breakeven_is_the_first_crossing(p, c, ops, u, a) -> None:
    sh = SelfHosted(p, c, ops, u)
    b = breakeven("x", a, sh, 1)
    assert all(x >= 0 for x in b.curve.self_hosted_usd_per_month + b.curve.api_usd_per_month)
    v = b.breakeven_requests_per_month
    if v is None:
        assert a * sh.capacity_req_per_month <= sh.replica_usd_per_month + 1e-9
    else:
        assert sh.usd_per_month(v) <= a * v * (1 + 1e-9)
        if v > 1:
            assert sh.usd_per_month(v - 1) > a * (v - 1)
