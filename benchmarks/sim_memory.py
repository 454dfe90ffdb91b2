"""Simulator memory on a long run: a simulated day of Poisson traffic at 400 requests/s on
8 replicas (llama-3.1-8b fp8 on H100, 512 input / 64 output tokens on average). Prints the
requests, wall time and the process's peak resident memory, which must not grow with the run:
requests are drawn a chunk at a time and statistics are folded into fixed-size histograms.

    .venv/bin/python benchmarks/sim_memory.py [--hours 24]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

from fleetplan.catalog import load_catalog
from fleetplan.sim import simulate


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--rate", type=float, default=400.0)
    args = ap.parse_args()
    cat = load_catalog()
    sc = {
        "model": "llama-3.1-8b",
        "gpu": "h100",
        "precision": "fp8",
        "replicas": 8,
        "arrivals": {"kind": "poisson", "rate_per_s": args.rate, "duration_s": args.hours * 3600},
        "lengths": {
            "input": {"mean": 512, "dist": "exponential"},
            "output": {"mean": 64, "dist": "exponential"},
        },
        "slo": {"ttft_ms": 500, "tpot_ms": 50},
        "seed": 1,
    }
    before = peak_rss_mb()
    t0 = time.perf_counter()
    last = [t0]

    def progress(share: float) -> None:
        now = time.perf_counter()
        if now - last[0] > 30:
            last[0] = now
            print(f"  {share:.0%} after {now - t0:,.0f} s, peak RSS {peak_rss_mb():,.0f} MB")

    r = simulate(sc, catalog=cat, progress=progress)
    wall = time.perf_counter() - t0
    print(
        f"{args.hours:g} h at {args.rate:g} req/s on 8 replicas: {r.requests:,} requests, "
        f"{r.events:,} events, wall {wall:,.0f} s ({r.requests / wall:,.0f} simulated requests/s)"
    )
    print(
        f"TTFT p50/p99 {r.ttft_ms.p50:.1f}/{r.ttft_ms.p99:.1f} ms, TPOT p50/p99 "
        f"{r.tpot_ms.p50:.1f}/{r.tpot_ms.p99:.1f} ms, goodput {r.goodput:.2%}; "
        f"percentiles {'exact' if r.ttft_ms.exact else 'from the log-bucket histogram (±0.5 %)'}"
    )
    print(f"peak RSS {peak_rss_mb():,.0f} MB (after loading the catalog: {before:,.0f} MB)")


if __name__ == "__main__":
    main()
