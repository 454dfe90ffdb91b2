"""The gateway driven by the official openai client against fake upstreams on loopback."""

from __future__ import annotations

import sqlite3

import httpx
import openai
import pytest

from conftest import GATEWAY_KEY, MSG, client, provider


def test_chat_and_completions_streaming_and_not(upstream, gateway):
    up, srv = upstream("a")
    g, gs = gateway([provider("a", srv.url)])
    c = client(gs.url)
    r = c.chat.completions.create(model="m", messages=MSG)
    assert r.choices[0].message.content == "t0 t1 t2 t3 t4"
    assert r.model == "a-model"  # the upstream got the mapped name
    chunks = list(c.chat.completions.create(model="m", messages=MSG, stream=True))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == "t0 t1 t2 t3 t4 "
    assert all(ch.choices for ch in chunks)  # the usage-only chunk was not asked for: stripped
    r2 = c.completions.create(model="m", prompt="hi")
    assert r2.choices[0].text == "t0 t1 t2 t3 t4"
    texts = [ch.choices[0].text for ch in c.completions.create(model="m", prompt="hi", stream=True)]
    assert "".join(texts) == "t0 t1 t2 t3 t4 "
    with_usage = list(
        c.chat.completions.create(
            model="m", messages=MSG, stream=True, stream_options={"include_usage": True}
        )
    )
    assert with_usage[-1].usage is not None and with_usage[-1].usage.completion_tokens == 5
    assert up.requests == 5
    g.log.flush()
    rows = (
        sqlite3.connect(g.log.path)
        .execute("SELECT provider, status, output_tokens, cost_usd FROM requests")
        .fetchall()
    )
    assert len(rows) == 5
    assert all(r[0] == "a" and r[1] == 200 and r[2] == 5 and r[3] > 0 for r in rows)
    assert g.metrics.sample("fleetplan_gateway_requests_total", {"status": "200"}) == 5
    assert g.metrics.sample("fleetplan_gateway_cost_usd_total", {"provider": "a"}) == pytest.approx(
        sum(r[3] for r in rows)
    )


def test_models_health_metrics(upstream, gateway):
    _, srv = upstream("a")
    _, gs = gateway([provider("a", srv.url, models={"m": "x", "n": "y"})])
    assert [m.id for m in client(gs.url).models.list()] == ["m", "n"]
    health = httpx.get(f"{gs.url}/health").json()
    assert health["ok"] and not health["degraded"] and health["state"] == "ok"
    assert health["providers"] == {"a": "closed"} and health["in_flight"] == {"a": 0}
    assert httpx.get(f"{gs.url}/metrics").status_code == 401  # the key is needed
    h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    assert "fleetplan_gateway_requests_total" in httpx.get(f"{gs.url}/metrics", headers=h).text


def test_gateway_key_required(upstream, gateway):
    up, srv = upstream("a")
    _, gs = gateway([provider("a", srv.url)])
    with pytest.raises(openai.AuthenticationError):
        client(gs.url, key="wrong").chat.completions.create(model="m", messages=MSG)
    r = httpx.post(f"{gs.url}/v1/chat/completions", json={"model": "m", "messages": MSG})
    assert r.status_code == 401
    assert up.requests == 0


def test_body_limit_unknown_model_bad_json(upstream, gateway):
    up, srv = upstream("a")
    _, gs = gateway([provider("a", srv.url)], max_body_bytes=2000)
    c = client(gs.url)
    big = [{"role": "user", "content": "x" * 5000}]
    with pytest.raises(openai.APIStatusError) as e:
        c.chat.completions.create(model="m", messages=big)
    assert e.value.status_code == 413 and "2000 bytes" in e.value.message
    with pytest.raises(openai.NotFoundError) as e2:
        c.chat.completions.create(model="gpt-unknown", messages=MSG)
    assert "not served here" in e2.value.message
    h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    r = httpx.post(f"{gs.url}/v1/chat/completions", content=b"{nope", headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_json"
    assert up.requests == 0


def test_only_configured_upstreams(upstream, gateway):
    """A client cannot steer the gateway to another host: base_url comes from the config only."""
    a, sa = upstream("a")
    b, sb = upstream("b")
    _, gs = gateway([provider("a", sa.url)])
    h = {"Authorization": f"Bearer {GATEWAY_KEY}", "Host": f"127.0.0.1:{sb.port}"}
    body = {"model": "m", "messages": MSG, "base_url": sb.url, "api_base": sb.url}
    r = httpx.post(f"{gs.url}/v1/chat/completions", json=body, headers=h)
    assert r.status_code == 200
    assert (a.requests, b.requests) == (1, 0)


def test_upstream_4xx_passes_through_without_retry(upstream, gateway):
    a, sa = upstream("a")
    b, sb = upstream("b")
    a.faults.status = 400
    b.faults.status = 400
    _, gs = gateway([provider("a", sa.url), provider("b", sb.url)])
    with pytest.raises(openai.BadRequestError):
        client(gs.url).chat.completions.create(model="m", messages=MSG)
    assert a.requests + b.requests == 1


def test_unknown_paths_and_methods_answer_in_openai_error_shape(upstream, gateway):
    """They were Starlette's plain-text "Not Found" / "Method Not Allowed"."""
    _, srv = upstream("a")
    _, gs = gateway([provider("a", srv.url)])
    h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    with httpx.Client(base_url=gs.url, headers=h, timeout=10) as c:
        for method, path, status, code in [
            ("POST", "/v1/embeddings", 404, "unknown_url"),
            ("GET", "/v1/models/m", 404, "unknown_url"),
            ("GET", "/v1/chat/completions", 405, "bad_method"),
            ("POST", "/v1/models", 405, "bad_method"),
        ]:
            r = c.request(method, path, json={})
            assert r.status_code == status, (method, path)
            err = r.json()["error"]
            assert err["type"] == "invalid_request_error" and err["code"] == code
            assert f"{method} {path}" in err["message"] and "/v1/chat/completions" in err["message"]
        assert "POST" in c.get("/v1/chat/completions").headers["allow"]
