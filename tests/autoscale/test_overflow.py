"""Overflow sends to the API what the fleet would not start within `max_wait_s`. The room was
`max_wait_s x capacity` (46 requests for one replica at 2 s) against a 10 s tick's service
(230): at 20 req/s on one replica three quarters of the traffic went to the API, utilization
sat near 0.2, and neither a reactive nor a queue scaler ever added a replica (on the example
week: 1 replica all week, 9.95 M of 12.7 M requests and $3,135 to the API)."""

from __future__ import annotations

from pathlib import Path

import yaml

from fleetplan.autoscale import parse_autoscale, run_autoscale

WEEK = Path(__file__).resolve().parents[2] / "examples" / "autoscale-week.yaml"


def test_overflow_takes_only_what_the_fleet_cannot_start(catalog) -> None:
    data = yaml.safe_load(WEEK.read_text())
    data["traffic"] = {"kind": "synthetic", "days": 1, "night_qps": 20, "day_qps": 20}
    over = {"api": "gpt-4o-mini", "max_wait_s": 2}
    data["policies"] = [
        {"name": "r", "kind": "reactive", "min_replicas": 1, "overflow": over},
        {"name": "q", "kind": "queue", "min_replicas": 1, "overflow": over},
    ]
    res = run_autoscale(parse_autoscale(data), WEEK.parent, catalog)
    for p in res.policies:
        # 20 req/s is 0.87 of one replica: above the 0.7 target, so the fleet grows, and
        # only what arrives before a second replica serves may overflow
        assert p.peak_replicas >= 2, p.name
        assert p.overflowed_requests < 0.02 * res.requests, (p.name, p.overflowed_requests)
        assert p.dropped_requests == 0
