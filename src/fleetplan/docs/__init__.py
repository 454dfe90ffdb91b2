"""The user documentation, shipped inside the package so that every reference the tool prints
(`fleetplan docs sizing`) resolves on any install: `fleetplan docs` lists the topics, `fleetplan
docs TOPIC` prints one, `--path` says where its Markdown file is."""

from __future__ import annotations

from pathlib import Path

from fleetplan.errors import InputError

HERE = Path(__file__).parent

# topic -> what it covers (the file is HERE / f"{topic}.md")
TOPICS: dict[str, str] = {
    "scenario": "the scenario file `fleetplan plan FILE` reads: its fields, accepted values",
    "simulate": "the simulation scenario `fleetplan simulate FILE` reads: replicas, traffic, "
    "lengths, SLOs",
    "memory": "weights, KV cache, memory budget and capacity, with derivations",
    "performance": "step time, prefill and TTFT, continuous and static batching, TP, MoE, "
    "the engine factors and their expected error",
    "sizing": "queueing, replicas, latency percentiles, the search, Pareto, the fleet-mix "
    "integer program",
    "metrics": "TTFT, TPOT, ITL, E2E, goodput and the rest, defined",
    "catalog": "the packaged catalogs (GPUs, models, engines, offers), their sources, overrides",
    "gateway": "the gateway: checks, admission, limits and leases, failover, virtual keys, "
    "the Messages API adapter, cascade",
    "autoscale": "autoscaling policies, forecasting and sweeps, and the check against the "
    "simulator",
}


def path(topic: str) -> Path:
    """The Markdown file of `topic`; an unknown topic is an InputError naming the topics."""
    if topic not in TOPICS:
        raise InputError(f"docs: unknown topic {topic!r}; accepted: {', '.join(TOPICS)}")
    return HERE / f"{topic}.md"


def text(topic: str) -> str:
    """The Markdown text of `topic`."""
    return path(topic).read_text(encoding="utf-8")
