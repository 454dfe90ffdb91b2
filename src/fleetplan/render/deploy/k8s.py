"""Kubernetes objects for a target: Deployment, Service, PodDisruptionBudget, the model-cache
PersistentVolumeClaim and a KEDA ScaledObject scaling on the engine's queue depth."""

from __future__ import annotations

import math
from typing import Any

from fleetplan.render.deploy.engines import PORT
from fleetplan.render.deploy.target import CONTAINER_START_S, STORAGE_GB_S, WARMUP_S, Target

# Per-GPU host resources requested with each GPU (the engine's tokenizer/scheduler process
# and pinned host buffers): starting points to tune, stated in the emitted README.
CPU_PER_GPU = 4
MEMORY_GIB_PER_GPU = 32
# KEDA scales out when a replica's waiting queue reaches this share of its batch slots: a
# queue a quarter as deep as the batch already adds about a quarter of a decode to each wait.
QUEUE_SHARE_TO_SCALE = 0.25
# The startup probe allows this multiple of the estimated load time before restarting the
# pod: the first start also downloads the weights into the empty cache volume.
STARTUP_ALLOWANCE = 3.0
PROBE_PERIOD_S = 10
PROMETHEUS_URL = "http://prometheus-operated.monitoring.svc:9090"

# Node labels that name the GPU model, so pods land on nodes with the planned GPU.
# NVIDIA: GPU Feature Discovery publishes nvidia.com/gpu.product, the NVML device name with
# spaces as dashes (https://github.com/NVIDIA/k8s-device-plugin/tree/main/docs/gpu-feature-discovery).
# AMD: the GPU Operator's node labeller publishes amd.com/gpu.device-id, the PCI device id
# (https://github.com/ROCm/k8s-device-plugin/blob/master/cmd/k8s-node-labeller/README.md;
# 74a1 is the MI300X: https://amd-enterprise-ai.github.io/aim-engine/admin/gpu-management).
# GPUs missing here get no affinity, and the README says so.
GPU_NODE_LABELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "a100-40gb": ("nvidia.com/gpu.product", ("NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-PCIE-40GB")),
    "a100-80gb": ("nvidia.com/gpu.product", ("NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe")),
    "h100-sxm": ("nvidia.com/gpu.product", ("NVIDIA-H100-80GB-HBM3",)),
    "h100-pcie": ("nvidia.com/gpu.product", ("NVIDIA-H100-PCIe",)),
    "h100-nvl": ("nvidia.com/gpu.product", ("NVIDIA-H100-NVL",)),
    "h200": ("nvidia.com/gpu.product", ("NVIDIA-H200",)),
    "b200": ("nvidia.com/gpu.product", ("NVIDIA-B200",)),
    "l40s": ("nvidia.com/gpu.product", ("NVIDIA-L40S",)),
    "l4": ("nvidia.com/gpu.product", ("NVIDIA-L4",)),
    "a10g": ("nvidia.com/gpu.product", ("NVIDIA-A10G",)),
    "t4": ("nvidia.com/gpu.product", ("Tesla-T4",)),
    "rtx-4090": ("nvidia.com/gpu.product", ("NVIDIA-GeForce-RTX-4090",)),
    "rtx-5090": ("nvidia.com/gpu.product", ("NVIDIA-GeForce-RTX-5090",)),
    "rtx-3090": ("nvidia.com/gpu.product", ("NVIDIA-GeForce-RTX-3090",)),
    "rtx-6000-ada": ("nvidia.com/gpu.product", ("NVIDIA-RTX-6000-Ada-Generation",)),
    "mi300x": ("amd.com/gpu.device-id", ("74a1",)),
}


def labels(t: Target) -> dict[str, str]:
    return {"app.kubernetes.io/name": t.name, "app.kubernetes.io/part-of": "fleetplan"}


def _meta(t: Target, name: str | None = None) -> dict[str, Any]:
    return {"name": name or t.name, "labels": labels(t)}


def startup_failure_threshold(t: Target) -> int:
    return math.ceil(t.load_time_s * STARTUP_ALLOWANCE / PROBE_PERIOD_S)


def load_basis(t: Target) -> str:
    return (
        f"{CONTAINER_START_S:g} s container start + {t.weights_gb:.1f} GB of weights at "
        f"{STORAGE_GB_S:g} GB/s from the model-cache volume + {WARMUP_S:g} s engine warm-up"
    )


def node_affinity(t: Target) -> dict[str, Any] | None:
    entry = GPU_NODE_LABELS.get(t.gpu)
    if entry is None:
        return None
    key, values = entry
    term = {"matchExpressions": [{"key": key, "operator": "In", "values": list(values)}]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [term]}}}  # fmt: skip


def deployment(t: Target) -> dict[str, Any]:
    c = t.candidate
    probe = {"httpGet": {"path": t.engine.health_path, "port": PORT}}
    container: dict[str, Any] = {
        "name": "server",
        "image": t.image,
        "command": list(t.engine.command),
        "args": t.args,
        "ports": [{"containerPort": PORT, "name": "http"}],
        "env": [
            {
                "name": "HF_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {"name": "hf-token", "key": "token", "optional": True}
                },
            },
        ],
        "resources": {
            "limits": {t.gpu_resource: c.tp},
            "requests": {
                t.gpu_resource: c.tp,
                "cpu": str(CPU_PER_GPU * c.tp),
                "memory": f"{MEMORY_GIB_PER_GPU * c.tp}Gi",
            },
        },
        # the startup probe holds liveness and readiness off until the model has loaded
        "startupProbe": {
            **probe,
            "periodSeconds": PROBE_PERIOD_S,
            "failureThreshold": startup_failure_threshold(t),
        },
        "readinessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
        "livenessProbe": {**probe, "periodSeconds": 30, "failureThreshold": 5},
        "volumeMounts": [
            {"name": "model-cache", "mountPath": t.engine.cache_dir},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
    }
    pod: dict[str, Any] = {
        "containers": [container],
        "volumes": [
            {"name": "model-cache", "persistentVolumeClaim": {"claimName": pvc_name(t)}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
        ],
        "terminationGracePeriodSeconds": 120,
    }
    affinity = node_affinity(t)
    if affinity:
        pod["affinity"] = affinity
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            **_meta(t),
            "annotations": {
                "fleetplan/plan": (
                    f"{c.gpu} x{c.tp} {c.precision} {c.engine}, {c.replicas} replicas at peak"
                ),
                "fleetplan/startup-estimate-s": str(t.load_time_s),
                "fleetplan/startup-basis": load_basis(t),
            },
        },
        "spec": {
            "replicas": c.replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": t.name}},
            "template": {"metadata": {"labels": labels(t)}, "spec": pod},
        },
    }


def pvc_name(t: Target) -> str:
    return f"{t.name}-model-cache"


def pvc_size_gib(t: Target) -> int:
    """Room for the weights twice (a download in progress next to the cached copy), >= 20."""
    return max(20, math.ceil(2 * t.weights_gb * 1e9 / 2**30 / 10) * 10)


def pvc(t: Target) -> dict[str, Any]:
    # ReadWriteMany lets every replica share one cache; a storage class without it needs
    # one claim per replica (a StatefulSet) or a read-only pre-filled volume.
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(t, pvc_name(t)),
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "resources": {"requests": {"storage": f"{pvc_size_gib(t)}Gi"}},
        },
    }


def service(t: Target) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(t),
        "spec": {
            "selector": {"app.kubernetes.io/name": t.name},
            "ports": [{"name": "http", "port": PORT, "targetPort": PORT}],
        },
    }


def pdb(t: Target) -> dict[str, Any]:
    # maxUnavailable 1 lets a node drain evict one replica at a time at any replica count,
    # KEDA's minimum included; a minAvailable equal to the replica count would block drains.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(t),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": t.name}},
        },
    }


def queue_threshold(t: Target) -> int:
    return max(1, round(t.candidate.max_batch * QUEUE_SHARE_TO_SCALE))


def scaled_object(t: Target) -> dict[str, Any] | None:
    """KEDA ScaledObject on the engine's queue-depth gauge; None when the engine has none.

    The query sums the gauge over the Service's pods; the `service` label is the one the
    Prometheus Operator attaches to series scraped through the ServiceMonitor. KEDA's
    Prometheus trigger defaults to AverageValue, so the threshold is per replica."""
    queue = t.engine.metrics.queue
    if not queue:
        return None
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": _meta(t),
        "spec": {
            "scaleTargetRef": {"name": t.name},
            "minReplicaCount": t.min_replicas,
            "maxReplicaCount": t.max_replicas,
            "cooldownPeriod": 300,
            "pollingInterval": 15,
            "triggers": [
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": PROMETHEUS_URL,
                        "query": f'sum({queue}{{service="{t.name}"}})',
                        "threshold": str(queue_threshold(t)),
                    },
                }
            ],
        },
    }
