"""An Anthropic Messages API upstream behind the OpenAI format, and the `cascade` strategy."""

from __future__ import annotations

import sqlite3

import httpx
import openai
import pytest

from conftest import GATEWAY_KEY, MSG, UPSTREAM_KEY, client, provider

TOOLS = [
    {
        "type": "function",
        "function": {"name": "lookup", "description": "find", "parameters": {"type": "object"}},
    }
]


def _anthropic(name: str, url: str, **over):
    return provider(name, url, api="anthropic", **over)


def test_messages_api_not_streamed(upstream, gateway):
    up, srv = upstream("claude")
    g, gs = gateway([_anthropic("claude", srv.url)])
    c = client(gs.url)
    sysmsg = [{"role": "system", "content": "be brief"}, *MSG]
    r = c.chat.completions.create(model="m", messages=sysmsg, max_tokens=100, stop="zz")
    assert r.choices[0].message.content == "t0 t1 t2 t3 t4"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == 5 and r.usage.prompt_tokens > 0
    sent = up.bodies[-1]
    assert sent["system"] == "be brief" and sent["messages"] == MSG
    assert sent["max_tokens"] == 100 and sent["stop_sequences"] == ["zz"]
    assert up.auth_seen == {UPSTREAM_KEY}  # x-api-key, not a bearer header
    short = c.chat.completions.create(model="m", messages=MSG, max_tokens=5)
    assert short.choices[0].finish_reason == "length"
    tool = c.chat.completions.create(model="m", messages=MSG, tools=TOOLS)
    assert tool.choices[0].finish_reason == "tool_calls"
    assert tool.choices[0].message.tool_calls[0].function.name == "lookup"
    assert up.bodies[-1]["tools"][0]["input_schema"] == {"type": "object"}
    g.log.flush()
    rows = sqlite3.connect(g.log.path).execute("SELECT status, output_tokens FROM requests")
    assert rows.fetchall() == [(200, 5)] * 3


def test_messages_api_streamed(upstream, gateway):
    _, srv = upstream("claude")
    _, gs = gateway([_anthropic("claude", srv.url)])
    c = client(gs.url)
    chunks = list(
        c.chat.completions.create(
            model="m", messages=MSG, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "t0 t1 t2 t3 t4 "
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == 5
    plain = list(c.chat.completions.create(model="m", messages=MSG, stream=True))
    assert all(ch.choices for ch in plain)  # usage not asked for: stripped
    tools = list(c.chat.completions.create(model="m", messages=MSG, stream=True, tools=TOOLS))
    calls = [tc for ch in tools for tc in (ch.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "lookup"
    assert "".join(tc.function.arguments or "" for tc in calls) == '{"q": 1}'
    assert tools[-1].choices[0].finish_reason == "tool_calls"


def test_failover_across_formats_and_error_event(upstream, gateway):
    a, sa = upstream("claude")
    b, sb = upstream("gpt")
    a.faults.status = 529  # Anthropic's "overloaded"
    _, gs = gateway(
        [_anthropic("claude", sa.url, priority=0), provider("gpt", sb.url, priority=1)],
        strategy="quality",
    )
    r = client(gs.url).chat.completions.create(model="m", messages=MSG)
    assert r.choices[0].message.content == "t0 t1 t2 t3 t4" and b.requests == 1
    a.faults.status = None
    a.faults.error_event_after = 2
    g2, gs2 = gateway([_anthropic("claude", sa.url)], log="log2.sqlite")
    with pytest.raises(openai.APIError):
        list(client(gs2.url).chat.completions.create(model="m", messages=MSG, stream=True))
    g2.log.flush()
    rows = sqlite3.connect(g2.log.path).execute("SELECT status FROM requests").fetchall()
    assert rows == [(502,)]


def test_cascade_by_rule(upstream, gateway):
    small, ss = upstream("small")
    big, sb = upstream("big")
    _, gs = gateway(
        [
            provider("small", ss.url, kind="self_hosted"),
            provider("big", sb.url),
        ],
        strategy="cascade",
        cascade={"small": ["small"], "max_prompt_tokens": 100},
    )
    c = client(gs.url)
    c.chat.completions.create(model="m", messages=MSG)  # simple: small
    assert (small.requests, big.requests) == (1, 0)
    c.chat.completions.create(model="m", messages=MSG, tools=TOOLS)  # tools: frontier
    assert (small.requests, big.requests) == (1, 1)
    long = [{"role": "user", "content": "word " * 200}]
    c.chat.completions.create(model="m", messages=long)  # long prompt: frontier
    assert (small.requests, big.requests) == (1, 2)
    h = {"Authorization": f"Bearer {GATEWAY_KEY}", "x-fleetplan-tier": "frontier"}
    r = httpx.post(f"{gs.url}/v1/chat/completions", json={"model": "m", "messages": MSG}, headers=h)
    assert r.status_code == 200 and (small.requests, big.requests) == (1, 3)
    small.faults.status = 503  # the small tier down: simple requests fall back to the frontier
    c.chat.completions.create(model="m", messages=MSG)
    assert (small.requests, big.requests) == (2, 4)
