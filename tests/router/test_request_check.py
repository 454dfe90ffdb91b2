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


TOOL_CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
BAD_SHAPES = [
    ("chat", {"messages": [{"content": "hi"}]}, "messages[0].role"),
    ("chat", {"messages": [*MSG, {"role": 3, "content": "hi"}]}, "messages[1].role"),
    ("chat", {"messages": [{"role": "bot", "content": "hi"}]}, "messages[0].role"),
    ("chat", {"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ("chat", {"messages": [{"role": "user", "content": {"text": "hi"}}]}, "messages[0].content"),
    ("chat", {"messages": [{"role": "user", "content": ["hi"]}]}, "messages[0].content[0]"),
    (
        "chat",
        {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
        "messages[0].content[0]",
    ),
    ("chat", {"messages": ["hi"]}, "messages[0]"),
    ("chat", {"messages": [{"role": "user"}]}, "messages[0].content"),
    ("chat", {"messages": [*MSG, {"role": "user", "content": None}]}, "messages[1].content"),
    ("chat", {"messages": [{"role": "system", "content": None}, *MSG]}, "messages[0].content"),
    ("chat", {"messages": [{"role": "developer"}, *MSG]}, "messages[0].content"),
    ("chat", {"messages": [*MSG, {"role": "tool", "tool_call_id": "c1"}]}, "messages[1].content"),
    ("completions", {"prompt": []}, "prompt"),
    ("completions", {"prompt": [{"text": "hi"}]}, "prompt[0]"),
    ("completions", {"prompt": ["a", 1]}, "prompt[1]"),
    ("completions", {"prompt": [1, -2]}, "prompt[1]"),
    ("completions", {"prompt": [[1, 2], []]}, "prompt[1]"),
]
GOOD_SHAPES = [
    ("chat", {"messages": [{"role": "developer", "content": "be brief"}, *MSG]}),
    ("chat", {"messages": [{"role": "user", "content": [{"type": "text", "text": "?"}, IMAGE]}]}),
    (
        "chat",
        {
            "messages": [
                *MSG,
                {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ]
        },
    ),
    ("chat", {"messages": [*MSG, {"role": "assistant", "tool_calls": [TOOL_CALL]}]}),
    ("chat", {"messages": [*MSG, {"role": "assistant", "content": None}, *MSG]}),
    ("completions", {"prompt": ""}),
    ("completions", {"prompt": ["a", "b"]}),
    ("completions", {"prompt": [1, 2, 3]}),
    ("completions", {"prompt": [[1, 2], [3]]}),
]


def test_message_and_prompt_shapes(upstream, gateway):
    """A message without a role, a role or content of the wrong type, a user, system, developer
    or tool message with no content or a null one, `prompt: []` or a list of objects were
    forwarded; OpenAI answers them with a 400 naming the param, as the gateway now does, while
    tool calls (an assistant's content null or left out), content parts and token ids pass."""
    up, srv = upstream("a")
    _, gs = gateway([provider("a", srv.url)])
    h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    with httpx.Client(base_url=gs.url, headers=h, timeout=10) as c:
        for kind, body, param in BAD_SHAPES:
            r = c.post(
                f"/v1/{kind.replace('chat', 'chat/completions')}", json={"model": "m", **body}
            )
            assert r.status_code == 400, (body, r.text[:200])
            err = r.json()["error"]
            assert err["param"] == param and err["type"] == "invalid_request_error", err
            assert err["message"].startswith(param) and "accepted" in err["message"]
        assert up.requests == 0  # nothing bad was forwarded
        for kind, body in GOOD_SHAPES:
            r = c.post(
                f"/v1/{kind.replace('chat', 'chat/completions')}", json={"model": "m", **body}
            )
            assert r.status_code == 200, (body, r.text[:200])
    assert up.requests == len(GOOD_SHAPES)


def test_a_body_declared_other_than_json_is_415(upstream, gateway):
    """`Content-Type: text/plain` was read as JSON and forwarded. A missing header still passes:
    the official clients always send application/json and the body is read as JSON anyway."""
    up, srv = upstream("a")
    _, gs = gateway([provider("a", srv.url)])
    body = json.dumps({"model": "m", "messages": MSG})
    auth = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    with httpx.Client(base_url=gs.url, timeout=10) as c:
        for ctype in ("text/plain", "application/x-www-form-urlencoded"):
            r = c.post(
                "/v1/chat/completions", content=body, headers={**auth, "Content-Type": ctype}
            )
            assert r.status_code == 415, r.text[:200]
            err = r.json()["error"]
            assert (
                err["type"] == "invalid_request_error" and err["code"] == "unsupported_media_type"
            )
            assert repr(ctype) in err["message"] and "application/json" in err["message"]
        assert up.requests == 0
        for headers in (auth, {**auth, "Content-Type": "application/json; charset=utf-8"}):
            assert c.post("/v1/chat/completions", content=body, headers=headers).status_code == 200
    assert up.requests == 2


SAMPLING_BAD = [
    ("temperature", 3, "temperature: 3 is not a number from 0 to 2"),
    ("temperature", -0.5, "temperature: -0.5 is not a number from 0 to 2"),
    ("temperature", True, "temperature: true is not a number from 0 to 2"),
    ("top_p", 1.5, "top_p: 1.5 is not a number from 0 to 1"),
    ("top_p", "0.9", 'top_p: "0.9" is not a number from 0 to 1'),
    ("presence_penalty", -2.5, "presence_penalty: -2.5 is not a number from -2 to 2"),
    ("frequency_penalty", 7, "frequency_penalty: 7 is not a number from -2 to 2"),
]
SAMPLING_GOOD = [
    {"temperature": 0, "top_p": 0},
    {"temperature": 2, "top_p": 1, "presence_penalty": -2, "frequency_penalty": 2},
    {"temperature": 0.7, "top_p": 0.95, "presence_penalty": 2.0, "frequency_penalty": -2.0},
]


def test_sampling_parameters_outside_openais_ranges_are_400(upstream, gateway):
    """`temperature: 3`, `top_p: 1.5` or a penalty of 7 were forwarded, being finite; OpenAI
    answers them with a 400 naming the param, as the gateway now does, ends of ranges passing."""
    up, srv = upstream("a")
    _, gs = gateway([provider("a", srv.url)])
    h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    with httpx.Client(base_url=gs.url, headers=h, timeout=10) as c:
        for name, value, said in SAMPLING_BAD:
            body = {"model": "m", "messages": MSG, name: value}
            r = c.post("/v1/chat/completions", json=body)
            assert r.status_code == 400, (name, value, r.text[:200])
            err = r.json()["error"]
            assert err["param"] == name and err["type"] == "invalid_request_error"
            assert err["message"] == said
        assert up.requests == 0
        for extra in SAMPLING_GOOD:
            r = c.post("/v1/chat/completions", json={"model": "m", "messages": MSG, **extra})
            assert r.status_code == 200, (extra, r.text[:200])
    assert up.requests == len(SAMPLING_GOOD)


def test_an_integer_too_long_to_read_is_400_naming_its_field(upstream, gateway):
    """An integer of more than 4,300 digits (Python's limit on reading one) was "body is not
    JSON". It is now named as what it is, with its field; 25 digits, past 64 bits, is read
    exactly and passes (or is judged by its field's own range), as does a string of digits."""
    up, srv = upstream("a")
    _, gs = gateway([provider("a", srv.url)])
    h = {"Authorization": f"Bearer {GATEWAY_KEY}", "Content-Type": "application/json"}
    msgs = json.dumps(MSG)
    d25, d5000 = "9" * 25, "1" * 5000
    bad = [
        (f'"seed": {d5000}', "seed", "seed: an integer of 5,000 digits"),
        (f'"metadata": {{"a": [1, -{d5000}]}}', "metadata", "metadata: an integer of 5,000"),
        (f'"max_tokens": {d25}', "max_tokens", f"max_tokens: {d25} is not an integer from 1"),
    ]
    with httpx.Client(base_url=gs.url, headers=h, timeout=10) as c:
        for field, param, said in bad:
            body = f'{{"model": "m", "messages": {msgs}, {field}}}'
            r = c.post("/v1/chat/completions", content=body)
            assert r.status_code == 400, (field[:40], r.text[:200])
            err = r.json()["error"]
            assert err["param"] == param and err["message"].startswith(said), err
            if "5,000" in said:
                assert "accepted: integers of up to 4,300 digits" in err["message"]
        r = c.post("/v1/chat/completions", content=f'{{"model": "m", "messages": {msgs},')
        assert r.status_code == 400 and r.json()["error"]["message"] == "body is not JSON"
        assert up.requests == 0
        text = [{"role": "user", "content": d5000}]
        for body in (
            f'{{"model": "m", "messages": {msgs}, "seed": {d25}}}',
            f'{{"model": "m", "messages": {json.dumps(text)}}}',
        ):
            r = c.post("/v1/chat/completions", content=body)
            assert r.status_code == 200, r.text[:200]
    assert up.requests == 2
