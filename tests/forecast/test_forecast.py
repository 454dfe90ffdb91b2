"""Traffic history readers (gateway log, requests with ISO-8601 and OpenAI names, hourly
counts, bad rows by line) and the forecast's 80 % intervals on held-back seasonal data."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from fleetplan.errors import InputError
from fleetplan.forecast.history import History, read_history, read_requests
from fleetplan.sim.trace import read_trace

START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)  # a Monday


def _seasonal(hours: int, seed: int) -> np.ndarray:
    t = np.arange(hours)
    lam = 200 + 100 * np.sin(2 * np.pi * t / 24) + 50 * (t % 168 < 120) + 0.05 * t
    return np.random.default_rng(seed).poisson(lam).astype(np.float64)


def test_intervals_cover_held_back_data() -> None:
    pytest.importorskip("statsmodels")
    from fleetplan.forecast.model import fit_forecast

    train, ahead = 24 * 7 * 6, 24 * 14
    y = _seasonal(train + ahead, seed=0)
    fc = fit_forecast(History(START.timestamp(), y[:train], None, None, "synthetic"), ahead)
    lo, hi = fc.interval(0.8)
    coverage = float(np.mean((y[train:] >= lo) & (y[train:] <= hi)))
    assert 0.7 <= coverage <= 0.9, coverage


def test_requests_with_iso_times_and_openai_names(tmp_path: Path) -> None:
    f = tmp_path / "req.csv"
    f.write_text(
        "created_at,prompt_tokens,completion_tokens\n"
        "2026-11-02T09:00:00Z,100,20\n"
        "2026-11-02 09:30:00,300,40\n"
        "2026-11-02T11:15:00+01:00,50,10\n"
    )
    r = read_requests(f)
    assert r.t_s.tolist() == [0.0, 1800.0, 4500.0]  # 11:15 at +01:00 is 10:15 UTC
    h = read_history(f)
    assert h.counts_per_hour.tolist() == [2.0, 1.0] and h.start_weekday == 0
    assert h.mean_input_tokens == pytest.approx(150) and h.mean_output_tokens == pytest.approx(
        70 / 3
    )
    # the simulator's trace reader takes the same file
    times, ins, _, _ = read_trace(f)
    assert times.tolist() == [0.0, 1800.0, 4500.0] and ins.tolist() == [100, 300, 50]


def test_jsonl_nested_usage_and_column_mapping(tmp_path: Path) -> None:
    f = tmp_path / "req.jsonl"
    rows = [
        {"when": 1_700_000_000, "usage": {"prompt_tokens": 10, "completion_tokens": 5}},
        {"when": 1_700_003_700, "usage": {"prompt_tokens": 30, "completion_tokens": 7}},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(InputError, match="--columns timestamp=COLUMN"):
        read_history(f)
    h = read_history(f, {"timestamp": "when"})
    assert h.counts_per_hour.sum() == 2 and h.mean_input_tokens == pytest.approx(20)
    with pytest.raises(InputError, match="unknown field 'stamp'"):
        read_history(f, {"stamp": "when"})


def test_bad_rows_name_their_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("timestamp,input_tokens,output_tokens\n1700000000,10,5\nlater,10,5\n")
    with pytest.raises(InputError, match=r"bad.csv line 3: timestamp 'later'"):
        read_history(f)
    with pytest.raises(InputError, match=r"line 3: timestamp 'later'"):
        read_trace(f)
    g = tmp_path / "bad2.csv"
    g.write_text("timestamp,prompt_tokens\n1700000000,10\n1700000001,-4\n")
    with pytest.raises(InputError, match=r"line 3: prompt_tokens = '-4'"):
        read_history(g)


def test_hourly_counts_and_gateway_log(tmp_path: Path) -> None:
    f = tmp_path / "hourly.csv"
    with f.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["hour", "count"])
        for i, c in enumerate([5, 7, 0, 9]):
            w.writerow([(START + dt.timedelta(hours=i)).isoformat(), c])
    h = read_history(f)
    assert h.counts_per_hour.tolist() == [5, 7, 0, 9] and h.start_epoch_s == START.timestamp()
    db = tmp_path / "log.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE requests (ts_s REAL, input_tokens INTEGER, output_tokens INTEGER)")
    t0 = START.timestamp()
    con.executemany("INSERT INTO requests VALUES (?, ?, ?)", [(t0, 10, 2), (t0 + 7300, 20, 4)])
    con.commit()
    con.close()
    g = read_history(db)
    assert g.counts_per_hour.tolist() == [1, 0, 1] and g.mean_output_tokens == pytest.approx(3)


def test_forecast_cli_sizes_each_horizon(cli, tmp_path: Path) -> None:
    pytest.importorskip("statsmodels")
    y = _seasonal(24 * 7 * 3, seed=2)
    f = tmp_path / "hourly.csv"
    with f.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "requests"])
        for i, c in enumerate(y):
            w.writerow([int(START.timestamp()) + 3600 * i, int(c)])
    plan = Path(__file__).resolve().parents[2] / "src/fleetplan/examples/chat-8b.yaml"
    page = tmp_path / "forecast.html"
    r = cli("forecast", str(f), "--horizon", "30", "--horizon", "90", "--plan", str(plan),
            "--chart", str(page), "--json")  # fmt: skip
    assert r.code == 0, r.err
    d = r.json()
    data = json.loads(page.read_text().split("const D = ", 1)[1].split(";\n", 1)[0])
    assert "forecastTraffic" in page.read_text() and data["horizons"] == d["horizons"]
    assert len(data["history"]["qps"]) == len(y) and len(data["forecast"]["mean_qps"]) == 90 * 24
    assert data["history"]["qps"][0] == pytest.approx(y[0] / 3600, abs=1e-4)
    assert max(data["forecast"]["quantile_qps"][-168:]) == pytest.approx(
        d["horizons"][1]["peak_qps"], abs=2e-3
    )  # the chart's quantile line is the one the horizon's peak is read from
    assert [h["days"] for h in d["horizons"]] == [30, 90]
    assert all(h["interval_low_qps"] <= h["mean_qps"] <= h["interval_high_qps"]
               for h in d["horizons"])  # fmt: skip
    fleet = d["fleet"]["horizons"]
    assert fleet[1]["replicas"] >= fleet[0]["replicas"] >= 2
    bad = cli("forecast", str(f), "--quantile", "1.5")
    assert bad.code == 2 and "--quantile" in bad.err
    bad = cli("forecast", str(f), "--chart", str(tmp_path / "forecast.png"))
    assert bad.code == 2 and "--chart" in bad.err and ".html" in bad.err
    bad = cli("forecast", str(f), "--chart", str(tmp_path / "no" / "forecast.html"))
    assert bad.code == 2 and "--chart" in bad.err and "does not exist" in bad.err


def test_plan_takes_the_forecast_instead_of_growth(cli, tmp_path: Path) -> None:
    import yaml

    fc = tmp_path / "forecast.json"
    peaks = ((30, 60), (90, 80), (365, 150))
    fc.write_text(json.dumps({"horizons": [{"days": d, "peak_qps": q} for d, q in peaks]}))
    builtin = Path(__file__).resolve().parents[2] / "src/fleetplan/examples/chat-8b.yaml"
    data = yaml.safe_load(builtin.read_text())
    data["traffic"].pop("growth_per_month")
    data["traffic"]["forecast"] = "forecast.json"
    sc = tmp_path / "plan.yaml"
    sc.write_text(yaml.safe_dump(data))
    r = cli("plan", str(sc), "--json")
    assert r.code == 0, r.err
    hz = r.json()["horizons"]
    assert [(h["days"], h["peak_qps"]) for h in hz] == [(30, 60), (90, 80), (365, 150)]
    assert hz[0]["deployment"]["replicas"] <= hz[2]["deployment"]["replicas"]
    fc.write_text(json.dumps({"horizons": [{"days": 30, "peak_qps": 60}]}))
    r2 = cli("plan", str(sc), "--json")
    assert r2.code == 2 and "no 90-day horizon" in r2.err
    data["traffic"]["growth_per_month"] = 0.1
    sc.write_text(yaml.safe_dump(data))
    r3 = cli("plan", str(sc))
    assert r3.code == 2 and "growth_per_month or forecast" in r3.err


@pytest.mark.parametrize(
    ("flag", "values", "accepted"),
    [
        ("--horizon", ["-1", "0", "401"], "an integer from 1 to 400"),
        ("--level", ["0", "nan", "1", "0.4"], "a finite number in [0.5, 1)"),
        ("--quantile", ["0", "nan", "1", "0.4"], "a finite number in [0.5, 1)"),
    ],
)
def test_each_bad_value_gets_the_same_accepted_range(cli, flag, values, accepted) -> None:
    """--horizon -1 was answered with 'an integer from 0 to 1e15' and 0 with '1 to 400 days';
    --level nan with the generic finite bound and 0 with '0.5 <= value < 1'."""
    for value in values:
        r = cli("forecast", "history.csv", flag, value)
        assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
        assert f"{flag} = " in r.err and f"accepted: {accepted}" in r.err, r.err
