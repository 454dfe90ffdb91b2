"""Simulator speed: one simulated hour at 50 requests/s (examples/sim-hour.yaml).

Prints the wall time of `simulate()` (catalog loading excluded, workload generation and
summary statistics included) and the simulated requests per wall-clock second, and the same per
second of this process's CPU time (what the simulator costs when the machine is shared: wall
time then also counts the other work's turns on the cores).

    .venv/bin/python benchmarks/sim_speed.py [--repeat N] [SCENARIO]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from fleetplan.catalog import load_catalog
from fleetplan.sim import load_scenario, simulate

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default=str(HERE.parent / "examples/sim-hour.yaml"))
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    cat = load_catalog()
    sc = load_scenario(args.scenario)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    best = best_cpu = float("inf")
    for i in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        r = simulate(sc, catalog=cat)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        best, best_cpu = min(best, wall), min(best_cpu, cpu)
        print(
            f"run {i + 1}: {r.requests:,} requests, {r.duration_s:,.0f} s simulated, "
            f"{r.events:,} events: wall {wall:.2f} s, {r.requests / wall:,.0f} simulated "
            f"requests/s; CPU {cpu:.2f} s, {r.requests / cpu:,.0f} per CPU-second"
        )
    d = r.to_dict()
    print(
        f"scenario: {d['config'].get('setup', d['config']['service'])} x{d['config']['replicas']}; "
        f"TTFT p50/p99 {d['ttft_ms']['p50']:.1f}/{d['ttft_ms']['p99']:.1f} ms, "
        f"TPOT p50/p99 {d['tpot_ms']['p50']:.1f}/{d['tpot_ms']['p99']:.1f} ms, "
        f"{d['output_tok_per_s']:,.0f} output tok/s, goodput {d['goodput']:.1%}, "
        f"preemptions {d['preemptions']}"
    )
    print(f"best wall time: {best:.2f} s ({r.requests / best:,.0f} simulated requests/s)")
    print(f"best CPU time: {best_cpu:.2f} s ({r.requests / best_cpu:,.0f} per CPU-second)")
    print(f"load average during the runs: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
