"""Deployment artifacts: valid YAML, checked against the Kubernetes schemas."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


@pytest.fixture(scope="module")
def emitted(tmp_path_factory) -> Path:
    from fleetplan.cli import main

    out = tmp_path_factory.mktemp("emit")
    assert main(["plan", "--emit", str(out), "--json"]) == 0
    return out


def test_files_written(emitted):
    names = {p.relative_to(emitted).as_posix() for p in emitted.rglob("*") if p.is_file()}
    assert {
        "vllm-args.txt", "docker-compose.yaml", "README.md", "k8s/deployment.yaml",
        "k8s/service.yaml", "k8s/poddisruptionbudget.yaml", "k8s/scaledobject.yaml",
    } <= names  # fmt: skip


def test_vllm_args(emitted):
    args = (emitted / "vllm-args.txt").read_text()
    for flag in (
        "--tensor-parallel-size", "--max-model-len", "--max-num-seqs",
        "--gpu-memory-utilization", "--enable-prefix-caching",
    ):  # fmt: skip
        assert flag in args


@pytest.mark.parametrize("name", ["deployment", "service", "poddisruptionbudget"])
def test_manifests_valid_against_kubernetes_schemas(emitted, name):
    kv = pytest.importorskip("kubernetes_validate")
    doc = yaml.safe_load((emitted / "k8s" / f"{name}.yaml").read_text())
    kv.validate(doc, "1.30.0", strict=True)  # raises on any schema violation


def test_deployment_sizing(emitted):
    dep = yaml.safe_load((emitted / "k8s" / "deployment.yaml").read_text())
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["resources"]["limits"]["nvidia.com/gpu"] >= 1
    delay = c["readinessProbe"]["initialDelaySeconds"]
    assert 60 <= delay <= 900  # sized to load time; seed 004 reports 2-8 minutes
    assert c["readinessProbe"]["httpGet"]["path"] == "/health"
    pdb = yaml.safe_load((emitted / "k8s" / "poddisruptionbudget.yaml").read_text())
    assert pdb["spec"]["minAvailable"] >= 1


def test_keda_scaledobject_shape(emitted):
    so = yaml.safe_load((emitted / "k8s" / "scaledobject.yaml").read_text())
    dep = yaml.safe_load((emitted / "k8s" / "deployment.yaml").read_text())
    assert so["apiVersion"] == "keda.sh/v1alpha1" and so["kind"] == "ScaledObject"
    spec = so["spec"]
    assert spec["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert spec["minReplicaCount"] >= 1 and spec["maxReplicaCount"] >= spec["minReplicaCount"]
    trig = spec["triggers"][0]
    assert trig["type"] == "prometheus" and "num_requests_waiting" in trig["metadata"]["query"]


def test_compose_is_valid_yaml_with_gpu_reservation(emitted):
    comp = yaml.safe_load((emitted / "docker-compose.yaml").read_text())
    (svc,) = comp["services"].values()
    dev = svc["deploy"]["resources"]["reservations"]["devices"][0]
    assert dev["driver"] == "nvidia" and dev["count"] >= 1
