"""Gateway added latency at loopback: the same requests direct to an upstream and via the gateway.

The upstream (fleetplan.router.fake_upstream, no injected latency) runs in a thread of this
process; the gateway runs as its own process (`fleetplan gateway`), as in production. Requests
are sequential (one at a time), so the difference is the gateway's own work (auth, routing,
limits, breaker, proxying, metrics, logging), not queueing. Prints p50/p99 of: non-streamed
request time, streamed time-to-first-chunk and streamed total, direct vs via gateway, and the
added latency (via − direct) at each percentile. Measured, on this machine; nothing modelled.

usage: python benchmarks/gateway_latency.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import yaml

from fleetplan.router.fake_upstream import Served, Upstream

KEY = "bench-gateway-key"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _measure(client: httpx.Client, url: str, headers: dict, n: int) -> dict[str, np.ndarray]:
    full, first, total = [], [], []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.post(url, json=BODY, headers=headers)
        r.raise_for_status()
        full.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with client.stream("POST", url, json=dict(BODY, stream=True), headers=headers) as s:
            s.raise_for_status()
            it = s.iter_bytes()
            next(it)
            first.append(time.perf_counter() - t0)
            for _ in it:
                pass
        total.append(time.perf_counter() - t0)
    return {
        "non-streamed": np.array(full),
        "stream TTFB": np.array(first),
        "stream total": np.array(total),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000)
    n = ap.parse_args().requests
    up = Upstream("bench")
    with Served(up.app()) as srv, tempfile.TemporaryDirectory() as tmp:
        cfg = {
            "gateway": {"log_path": str(Path(tmp) / "log.sqlite")},
            "providers": [
                {
                    "name": "bench",
                    "base_url": f"{srv.url}/v1",
                    "models": {"m": "m"},
                    "price": {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 1.0},
                    "limits": {"requests_per_min": 1e9, "tokens_per_min": 1e12},
                }
            ],
        }
        path = Path(tmp) / "router.yaml"
        path.write_text(yaml.safe_dump(cfg))
        port = _free_port()
        env = dict(os.environ, FLEETPLAN_GATEWAY_KEY=KEY)
        cmd = [
            sys.executable,
            "-c",
            "from fleetplan.cli import run; run()",
            "gateway",
            "--config",
            str(path),
            "--port",
            str(port),
        ]
        gw = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
        gw_url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(timeout=10) as c:
                for _ in range(200):
                    try:
                        c.get(f"{gw_url}/health")
                        break
                    except httpx.HTTPError:
                        time.sleep(0.05)
                h = {"Authorization": f"Bearer {KEY}"}
                warm = max(20, n // 20)
                _measure(c, f"{srv.url}/v1/chat/completions", h, warm)
                _measure(c, f"{gw_url}/v1/chat/completions", h, warm)
                direct = _measure(c, f"{srv.url}/v1/chat/completions", h, n)
                via = _measure(c, f"{gw_url}/v1/chat/completions", h, n)
        finally:
            gw.terminate()
            gw.wait(timeout=10)
    print(f"gateway added latency, loopback, {n} sequential requests each (measured)")
    print(
        f"{'':14s} {'direct p50':>11s} {'via p50':>9s} {'added p50':>10s} "
        f"{'direct p99':>11s} {'via p99':>9s} {'added p99':>10s}   (ms)"
    )
    for k in direct:
        d50, d99 = np.percentile(direct[k], [50, 99]) * 1000
        v50, v99 = np.percentile(via[k], [50, 99]) * 1000
        print(
            f"{k:14s} {d50:11.2f} {v50:9.2f} {v50 - d50:10.2f} {d99:11.2f} {v99:9.2f} "
            f"{v99 - d99:10.2f}"
        )


if __name__ == "__main__":
    main()
