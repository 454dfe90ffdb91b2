"""Latency of `POST /api/plan` on the built-in example, through a real HTTP server on loopback.

    python benchmarks/web_api.py [--requests 40]

Starts `fleetplan serve`'s app with uvicorn on a free port, sends the requests one after the
other with httpx and prints p50/p95/max (target: p95 <= 300 ms).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=40)
    args = ap.parse_args()

    import httpx
    import uvicorn

    from fleetplan.web import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}/api/plan"
    with httpx.Client(timeout=60) as c:
        c.post(url).raise_for_status()  # warm: catalog and prices loaded once per process
        ms = []
        for _ in range(args.requests):
            t0 = time.perf_counter()
            c.post(url).raise_for_status()
            ms.append((time.perf_counter() - t0) * 1000)
    srv.should_exit = True
    ms.sort()
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(
        f"POST /api/plan (built-in example), {len(ms)} requests after one warm-up: "
        f"p50 {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, max {ms[-1]:.0f} ms"
    )


if __name__ == "__main__":
    main()
