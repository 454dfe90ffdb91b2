"""Two gateway processes (`fleetplan gateway --redis-url`) share one rate limit and one circuit."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import GATEWAY_KEY, MSG, UPSTREAM_KEY, provider

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(
    REDIS is None, reason="redis-server not installed (apt-get install -y redis-server)"
)
pytest.importorskip("redis", reason="needs the `router` extra (redis client)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@pytest.fixture
def redis_url(tmp_path: Path):
    port = _free_port()
    args = [
        REDIS,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    r = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            r.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def _gateways(tmp_path: Path, cfg: dict, redis_url: str | None, n: int = 2):
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, FLEETPLAN_GATEWAY_KEY=GATEWAY_KEY, UPSTREAM_KEY=UPSTREAM_KEY)
    procs, urls = [], []
    for i in range(n):
        port = _free_port()
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
