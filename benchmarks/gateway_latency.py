"""Gateway added latency and CPU per request at loopback: direct to an upstream vs via the gateway.

The upstream (fleetplan.router.fake_upstream, no injected latency) and the gateway
(`fleetplan gateway`, optionally `--workers N` sharing a Redis) each run as their own process;
the client is this process (asyncio). At each concurrency (default 1, 10 and 200) the same
number of requests goes direct and via the gateway, non-streamed and streamed, in the same run.
Prints p50/p99 of the request time (non-streamed) and of the time to the first chunk and to the
end (streamed), direct vs via, the added latency (via − direct at each percentile), and CPU
time per request over the via runs (user + system, from /proc and Redis's INFO): the gateway's
processes, and apart from them the Redis server, the upstream and the load generator itself.

On a small machine every process here shares the same cores: at high concurrency the latency of
both paths is mostly queueing for a core, and the load generator's own CPU competes with the
gateway's. `--client raw` (the default) is a minimal HTTP/1.1 keep-alive client on asyncio
streams, the lightest load generator; `--client openai` is the official client (what users run),
`--client httpx` plain httpx. CPU per request does not depend on the machine's other load the
way latency does. Measured on this machine; nothing modelled.

With an upstream that answers at once, concurrency 200 is a throughput test: both paths queue
for the cores, and the added latency is about 200 x the extra CPU per request / the cores left.
`--upstream-latency-ms 1000` makes each request take a second upstream, so 200 stay in flight
at about 200 requests/s, as with real model servers; the added latency is then the gateway's own.

usage: python benchmarks/gateway_latency.py [--requests 2000] [--concurrency 1 10 200]
                                             [--client raw|openai|httpx]
                                             [--upstream-latency-ms 0] [--chunk-delay-ms 0]
                                             [--workers 2 --redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

KEY = "bench-gateway-key"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16}
_UPSTREAM = (
    "import sys; from fleetplan.router.fake_upstream import Faults, Upstream; import uvicorn; "
    "f = Faults(latency_s=float(sys.argv[2]), chunk_delay_s=float(sys.argv[3])); "
    "uvicorn.run(Upstream('bench', f).app(), host='127.0.0.1', port=int(sys.argv[1]), "
    "log_level='warning', access_log=False)"
)
_TICKS = os.sysconf("SC_CLK_TCK")
FAILURES: Counter[str] = Counter()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` and its descendants (Linux /proc)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICKS
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(k) for k in kids)
    return total


def _wait_up(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: process exited ({proc.returncode})")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not start")


async def _one(c: httpx.AsyncClient, url: str, stream: bool) -> tuple[float, float]:
    """(time to first chunk, time to the end) in s; NaN for a request that failed."""
    try:
        return await _timed(c, url, stream)
    except httpx.HTTPStatusError as exc:
        FAILURES[f"HTTP {exc.response.status_code}"] += 1
    except httpx.HTTPError as exc:
        FAILURES[type(exc).__name__] += 1
    return float("nan"), float("nan")


async def _timed(c: httpx.AsyncClient, url: str, stream: bool) -> tuple[float, float]:
    t0 = time.perf_counter()
    if not stream:
        r = await c.post(url, json=BODY)
        r.raise_for_status()
        t = time.perf_counter() - t0
        return t, t
    async with c.stream("POST", url, json=dict(BODY, stream=True)) as s:
        s.raise_for_status()
        first = None
        async for _ in s.aiter_bytes():
            if first is None:
                first = time.perf_counter() - t0
    return first or 0.0, time.perf_counter() - t0


class _RawConn:
    """One keep-alive HTTP/1.1 connection sending a fixed request (the lightest client)."""

    def __init__(self, url: str, stream: bool) -> None:
        u = httpx.URL(url)
        self.host, self.port = u.host, u.port or 80
        body = json.dumps(dict(BODY, stream=True) if stream else BODY).encode()
        head = (
            f"POST {u.raw_path.decode()} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.request = head.encode() + body
        self.io: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self) -> tuple[float, float]:
        if self.io is None:
            self.io = await asyncio.open_connection(self.host, self.port)
        r, w = self.io
        t0 = time.perf_counter()
        w.write(self.request)
        head = (await r.readuntil(b"\r\n\r\n")).lower()
        status = int(head[9:12])
        first = None
        if b"transfer-encoding: chunked" in head:
            while size := int((await r.readuntil(b"\r\n")).split(b";")[0], 16):
                await r.readexactly(size + 2)
                first = first or time.perf_counter() - t0
            await r.readuntil(b"\r\n")
        else:
            n = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            await r.readexactly(n)
        end = time.perf_counter() - t0
        if b"connection: close" in head:
            w.close()
            self.io = None
        if status != 200:
            raise _Status(status)
        return first or end, end

    async def one(self) -> tuple[float, float]:
        try:
            return await self.send()
        except _Status as exc:
            FAILURES[f"HTTP {exc.args[0]}"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            FAILURES[type(exc).__name__] += 1
            if self.io is not None:
                self.io[1].close()
            self.io = None
        return float("nan"), float("nan")

    def close(self) -> None:
        if self.io is not None:
            self.io[1].close()


class _Status(Exception):
    pass


async def _openai_one(c: Any, stream: bool) -> tuple[float, float]:
    import openai

    t0 = time.perf_counter()
    try:
        if not stream:
            await c.chat.completions.create(**BODY)
            t = time.perf_counter() - t0
            return t, t
        first = None
        async for _ in await c.chat.completions.create(**BODY, stream=True):
            first = first or time.perf_counter() - t0
        return first or 0.0, time.perf_counter() - t0
    except openai.APIStatusError as exc:
        FAILURES[f"HTTP {exc.status_code}"] += 1
    except openai.APIError as exc:
        FAILURES[type(exc).__name__] += 1
    return float("nan"), float("nan")


async def _run(
    url: str, n: int, conc: int, stream: bool, client: str = "httpx", stagger_s: float = 0.0
) -> np.ndarray:
    """`n` requests from `conc` closed loops; loop i starts after i/conc of `stagger_s` (with an
    upstream of constant latency, loops started together stay in step: every request of a
    round arrives in the same instant)."""
    lim = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    out: list[tuple[float, float]] = []
    left = [n]
    raws = [_RawConn(url, stream) for _ in range(conc)] if client == "raw" else []
    async with httpx.AsyncClient(
        timeout=60, limits=lim, headers={"Authorization": f"Bearer {KEY}"}
    ) as c:
        oa = None
        if client == "openai":
            import openai

            base = url.rsplit("/chat/completions", 1)[0]
            oa = openai.AsyncOpenAI(base_url=base, api_key=KEY, max_retries=0, http_client=c)

        async def worker(i: int) -> None:
            await asyncio.sleep(stagger_s * i / conc)
            while left[0] > 0:
                left[0] -= 1
                if raws:
                    out.append(await raws[i].one())
                elif oa is not None:
                    out.append(await _openai_one(oa, stream))
                else:
                    out.append(await _one(c, url, stream))

        await asyncio.gather(*(worker(i) for i in range(conc)))
    for r in raws:
        r.close()
    return np.array(out)


def _redis_cpu_s(url: str | None) -> float:
    """The Redis server's user + system CPU seconds (its INFO), 0 without Redis."""
    if not url:
        return 0.0
    import redis

    info = redis.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000, help="per level, mode and path")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 200])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--redis-url", default=None, help="needed with --workers > 1")
    ap.add_argument("--client", choices=["raw", "openai", "httpx"], default="raw")
    ap.add_argument(
        "--upstream-latency-ms",
        type=float,
        default=0.0,
        help="the fake upstream waits this long before answering (0: answers at once, so high "
        "concurrency measures throughput; ~1000 keeps 200 requests in flight at ~200 req/s)",
    )
    ap.add_argument("--chunk-delay-ms", type=float, default=0.0, help="between streamed chunks")
    ap.add_argument(
        "--stagger",
        action="store_true",
        help="start the closed loops spread over one upstream latency, so requests arrive "
        "evenly (~concurrency / latency per s) instead of in rounds of `concurrency` at once",
    )
    ap.add_argument(
        "--max-loop-lag-ms",
        type=float,
        default=None,
        help="the gateway's lag shedding (default off here, to measure what it can carry; "
        "its own default is 200 ms: sheds show as HTTP 503)",
    )
    a = ap.parse_args()
    if a.workers > 1 and not a.redis_url:
        raise SystemExit("--workers > 1 needs --redis-url")
    up_port, gw_port = _free_port(), _free_port()
    delays = [str(a.upstream_latency_ms / 1000), str(a.chunk_delay_ms / 1000)]
    up = subprocess.Popen([sys.executable, "-c", _UPSTREAM, str(up_port), *delays])
    up_url = f"http://127.0.0.1:{up_port}"
    tmp = tempfile.mkdtemp()
    gw = None
    try:
        _wait_up(f"{up_url}/v1/models", up)
        gw_cfg = {
            "log_path": str(Path(tmp) / "log.sqlite"),
            "admission": {"max_loop_lag_ms": a.max_loop_lag_ms},
        }
        cfg = {
            "gateway": gw_cfg,
            "providers": [
                {
                    "name": "bench",
                    "base_url": f"{up_url}/v1",
                    "models": {"m": "m"},
                    "price": {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 1.0},
                    # limits the run never reaches, so the limiter's path is timed: the
                    # schema's ceiling for a rate (a million requests a second)
                    "limits": {"requests_per_min": 6e7, "tokens_per_min": 1e12},
                }
            ],
        }
        path = Path(tmp) / "router.yaml"
        path.write_text(yaml.safe_dump(cfg))
        cmd = [sys.executable, "-c", "from fleetplan.cli import run; run()", "gateway"]
        cmd += ["--config", str(path), "--port", str(gw_port), "--workers", str(a.workers)]
        if a.redis_url:
            cmd += ["--redis-url", a.redis_url]
        env = dict(os.environ, FLEETPLAN_GATEWAY_KEY=KEY)
        gw = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
        gw_url = f"http://127.0.0.1:{gw_port}"
        _wait_up(f"{gw_url}/health", gw)
        direct_url, via_url = f"{up_url}/v1/chat/completions", f"{gw_url}/v1/chat/completions"
        for u in (direct_url, via_url):  # warm both paths
            asyncio.run(_run(u, 200, 50, False, a.client))
            asyncio.run(_run(u, 200, 50, True, a.client))
        stagger = a.upstream_latency_ms / 1000 if a.stagger else 0.0
        cpu = np.zeros(4)  # gateway, Redis, upstream, this load generator (s, via runs)
        via_n, load0 = 0, os.getloadavg()[0]
        rows = []
        for conc in a.concurrency:
            for stream in (False, True):
                d = asyncio.run(_run(direct_url, a.requests, conc, stream, a.client, stagger))
                t = os.times()
                c0 = np.array(
                    [_cpu_s(gw.pid), _redis_cpu_s(a.redis_url), _cpu_s(up.pid), t.user + t.system]
                )
                v = asyncio.run(_run(via_url, a.requests, conc, stream, a.client, stagger))
                t = os.times()
                c1 = np.array(
                    [_cpu_s(gw.pid), _redis_cpu_s(a.redis_url), _cpu_s(up.pid), t.user + t.system]
                )
                cpu += c1 - c0
                via_n += a.requests
                rows.append((conc, stream, d, v, (c1[0] - c0[0]) / a.requests * 1000))
    finally:
        for p in (gw, up):
            if p is not None:
                p.terminate()
                p.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"gateway added latency, loopback, {a.requests} requests per row, gateway "
        f"--workers {a.workers}, client {a.client}, upstream latency "
        f"{a.upstream_latency_ms:g} ms + {a.chunk_delay_ms:g} ms per chunk, lag shedding "
        f"{a.max_loop_lag_ms or 'off'}, loops {'staggered' if a.stagger else 'started together'}, "
        f"{os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, load average {load0:.1f} at the start and "
        f"{os.getloadavg()[0]:.1f} at the end (measured)"
    )
    print(
        f"{'conc':>4s} {'mode':22s} {'direct p50':>10s} {'via p50':>8s} {'added p50':>9s} "
        f"{'direct p99':>10s} {'via p99':>8s} {'added p99':>9s} {'gw CPU/req':>10s}  (ms)"
    )
    for conc, stream, d, v, gw_cpu_ms in rows:
        cols = [(0, "stream first chunk"), (1, "stream total")] if stream else [(1, "non-streamed")]
        for j, label in cols:
            d50, d99 = np.nanpercentile(d[:, j], [50, 99]) * 1000
            v50, v99 = np.nanpercentile(v[:, j], [50, 99]) * 1000
            print(
                f"{conc:4d} {label:22s} {d50:10.2f} {v50:8.2f} {v50 - d50:9.2f} "
                f"{d99:10.2f} {v99:8.2f} {v99 - d99:9.2f} {gw_cpu_ms:10.2f}"
            )
        failed_d, failed_v = int(np.isnan(d[:, 1]).sum()), int(np.isnan(v[:, 1]).sum())
        if failed_d or failed_v:
            print(f"     failed requests: direct {failed_d}, via {failed_v} (left out above)")
    if FAILURES:
        print("failures: " + ", ".join(f"{k} x{v}" for k, v in sorted(FAILURES.items())))
    per = cpu / via_n * 1000
    print(f"gateway CPU per request, all rows: {per[0]:.2f} ms (user+system, all its processes)")
    print(
        f"others' CPU per request via the gateway: Redis {per[1]:.2f} ms, upstream "
        f"{per[2]:.2f} ms, load generator ({a.client}) {per[3]:.2f} ms"
    )


if __name__ == "__main__":
    main()
