"""The forecast's interval column is each hour's interval averaged over the last week; headed
only "80% interval req/s" it read as the interval of the peak beside it, whose q0.9 (the
interval's own upper quantile) sat above it: 0.10 against 0.06-0.07 on the test history."""

from __future__ import annotations

from pathlib import Path

import pytest

HISTORY = Path(__file__).resolve().parents[1] / "data" / "history" / "hourly-3-weeks.csv"


def test_interval_says_what_it_is_the_interval_of(cli) -> None:
    pytest.importorskip("statsmodels")
    r = cli("forecast", str(HISTORY), "--horizon", "30")
    assert r.code == 0, r.err
    assert "80% interval req/s (hourly, last week's mean)" in r.out
    j = cli("forecast", str(HISTORY), "--horizon", "30", "--level", "0.9", "--json").json()
    assert j["interval_basis"].startswith("each hour's 90% prediction interval, averaged")
    h = j["horizons"][0]
    # why the basis is needed: the peak at q0.9 lies above the averaged upper bound
    assert h["peak_qps"] > h["interval_high_qps"]
