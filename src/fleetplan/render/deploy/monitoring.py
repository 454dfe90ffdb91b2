"""Watching a deployment: a ServiceMonitor (Prometheus Operator) that scrapes the engine, a
PrometheusRule with SLO, saturation and GPU-health alerts, and a Grafana dashboard.

Metric names: the engine's own series (engines.py cites each engine's metrics page); GPU
series from NVIDIA's dcgm-exporter default counters
(https://github.com/NVIDIA/dcgm-exporter/blob/main/etc/default-counters.csv) and AMD's Device
Metrics Exporter (https://github.com/ROCm/device-metrics-exporter, docs/configuration/
metricslist.md), both mapping GPUs to the pods that use them; scraped through their own
ServiceMonitor, the workload's pod is the `exported_pod` label.
"""

from __future__ import annotations

from typing import Any

from fleetplan.render.deploy.k8s import labels, queue_threshold
from fleetplan.render.deploy.target import Target

SCRAPE_INTERVAL = "15s"
# Alert thresholds: starting points, stated in the README.
KV_USAGE_ALERT = 0.95  # above this, engines start to preempt or queue requests
# NVIDIA's GPU temperature sits below the slowdown temperature `nvidia-smi -q -d TEMPERATURE`
# shows; AMD's junction (hotspot) sensor reads higher than a die average.
GPU_TEMP_ALERT_C = {"nvidia": 85, "amd": 100}
GPU_MEMORY_ALERT = 0.98  # share of GPU memory in use (engines pre-allocate ~90 %)

_GPU_SERIES = {
    "nvidia": {
        "temp": "DCGM_FI_DEV_GPU_TEMP",
        "mem_used": "DCGM_FI_DEV_FB_USED",
        "mem_free": "DCGM_FI_DEV_FB_FREE",
        "xid": "DCGM_FI_DEV_XID_ERRORS",
    },
    "amd": {
        "temp": "amd_gpu_junction_temperature",
        "mem_used": "amd_gpu_used_vram",
        "mem_free": "amd_gpu_free_vram",
    },
}


def service_monitor(t: Target) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": t.name, "labels": labels(t)},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": t.name}},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": SCRAPE_INTERVAL}],
        },
    }


def _svc(t: Target) -> str:
    return f'service="{t.name}"'


def _pods(t: Target) -> str:
    return f'exported_pod=~"{t.name}-.*"'


def _p95(metric: str, t: Target) -> str:
    return f"histogram_quantile(0.95, sum by (le) (rate({metric}_bucket{{{_svc(t)}}}[5m])))"


def _gpu_mem_share(t: Target) -> str | None:
    g = _GPU_SERIES.get(t.vendor, {})
    if "mem_used" not in g:
        return None
    used = f"{g['mem_used']}{{{_pods(t)}}}"
    free = f"{g['mem_free']}{{{_pods(t)}}}"
    return f"{used} / ({used} + {free})"


def _alert(name: str, expr: str, for_: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    }


def alerts(t: Target) -> list[dict[str, Any]]:
    m = t.engine.metrics
    out: list[dict[str, Any]] = []
    if m.ttft and t.ttft_slo_s:
        out.append(_alert(
            "LLMTimeToFirstTokenP95OverSLO", f"{_p95(m.ttft, t)} > {t.ttft_slo_s:g}", "10m",
            "warning", f"{t.name}: p95 time to first token above the {t.ttft_slo_s:g} s SLO",
        ))  # fmt: skip
    if m.tpot and t.tpot_slo_s:
        out.append(_alert(
            "LLMTimePerOutputTokenP95OverSLO", f"{_p95(m.tpot, t)} > {t.tpot_slo_s:g}", "10m",
            "warning", f"{t.name}: p95 time per output token above the {t.tpot_slo_s:g} s SLO",
        ))  # fmt: skip
    if m.queue:
        per_replica = f"sum({m.queue}{{{_svc(t)}}}) / count({m.queue}{{{_svc(t)}}})"
        limit = 2 * queue_threshold(t)
        out.append(_alert(
            "LLMQueueBacklog", f"{per_replica} > {limit}", "10m", "warning",
            f"{t.name}: over {limit} waiting requests per replica for 10 minutes "
            "(twice the autoscaling threshold): scaling is not keeping up",
        ))  # fmt: skip
    if m.kv_usage:
        out.append(_alert(
            "LLMKVCacheNearlyFull", f"max({m.kv_usage}{{{_svc(t)}}}) > {KV_USAGE_ALERT:g}",
            "10m", "warning", f"{t.name}: KV cache over {KV_USAGE_ALERT:.0%} full",
        ))  # fmt: skip
    g = _GPU_SERIES.get(t.vendor, {})
    if "temp" in g:
        limit_c = GPU_TEMP_ALERT_C[t.vendor]
        out.append(_alert(
            "GPUTemperatureHigh", f"max({g['temp']}{{{_pods(t)}}}) > {limit_c}",
            "5m", "warning", f"{t.name}: a GPU above {limit_c} °C",
        ))  # fmt: skip
    mem = _gpu_mem_share(t)
    if mem:
        out.append(_alert(
            "GPUMemoryNearlyFull", f"max({mem}) > {GPU_MEMORY_ALERT:g}", "10m", "warning",
            f"{t.name}: a GPU's memory over {GPU_MEMORY_ALERT:.0%} used",
        ))  # fmt: skip
    if "xid" in g:
        out.append(_alert(
            "GPUXidError", f"max(max_over_time({g['xid']}{{{_pods(t)}}}[5m])) > 0", "0m",
            "critical", f"{t.name}: a GPU reported an XID error (check `dmesg`; "
            "https://docs.nvidia.com/deploy/xid-errors/)",
        ))  # fmt: skip
    return out


def prometheus_rule(t: Target) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": t.name, "labels": labels(t)},
        "spec": {"groups": [{"name": f"{t.name}.rules", "rules": alerts(t)}]},
    }


def _panel(i: int, title: str, exprs: list[tuple[str, str]], unit: str) -> dict[str, Any]:
    return {
        "id": i + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + k), "expr": e, "legendFormat": legend}
            for k, (e, legend) in enumerate(exprs)
        ],
    }


def dashboard(t: Target) -> dict[str, Any]:
    """A Grafana dashboard (JSON model, schemaVersion 39) over the same series as the rules."""
    m = t.engine.metrics
    panels: list[tuple[str, list[tuple[str, str]], str]] = []
    if m.ttft:
        ttft = [(_p95(m.ttft, t), "p95")]
        if t.ttft_slo_s:
            ttft.append((f"vector({t.ttft_slo_s:g})", "SLO"))
        panels.append(("Time to first token, p95", ttft, "s"))
    if m.tpot:
        tpot = [(_p95(m.tpot, t), "p95")]
        if t.tpot_slo_s:
            tpot.append((f"vector({t.tpot_slo_s:g})", "SLO"))
        panels.append(("Time per output token, p95", tpot, "s"))
    if m.queue:
        panels.append(("Waiting requests per pod", [(f"{m.queue}{{{_svc(t)}}}", "{{pod}}")], ""))
    if m.kv_usage:
        panels.append(
            ("KV cache in use", [(f"{m.kv_usage}{{{_svc(t)}}}", "{{pod}}")], "percentunit")
        )
    panels.append(("Replicas scraped", [(f"count(up{{{_svc(t)}}} == 1)", "up")], ""))
    g = _GPU_SERIES.get(t.vendor, {})
    mem = _gpu_mem_share(t)
    if mem:
        panels.append(("GPU memory in use", [(mem, "{{exported_pod}} {{gpu}}")], "percentunit"))
    if "temp" in g:
        temp = f"{g['temp']}{{{_pods(t)}}}"
        panels.append(("GPU temperature", [(temp, "{{exported_pod}} {{gpu}}")], "celsius"))
    return {
        "title": f"{t.name} ({t.engine.name} on {t.gpu})",
        "uid": f"fleetplan-{t.name}"[:40],
        "schemaVersion": 39,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "tags": ["fleetplan", "llm"],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": [_panel(i, *p) for i, p in enumerate(panels)],
    }
