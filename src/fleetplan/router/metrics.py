"""Prometheus metrics of one gateway, in a registry of its own (several apps may share a process).

Labels carry provider and model names only — never a key, a prompt or a URL.
"""

from __future__ import annotations

from typing import Any

_LAT_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "fleetplan_gateway_requests",
            "Client requests answered, by serving provider ('none' when all failed) and status.",
            ["provider", "model", "status"],
            registry=r,
        )
        self.errors = Counter(
            "fleetplan_gateway_upstream_errors",
            "Failed upstream attempts by provider and reason.",
            ["provider", "reason"],
            registry=r,
        )
        self.retries = Counter(
            "fleetplan_gateway_retries",
            "Attempts on a further provider after a failed one.",
            ["model"],
            registry=r,
        )
        self.overflow = Counter(
            "fleetplan_gateway_overflow",
            "Requests sent to an API provider because the self-hosted fleet passed its threshold.",
            ["model"],
            registry=r,
        )
        self.ttft = Histogram(
            "fleetplan_gateway_ttft_seconds",
            "Time to first token (first upstream chunk) measured at the gateway.",
            ["provider"],
            buckets=_LAT_BUCKETS_S,
            registry=r,
        )
        self.itl = Histogram(
            "fleetplan_gateway_inter_token_seconds",
            "Time between two streamed chunks measured at the gateway.",
            ["provider"],
            buckets=_LAT_BUCKETS_S,
            registry=r,
        )
        self.cost = Counter(
            "fleetplan_gateway_cost_usd",
            "Cost in US dollars of the tokens served, by provider (config/price-package prices).",
            ["provider"],
            registry=r,
        )
        self.tokens = Counter(
            "fleetplan_gateway_tokens",
            "Tokens served by provider and direction (input/output).",
            ["provider", "direction"],
            registry=r,
        )
        self.in_flight = Gauge(
            "fleetplan_gateway_in_flight",
            "Requests in flight in this gateway process.",
            registry=r,
        )

        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once (prometheus_client's labels() takes a lock
        and checks its arguments on every call; a request records five to ten of these)."""
        key = (metric, labels)
        c = self._children.get(key)
        if c is None:
            c = self._children[key] = metric.labels(*labels)
        return c

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Sum of samples named `name` whose labels include `labels` (for tests and reports)."""
        total = 0.0
        for fam in self.registry.collect():
            for s in fam.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in (labels or {}).items()):
                    total += s.value
        return total


def parse_exposition(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of the samples named `name` in Prometheus text, whose labels include `labels`."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for fam in text_string_to_metric_families(text):
        s: Any
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in (labels or {}).items()):
                total += s.value
    return total
