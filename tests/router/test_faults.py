"""Failover: faults injected in real loopback upstreams, the gateway driven by the openai client."""

from __future__ import annotations

import sqlite3
import time

import httpx
import openai
import pytest

from conftest import MSG, client, provider

FAULTS = {
    "http_503": {"status": 503},
    "http_500": {"status": 500},
    "http_429": {"status": 429, "retry_after": "30"},
    "hang": {"hang": True},
    "credentials": {"require_key": "some-other-key"},
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_one_failing_upstream_every_request_succeeds(upstream, gateway, fault, stream):
    bad, sbad = upstream("bad")
    good, sgood = upstream("good")
    for k, v in FAULTS[fault].items():
        setattr(bad.faults, k, v)
    hang = {"connect_s": 1.0, "first_token_s": 0.3, "idle_s": 0.3, "total_s": 0.3}
    over = {"timeouts": hang} if fault == "hang" else {}
    # quality-first with `bad` preferred, so `bad` is tried first until its circuit opens
    g, gs = gateway(
        [provider("bad", sbad.url, priority=0, **over), provider("good", sgood.url, priority=1)],
        strategy="quality",
    )
    c = client(gs.url)
    for _ in range(6):
        if stream:
            chunks = list(c.chat.completions.create(model="m", messages=MSG, stream=True))
            assert "".join(x.choices[0].delta.content or "" for x in chunks) == "t0 t1 t2 t3 t4 "
        else:
            r = c.chat.completions.create(model="m", messages=MSG)
            assert r.choices[0].message.content == "t0 t1 t2 t3 t4"
    assert good.requests == 6
    # the breaker stops sending to `bad`: 3 failures open it (1 for 429: Retry-After holds it)
    assert bad.requests == (1 if fault == "http_429" else 3)
    assert g.metrics.sample("fleetplan_gateway_retries_total") == bad.requests
    assert httpx.get(f"{gs.url}/health").json()["providers"]["bad"] == "open"


def test_connect_refused_fails_over(upstream, gateway):
    good, sgood = upstream("good")
    _, sdead = upstream("dead")
    sdead.stop()  # nothing listens on that port any more
    _, gs = gateway(
        [provider("dead", sdead.url, priority=0), provider("good", sgood.url, priority=1)],
        strategy="quality",
    )
    for _ in range(3):
        assert client(gs.url).chat.completions.create(model="m", messages=MSG).choices
    assert good.requests == 3


@pytest.mark.parametrize("stream", [False, True])
def test_all_failing_gives_clear_error(upstream, gateway, stream):
    a, sa = upstream("a")
    b, sb = upstream("b")
    a.faults.status = 503
    b.faults.status = 500
    g, gs = gateway([provider("a", sa.url), provider("b", sb.url)])
    c = client(gs.url)
    with pytest.raises(openai.APIStatusError) as e:
        c.chat.completions.create(model="m", messages=MSG, stream=stream)
    assert e.value.status_code == 502
    msg = e.value.message
    assert "no provider could serve model 'm'" in msg
    assert "a: HTTP 503" in msg and "b: HTTP 500" in msg
    # both circuits open after 3 rounds: then 503 and says so, without touching the upstreams
    for _ in range(2):
        with pytest.raises(openai.APIStatusError):
            c.chat.completions.create(model="m", messages=MSG, stream=stream)
    with pytest.raises(openai.APIStatusError) as e3:
        c.chat.completions.create(model="m", messages=MSG, stream=stream)
    assert e3.value.status_code == 503 and "circuit open" in e3.value.message
    assert (a.requests, b.requests) == (3, 3)
    g.log.flush()
    rows = sqlite3.connect(g.log.path).execute("SELECT status, provider FROM requests").fetchall()
    assert rows == [(502, ""), (502, ""), (502, ""), (503, "")]


def test_all_rate_limited_is_429(upstream, gateway):
    a, sa = upstream("a")
    a.faults.status, a.faults.retry_after = 429, "5"
    _, gs = gateway([provider("a", sa.url)])
    with pytest.raises(openai.RateLimitError) as e:
        client(gs.url).chat.completions.create(model="m", messages=MSG)
    assert "HTTP 429" in e.value.message


def test_stream_cut_after_first_token_is_an_error_not_a_retry(upstream, gateway):
    a, sa = upstream("a")
    b, sb = upstream("b")
    a.faults.cut_after_chunks = 1
    g, gs = gateway(
        [provider("a", sa.url, priority=0), provider("b", sb.url, priority=1)], strategy="quality"
    )
    got: list[str] = []
    with pytest.raises(openai.APIError) as e:
        for ch in client(gs.url).chat.completions.create(model="m", messages=MSG, stream=True):
            got.append(ch.choices[0].delta.content or "")
    assert got == ["t0 "]  # the first token arrived, then the error — not a silent end
    assert "failed mid-stream after 1 chunks" in str(e.value)
    assert b.requests == 0  # no duplicate generation elsewhere
    g.log.flush()
    rows = sqlite3.connect(g.log.path).execute("SELECT status, provider FROM requests").fetchall()
    assert rows == [(502, "a")]
    assert g.metrics.sample("fleetplan_gateway_requests_total", {"status": "502"}) == 1


def test_stream_stalls_mid_way_is_an_error(upstream, gateway):
    a, sa = upstream("a")
    a.faults.chunk_delay_s = 0.6
    t = {"connect_s": 1.0, "first_token_s": 1.0, "idle_s": 0.2, "total_s": 5.0}
    _, gs = gateway([provider("a", sa.url, timeouts=t)])
    with pytest.raises(openai.APIError) as e:
        list(client(gs.url).chat.completions.create(model="m", messages=MSG, stream=True))
    assert "TimeoutError" in str(e.value)


def test_half_open_probe_closes_the_circuit(upstream, gateway):
    a, sa = upstream("a")
    b, sb = upstream("b")
    a.faults.status = 503
    _, gs = gateway(
        [provider("a", sa.url, priority=0), provider("b", sb.url, priority=1)],
        strategy="quality",
        health={"failure_threshold": 1, "cooldown_s": 0.3},
    )
    c = client(gs.url)
    c.chat.completions.create(model="m", messages=MSG)
    assert (a.requests, b.requests) == (1, 1)
    c.chat.completions.create(model="m", messages=MSG)  # open: `a` skipped
    assert (a.requests, b.requests) == (1, 2)
    a.faults.status = None
    time.sleep(0.35)
    c.chat.completions.create(model="m", messages=MSG)  # half-open probe to `a` succeeds
    assert (a.requests, b.requests) == (2, 2)
    assert httpx.get(f"{gs.url}/health").json()["providers"]["a"] == "closed"


def test_active_health_checks_open_and_close(upstream, gateway):
    a, sa = upstream("a")
    a.faults.status = 503
    _, gs = gateway(
        [provider("a", sa.url)],
        health={"failure_threshold": 1, "cooldown_s": 0.1, "check_interval_s": 0.05},
    )
    deadline = time.monotonic() + 3
    while httpx.get(f"{gs.url}/health").json()["providers"]["a"] == "closed":
        assert time.monotonic() < deadline, "active check never opened the circuit"
        time.sleep(0.02)
    assert a.requests == 0  # found by the check, not by a user request
    a.faults.status = None
    deadline = time.monotonic() + 3
    while httpx.get(f"{gs.url}/health").json()["providers"]["a"] != "closed":
        assert time.monotonic() < deadline, "active check never closed the circuit"
        time.sleep(0.02)


def test_client_going_away_mid_stream_frees_the_slot(upstream, gateway):
    a, sa = upstream("a")
    a.faults.chunk_delay_s = 0.2
    a.faults.output_tokens = 20
    g, gs = gateway([provider("a", sa.url, limits={"max_concurrent": 1})])
    h = {"Authorization": "Bearer gw-test-key-0123456789"}
    body = {"model": "m", "messages": MSG, "stream": True}
    with (
        httpx.Client() as c,
        c.stream("POST", f"{gs.url}/v1/chat/completions", json=body, headers=h) as r,
    ):
        next(r.iter_bytes())
    deadline = time.monotonic() + 5
    while g.metrics.sample("fleetplan_gateway_requests_total") < 1:
        assert time.monotonic() < deadline, "the abandoned stream was never finished"
        time.sleep(0.05)
    g.log.flush()
    rows = sqlite3.connect(g.log.path).execute("SELECT status FROM requests").fetchall()
    assert rows == [(499,)]
    # the single concurrency slot is free again
    a.faults.chunk_delay_s = 0.0
    assert client(gs.url).chat.completions.create(model="m", messages=MSG).choices
