"""Bad request fields: a 400 naming the field, the connection kept, a log row and a metric each."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest

from conftest import GATEWAY_KEY, MSG, provider

DEEP = 100_000
BAD = [
    ('"max_tokens": "abc"', "max_tokens"),
    ('"max_tokens": [1]', "max_tokens"),
    ('"max_tokens": 1e400', "max_tokens"),
    ('"max_tokens": -1', "max_tokens"),
    ('"max_tokens": 1000000000000000', "max_tokens"),
    ('"max_tokens": true', "max_tokens"),
    ('"max_completion_tokens": {}', "max_completion_tokens"),
    ('"temperature": NaN', "temperature"),
    ('"top_p": -Infinity', "top_p"),
    ('"stream": "false"', "stream"),
    ('"n": 0', "n"),
    ('"stream_options": 3', "stream_options"),
    ('"x": ' + "[" * DEEP + "]" * DEEP, "x"),
    ('"messages": "hi"', "messages"),
]


def test_bad_fields_are_400_naming_the_field(upstream, gateway):
    up, srv = upstream("a")
    g, gs = gateway([provider("a", srv.url)])
    h = {"Authorization": f"Bearer {GATEWAY_KEY}", "Content-Type": "application/json"}
    msgs = json.dumps(MSG)
    with httpx.Client(base_url=gs.url, headers=h, timeout=10) as c:
        for field, param in BAD:
            body = f'{{"model": "m", "messages": {msgs}, {field}}}'
            r = c.post("/v1/chat/completions", content=body)
            assert r.status_code == 400, (field[:40], r.text[:200])
            err = r.json()["error"]
            assert err["param"] == param and err["type"] == "invalid_request_error"
            assert param in err["message"]
            assert r.headers.get("connection") != "close"  # keep-alive intact
        # the same connection still serves a good request
        ok = c.post("/v1/chat/completions", content=f'{{"model": "m", "messages": {msgs}}}')
        assert ok.status_code == 200
        assert c._transport._pool.connections.__len__() == 1  # one connection throughout
    assert up.requests == 1  # nothing bad was forwarded
    assert g.metrics.sample("fleetplan_gateway_requests_total", {"status": "400"}) == len(BAD)
    g.log.flush()
    rows = sqlite3.connect(g.log.path).execute("SELECT status, error FROM requests").fetchall()
    assert [s for s, _ in rows].count(400) == len(BAD)
    assert all(e for s, e in rows if s == 400)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "prompt": 3}, "prompt"),
        ({"model": "", "prompt": "hi"}, "model"),
    ],
)
def test_completions_fields(upstream, gateway, body, param):
    _, srv = upstream("a")
    _, gs = gateway([provider("a", srv.url)])
    h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    r = httpx.post(f"{gs.url}/v1/completions", json=body, headers=h)
    assert r.status_code == 400 and r.json()["error"]["param"] == param
