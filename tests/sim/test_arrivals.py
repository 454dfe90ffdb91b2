from pathlib import Path

import numpy as np
import pytest

from fleetplan.errors import InputError
from fleetplan.sim.arrivals import (
    arrival_times,
    arrival_window_s,
    build_workload,
    expected_requests,
    lengths,
    read_trace,
)
from fleetplan.sim.config import Arrivals, LengthSpec, Prefix


def _gaps(spec: Arrivals) -> np.ndarray:
    return np.diff(arrival_times(spec, np.random.default_rng(3)))


def test_poisson_rate_and_cv() -> None:
    g = _gaps(Arrivals(kind="poisson", rate_per_s=20, duration_s=2000))
    assert 1 / g.mean() == pytest.approx(20, rel=0.02)
    assert g.std() / g.mean() == pytest.approx(1.0, abs=0.03)


def test_gamma_has_the_coefficient_of_variation_asked() -> None:
    g = _gaps(Arrivals(kind="gamma", rate_per_s=20, duration_s=2000, cv=3.0))
    assert 1 / g.mean() == pytest.approx(20, rel=0.05)
    assert g.std() / g.mean() == pytest.approx(3.0, rel=0.08)


def test_onoff_is_silent_when_off() -> None:
    t = arrival_times(
        Arrivals(kind="onoff", rate_per_s=50, duration_s=100, on_s=5, off_s=15),
        np.random.default_rng(0),
    )
    assert np.all(t % 20 < 5)
    assert t.size == pytest.approx(50 * 25, rel=0.1)


def test_profile_follows_the_rates() -> None:
    spec = Arrivals(kind="profile", rates_per_s=[1, 10, 0, 5], segment_s=100)
    t = arrival_times(spec, np.random.default_rng(0))
    counts = np.histogram(t, bins=[0, 100, 200, 300, 400])[0]
    assert counts[2] == 0
    np.testing.assert_allclose(counts, [100, 1000, 0, 500], rtol=0.15)


def test_lognormal_mean_and_clipping() -> None:
    x = lengths(
        LengthSpec(mean=300, dist="lognormal", sigma=0.8), 200_000, np.random.default_rng(1)
    )
    assert x.mean() == pytest.approx(300, rel=0.02)
    y = lengths(LengthSpec(mean=300, dist="exponential", max=500), 1000, np.random.default_rng(1))
    assert y.max() == 500 and y.min() >= 1


def test_prefixes_are_part_of_the_input_and_requests_fit() -> None:
    spec = Arrivals(kind="poisson", rate_per_s=10, duration_s=100)
    w = build_workload(
        spec,
        LengthSpec(mean=400, dist="exponential"),
        LengthSpec(mean=400, dist="exponential"),
        Prefix(share=0.5, tokens=256, groups=3),
        np.random.default_rng(0),
        max_tokens=1000,
    )
    has = w.prefix_id >= 0
    assert 0.4 < has.mean() < 0.6 and set(w.prefix_id[has]) == {0, 1, 2}
    assert np.all(w.prefix_tokens < w.input_tokens)
    assert np.all(w.input_tokens + w.output_tokens <= 1000) and w.clipped > 0


def test_trace_csv_and_jsonl(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text(
        "timestamp,input_tokens,output_tokens,prefix_id\n10,5,6,sys\n10.5,7,8,\n12,1,1,sys\n"
    )
    t, i, o, p = read_trace(csv)
    assert t.tolist() == [0.0, 0.5, 2.0] and i.tolist() == [5, 7, 1] and o.tolist() == [6, 8, 1]
    assert p.tolist() == [0, -1, 0]
    js = tmp_path / "t.jsonl"
    js.write_text(
        '{"timestamp": 1, "input_tokens": 3, "output_tokens": 4}\n\n'
        '{"timestamp": 2, "input_tokens": 5, "output_tokens": 6, "prefix_id": 9}\n'
    )
    t, i, o, p = read_trace(js)
    assert t.tolist() == [0.0, 1.0] and p.tolist() == [-1, 0]


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("a.csv", "timestamp,input_tokens,output_tokens\n1,2,3\n2,x,3\n", "line 3"),
        ("b.csv", "timestamp,input_tokens,output_tokens\n1,2,3\n2,2,3\n1,2,3\n", "line 4"),
        ("c.csv", "timestamp,input_tokens,output_tokens\n1,2,0\n", "line 2"),
        ("d.csv", "when,input_tokens,output_tokens\n1,2,3\n", "line 1"),
        ("e.jsonl", '{"timestamp": 1, "input_tokens": 2, "output_tokens": 3}\n{oops\n', "line 2"),
        ("f.jsonl", '{"timestamp": 1, "input_tokens": 2}\n', "line 1: missing output_tokens"),
        ("g.csv", "timestamp,input_tokens,output_tokens\n1,2,3,4\n", "line 2"),
    ],
)
def test_malformed_trace_names_the_line(tmp_path: Path, name: str, text: str, line: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=line):
        read_trace(path)


@pytest.mark.parametrize(
    ("cell", "said"),
    [
        ("10.5", "input_tokens = '10.5' is not a whole number; accepted: a whole number >= 1"),
        ("0", "input_tokens = '0' is below 1; accepted: a whole number >= 1"),
    ],
)
def test_trace_token_counts_are_whole_numbers_in_range(
    tmp_path: Path, cell: str, said: str
) -> None:
    """10.5 tokens was "'10.5' is not a number" (a billion is shortened: test_bounds)."""
    path = tmp_path / "t.csv"
    path.write_text(f"timestamp,input_tokens,output_tokens\n1,2,3\n2,{cell},3\n")
    with pytest.raises(InputError, match="line 3: ") as err:
        read_trace(path)
    assert said in str(err.value)


def test_trace_token_counts_may_be_written_as_floats(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("timestamp,input_tokens,output_tokens\n1,2.0,1e3\n")
    _, i, o, _ = read_trace(path)
    assert i.tolist() == [2] and o.tolist() == [1000]


def test_poisson_with_a_request_count_sends_exactly_that_many() -> None:
    """A benchmark run of N requests at a rate sends N requests with exponential gaps (the first
    at 0), not a Poisson count over N / rate seconds (seed 0 drew 547 for 500)."""
    spec = Arrivals(kind="poisson", rate_per_s=20, requests=40_000)
    t = arrival_times(spec, np.random.default_rng(3))
    assert t.size == 40_000 and t[0] == 0.0 and np.all(np.diff(t) >= 0)
    g = np.diff(t)
    assert 1 / g.mean() == pytest.approx(20, rel=0.02)
    assert g.std() / g.mean() == pytest.approx(1.0, abs=0.03)
    assert expected_requests(spec) == 40_000
    assert arrival_window_s(spec) == pytest.approx(2000)
    cut = Arrivals(kind="poisson", rate_per_s=20, requests=40_000, duration_s=100)
    tc = arrival_times(cut, np.random.default_rng(3))
    assert 0 < tc.size < 40_000 and tc.max() < 100
    assert expected_requests(cut) == pytest.approx(2000)
    with pytest.raises(ValueError, match="rate_per_s"):
        Arrivals(kind="poisson", requests=10)


def test_a_rate_row_replays_the_runs_request_count(catalog, monkeypatch) -> None:
    from fleetplan import sim
    from fleetplan.accuracy.predict import row_setup, simulate_row
    from fleetplan.accuracy.rows import ValidationRow

    seen = {}
    real = sim.simulate

    def spy(config, catalog=None):
        res = real(config, catalog=catalog)
        seen["requests"] = res.requests
        return res

    monkeypatch.setattr(sim, "simulate", spy)
    kw = {"schedule": "rate", "rate_per_s": 4.0, "engine_version": "0.14"}
    row = ValidationRow("r", "tensorrt-llm", "llama-3.1-8b", "bf16", "h100-sxm", 202, 214, 60,
                        "itl_ms", 7.0, **kw)  # fmt: skip
    simulate_row(row, row_setup(row, catalog), catalog)
    assert seen["requests"] == 60
