"""Speed of `fleetplan plan`: the built-in example and the widest search.

Prints, for the built-in example (warm, in-process) and for the widest search (every precision
x every engine x every offer of every provider and pricing), the candidates (GPU x precision x
tp x engine x max batch x offer) evaluated, the search time and the whole plan (search,
horizons, APIs, report data), medians of several runs after one warm-up; then the CLI end to
end in a new process. Targets (issue 11): built-in plan <= 100 ms warm in-process; widest
search (~140 K candidates) <= 1 s for the whole plan.

    python benchmarks/plan_speed.py [runs]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from importlib import resources
from typing import get_args

import yaml

from fleetplan.catalog import Catalog, load_catalog
from fleetplan.plan import make_plan
from fleetplan.scenario import ALLOW, PRICING, parse_scenario


def _widest(data: dict, cat: Catalog) -> dict:
    """Every precision, engine, provider, pricing and tier the catalog and scenario know."""
    cons = dict(data.get("constraints", {}))
    cons.pop("providers", None)
    cons["pricing"] = list(get_args(PRICING))
    cons["allow"] = list(get_args(ALLOW))
    return dict(
        data, precisions=sorted(cat.precisions), engines=sorted(cat.engines), constraints=cons
    )


def main(runs: int = 3) -> None:
    cat = load_catalog()
    text = resources.files("fleetplan.examples").joinpath("chat-8b.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    for label, scenario in (("built-in example", data), ("widest search", _widest(data, cat))):
        spec = parse_scenario(scenario)
        make_plan(spec, catalog=cat)  # warm-up: imports, catalog caches
        searches, totals, cpus, n = [], [], [], 0
        for _ in range(runs):
            t0, c0 = time.perf_counter(), time.process_time()
            p = make_plan(spec, catalog=cat)
            totals.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            searches.append(p.search_s)
            n = p.candidates_evaluated
        print(
            f"{label}: {n:,} candidates; search {statistics.median(searches) * 1e3:.0f} ms; "
            f"whole plan (horizons, APIs, report data) {statistics.median(totals) * 1e3:.0f} ms "
            f"warm in-process, {statistics.median(cpus) * 1e3:.0f} ms CPU (median of {runs}; "
            f"load average {os.getloadavg()[0]:.1f})"
        )
    cli = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "fleetplan", "plan", "--json"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cli.append(time.perf_counter() - t0)
    print(
        f"`fleetplan plan` end to end (new process): {statistics.median(cli):.2f} s (median of 3)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
