"""Scenario fields that the fleet model used to bend silently: a static count outside the
policy's bounds (clamped), `replicas` on a scaling kind (ignored), a daily low above the high."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fleetplan.autoscale import parse_autoscale
from fleetplan.errors import InputError

WEEK = Path(__file__).resolve().parents[2] / "examples" / "autoscale-week.yaml"


def _week(**changes: object) -> dict:
    data = yaml.safe_load(WEEK.read_text())
    data.update(changes)
    return data


def test_static_replicas_below_min_replicas_is_refused_not_clamped() -> None:
    """`replicas: 0` ran one replica (the default min_replicas) and reported its week."""
    with pytest.raises(InputError, match="replicas 0 is outside min_replicas 1 to max_replicas"):
        parse_autoscale(_week(policies=[{"name": "s", "kind": "static", "replicas": 0}]))
    with pytest.raises(InputError, match="replicas 9 is outside min_replicas 1 to max_replicas 4"):
        parse_autoscale(
            _week(policies=[{"name": "s", "kind": "static", "replicas": 9, "max_replicas": 4}])
        )
    ok = parse_autoscale(
        _week(policies=[{"name": "s", "kind": "static", "replicas": 0, "min_replicas": 0}])
    )
    assert ok.policies[0].replicas == 0


def test_replicas_on_a_scaling_kind_is_refused_not_ignored() -> None:
    with pytest.raises(InputError, match="replicas 3 on kind 'reactive'; accepted: replicas only"):
        parse_autoscale(_week(policies=[{"name": "r", "kind": "reactive", "replicas": 3}]))


def test_night_above_day_is_refused(cli, tmp_path: Path) -> None:
    data = _week()
    data["traffic"]["night_qps"] = 50
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(data))
    r = cli("autoscale", "simulate", str(f))
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
    assert "night_qps 50 is above day_qps 40" in r.err


def test_traffic_shorter_than_a_window_is_refused(cli, tmp_path: Path) -> None:
    """86 s of traffic against 300 s windows printed "100.0%" of windows meeting the SLO (of
    none); a sweep's `days: 0.0001` made such a run the best at $0."""
    data = _week()
    data["traffic"]["days"] = 0.001
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(data))
    r = cli("autoscale", "simulate", str(f))
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
    assert "traffic.days: 86 s of traffic is shorter than window_s 300" in r.err
    assert "(entry)" not in r.err and "Value error" not in r.err
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"scenarios": [str(WEEK)], "days": 0.0001}))
    r = cli("sweep", str(sweep), "--workers", "1")
    assert r.code == 2 and "sweep: days = 0.0001" in r.err and "window_s 300" in r.err
