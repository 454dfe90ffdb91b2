"""Simulations per second of `fleetplan sweep` on the local process pool and on Ray.

    python benchmarks/sweep_speed.py [--seeds 4] [--days 1]

One run = one autoscaling policy replayed over `--days` of examples/autoscale-week.yaml's
traffic (10-second ticks). Both backends run the same grid; the rows must agree.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--days", type=float, default=1.0)
    args = ap.parse_args()

    from fleetplan.autoscale.sweep import SweepSpec, jobs_for, run_local, run_ray

    spec = SweepSpec(
        scenarios=[str(ROOT / "examples" / "autoscale-week.yaml")],
        seeds=list(range(args.seeds)),
        traffic_scale=[0.5, 1.0, 1.5],
        days=args.days,
    )
    jobs = jobs_for(spec, ROOT)
    results = {}
    for name, fn in (("local pool", run_local), ("ray", run_ray)):
        t0 = time.perf_counter()
        rows = fn(jobs)
        wall = time.perf_counter() - t0
        results[name] = rows
        print(
            f"{name:10s}: {len(rows)} policy simulations ({len(jobs)} jobs x policies, "
            f"{args.days:g} day each) in {wall:.1f} s = {len(rows) / wall:.1f} simulations/s "
            "(start-up included)"
        )
    same = results["local pool"] == results["ray"]
    print(f"rows identical on both backends: {same}")


if __name__ == "__main__":
    main()
