"""The engine's API server ahead of a replica (`sim/frontend.py`): one serial server that takes
requests in one after another before the engine sees them, and streams every output token
after the engine made it; the client's times are the server's."""

import dataclasses
from typing import Any

import pytest

from fleetplan.catalog import load_catalog
from fleetplan.perf.roofline import setup
from fleetplan.perf.schedule import prefill_time_s
from fleetplan.sim import simulate
from fleetplan.sim.engine import PRIORITY_ARRIVAL, EventLoop
from fleetplan.sim.frontend import Frontend
from fleetplan.sim.metrics import Recorder

CAT = load_catalog()


class _Inner:
    """Records what reaches the replica: (time, rid, arrival)."""

    def __init__(self) -> None:
        self.got: list[tuple[float, int, float]] = []
        self.outstanding = 0
        self.queue_len = 0
        self.watch = None
        self.delivery = None

    def submit(self, now: float, rid: int, *rest: Any) -> None:
        self.got.append((now, rid, rest[-1]))
        self.outstanding += 1


def _frontend(
    s_req: float, s_tok: float, hop: float = 0.0, queued: bool = False
) -> tuple[EventLoop, _Inner, Recorder, Frontend]:
    loop, inner, rec = EventLoop(), _Inner(), Recorder()
    fe = Frontend(loop, inner, rec, s_req, s_tok, hop, queued)  # type: ignore[arg-type]
    assert inner.delivery is fe  # the replica reports its tokens to its server
    return loop, inner, rec, fe


@pytest.mark.parametrize(("queued", "entered"), [(False, [2, 4, 6]), (True, [6, 6, 6])])
def test_a_burst_is_taken_in_one_request_after_another(queued: bool, entered: list[int]) -> None:
    """Three requests at once, taken in 2 ms apart: each reaches the engine as its intake is
    done, or, where the server hands a request over after the work queued when its intake is
    done (vLLM's event loop: the intake of the others), all three at 6 ms."""
    loop, inner, _rec, fe = _frontend(2e-3, 0.0, queued=queued)
    for rid in range(3):  # all at 0
        fe.submit(0.0, rid, 100, 50, -1, 0)
    assert fe.outstanding == 3 and fe.queue_len == 3 and fe.held == 3
    loop.run()
    assert [t for t, _, _ in inner.got] == pytest.approx([ms * 1e-3 for ms in entered])
    assert [rid for _, rid, _ in inner.got] == [0, 1, 2]
    # TTFT counts from the arrival at the server
    assert [arrival for _, _, arrival in inner.got] == [0.0, 0.0, 0.0]
    assert fe.outstanding == 3 and fe.held == 0


def test_streaming_keeps_up_or_falls_behind() -> None:
    _loop, _inner, _rec, fe = _frontend(0.0, 1e-4)
    # 100 tokens over 10 ms: 10 ms of streaming, the last sent 0.1 ms after it is made
    assert fe.send(0.0, 0.01, 100) == pytest.approx(0.0101)
    # 500 over the next 10 ms: 50 ms of streaming, the client has the last ~40 ms late
    assert fe.send(0.01, 0.02, 500) == pytest.approx(0.0601)
    # a token made meanwhile waits for those before it
    assert fe.send(0.03, 0.03, 1) == pytest.approx(0.0602)


def test_a_request_waits_for_the_streaming_before_it() -> None:
    """One server, one clock: a request that arrives while the server streams is taken in
    after the tokens handed to it before."""
    loop, inner, _rec, fe = _frontend(1e-3, 1e-4)
    fe.send(0.0, 0.0, 100)  # 10 ms of streaming from 0
    fe.submit(0.004, 7, 100, 50, -1, 0)
    # long after: an idle server takes 1 ms
    loop.schedule(1.0, PRIORITY_ARRIVAL, lambda t, _: fe.submit(t, 8, 100, 50, -1, 0))
    loop.run()
    assert [t for t, _, _ in inner.got] == pytest.approx([0.011, 1.001])
    assert inner.got[0][2] == 0.004


def test_the_client_has_a_request_when_its_last_token_is_sent() -> None:
    loop, _inner, rec, fe = _frontend(0.0, 1e-4)
    fe.finished(0.5, 1, 0.0, 0.1, 0.2, 100, 10, 0.5)  # sent as it ends
    fe.finished(0.5, 2, 0.0, 0.1, 0.3, 100, 10, 0.9)  # sent 0.4 s later
    assert rec.completed == 1 and fe.sending == 1
    with pytest.raises(RuntimeError, match="1 streaming"):
        fe.check_drained()
    loop.run()
    assert rec.completed == 2 and fe.sending == 0
    rec.flush()
    assert rec.last_finish_s == pytest.approx(0.9)
    assert rec.ttft.max == pytest.approx(0.3)  # TTFT to the first token sent


def test_frontend_times_are_not_negative() -> None:
    with pytest.raises(ValueError, match=r"s_per_request = -1\.0, s_per_token = 1\.0, latency_s"):
        Frontend(EventLoop(), _Inner(), Recorder(), -1.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"latency_s = -0\.5: expected >= 0"):
        Frontend(EventLoop(), _Inner(), Recorder(), 0.0, 0.0, -0.5)  # type: ignore[arg-type]


def test_the_hop_to_the_engine_delays_a_request_without_holding_the_server() -> None:
    loop, inner, _rec, fe = _frontend(1e-3, 0.0, 0.02)
    fe.submit(0.0, 0, 100, 50, -1, 0)
    loop.schedule(0.005, PRIORITY_ARRIVAL, lambda t, _: fe.submit(t, 1, 100, 50, -1, 0))
    loop.run()
    # taken in 1 ms each, each 20 ms on its way
    assert [t for t, _, _ in inner.got] == pytest.approx([0.021, 0.026])


def test_a_request_handed_off_waits_for_what_came_in_during_its_intake() -> None:
    """vLLM's API server resumes a request after its tokenizer call behind the callbacks
    queued meanwhile: a request that arrives while another is taken in delays that one's
    hand-off by its own intake; one that arrives after the hand-off does not."""
    loop, inner, _rec, fe = _frontend(4e-3, 0.0, queued=True)
    fe.submit(0.0, 0, 100, 50, -1, 0)
    loop.schedule(0.001, PRIORITY_ARRIVAL, lambda t, _: fe.submit(t, 1, 100, 50, -1, 0))
    loop.schedule(0.010, PRIORITY_ARRIVAL, lambda t, _: fe.submit(t, 2, 100, 50, -1, 0))
    loop.run()
    # 0 is in at 4 ms, 1 (came at 1 ms) at 8 ms: 0 waits for it; 2 (came at 10 ms) at 14 ms
    assert [(rid, t) for t, rid, _ in inner.got] == [(0, 0.008), (1, 0.008), (2, 0.014)]


def _catalog(ms_per_request: float, us_per_token: float) -> Any:
    eng = dataclasses.replace(
        CAT.engine("vllm"),
        api_server_ms_per_request=ms_per_request,
        api_server_us_per_output_token=us_per_token,
        api_server_latency_ms=0.0,
        chat_template_latency_ms=0.0,
        chat_template_ms_per_request=0.0,
    )
    return dataclasses.replace(CAT, engines={**CAT.engines, "vllm": eng})


def _run(
    api_server: bool,
    users: int,
    tokens_in: int,
    out: int,
    cat: Any = CAT,
    model: str = "llama-3.1-8b",
) -> Any:
    return simulate(
        {
            "model": model,
            "gpu": "h100",
            "engine": "vllm",
            "api_server": api_server,
            "arrivals": {"kind": "concurrency", "users": users, "requests": max(20, users)},
            "lengths": {"input": {"mean": tokens_in}, "output": {"mean": out}},
        },
        catalog=cat,
    )


def test_one_user_waits_for_the_intake_only() -> None:
    """One user: the server takes each request in, the request makes its way to the engine and
    the server sends its first token (all add to TTFT); the server keeps up with one stream,
    so TPOT is the engine's."""
    eng = CAT.engine("vllm")
    assert eng.api_server_ms_per_request > 0 and eng.api_server_us_per_output_token > 0
    s = setup(CAT.model("llama-3.1-8b"), CAT.gpu("h100"), CAT.precision("bf16"), eng)
    prefill_ms = float(prefill_time_s(s, 1024, 8192)) * 1e3
    off, on = _run(False, 1, 1024, 64), _run(True, 1, 1024, 64)
    assert off.ttft_ms.p50 == pytest.approx(prefill_ms, rel=1e-9)
    # taken in, on its way to the engine, then the first token sent
    server_ms = (
        eng.server_ms_per_request(CAT.model("llama-3.1-8b"))
        + eng.server_latency_ms(CAT.model("llama-3.1-8b"))
        + eng.api_server_us_per_output_token * 1e-3
    )
    assert on.ttft_ms.p50 == pytest.approx(off.ttft_ms.p50 + server_ms)
    assert on.tpot_ms.p50 == pytest.approx(off.tpot_ms.p50, rel=1e-9)
    assert on.config["api_server_ms_per_request"] == eng.server_ms_per_request(
        CAT.model("llama-3.1-8b")
    )
    assert on.config["api_server_us_per_output_token"] == eng.api_server_us_per_output_token
    assert "api_server_us_per_output_token" not in off.config


@pytest.mark.parametrize(("model", "native"), [("llama-3.1-8b", False), ("gpt-oss-20b", True)])
def test_a_chat_template_adds_its_latency_where_the_server_renders_no_prompt_natively(
    model: str, native: bool
) -> None:
    """vLLM renders gpt-oss chat prompts through openai_harmony and every other model's from its
    Hugging Face chat template: one user's TTFT through the server grows by the profile's
    chat-template latency for the second kind only, and nothing else moves (it holds no
    server)."""
    eng = CAT.engine("vllm")
    assert ("gpt_oss" in eng.native_chat_families) and eng.chat_template_latency_ms > 0
    base = _catalog(eng.api_server_ms_per_request, eng.api_server_us_per_output_token)
    extra = 25.0
    slow = dataclasses.replace(
        base, engines={**base.engines, "vllm": dataclasses.replace(
            base.engines["vllm"], chat_template_latency_ms=extra)}
    )  # fmt: skip
    a, b = _run(True, 1, 512, 32, base, model), _run(True, 1, 512, 32, slow, model)
    assert b.ttft_ms.p50 == pytest.approx(a.ttft_ms.p50 + (0.0 if native else extra))
    assert b.tpot_ms.p50 == pytest.approx(a.tpot_ms.p50)
    assert b.config["api_server_latency_ms"] == (0.0 if native else extra)


def test_a_server_without_work_changes_nothing() -> None:
    """The API-server stage with no work: every request and token passes through it and the
    run is the engine's alone."""
    off = _run(False, 300, 200, 150)
    on = _run(True, 300, 200, 150, _catalog(0.0, 0.0))
    assert on.config["api_server_ms_per_request"] == 0.0
    keep = ("ttft_ms", "tpot_ms", "e2e_ms", "queue_ms", "output_tok_per_s", "duration_s")
    assert {k: on.to_dict()[k] for k in keep} == {k: off.to_dict()[k] for k in keep}


def test_a_burst_through_a_slow_server_finishes_later() -> None:
    """400 requests at once: the last is taken in after the 399 before it, and the server's
    streaming, not the engine, sets the pace at which the client gets tokens."""
    ms, us = 10.0, 200.0
    off = _run(False, 400, 128, 200)
    on = _run(True, 400, 128, 200, _catalog(ms, 0.0))
    assert on.ttft_ms.max >= 400 * ms
    assert off.ttft_ms.max < 400 * ms
    assert on.ttft_ms.mean > off.ttft_ms.mean
    streamed = _run(True, 400, 128, 200, _catalog(0.0, us))
    # 400 x 200 tokens at 200 us each: 16 s of streaming at least
    span_s = 400 * 200 / streamed.output_tok_per_s
    assert span_s >= 400 * 200 * us * 1e-6
    assert off.output_tok_per_s > 400 * 200 / (400 * 200 * us * 1e-6)  # the engine is faster
    assert streamed.tpot_ms.mean > 2 * off.tpot_ms.mean


def test_vllms_server_hands_a_burst_to_the_engine_once_the_last_request_is_in() -> None:
    """vLLM's API server (`api_server_queued_hand_off`) resumes a request after its tokenizer
    call behind the intake queued meanwhile: 400 requests at once, 10 ms each, reach the
    engine together after 4 s, and the engine's prefill queue comes on top (the mean TTFT is
    the intake plus the engine's own). A server that hands each over as it is in lets the
    engine prefill during the intake: the first tokens wait for the intake only."""
    ms = 10.0
    cat = _catalog(ms, 0.0)
    assert cat.engines["vllm"].api_server_queued_hand_off
    one_by_one = dataclasses.replace(
        cat, engines={**cat.engines, "vllm": dataclasses.replace(
            cat.engines["vllm"], api_server_queued_hand_off=False)}
    )  # fmt: skip
    off = _run(False, 400, 128, 4)
    queued, each = _run(True, 400, 128, 4, cat), _run(True, 400, 128, 4, one_by_one)
    assert off.ttft_ms.mean > 500  # the engine alone: a prefill queue worth seeing
    assert queued.ttft_ms.mean == pytest.approx(400 * ms + off.ttft_ms.mean, rel=0.02)
    assert each.ttft_ms.mean == pytest.approx(400 * ms, rel=0.02)
    assert queued.duration_s == pytest.approx(400 * ms * 1e-3 + off.duration_s, rel=0.02)


@pytest.mark.parametrize(("model", "native"), [("llama-3.1-8b", False), ("gpt-oss-20b", True)])
def test_a_chat_template_holds_vllms_server_where_it_renders_no_prompt_natively(
    model: str, native: bool
) -> None:
    """vLLM renders a Hugging Face chat template in the request's coroutine, on the server's one
    event loop (gpt-oss's prompts through openai_harmony instead): 400 requests at once reach
    the engine `chat_template_ms_per_request` x 400 later for the first kind only."""
    base = _catalog(2.0, 0.0)
    slow = dataclasses.replace(
        base, engines={**base.engines, "vllm": dataclasses.replace(
            base.engines["vllm"], chat_template_ms_per_request=5.0)}
    )  # fmt: skip
    a, b = _run(True, 400, 128, 4, base, model), _run(True, 400, 128, 4, slow, model)
    extra_ms = 0.0 if native else 400 * 5.0
    assert b.ttft_ms.mean == pytest.approx(a.ttft_ms.mean + extra_ms, rel=1e-3)
    assert b.config["api_server_ms_per_request"] == (2.0 if native else 7.0)
