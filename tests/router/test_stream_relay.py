"""The stream relay: each chunk goes out as soon as it arrives, one timer bounds a stream, and the
upstream connection is kept for the next request when `[DONE]` comes before its body ends."""

from __future__ import annotations

import sqlite3
import threading

import openai
import pytest

from conftest import MSG, client, provider, until


def test_first_chunk_reaches_the_client_before_the_upstream_sends_its_second(upstream, gateway):
    a, sa = upstream("a")
    a.faults.chunk_gate = threading.Event()  # the upstream holds after its first chunk
    t = {"connect_s": 5.0, "first_token_s": 5.0, "idle_s": 5.0, "total_s": 60.0}
    _, gs = gateway([provider("a", sa.url, timeouts=t)])
    stream = iter(client(gs.url).chat.completions.create(model="m", messages=MSG, stream=True))
    first = next(stream)
    # the upstream is still holding its second chunk: the first was relayed on its own, not
    # buffered until more arrived (a gateway that waited would end the stream with its idle
    # timeout, an error, below)
    assert first.choices[0].delta.content == "t0 " and a.chunks_sent == 1
    a.faults.chunk_gate.set()
    rest = [c.choices[0].delta.content for c in stream]
    assert rest == ["t1 ", "t2 ", "t3 ", "t4 ", None]


def test_connection_is_reused_when_done_comes_before_the_body_ends(upstream, gateway):
    a, sa = upstream("a")
    a.faults.end_gate = threading.Event()  # the upstream's body stays open after [DONE]
    g, gs = gateway([provider("a", sa.url)])
    c = client(gs.url)
    got = [
        ch.choices[0].delta.content
        for ch in c.chat.completions.create(model="m", messages=MSG, stream=True)
    ]
    assert got[0] == "t0 "  # the client has its whole stream while the upstream's is open
    assert g.upstream_streams == 1  # the gateway reads the upstream's end in the background
    a.faults.end_gate.set()
    until(lambda: g.upstream_streams == 0, "the upstream's body was never read to its end")
    list(c.chat.completions.create(model="m", messages=MSG, stream=True))
    assert a.requests == 2 and len(a.connections) == 1  # one connection served both


def test_an_upstream_that_never_ends_its_body_is_closed_after_done(upstream, gateway):
    a, sa = upstream("a")
    a.faults.end_gate = threading.Event()  # never set before the end of the test
    g, gs = gateway([provider("a", sa.url)])
    list(client(gs.url).chat.completions.create(model="m", messages=MSG, stream=True))
    until(lambda: g.upstream_streams == 0, "the gateway never gave up on the upstream")
    g.log.flush()
    rows = sqlite3.connect(g.log.path).execute("SELECT status FROM requests").fetchall()
    assert rows == [(200,)]
    a.faults.end_gate.set()


def test_a_stream_past_its_total_timeout_is_an_error(upstream, gateway):
    a, sa = upstream("a")
    a.faults.chunk_delay_s, a.faults.output_tokens = 0.3, 50  # each gap well under idle_s
    t = {"connect_s": 1.0, "first_token_s": 1.0, "idle_s": 5.0, "total_s": 1.0}
    g, gs = gateway([provider("a", sa.url, timeouts=t)])
    got = []
    with pytest.raises(openai.APIError) as e:
        for ch in client(gs.url).chat.completions.create(model="m", messages=MSG, stream=True):
            got.append(ch.choices[0].delta.content)
    assert got and got[0] == "t0 " and len(got) < 50
    assert "TimeoutError" in str(e.value)
    g.log.flush()
    rows = sqlite3.connect(g.log.path).execute("SELECT status FROM requests").fetchall()
    assert rows == [(502,)]
