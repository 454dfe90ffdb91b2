"""Closed-loop load (a fixed number of users): Little's law, the user bound, and the
fixed-concurrency entry point against the performance model at concurrency 1."""

from typing import Any

import numpy as np
import pytest

from fleetplan.catalog import load_catalog
from fleetplan.errors import InputError
from fleetplan.perf.roofline import setup
from fleetplan.perf.schedule import prefill_time_s
from fleetplan.sim import parse_scenario, simulate
from fleetplan.sim.concurrency import simulate_concurrency

CAT = load_catalog()


def _sc(**arrivals: Any) -> dict[str, Any]:
    return {
        "model": "llama-3.1-8b",
        "gpu": "h100",
        "arrivals": {"kind": "concurrency", **arrivals},
        "lengths": {
            "input": {"mean": 500, "dist": "exponential"},
            "output": {"mean": 150, "dist": "exponential"},
        },
        "seed": 2,
    }


@pytest.mark.parametrize("think", [("fixed", 0.5), ("exponential", 2.0)])
def test_littles_law_users_equal_throughput_times_cycle(think: tuple[str, float]) -> None:
    dist, think_s = think
    users = 48
    r = simulate(_sc(users=users, think_s=think_s, think_dist=dist, duration_s=400), catalog=CAT)
    assert r.requests > 40 * users  # many cycles per user: edge effects stay small
    cycle_s = r.e2e_ms.mean / 1e3 + think_s
    if dist == "exponential":  # the mean think time drawn, not the one asked
        cycle_s = r.duration_s * users / r.requests
        assert cycle_s - r.e2e_ms.mean / 1e3 == pytest.approx(think_s, rel=0.05)
    assert users == pytest.approx(r.req_per_s * cycle_s, rel=0.02)


def test_never_more_in_flight_than_users_and_stops_at_the_request_count() -> None:
    r = simulate(_sc(users=20, requests=333), catalog=CAT)
    assert r.requests == r.completed == 333
    assert max(r.timeline["in_system"]) <= 20
    assert max(r.timeline["in_system"]) == 20  # zero think time: every user is always waiting


def test_concurrency_one_is_the_performance_model_alone() -> None:
    r = simulate_concurrency(
        "llama-3.1-8b", "h100", 1, input_tokens=1024, output_tokens=64, catalog=CAT
    )
    s = setup(CAT.model("llama-3.1-8b"), CAT.gpu("h100"), CAT.precision("bf16"), CAT.engine("vllm"))
    assert r.requests == 200 and r.preemptions == 0
    # nobody waits: every TTFT is the prefill of one 1,024-token prompt
    assert r.ttft_ms.p50 == pytest.approx(float(prefill_time_s(s, 1024, 8192)) * 1e3, rel=1e-9)
    assert r.ttft_ms.p99 == pytest.approx(r.ttft_ms.p50, rel=1e-9)
    assert r.queue_ms.max == 0.0
    assert np.isfinite([r.tpot_ms.p50, r.itl_ms.p99, r.output_tok_per_s]).all()


def test_more_users_more_throughput_and_slower_tokens() -> None:
    rs = [
        simulate_concurrency(
            "llama-3.1-8b", "h100", c, input_tokens=512, output_tokens=128, catalog=CAT
        )
        for c in (4, 32)
    ]
    assert rs[1].output_tok_per_s > 2 * rs[0].output_tok_per_s
    assert rs[1].tpot_ms.p50 > rs[0].tpot_ms.p50


@pytest.mark.parametrize(
    ("arrivals", "msg"),
    [({"users": 4}, "duration_s or requests"), ({"duration_s": 5}, "users")],
)
def test_closed_loop_needs_its_fields(arrivals: dict[str, Any], msg: str) -> None:
    with pytest.raises(InputError, match=msg):
        parse_scenario(_sc(**arrivals))
