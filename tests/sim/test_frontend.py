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
    for rid in range(3):  # 100 prompt + 50 output tokens each, all at 0
        fe.submit(0.0, rid, 100, 50, -1, 0)
    assert fe.outstanding == 3 and fe.queue_len == 3
    loop.run()
    # each waits for the whole work (prompt and output) of those before it, then its prompt
    assert [t for t, _, _ in inner.got] == pytest.approx([0.01, 0.025, 0.04])
    assert [rid for _, rid, _ in inner.got] == [0, 1, 2]
    assert all(arrival == 0.0 for _, _, arrival in inner.got)  # TTFT counts from the arrival
    assert fe.outstanding == 3 and fe.held == 0


def test_an_idle_server_adds_only_the_prompts_intake() -> None:
    loop = EventLoop()
    inner = _Inner()
    fe = Frontend(loop, inner, 1e-4)  # type: ignore[arg-type]
    fe.submit(0.0, 0, 100, 50, -1, 0)
    fe.submit(1.0, 1, 200, 50, -1, 0)  # long after the first one's work ended
    loop.run()
    assert [t for t, _, _ in inner.got] == pytest.approx([0.01, 1.02])


def test_frontend_needs_a_positive_time() -> None:
    with pytest.raises(ValueError, match="s_per_token"):
        Frontend(EventLoop(), _Inner(), 0.0)  # type: ignore[arg-type]


def _one_user(api_server: bool) -> Any:
    return simulate(
        {
            "model": "llama-3.1-8b",
            "gpu": "h100",
            "engine": "vllm",
            "api_server": api_server,
            "arrivals": {"kind": "concurrency", "users": 1, "requests": 20},
            "lengths": {"input": {"mean": 1024}, "output": {"mean": 64}},
        },
        catalog=CAT,
    )


def test_one_user_waits_for_the_prompts_intake_and_nothing_else() -> None:
    eng = CAT.engine("vllm")
    assert eng.frontend_us_per_token > 0  # vLLM V1's API server (engines.toml, cited)
    s = setup(CAT.model("llama-3.1-8b"), CAT.gpu("h100"), CAT.precision("bf16"), eng)
    prefill_ms = float(prefill_time_s(s, 1024, 8192)) * 1e3
    off, on = _one_user(False), _one_user(True)
    assert off.ttft_ms.p50 == pytest.approx(prefill_ms, rel=1e-9)
    intake_ms = 1024 * eng.frontend_us_per_token / 1e3
    assert on.ttft_ms.p50 == pytest.approx(prefill_ms + intake_ms, rel=1e-9)
    assert on.tpot_ms.p50 == pytest.approx(off.tpot_ms.p50, rel=1e-9)
    assert on.config["api_server_us_per_token"] == eng.frontend_us_per_token
    assert "api_server_us_per_token" not in off.config


def test_a_burst_through_the_api_server_waits_longer() -> None:
    def burst(api_server: bool) -> Any:
        return simulate(
            {
                "model": "llama-3.1-8b",
                "gpu": "h100",
                "api_server": api_server,
                "arrivals": {"kind": "concurrency", "users": 400, "requests": 400},
                "lengths": {"input": {"mean": 128}, "output": {"mean": 4}},
            },
            catalog=CAT,
        )

    off, on = burst(False), burst(True)
    s_req = 132 * CAT.engine("vllm").frontend_us_per_token * 1e-6
    # the last request is taken in after 399 others and its own prompt
    assert on.ttft_ms.max >= (399 * s_req + 128 * s_req / 132) * 1e3
    assert on.ttft_ms.mean > off.ttft_ms.mean
