"""Deployment artifacts for a chosen plan: vLLM serve arguments, a Docker Compose file and
Kubernetes manifests (Deployment, Service, PodDisruptionBudget, KEDA ScaledObject), following
the patterns of seed 004 (GPU limits, a patient readiness probe, a PDB, scaling on queue depth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetplan.catalog import Catalog
from fleetplan.catalog.specs import ModelSpec
from fleetplan.perf.memory import weights
from fleetplan.plan import Plan
from fleetplan.search.candidates import Candidate

VLLM_IMAGE = "vllm/vllm-openai:v0.11.0"  # a pinned release; change it to the one you run
# Per-GPU host resources requested with each GPU: vLLM's tokenizer/scheduler process and
# pinned host buffers. A starting point to tune, stated in the emitted README.
CPU_PER_GPU = 4
MEMORY_GIB_PER_GPU = 32
# KEDA scales out when a replica's waiting queue reaches this share of its batch slots: a
# queue a quarter as deep as the batch already adds about a quarter of a decode to each wait.
QUEUE_SHARE_TO_SCALE = 0.25
PORT = 8000
# Start-up time model (seconds): container + CUDA init, weights from a local persistent volume
# at WEIGHTS_LOAD_GB_S, then engine warm-up (memory profiling, CUDA graph capture). Seed 004
# reports 2-8 minutes end to end; these figures land inside that range and are stated in the
# manifests' annotations so a user can adjust them.
CONTAINER_START_S = 30.0
WEIGHTS_LOAD_GB_S = 1.0
WARMUP_S = 60.0


@dataclass(frozen=True)
class Artifacts:
    vllm_args: list[str]
    compose: dict[str, Any]
    manifests: list[dict[str, Any]]
    load_time_s: int
    notes: list[str]


def _max_model_len(p: Plan) -> int:
    need = p.input.p99 + p.output.p99
    return int(min(p.model.max_context, math.ceil(need / 1024) * 1024))


def load_time_s(model: ModelSpec, c: Candidate, cat: Catalog) -> int:
    w = weights(model, cat.precision(c.precision)).total_bytes
    return math.ceil(CONTAINER_START_S + w / 1e9 / WEIGHTS_LOAD_GB_S + WARMUP_S)


def vllm_args(p: Plan, c: Candidate, cat: Catalog) -> list[str]:
    prec = cat.precision(c.precision)
    gpu_util = cat.engine(c.engine).gpu_memory_utilization
    args = [
        p.model.hf_id or p.model.id,
        "--tensor-parallel-size", str(c.tp),
        "--max-model-len", str(_max_model_len(p)),
        "--max-num-seqs", str(c.max_batch),
        "--gpu-memory-utilization", f"{gpu_util:g}",
        "--port", str(PORT),
    ]  # fmt: skip
    if prec.vllm_quantization:
        args += ["--quantization", prec.vllm_quantization]
    if p.scenario.kv_precision == "fp8":
        args += ["--kv-cache-dtype", "fp8"]
    if p.scenario.prefix_caching:
        args.append("--enable-prefix-caching")
    return args


def build(p: Plan, cat: Catalog) -> Artifacts:
    c = p.recommended
    if c is None:
        from fleetplan.errors import UnsupportedError

        raise UnsupportedError("no recommended deployment to emit artifacts for")
    name = _slug(p.model.id)
    args = vllm_args(p, c, cat)
    load_s = load_time_s(p.model, c, cat)
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "fleetplan"}
    annotations = {
        "fleetplan/plan": f"{c.gpu} x{c.tp} {c.precision} {c.engine}, {c.replicas} replicas",
        "fleetplan/startup-estimate-s": str(load_s),
        "fleetplan/startup-basis": (
            f"{CONTAINER_START_S:g} s start + weights at {WEIGHTS_LOAD_GB_S:g} GB/s from a local "
            f"volume + {WARMUP_S:g} s warm-up"
        ),
    }
    container = {
        "name": "vllm",
        "image": VLLM_IMAGE,
        "args": ["--model", *args[:1], *args[1:]],
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
            "limits": {"nvidia.com/gpu": c.tp},
            "requests": {
                "nvidia.com/gpu": c.tp,
                "cpu": str(CPU_PER_GPU * c.tp),
                "memory": f"{MEMORY_GIB_PER_GPU * c.tp}Gi",
            },
        },
        "readinessProbe": {
            "httpGet": {"path": "/health", "port": PORT},
            "initialDelaySeconds": load_s,
            "periodSeconds": 10,
            "failureThreshold": 6,
        },
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": PORT},
            "initialDelaySeconds": load_s + 120,
            "periodSeconds": 30,
            "failureThreshold": 5,
        },
        "volumeMounts": [
            {"name": "model-cache", "mountPath": "/root/.cache/huggingface"},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {
            "replicas": c.replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "model-cache",
                            "persistentVolumeClaim": {"claimName": f"{name}-model-cache"},
                        },
                        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
                    ],
                    "terminationGracePeriodSeconds": 120,
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": PORT, "targetPort": PORT}],
        },
    }
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "minAvailable": max(1, c.replicas - 1),
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
        },
    }
    threshold = max(1, round(c.max_batch * QUEUE_SHARE_TO_SCALE))
    grown = [h.candidate.replicas for h in p.horizons if h.candidate and h.candidate.gpu == c.gpu]
    max_replicas = max([c.replicas * 2, *grown])
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "scaleTargetRef": {"name": name},
            "minReplicaCount": p.scenario.slo.min_replicas,
            "maxReplicaCount": max_replicas,
            "cooldownPeriod": 300,
            "pollingInterval": 15,
            "triggers": [
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": "http://prometheus-operated.monitoring:9090",
                        "query": f'sum(vllm:num_requests_waiting{{service="{name}"}})',
                        "threshold": str(threshold),
                    },
                }
            ],
        },
    }
    compose = {
        "services": {
            name: {
                "image": VLLM_IMAGE,
                "command": args,
                "ports": [f"{PORT}:{PORT}"],
                "ipc": "host",
                "volumes": ["hf-cache:/root/.cache/huggingface"],
                "environment": ["HF_TOKEN=${HF_TOKEN:-}"],
                "deploy": {
                    "replicas": 1,
                    "resources": {
                        "reservations": {
                            "devices": [
                                {"driver": "nvidia", "count": c.tp, "capabilities": ["gpu"]}
                            ]
                        }
                    },
                },
                "healthcheck": {
                    "test": ["CMD", "curl", "-f", f"http://localhost:{PORT}/health"],
                    "interval": "30s",
                    "timeout": "10s",
                    "retries": 3,
                    "start_period": f"{load_s}s",
                },
            }
        },
        "volumes": {"hf-cache": {}},
    }
    notes = [
        f"readiness initialDelaySeconds {load_s} = {annotations['fleetplan/startup-basis']}",
        f"KEDA scales on vLLM's waiting-queue depth (threshold {threshold} = "
        f"{QUEUE_SHARE_TO_SCALE:.0%} of max batch {c.max_batch} per replica), min replicas from "
        "the SLO, 5-minute cooldown (seed 004); tune the threshold to your TTFT budget",
        f"requests per GPU: {CPU_PER_GPU} CPUs and {MEMORY_GIB_PER_GPU} GiB host memory "
        f"(starting points, not measured); image {VLLM_IMAGE}",
        f"compose runs one replica of {c.tp} GPU(s); the plan needs {c.replicas}",
    ]
    return Artifacts(args, compose, [deployment, service, pdb, scaled], load_s, notes)


def write(p: Plan, folder: Path, cat: Catalog) -> list[Path]:
    import yaml

    a = build(p, cat)
    folder.mkdir(parents=True, exist_ok=True)
    k8s = folder / "k8s"
    k8s.mkdir(exist_ok=True)
    files: list[Path] = []
    args_file = folder / "vllm-args.txt"
    args_file.write_text("vllm serve " + " ".join(a.vllm_args) + "\n", encoding="utf-8")
    files.append(args_file)
    compose = folder / "docker-compose.yaml"
    compose.write_text(yaml.safe_dump(a.compose, sort_keys=False), encoding="utf-8")
    files.append(compose)
    for m in a.manifests:
        f = k8s / f"{m['kind'].lower()}.yaml"
        f.write_text(yaml.safe_dump(m, sort_keys=False), encoding="utf-8")
        files.append(f)
    readme = folder / "README.md"
    readme.write_text(
        "# Deployment artifacts (generated by fleetplan plan --emit)\n\n"
        + "\n".join(f"- {n}" for n in a.notes)
        + "\n",
        encoding="utf-8",
    )
    files.append(readme)
    return files


def _slug(text: str) -> str:
    out = "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")
    while "--" in out:
        out = out.replace("--", "-")
    return out[:50] or "llm"
