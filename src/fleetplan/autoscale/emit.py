"""The chosen policy as files: a KEDA ScaledObject (the queue-depth trigger of `plan --emit`
plus cron triggers for a predictive schedule) and the router's overflow threshold."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from fleetplan.autoscale.config import AutoscaleScenario, Policy
from fleetplan.autoscale.fleet import Deployment
from fleetplan.autoscale.traffic import TickTraffic
from fleetplan.catalog import Catalog

WEEK_H = 168
CRON_DAYS = ("1", "2", "3", "4", "5", "6", "0")  # cron's day of week for Monday..Sunday


def weekly_schedule(
    policy: Policy, dep: Deployment, traffic: TickTraffic
) -> list[tuple[int, int, int]]:
    """(hour of week from Monday 00:00, hours, replicas) blocks above `min_replicas`: the
    replicas for the busiest expected rate within each hour and its lead (cold start)."""
    dt = traffic.tick_s
    per_h = round(3600 / dt)
    lead = math.ceil((policy.lead_s or dep.cold_start_s) / 3600.0)
    rates = traffic.expected_qps
    hours = len(rates) // per_h
    if hours == 0:
        return []
    hourly = rates[: hours * per_h].reshape(hours, per_h).max(axis=1)
    need = np.zeros(WEEK_H, dtype=np.int64)
    for h in range(hours):
        window = hourly[h : h + 1 + lead].max()
        n = math.ceil(
            window * (1 + policy.margin) / (dep.replica_req_per_s * policy.target_utilization)
            - 1e-9
        )
        how = (traffic.start_weekday * 24 + h) % WEEK_H
        need[how] = max(need[how], n)
    blocks: list[tuple[int, int, int]] = []
    for h in range(WEEK_H):
        n = int(max(need[h], policy.min_replicas))
        if n <= policy.min_replicas:
            continue
        if blocks and blocks[-1][0] + blocks[-1][1] == h and blocks[-1][2] == n and h % 24:
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + 1, n)
        else:
            blocks.append((h, 1, n))
    return blocks


def cron_triggers(blocks: list[tuple[int, int, int]]) -> list[dict[str, Any]]:
    out = []
    for start, hours, n in blocks:
        day, hour = divmod(start, 24)
        end_day, end_hour = divmod(start + hours, 24)
        out.append(
            {
                "type": "cron",
                "metadata": {
                    "timezone": "Etc/UTC",
                    "start": f"0 {hour} * * {CRON_DAYS[day]}",
                    "end": f"0 {end_hour} * * {CRON_DAYS[end_day % 7]}",
                    "desiredReplicas": str(n),
                },
            }
        )
    return out


def emit_policy(
    sc: AutoscaleScenario,
    policy: Policy,
    dep: Deployment,
    traffic: TickTraffic,
    plan: Any,
    cat: Catalog,
    folder: Path,
) -> list[Path]:
    """Write `keda-scaledobject.yaml` and `router-overflow.yaml` for `policy` into `folder`."""
    from fleetplan.render.deploy import to_yaml
    from fleetplan.render.deploy.k8s import scaled_object
    from fleetplan.render.deploy.target import make_target

    target = make_target(plan, cat)
    so = scaled_object(target)
    if so is None:
        so = {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": target.name},
            "spec": {"scaleTargetRef": {"name": target.name}, "triggers": []},
        }
    spec = so["spec"]
    spec["minReplicaCount"] = policy.min_replicas
    spec["maxReplicaCount"] = policy.max_replicas
    spec["pollingInterval"] = int(policy.polling_s)
    spec["cooldownPeriod"] = int(policy.cooldown_s)
    if policy.kind == "queue":
        _queue_trigger(spec["triggers"], target, policy, dep)
    if policy.kind == "predictive":
        spec["triggers"] = spec["triggers"] + cron_triggers(weekly_schedule(policy, dep, traffic))
    if policy.kind == "warm_standby":
        spec["minReplicaCount"] = max(policy.min_replicas, policy.standby)
    if policy.kind == "static":  # the fixed count it simulated, not a queue scaler from 1
        n = policy.replicas if policy.replicas is not None else dep.planned_replicas
        n = max(policy.min_replicas, min(policy.max_replicas, n))
        spec["minReplicaCount"] = spec["maxReplicaCount"] = n
    if not spec["triggers"]:
        raise ValueError("the engine exports no queue metric and the policy has no schedule")
    files = {"keda-scaledobject.yaml": to_yaml(so)}
    wait = policy.overflow.max_wait_s if policy.overflow else 2.0
    per_replica = dep.max_batch + wait * dep.replica_req_per_s
    overflow = {
        "gateway": {
            "overflow": {
                # requests in flight on the fleet beyond which the gateway sends new ones to the
                # API: every replica full plus `wait` seconds of its queue, at the planned count
                "max_in_flight": math.ceil(dep.planned_replicas * per_replica),
                "max_ttft_ms": round(sc_slo_ttft(plan)),
            }
        }
    }
    files["router-overflow.yaml"] = (
        f"# fleetplan autoscale: overflow threshold for policy {policy.name!r}; merge into the "
        "gateway config\n" + to_yaml(overflow)
    )
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = folder / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


def _queue_trigger(
    triggers: list[dict[str, Any]], target: Any, policy: Policy, dep: Deployment
) -> None:
    """The simulated queue scaler in the emitted trigger: its metric is the requests running
    and waiting, its threshold the policy's (not `plan --emit`'s share of the batch on the
    waiting ones alone)."""
    from fleetplan.autoscale.policies import queue_threshold

    m = target.engine.metrics
    prom = [t for t in triggers if t["type"] == "prometheus"]
    if not (prom and m.queue and m.running):
        return
    sel = f'{{service="{target.name}"}}'
    meta = prom[0]["metadata"]
    meta["query"] = f"sum({m.running}{sel}) + sum({m.queue}{sel})"
    meta["threshold"] = str(max(1, round(queue_threshold(policy, dep))))


def sc_slo_ttft(plan: Any) -> float:
    t = plan.scenario.slo.ttft_p95_ms
    return float(t) if t else 0.0
