"""The upstream key reaches its upstream and appears nowhere else: logs, metrics, errors, SQLite."""

from __future__ import annotations

import logging

import httpx
import openai
import pytest

from conftest import GATEWAY_KEY, MSG, UPSTREAM_KEY, client, provider
from fleetplan.router.fake_upstream import Served


def test_upstream_key_never_leaks(upstream, gateway, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    a, sa = upstream("a")
    b, sb = upstream("b")
    for up in (a, b):
        up.faults.echo_auth_in_errors = True  # a hostile upstream echoing our key back
    b.faults.status = 400  # passed through to the client: must be scrubbed
    g, gs = gateway(
        [provider("a", sa.url, priority=0), provider("b", sb.url, priority=1)],
        strategy="quality",
        health={"failure_threshold": 100},
    )
    c = client(gs.url)
    seen: list[str] = []
    c.chat.completions.create(model="m", messages=MSG)  # a works
    a.faults.status = 503  # now a fails with the key in its body, b answers 400 with it too
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as e:
            c.chat.completions.create(model="m", messages=MSG, stream=stream)
        seen += [str(e.value), e.value.response.text]
    b.faults.status = 503
    with pytest.raises(openai.APIStatusError) as e2:
        c.chat.completions.create(model="m", messages=MSG)
    seen += [str(e2.value), e2.value.response.text]
    a.faults.status, a.faults.cut_after_chunks = None, 1
    with pytest.raises(openai.APIError) as e3:
        list(c.chat.completions.create(model="m", messages=MSG, stream=True))
    seen.append(str(e3.value))
    assert f"Bearer {UPSTREAM_KEY}" in a.auth_seen  # the key did go to the upstream
    assert any("[redacted]" in s for s in seen)  # the echo was there and was scrubbed
    h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    seen.append(httpx.get(f"{gs.url}/metrics", headers=h).text)
    seen.append(httpx.get(f"{gs.url}/health").text)
    seen.append(
        httpx.get(f"{gs.url}/v1/models", headers={"Authorization": f"Bearer {GATEWAY_KEY}"}).text
    )
    g.log.flush()
    seen.append(g.log.path.read_bytes().decode("latin-1"))
    seen.append(caplog.text)
    out, err = capfd.readouterr()
    seen += [out, err]
    for text in seen:
        assert UPSTREAM_KEY not in text
        assert "SECRET-7f3a" not in text
        assert GATEWAY_KEY not in text


def test_config_errors_never_echo_a_url(monkeypatch):
    from fleetplan.errors import InputError
    from fleetplan.router.config import parse_config

    for url in (
        "ftp://host/v1?key=SECRET-abc",
        "http://user:SECRET-abc@host/v1",
        "nohost-SECRET-abc",
    ):
        with pytest.raises(InputError) as e:
            parse_config({"providers": [provider("a", "x") | {"base_url": url}]})
        assert "SECRET" not in str(e.value) and "base_url" in str(e.value)


def test_no_log_file_unless_asked_and_a_separate_metrics_key(upstream, tmp_path, monkeypatch):
    from fleetplan.router.config import parse_config
    from fleetplan.router.gateway import Gateway

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("METRICS_KEY", "metrics-only-key-42")
    _, srv = upstream("a")
    gw = {"metrics_key_env": "METRICS_KEY", "admission": {"max_loop_lag_ms": None}}
    cfg = parse_config({"gateway": gw, "providers": [provider("a", srv.url)]})
    g = Gateway(cfg)
    with Served(g.app) as gs:
        assert client(gs.url).chat.completions.create(model="m", messages=MSG).choices
        m = httpx.get(f"{gs.url}/metrics", headers={"Authorization": "Bearer metrics-only-key-42"})
        assert m.status_code == 200 and "fleetplan_gateway_requests_total" in m.text
        assert httpx.get(f"{gs.url}/metrics").status_code == 401
        # the metrics key opens /metrics only
        bad = client(gs.url, key="metrics-only-key-42")
        with pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model="m", messages=MSG)
    assert g.log is None and list(tmp_path.iterdir()) == []
