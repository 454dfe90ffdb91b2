"""Speed of the deployment search and of the whole `fleetplan plan` on the built-in example.

Prints the number of candidates (GPU x precision x tp x engine x max batch x offer) evaluated,
the search time and the end-to-end time (median of several runs, after one warm-up). Targets
(issue 4): >= 10,000 candidates; search < 1 s; whole plan < 2 s on the 2-core machine.

    python benchmarks/plan_speed.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from importlib import resources

import yaml

from fleetplan.plan import make_plan
from fleetplan.scenario import parse_scenario


def main(runs: int = 5) -> None:
    text = resources.files("fleetplan.examples").joinpath("chat-8b.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    wide = dict(data, precisions=["bf16", "fp8", "awq", "int8"], engines=["vllm", "tgi"])
    for label, scenario in (("built-in example", data), ("wide search", wide)):
        spec = parse_scenario(scenario)
        make_plan(spec)  # warm-up: catalog load and imports
        searches, totals, n = [], [], 0
        for _ in range(runs):
            t0 = time.perf_counter()
            p = make_plan(spec)
            totals.append(time.perf_counter() - t0)
            searches.append(p.search_s)
            n = p.candidates_evaluated
        print(
            f"{label}: {n:,} candidates; search {statistics.median(searches) * 1e3:.0f} ms "
            f"({n / statistics.median(searches):,.0f} candidates/s); plan with horizons, APIs "
            f"and report data {statistics.median(totals) * 1e3:.0f} ms (median of {runs})"
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
    main()
