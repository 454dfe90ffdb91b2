"""Two gateway processes (`fleetplan gateway --redis-url`) share one rate limit and one circuit."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import GATEWAY_KEY, MSG, PATIENT, REDIS, UPSTREAM_KEY, free_port, provider

pytestmark = pytest.mark.skipif(
    REDIS is None, reason="redis-server not installed (apt-get install -y redis-server)"
)
pytest.importorskip("redis", reason="needs the `router` extra (redis client)")


def _wait(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{what} did not start")


def _gateways(
    tmp_path: Path,
    cfg: dict,
    redis_url: str | None,
    n: int = 2,
    workers: int = 1,
    extra: tuple[str, ...] | list[str] = (),
):
    path = tmp_path / "router.yaml"
    g = dict(cfg.get("gateway", {}))  # lag shedding off: these tests load a busy machine on purpose
    g["admission"] = {"max_loop_lag_ms": None, **g.get("admission", {})}
    path.write_text(yaml.safe_dump(dict(cfg, gateway=g)))
    env = dict(os.environ, FLEETPLAN_GATEWAY_KEY=GATEWAY_KEY, UPSTREAM_KEY=UPSTREAM_KEY)
    procs, urls = [], []
    for i in range(n):
        port = free_port()
        args = [
            sys.executable,
            "-c",
            "from fleetplan.cli import run; run()",
            "gateway",
            "--config",
            str(path),
            "--port",
            str(port),
            "--log-path",
            str(tmp_path / f"log{i}.sqlite"),
        ]
        if redis_url:
            args += ["--redis-url", redis_url]
        if workers > 1:
            args += ["--workers", str(workers)]
        args += list(extra)
        procs.append(subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for p, u in zip(procs, urls, strict=True):
            _wait(f"{u}/health", p, "gateway")
    except AssertionError:
        for p in procs:
            p.kill()
        raise
    return procs, urls


def _send(urls: list[str], per_gateway: int) -> list[int]:
    h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    body = {"model": "m", "messages": MSG}
    codes = []
    for _ in range(per_gateway):
        for u in urls:
            codes.append(httpx.post(f"{u}/v1/chat/completions", json=body, headers=h).status_code)
    return codes


@pytest.mark.parametrize("shared", [True, False])
def test_two_gateways_share_one_rate_limit(upstream, tmp_path, redis_url, shared):
    up, srv = upstream("a")
    cfg = {"providers": [provider("a", srv.url, limits={"requests_per_min": 6})]}
    procs, urls = _gateways(tmp_path, cfg, redis_url if shared else None)
    try:
        codes = _send(urls, per_gateway=6)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
    if shared:  # one bucket of 6 for both (a refill of 0.1 req/s may add one)
        assert codes.count(200) in (6, 7), codes
        assert codes.count(429) == 12 - codes.count(200)
    else:  # each process has its own bucket: twice the limit gets through
        assert codes.count(200) == 12, codes
    assert up.requests == codes.count(200)


def test_circuit_opened_by_one_gateway_holds_for_the_other(upstream, tmp_path, redis_url):
    up, srv = upstream("a")
    up.faults.status = 503
    cfg = {
        "gateway": {"health": {"failure_threshold": 2, "cooldown_s": 30}},
        "providers": [provider("a", srv.url)],
    }
    procs, urls = _gateways(tmp_path, cfg, redis_url)
    try:
        codes = _send(urls[:1], per_gateway=2)  # two failures through the first gateway
        assert codes == [502, 502]
        assert httpx.get(f"{urls[1]}/health").json()["providers"]["a"] == "open"
        assert _send(urls[1:], per_gateway=1) == [503]  # the second does not even try
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
    assert up.requests == 2


def _leases(redis_url: str) -> int:
    import redis

    r = redis.Redis.from_url(redis_url)
    now = time.time()
    return sum(r.zcount(k, now, "+inf") for k in r.scan_iter("fleetplan:router:lim:*:inflight"))


def test_small_redis_pool_waits_instead_of_500s(upstream, gateway, redis_url):
    """More concurrent requests than Redis connections: they wait for one, none gets a 500."""
    import asyncio

    from fleetplan.router.state import RedisState

    _, srv = upstream("a")
    state = RedisState(redis_url, max_connections=4, pool_timeout_s=60)
    prov = provider("a", srv.url, limits={"max_concurrent": 500}, timeouts=PATIENT)
    g, gs = gateway([prov], state=state)

    async def burst() -> list[int]:
        h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
        async with httpx.AsyncClient(headers=h, timeout=60, limits=httpx.Limits()) as c:
            url = f"{gs.url}/v1/chat/completions"
            body = {"model": "m", "messages": MSG}
            rs = await asyncio.gather(*(c.post(url, json=body) for _ in range(150)))
            return [r.status_code for r in rs]

    codes = asyncio.run(burst())
    assert codes == [200] * 150
    assert g.metrics.sample("fleetplan_gateway_requests_total", {"status": "200"}) == 150
    assert _leases(redis_url) == 0


def test_redis_down_is_a_503_and_health_says_so(upstream, gateway, redis_url, redis_proc):
    from fleetplan.router.state import RedisState

    _, srv = upstream("a")
    g, gs = gateway([provider("a", srv.url)], state=RedisState(redis_url, pool_timeout_s=1))
    h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    body = {"model": "m", "messages": MSG}
    assert httpx.post(f"{gs.url}/v1/chat/completions", json=body, headers=h).status_code == 200
    redis_proc.kill()
    redis_proc.wait(timeout=10)
    r = httpx.post(f"{gs.url}/v1/chat/completions", json=body, headers=h, timeout=30)
    assert r.status_code == 503 and r.json()["error"]["code"] == "state_unavailable"
    assert r.headers["retry-after"]
    health = httpx.get(f"{gs.url}/health", timeout=30)
    assert health.status_code == 503
    assert health.json()["state"].startswith("unavailable") and health.json()["degraded"]
    assert g.metrics.sample("fleetplan_gateway_requests_total", {"status": "503"}) == 1


def test_kill_9_frees_capacity_within_the_lease_ttl(upstream, tmp_path, redis_url):
    up, srv = upstream("a")
    up.faults.gate = threading.Event()
    # long upstream timeouts: the held requests end only by the kill, never by a timeout; a
    # TTL of 5 s renewed every 5/3 s keeps the live gateway's leases through a slow machine
    cfg = {
        "gateway": {"lease_ttl_s": 5.0},
        "providers": [provider("a", srv.url, limits={"max_concurrent": 3}, timeouts=PATIENT)],
    }
    procs, urls = _gateways(tmp_path, cfg, redis_url)
    try:
        h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
        body = {"model": "m", "messages": MSG}
        url0, url1 = (f"{u}/v1/chat/completions" for u in urls)
        pool = concurrent.futures.ThreadPoolExecutor(3)
        held = [pool.submit(httpx.post, url0, json=body, headers=h, timeout=30) for _ in range(3)]
        deadline = time.monotonic() + 20
        while up.requests < 3:
            assert time.monotonic() < deadline, "requests never reached the upstream"
            time.sleep(0.02)
        r = httpx.post(url1, json=body, headers=h)  # the first gateway holds all 3 slots
        assert r.status_code == 429 and "max concurrent" in r.text
        procs[0].kill()  # kill -9 with 3 requests in flight
        procs[0].wait(timeout=10)
        for f in held:
            assert f.exception() is not None  # those clients lost their connection
        pool.shutdown()
        up.faults.gate.set()
        deadline = time.monotonic() + 30  # the leases expire (TTL 5 s): capacity comes back
        while httpx.get(f"{urls[1]}/health").json()["in_flight"]["a"] != 0:
            assert time.monotonic() < deadline, "the dead gateway's leases never expired"
            time.sleep(0.05)
        assert httpx.post(url1, json=body, headers=h).status_code == 200
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)


def test_500_concurrent_across_two_worker_processes(upstream, tmp_path, redis_url):
    import asyncio

    up, srv = upstream("a")
    prov = provider("a", srv.url, limits={"max_concurrent": 1000}, timeouts=PATIENT)
    procs, urls = _gateways(tmp_path, {"providers": [prov]}, redis_url, n=1, workers=2)
    try:

        async def burst() -> list[int]:
            h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
            lim = httpx.Limits(max_connections=500)
            async with httpx.AsyncClient(headers=h, timeout=120, limits=lim) as c:
                url = f"{urls[0]}/v1/chat/completions"
                body = {"model": "m", "messages": MSG}
                rs = await asyncio.gather(
                    *(c.post(url, json=dict(body, stream=bool(i % 2))) for i in range(500))
                )
                return [(r.status_code, r.text[:200]) for r in rs]

        got = asyncio.run(burst())
        codes = [c for c, _ in got]
        assert [t for c, t in got if c >= 500] == []
        assert codes.count(200) == 500
        assert _leases(redis_url) == 0  # counters back to 0 at rest
        text = httpx.get(f"{urls[0]}/health").json()
        assert text["in_flight"] == {"a": 0}
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    assert up.requests == 500


def test_slow_header_connections_are_dropped(upstream, tmp_path):
    _, srv = upstream("a")
    cfg = {"providers": [provider("a", srv.url)]}
    procs, urls = _gateways(tmp_path, cfg, None, n=1, extra=["--header-timeout-s", "0.3"])
    try:
        port = int(urls[0].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")  # and no more
            assert s.recv(1024) == b""  # closed by the gateway (a timeout would raise)
        h = {"Authorization": f"Bearer {GATEWAY_KEY}"}
        body = {"model": "m", "messages": MSG}
        r = httpx.post(f"{urls[0]}/v1/chat/completions", json=body, headers=h)
        assert r.status_code == 200  # whole requests are served as before
        assert r.json()["choices"][0]["message"]["content"]
        body["stream"] = True  # and streams, through the coalesced writes
        r = httpx.post(f"{urls[0]}/v1/chat/completions", json=body, headers=h)
        assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n")
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


def test_workers_need_redis_and_unset_key_env_fails_at_start(tmp_path, capsys, monkeypatch):
    from fleetplan.cli import main

    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump({"providers": [provider("a", "http://127.0.0.1:9")]}))
    monkeypatch.setenv("FLEETPLAN_GATEWAY_KEY", GATEWAY_KEY)
    assert main(["gateway", "--config", str(path), "--workers", "2"]) == 2
    assert "--redis-url" in capsys.readouterr().err
    monkeypatch.delenv("UPSTREAM_KEY")
    assert main(["gateway", "--config", str(path)]) == 2
    assert "UPSTREAM_KEY" in capsys.readouterr().err


def test_virtual_keys_in_redis(upstream, gateway, redis_url, capsys):
    import sqlite3

    import openai

    from conftest import client, create_key, use_until_refused
    from fleetplan.cli import main
    from fleetplan.router.keys import open_keys

    up, srv = upstream("a")
    secret = create_key(
        capsys, redis_url, "--name", "dana", "--team", "ops", "--budget-usd-per-month", "0.00005"
    )
    g, gs = gateway([provider("a", srv.url)], keys_db=redis_url)
    c = client(gs.url, key=secret)
    served, refused = use_until_refused(c)
    assert served >= 1 and up.requests == served
    assert refused.response.json()["error"]["type"] == "budget_exceeded"
    g.log.flush()
    g.keys.flush()
    logged = sqlite3.connect(g.log.path).execute("SELECT SUM(cost_usd) FROM requests").fetchone()
    [row] = open_keys(redis_url).usage()
    assert row["name"] == "dana" and row["cost_usd"] == pytest.approx(logged[0], rel=1e-3)
    assert main(["keys", "revoke", "--db", redis_url, "dana"]) == 0
    with pytest.raises(openai.AuthenticationError):
        c.chat.completions.create(model="m", messages=MSG)


def test_memory_and_redis_state_agree(redis_url):
    """The two states answer the same script of admissions and settlements the same way."""
    from fleetplan.router.state import Bucket, MemoryState, RedisState, Slot

    now = [1_000_000.0]

    def tok(cost: float, need: float | None = None) -> Bucket:
        return Bucket("k:tok", 10.0, 1000.0, cost, cost if need is None else need)

    req = Bucket("k:req", 1.0, 3.0, 1, 1)

    def slot(i: int) -> Slot:
        return Slot("k:inflight", f"l{i}", 5.0, 2)

    async def script(st) -> list[object]:
        out: list[object] = []
        for i in range(3):  # two slots; the third is refused and charges nothing
            out.append(await st.admit([tok(300), req], slot(i)))
        out.append(await st.leases("k:inflight"))
        out.append(await st.admit([tok(500), req], None))  # 400 left: the tokens refuse
        out.append(await st.admit([tok(400), req], None))  # admitted: nothing left of either
        out.append(await st.admit([req], None))  # the requests bucket is empty
        await st.settle([Bucket("k:tok", 10.0, 1000.0, -250)], ("k:inflight", "l0"), ["cb"])
        out.append(await st.leases("k:inflight"))
        out.append(await st.admit([tok(251)], None))  # 250 refunded, not more
        out.append(await st.admit([tok(250)], None))
        await st.set_float("cb", 1.5)
        out.append(await st.get_floats("cb", "none"))
        out.append(await st.admit([tok(1)], slot(5), ["none", "cb"]))  # a key present: -1
        await st.settle([], None, ["cb"])
        out.append(await st.get_floats("cb"))
        out.append(await st.admit([], None, ["none", "cb"]))
        now[0] += 6.0  # the lease TTL passes; the buckets refill 60 tokens and 6 requests
        out.append(await st.leases("k:inflight"))
        out.append(await st.admit([tok(61)], None))
        out.append(await st.admit([tok(60), req], slot(7)))
        await st.close()
        return out

    mem = asyncio.run(script(MemoryState(clock=lambda: now[0])))
    now[0] = 1_000_000.0
    red = asyncio.run(script(RedisState(redis_url, clock=lambda: now[0])))
    assert mem == red
    assert mem == [0, 0, 3, 2, 1, 0, 1, 1, 1, 0, [1.5, None], -1, [None], 0, 0, 1, 0]
