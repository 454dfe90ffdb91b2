"""`--emit` writes the scaler that was simulated. For a queue policy: requests running and
waiting over the policy's threshold. It wrote `plan --emit`'s trigger instead (the waiting ones
alone over a quarter of the batch: 64 where the simulated policy scaled at 179), whatever the
policy's `target_queue_per_replica`. For a static one: its fixed count."""

from __future__ import annotations

from pathlib import Path

import yaml

WEEK = Path(__file__).resolve().parents[2] / "examples" / "autoscale-week.yaml"


def _trigger(out: Path) -> dict:
    so = yaml.safe_load((out / "keda-scaledobject.yaml").read_text())
    return next(t for t in so["spec"]["triggers"] if t["type"] == "prometheus")["metadata"]


def test_emitted_queue_trigger_is_the_simulated_one(cli, tmp_path: Path) -> None:
    data = yaml.safe_load(WEEK.read_text())
    data["traffic"]["days"] = 1
    data["policies"] = [
        {"name": "q", "kind": "queue", "target_utilization": 0.7, "min_replicas": 2},
        {"name": "q50", "kind": "queue", "target_queue_per_replica": 50, "min_replicas": 2},
    ]
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(data))
    r = cli("autoscale", "simulate", str(f), "--emit", str(tmp_path / "a"), "--emit-policy", "q")
    assert r.code == 0, r.err
    meta = _trigger(tmp_path / "a")
    # the plan's batch limit 256 x the policy's target 0.7, on running + waiting
    assert meta["threshold"] == "179"
    assert "vllm:num_requests_running" in meta["query"]
    assert "vllm:num_requests_waiting" in meta["query"]
    r = cli("autoscale", "simulate", str(f), "--emit", str(tmp_path / "b"), "--emit-policy", "q50")
    assert r.code == 0, r.err
    assert _trigger(tmp_path / "b")["threshold"] == "50"


def test_emitted_static_policy_holds_its_count(cli, tmp_path: Path) -> None:
    """static-peak ran 7 replicas all week; its ScaledObject scaled on the queue from 1 to
    1000."""
    out = tmp_path / "s"
    r = cli("autoscale", "simulate", str(WEEK), "--emit", str(out), "--emit-policy", "static-peak")
    assert r.code == 0, r.err
    spec = yaml.safe_load((out / "keda-scaledobject.yaml").read_text())["spec"]
    assert spec["minReplicaCount"] == spec["maxReplicaCount"] == 7  # the plan's count
