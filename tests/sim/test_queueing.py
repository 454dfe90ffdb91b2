"""The simulator against queueing theory and the performance model."""

from typing import Any

import numpy as np
import pytest

from fleetplan.catalog import load_catalog
from fleetplan.perf.roofline import setup
from fleetplan.perf.schedule import prefill_time_s
from fleetplan.sim import simulate

CAT = load_catalog()


def _scenario(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "llama-3.1-8b",
        "gpu": "h100",
        "arrivals": {"kind": "poisson", "rate_per_s": 10, "duration_s": 300},
        "lengths": {
            "input": {"mean": 256, "dist": "exponential"},
            "output": {"mean": 128, "dist": "exponential"},
        },
        "seed": 11,
    }
    base.update(over)
    return base


def test_low_load_ttft_is_the_analytic_prefill_time() -> None:
    sc = _scenario(
        arrivals={"kind": "poisson", "rate_per_s": 0.2, "duration_s": 2000},
        lengths={"input": {"mean": 1024}, "output": {"mean": 32}},
    )
    r = simulate(sc, catalog=CAT)
    s = setup(CAT.model("llama-3.1-8b"), CAT.gpu("h100"), CAT.precision("bf16"), CAT.engine("vllm"))
    analytic_ms = float(prefill_time_s(s, 1024, 8192)) * 1e3
    assert r.requests > 300
    assert r.ttft_ms.p50 == pytest.approx(analytic_ms, rel=1e-6)  # most find the replica idle
    assert r.ttft_ms.mean == pytest.approx(analytic_ms, rel=0.03)
    assert r.ttft_ms.mean >= analytic_ms * (1 - 1e-9)


def test_littles_law_on_a_long_run() -> None:
    sc = _scenario(
        arrivals={"kind": "poisson", "rate_per_s": 25, "duration_s": 1200},
        sample_interval_s=0.05,
    )
    r = simulate(sc, catalog=CAT)
    t = np.asarray(r.timeline["t_s"])
    in_system = np.asarray(r.timeline["in_system"])
    mean_in_system = in_system.mean()  # time average: samples are evenly spaced
    lam = r.requests / (t[-1] + (t[1] - t[0]))  # the interval may have doubled
    w_s = r.e2e_ms.mean / 1e3
    assert mean_in_system > 20  # a loaded replica, not an empty one
    assert mean_in_system == pytest.approx(lam * w_s, rel=0.02)


def test_single_slot_exponential_service_is_mm1() -> None:
    lam, mu = 5.0, 10.0
    sc = _scenario(
        arrivals={"kind": "poisson", "rate_per_s": lam, "duration_s": 40_000},
        service={"kind": "exponential", "mean_s": 1 / mu},
        max_num_seqs=1,
        seed=5,
    )
    r = simulate(sc)
    rho = lam / mu
    assert r.queue_ms.mean == pytest.approx(rho / (mu - lam) * 1e3, rel=0.05)
    assert r.e2e_ms.mean == pytest.approx(1 / (mu - lam) * 1e3, rel=0.05)
    # M/M/1 sojourn time is exponential: its median is ln 2 / (mu - lam)
    assert r.e2e_ms.p50 == pytest.approx(np.log(2) / (mu - lam) * 1e3, rel=0.05)


def test_kv_bound_replica_preempts_and_has_a_longer_tail() -> None:
    common = {
        "arrivals": {"kind": "poisson", "rate_per_s": 4, "duration_s": 120},
        "lengths": {
            "input": {"mean": 1024, "dist": "exponential"},
            "output": {"mean": 512, "dist": "exponential"},
        },
    }
    small = simulate(_scenario(kv_capacity_tokens=24_000, **common), catalog=CAT)
    large = simulate(_scenario(**common), catalog=CAT)
    assert large.config["kv_capacity_tokens"] > 400_000
    assert small.preemptions > 0 and large.preemptions == 0
    assert small.e2e_ms.p90 > 1.5 * large.e2e_ms.p90
    assert small.ttft_ms.p99 > large.ttft_ms.p99
    assert small.completed == small.requests


def test_prefix_caching_skips_shared_prompt_tokens() -> None:
    common = {
        "lengths": {"input": {"mean": 2048}, "output": {"mean": 64}},
        "prefix": {"share": 1.0, "tokens": 1536, "groups": 2},
        "arrivals": {"kind": "poisson", "rate_per_s": 4, "duration_s": 120},
    }
    on = simulate(_scenario(**common), catalog=CAT)
    off = simulate(_scenario(prefix_caching=False, **common), catalog=CAT)
    assert off.prefix_hit_tokens == 0
    assert on.prefix_hit_tokens > 0.9 * on.requests * 1536
    assert on.ttft_ms.mean < 0.6 * off.ttft_ms.mean


def test_deterministic_with_a_seed() -> None:
    sc = _scenario(
        arrivals={"kind": "gamma", "rate_per_s": 20, "duration_s": 60, "cv": 2},
        replicas=2,
        load_balancer="round_robin",
    )
    a, b = simulate(sc, catalog=CAT).to_dict(), simulate(sc, catalog=CAT).to_dict()
    c = simulate(sc, catalog=CAT, seed=12).to_dict()
    for d in (a, b, c):
        d.pop("wall_s")
    assert a == b
    assert a != c


def test_more_replicas_and_least_outstanding_cut_the_tail() -> None:
    base = {"arrivals": {"kind": "gamma", "rate_per_s": 40, "duration_s": 120, "cv": 3}}
    one = simulate(_scenario(replicas=1, **base), catalog=CAT)
    rr = simulate(_scenario(replicas=3, load_balancer="round_robin", **base), catalog=CAT)
    lo = simulate(_scenario(replicas=3, load_balancer="least_outstanding", **base), catalog=CAT)
    assert one.e2e_ms.p99 > rr.e2e_ms.p99 >= lo.e2e_ms.p99 * 0.98
    assert rr.requests == lo.requests == one.requests
