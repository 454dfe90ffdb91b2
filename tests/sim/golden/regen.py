"""Regenerate sim-trace.json (the golden summary of examples/sim-trace.yaml)."""

import json
from pathlib import Path

from fleetplan.sim import load_scenario, simulate

HERE = Path(__file__).resolve().parent
KEYS = (
    "requests",
    "ttft_ms",
    "tpot_ms",
    "e2e_ms",
    "itl_ms",
    "output_tok_per_s",
    "goodput",
    "preemptions",
    "prefix_hit_tokens",
)

d = simulate(load_scenario(HERE.parents[2] / "examples" / "sim-trace.yaml")).to_dict()
keep = {k: d[k] for k in KEYS}
for k in ("ttft_ms", "tpot_ms", "e2e_ms", "itl_ms"):
    keep[k] = {p: d[k][p] for p in ("p50", "p99", "mean")}
(HERE / "sim-trace.json").write_text(json.dumps(keep, indent=2) + "\n")
