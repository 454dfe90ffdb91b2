"""The engine's API server ahead of a replica (`sim/frontend.py`): a serial server that takes
requests in one after another, before they reach the engine's queue."""

from typing import Any

import pytest

from fleetplan.catalog import load_catalog
from fleetplan.perf.roofline import setup
from fleetplan.perf.schedule import prefill_time_s
from fleetplan.sim import simulate
from fleetplan.sim.engine import EventLoop
from fleetplan.sim.frontend import Frontend

CAT = load_catalog()


class _Inner:
    """Records what reaches the replica: (time, rid, arrival)."""

    def __init__(self) -> None:
        self.got: list[tuple[float, int, float]] = []
        self.outstanding = 0
        self.queue_len = 0
        self.watch = None

    def submit(self, now: float, rid: int, *rest: Any) -> None:
        self.got.append((now, rid, rest[-1]))
        self.outstanding += 1


def test_a_burst_is_taken_in_one_request_after_another() -> None:
    loop = EventLoop()
    inner = _Inner()
    fe = Frontend(loop, inner, 1e-4)  # type: ignore[arg-type]
    for rid in range(3):  # 50 output tokens each, all at 0
        fe.submit(0.0, rid, 100, 50, -1, 0)
    assert fe.outstanding == 3 and fe.queue_len == 2 and fe.held == 2
    loop.run()
    # the first goes on at once; each next one waits for the streaming of those before it
    assert [t for t, _, _ in inner.got] == pytest.approx([0.0, 0.005, 0.01])
    assert [rid for _, rid, _ in inner.got] == [0, 1, 2]
    # TTFT counts from the arrival at the server (-1: the replica's own `now`)
    assert [arrival for _, _, arrival in inner.got][1:] == [0.0, 0.0]
    assert fe.outstanding == 3 and fe.held == 0


def test_an_idle_server_hands_the_request_on_at_once() -> None:
    loop = EventLoop()
    inner = _Inner()
    fe = Frontend(loop, inner, 1e-4)  # type: ignore[arg-type]
    fe.submit(0.0, 0, 100, 50, -1, 0)
    fe.submit(0.004, 1, 100, 50, -1, 0)  # the first one's 5 ms of streaming not done yet
    loop.run()
    fe.submit(1.0, 2, 200, 50, -1, 0)  # long after
    assert [t for t, _, _ in inner.got] == pytest.approx([0.0, 0.005, 1.0])
    assert inner.got[1][2] == 0.004


def test_frontend_needs_a_positive_time() -> None:
    with pytest.raises(ValueError, match="s_per_token"):
        Frontend(EventLoop(), _Inner(), 0.0)  # type: ignore[arg-type]


def _run(api_server: bool, users: int, tokens_in: int, out: int) -> Any:
    return simulate(
        {
            "model": "llama-3.1-8b",
            "gpu": "h100",
            "engine": "vllm",
            "api_server": api_server,
            "arrivals": {"kind": "concurrency", "users": users, "requests": max(20, users)},
            "lengths": {"input": {"mean": tokens_in}, "output": {"mean": out}},
        },
        catalog=CAT,
    )


def test_one_user_is_the_engine_alone() -> None:
    """One user: the server is idle whenever a request arrives (its streaming ended long
    before), so the API server adds nothing and the simulation is the engine's."""
    eng = CAT.engine("vllm")
    assert eng.api_server_us_per_output_token > 0  # vLLM V1's API server (engines.toml, cited)
    s = setup(CAT.model("llama-3.1-8b"), CAT.gpu("h100"), CAT.precision("bf16"), eng)
    prefill_ms = float(prefill_time_s(s, 1024, 8192)) * 1e3
    off, on = _run(False, 1, 1024, 64), _run(True, 1, 1024, 64)
    assert off.ttft_ms.p50 == pytest.approx(prefill_ms, rel=1e-9)
    assert on.ttft_ms.p50 == pytest.approx(off.ttft_ms.p50, rel=1e-12)
    assert on.tpot_ms.p50 == pytest.approx(off.tpot_ms.p50, rel=1e-12)
    assert on.config["api_server_us_per_output_token"] == eng.api_server_us_per_output_token
    assert "api_server_us_per_output_token" not in off.config


def test_a_burst_through_the_api_server_waits_longer() -> None:
    off, on = _run(False, 400, 128, 200), _run(True, 400, 128, 200)
    s_req = 200 * CAT.engine("vllm").api_server_us_per_output_token * 1e-6
    # the last request reaches the engine after the streaming of the 399 before it
    assert on.ttft_ms.max >= 399 * s_req * 1e3
    assert off.ttft_ms.max < 399 * s_req * 1e3
    assert on.ttft_ms.mean > off.ttft_ms.mean
