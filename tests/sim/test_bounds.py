"""Inputs that used to make the simulator run away: its work is bounded by counts (samples,
events, table sizes), and what it cannot do in bounded work is refused with exit 2 and one line
naming the estimate and the field or flag that raises the cap. Asserts are on counts, never on
time."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetplan.catalog import load_catalog
from fleetplan.cli import main
from fleetplan.sim import simulate
from fleetplan.sim.drive import MAX_SAMPLES
from fleetplan.sim.work import WorkCapError

CAT = load_catalog()


def _sc(**over: Any) -> dict[str, Any]:
    sc: dict[str, Any] = {
        "model": "llama-3.1-8b",
        "gpu": "h100",
        "arrivals": {"kind": "poisson", "rate_per_s": 5, "duration_s": 20},
        "lengths": {"input": {"mean": 300}, "output": {"mean": 50}},
        "seed": 1,
    }
    sc.update(over)
    return sc


def _trace(tmp_path: Path, rows: list[tuple[float, int, int]]) -> str:
    p = tmp_path / "t.csv"
    p.write_text(
        "timestamp,input_tokens,output_tokens\n" + "".join(f"{t},{i},{o}\n" for t, i, o in rows)
    )
    return str(p)


def _bounded(r: Any, requests: int) -> None:
    assert r.completed == r.requests == requests
    assert len(r.timeline["t_s"]) <= MAX_SAMPLES
    assert r.events < 50 * MAX_SAMPLES  # samples thin out as the run outlasts the grid


def test_two_requests_one_ms_apart(tmp_path: Path) -> None:
    path = _trace(tmp_path, [(0.0, 500, 200), (0.001, 500, 200)])
    _bounded(simulate(_sc(arrivals={"kind": "trace", "path": path}), catalog=CAT), 2)


def test_all_equal_timestamps(tmp_path: Path) -> None:
    path = _trace(tmp_path, [(7.5, 800, 300)] * 40)
    _bounded(simulate(_sc(arrivals={"kind": "trace", "path": path}), catalog=CAT), 40)


def test_tiny_sample_interval() -> None:
    r = simulate(_sc(sample_interval_s=1e-9), catalog=CAT)
    _bounded(r, r.requests)
    t = r.timeline["t_s"]
    assert t[1] - t[0] > 1e-9  # the interval doubled until the samples fit


def test_onoff_with_nanosecond_periods_draws_in_bounded_work() -> None:
    arr = {"kind": "onoff", "rate_per_s": 20, "duration_s": 30, "on_s": 1e-9, "off_s": 1e-9}
    r = simulate(_sc(arrivals=arr), catalog=CAT)
    assert 200 < r.requests < 400  # 20/s for half of 30 s


def test_billion_token_trace_is_clipped(tmp_path: Path) -> None:
    path = _trace(tmp_path, [(0.0, 1_000_000_000, 1_000_000_000), (1.0, 100, 10)])
    r = simulate(_sc(arrivals={"kind": "trace", "path": path}), catalog=CAT)
    assert r.completed == 2 and r.clipped == 1
    assert any("shortened" in n for n in r.notes)


def test_huge_max_num_seqs_runs_bounded() -> None:
    r = simulate(_sc(max_num_seqs=10**12), catalog=CAT)
    assert r.completed == r.requests > 50


def test_huge_step_is_refused() -> None:
    with pytest.raises(Exception, match="max_num_batched_tokens"):
        simulate(
            _sc(max_num_batched_tokens=10**12, kv_capacity_tokens=10**12, max_num_seqs=10**12),
            catalog=CAT,
        )


@pytest.mark.parametrize(
    "arrivals",
    [
        {"kind": "poisson", "rate_per_s": 1e7, "duration_s": 3600},
        {"kind": "gamma", "rate_per_s": 5, "duration_s": 60, "cv": 1e6},
    ],
)
def test_work_above_the_cap_is_refused_before_drawing(arrivals: dict[str, Any]) -> None:
    with pytest.raises(WorkCapError, match=r"max_events.*--max-events"):
        simulate(_sc(arrivals=arrivals), catalog=CAT)


def test_cli_refuses_with_exit_2_and_the_flag_raises_the_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(
        yaml.safe_dump(_sc(arrivals={"kind": "poisson", "rate_per_s": 10, "duration_s": 10}))
    )
    assert main(["simulate", str(p), "--json", "--max-events", "50"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "estimated work" in err and "--max-events" in err
    assert main(["simulate", str(p), "--json", "--max-events", "100000"]) == 0


def test_a_run_that_outgrows_its_cap_stops() -> None:
    # a KV cache of a few sequences at a high rate: preemptions multiply the events
    sc = _sc(
        arrivals={"kind": "poisson", "rate_per_s": 40, "duration_s": 20},
        lengths={"input": {"mean": 400}, "output": {"mean": 400}},
        kv_capacity_tokens=3000,
        max_events=4_000,  # the estimate is 800 requests x 4 events
    )
    with pytest.raises(WorkCapError, match="stopped after"):
        simulate(sc, catalog=CAT)


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"seed": -1}, "field 'seed' = -1"),  # was numpy's ValueError, a traceback
        # was an IndexError
        ({"lengths": {"input": {"mean": float("inf")}}}, "field 'lengths.input.mean' = inf"),
        ({"arrivals": {"kind": "poisson", "rate_per_s": float("inf"), "duration_s": 9}},
         "field 'arrivals.rate_per_s' = inf"),  # was "estimated work inf events"
        ({"lengths": {"input": {"mean": 256, "min": 10, "max": 5}}}, "max (5) is below min (10)"),
        ({"slo": {"ttft_ms": float("inf")}}, "field 'slo.ttft_ms' = inf"),
        ({"replicas": True}, "field 'replicas' = True"),
        ({"replicas": "2"}, "field 'replicas' = '2'"),
    ],
)  # fmt: skip
def test_bad_scenario_values_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], over: dict[str, Any], needle: str
) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(_sc(**over)))
    assert main(["simulate", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err, err
