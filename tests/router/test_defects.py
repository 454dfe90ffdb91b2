"""Regressions: stream errors logged as errors, gateway bugs not blamed on upstreams, Retry-After
capped and cleared by a check, first-byte timeouts, overflow's view of non-streamed latency."""

from __future__ import annotations

import sqlite3
import time

import httpx
import openai
import pytest

from conftest import GATEWAY_KEY, MSG, client, provider


def _rows(g):
    g.log.flush()
    return sqlite3.connect(g.log.path).execute("SELECT status, error FROM requests").fetchall()


@pytest.mark.parametrize("fault", ["bad_chunk_after", "error_event_after"])
def test_bad_chunk_or_error_event_mid_stream_is_an_error(upstream, gateway, fault):
    a, sa = upstream("a")
    setattr(a.faults, fault, 2)
    g, gs = gateway([provider("a", sa.url)])
    got = []
    with pytest.raises(openai.APIError) as e:
        for ch in client(gs.url).chat.completions.create(model="m", messages=MSG, stream=True):
            got.append(ch.choices[0].delta.content)
    assert got == ["t0 ", "t1 "] and "mid-stream" in str(e.value)
    [(status, error)] = _rows(g)
    assert status == 502 and ("not JSON" in error or "error event" in error)
    assert g.metrics.sample("fleetplan_gateway_requests_total", {"status": "200"}) == 0


@pytest.mark.parametrize(
    "bad", ['{"a": }', '{"choices": [{"index": 0, "delta": {"content": "x"}]}']
)
def test_a_chunk_shaped_like_an_object_but_not_json_ends_the_stream(upstream, gateway, bad):
    """Every chunk is parsed in full: braces at both ends are not enough to be relayed."""
    a, sa = upstream("a")
    a.faults.bad_chunk_after, a.faults.bad_chunk = 1, bad
    g, gs = gateway([provider("a", sa.url)])
    got = []
    with pytest.raises(openai.APIError) as e:
        for ch in client(gs.url).chat.completions.create(model="m", messages=MSG, stream=True):
            got.append(ch.choices[0].delta.content)
    assert got == ["t0 "] and "mid-stream" in str(e.value)
    [(status, error)] = _rows(g)
    assert status == 502 and "not JSON" in error


@pytest.mark.parametrize("stream", [False, True])
def test_a_gateway_bug_does_not_open_a_healthy_circuit(upstream, gateway, stream):
    a, sa = upstream("a")
    g, gs = gateway([provider("a", sa.url)], health={"failure_threshold": 1})

    def bug(*args, **kwargs):
        raise KeyError("a bug in the gateway")

    g.note_complete = bug  # runs after a non-streamed response
    g.note_itl = bug  # runs between streamed chunks
    c = client(gs.url)
    with pytest.raises(openai.APIError):
        r = c.chat.completions.create(model="m", messages=MSG, stream=stream)
        if stream:
            list(r)
    health = httpx.get(f"{gs.url}/health").json()
    assert health["providers"]["a"] == "closed"
    assert [s for s, _ in _rows(g)] == [500]
    assert a.requests == 1  # not retried elsewhere either


def test_retry_after_is_capped_and_a_passing_check_clears_it(upstream, gateway):
    a, sa = upstream("a")
    a.faults.status, a.faults.retry_after = 429, "3600"
    _, gs = gateway(
        [provider("a", sa.url)],
        health={"max_retry_after_s": 20, "check_interval_s": 0.05, "failure_threshold": 1000},
    )
    h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    r = httpx.post(f"{gs.url}/v1/chat/completions", json={"model": "m", "messages": MSG}, headers=h)
    assert r.status_code == 429 and r.headers["retry-after"] == "20"  # capped, and said
    assert httpx.get(f"{gs.url}/health").json()["providers"]["a"] == "open"
    a.faults.status = None  # recovered: the next active check clears the hold
    deadline = time.monotonic() + 5
    while httpx.get(f"{gs.url}/health").json()["providers"]["a"] != "closed":
        assert time.monotonic() < deadline, "the check never cleared the Retry-After hold"
        time.sleep(0.02)
    assert client(gs.url).chat.completions.create(model="m", messages=MSG).choices


def test_non_streamed_first_byte_timeout(upstream, gateway):
    bad, sbad = upstream("bad")
    good, sgood = upstream("good")
    bad.faults.hang = True
    t = {"connect_s": 1.0, "first_token_s": 5.0, "first_byte_s": 0.3, "total_s": 60.0}
    _, gs = gateway(
        [
            provider("bad", sbad.url, priority=0, timeouts=t),
            provider("good", sgood.url, priority=1),
        ],
        strategy="quality",
    )
    # a client timeout well under total_s: waiting for the total would fail this request
    r = client(gs.url, timeout=10).chat.completions.create(model="m", messages=MSG)
    assert r.choices and (bad.requests, good.requests) == (1, 1)


def test_overflow_ignores_whole_response_time_of_non_streamed_requests(upstream, gateway):
    """A non-streamed response's time is its whole generation, not its time to first token:
    it must not make an idle fleet look queued and push requests to the paid API."""
    own, so = upstream("own")
    api, sa = upstream("api")
    own.faults.chunk_delay_s = 0.05  # 5 tokens: 0.25 s to generate, first token at once
    g, gs = gateway(
        [
            provider("own", so.url, kind="self_hosted", limits={"max_concurrent": 8}),
            provider("api", sa.url),
        ],
        overflow={"max_ttft_ms": 100},
    )
    import concurrent.futures

    c = client(gs.url)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futs = [pool.submit(c.chat.completions.create, model="m", messages=MSG) for _ in range(9)]
        assert all(f.result().choices for f in futs)
    assert (own.requests, api.requests) == (9, 0)
    assert g.metrics.sample("fleetplan_gateway_overflow_total") == 0


def test_a_body_slower_than_body_timeout_is_408(upstream, gateway):
    import socket

    _, srv = upstream("a")
    g, gs = gateway([provider("a", srv.url)], body_timeout_s=0.3)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {GATEWAY_KEY}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gs.port), timeout=10) as s:
        s.sendall(head.encode() + b'{"model"')  # and the rest never comes
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert b"body_timeout" in answer
    assert [st for st, _ in _rows(g)] == [408]


def test_a_committed_response_is_not_generated_twice(upstream, gateway):
    """Once an upstream answered 200 the request may have been generated in full: a broken body
    is the client's error (502), not a retry that generates it again elsewhere."""
    a, sa = upstream("a")
    b, sb = upstream("b")
    a.faults.bad_body = True
    g, gs = gateway(
        [provider("a", sa.url, priority=0), provider("b", sb.url, priority=1)], strategy="quality"
    )
    with pytest.raises(openai.APIStatusError) as e:
        client(gs.url).chat.completions.create(model="m", messages=MSG)
    assert e.value.status_code == 502 and "not retried" in e.value.message
    assert (a.requests, b.requests) == (1, 0)
    assert [st for st, _ in _rows(g)] == [502]


@pytest.mark.parametrize("stream", [False, True])
def test_a_cookie_one_upstream_sets_is_not_sent_for_later_clients(upstream, gateway, stream):
    a, sa = upstream("a")
    a.faults.set_cookie = "lb=server-7; Path=/"
    # a host name, not an IP: cookie jars keep no cookies for IP addresses by default
    _, gs = gateway([provider("a", sa.url.replace("127.0.0.1", "localhost"))])
    c = client(gs.url)
    for _ in range(3):
        r = c.chat.completions.create(model="m", messages=MSG, stream=stream)
        if stream:
            list(r)
    assert a.requests == 3 and a.cookies_seen == []


def test_a_model_name_nobody_serves_gets_one_metric_label(upstream, gateway):
    """/metrics must not grow a series per name a client invents."""
    _, sa = upstream("a")
    g, gs = gateway([provider("a", sa.url)])
    c = client(gs.url)
    for name in ("nope-1", "nope-2", "nope-3"):
        with pytest.raises(openai.NotFoundError):
            c.chat.completions.create(model=name, messages=MSG)
    c.chat.completions.create(model="m", messages=MSG)
    text = httpx.get(f"{gs.url}/metrics", headers={"Authorization": f"Bearer {GATEWAY_KEY}"}).text
    assert "nope-" not in text
    assert g.metrics.sample("fleetplan_gateway_requests_total", {"model": "(not served)"}) == 3
    assert g.metrics.sample("fleetplan_gateway_requests_total", {"model": "m"}) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_shared_state_lost_at_release_keeps_the_answer(upstream, gateway, stream):
    """The upstream answered; Redis failing at the lease's release must not turn that into a
    503: the lease is no longer renewed and expires with its TTL."""
    from fleetplan.router.state import StateUnavailable

    _, sa = upstream("a")
    g, gs = gateway([provider("a", sa.url)])

    async def lost(*args, **kwargs):
        raise StateUnavailable("connection lost")

    g.limits.release = lost
    r = client(gs.url).chat.completions.create(model="m", messages=MSG, stream=stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in r) if stream else None
    if stream:
        assert text.startswith("t0 ")
    else:
        assert r.choices[0].message.content
    assert [s for s, _ in _rows(g)] == [200]
    assert not any(g.held.values())
