"""Fixtures: fake upstreams and gateways served on 127.0.0.1 ephemeral ports, in threads."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="needs the `router` extra: pip install -e .[router]")
pytest.importorskip("uvicorn", reason="needs the `router` extra")
pytest.importorskip("httpx", reason="needs the `router-test` extra")
pytest.importorskip("openai", reason="needs the `router-test` extra (openai client)")

from fleetplan.router.config import parse_config
from fleetplan.router.fake_upstream import Served, Upstream
from fleetplan.router.gateway import Gateway

GATEWAY_KEY = "gw-test-key-0123456789"
UPSTREAM_KEY = "sk-upstream-SECRET-7f3a9c2e5b1d"
PRICE = {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}
FAST = {"connect_s": 1.0, "first_token_s": 1.0, "idle_s": 1.0, "total_s": 3.0}
# for bursts on a busy machine: requests end by the test's design, never by a timeout
PATIENT = {"connect_s": 30.0, "first_token_s": 60.0, "first_byte_s": 60.0, "idle_s": 60.0}
PATIENT["total_s"] = 120.0


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETPLAN_GATEWAY_KEY", GATEWAY_KEY)
    monkeypatch.setenv("UPSTREAM_KEY", UPSTREAM_KEY)


@pytest.fixture
def upstream() -> Iterator[Callable[[str], tuple[Upstream, Served]]]:
    started: list[Served] = []

    def make(name: str) -> tuple[Upstream, Served]:
        up = Upstream(name=name)
        srv = Served(up.app(), log_level="critical")  # injected faults are not news
        started.append(srv)
        return up, srv

    yield make
    for s in started:
        s.stop()


def provider(name: str, url: str, **over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "name": name,
        "base_url": f"{url}/v1",
        "key_env": "UPSTREAM_KEY",
        "models": {"m": f"{name}-model"},
        "price": PRICE,
        "timeouts": FAST,
    }
    p.update(over)
    return p


@pytest.fixture
def gateway(tmp_path: Any) -> Iterator[Callable[..., tuple[Gateway, Served]]]:
    started: list[Served] = []

    def make(
        providers: list[dict[str, Any]], state: Any = None, log: str = "log.sqlite", **gw: Any
    ) -> tuple[Gateway, Served]:
        gw.setdefault("seed", 1)
        # tests drive bursts through a gateway sharing its process (and a busy machine) with
        # the client: its loop lags by design there, so lag shedding is on only where asked
        gw["admission"] = {"max_loop_lag_ms": None, **gw.get("admission", {})}
        cfg = parse_config({"gateway": gw, "providers": providers})
        g = Gateway(cfg, state=state, log_path=str(tmp_path / log))
        srv = Served(g.app)
        started.append(srv)
        return g, srv

    yield make
    for s in started:
        s.stop()


def client(url: str, key: str = GATEWAY_KEY, timeout: float = 10.0) -> Any:
    import openai

    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=timeout)


MSG = [{"role": "user", "content": "hello"}]


def until(cond: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Poll `cond` until it holds; fail naming `what` if it has not within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def create_key(capsys: Any, db: Any, *args: str) -> str:
    """`fleetplan keys create --db DB ARGS…`; the key it printed once."""
    from fleetplan.cli import main

    assert main(["keys", "create", "--db", str(db), *args]) == 0
    return str(capsys.readouterr().out.strip().splitlines()[-1])


def use_until_refused(c: Any, most: int = 10) -> tuple[int, Any]:
    """Chat requests until one is refused 429: (how many were served, the refusal)."""
    import openai

    for served in range(most):
        try:
            c.chat.completions.create(model="m", messages=MSG)
        except openai.RateLimitError as exc:
            return served, exc
    raise AssertionError(f"{most} requests served, none refused")


REDIS = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_proc(tmp_path: Path):
    port = free_port()
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
    proc.url = f"redis://127.0.0.1:{port}/0"  # type: ignore[attr-defined]
    yield proc
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_url(redis_proc) -> str:
    return str(redis_proc.url)
