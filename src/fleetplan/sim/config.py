"""The scenario a simulation runs: a replica set, its traffic and its SLOs (pydantic, at the edge).

Every bad value raises `InputError` naming the field, the value and what is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fleetplan.errors import InputError
from fleetplan.validation import (
    ModelRef,
    Ms,
    Positive,
    Seed,
    TokenLength,
    Tokens,
    format_validation_error,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LengthSpec(_Strict):
    """Token lengths of one side of a request: `fixed`, `exponential` or `lognormal` around
    `mean` (lognormal: `sigma` of the underlying normal), rounded, clipped to [min, max]."""

    mean: TokenLength
    dist: Literal["fixed", "exponential", "lognormal"] = "fixed"
    sigma: float = Field(default=1.0, gt=0)
    min: Tokens = 1
    max: Tokens | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LengthSpec:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class Lengths(_Strict):
    input: LengthSpec = LengthSpec(mean=256)
    output: LengthSpec = LengthSpec(mean=256)


class Arrivals(_Strict):
    """When requests arrive.

    - poisson: `rate_per_s` for `duration_s`, or `requests` arrivals with exponential gaps at
      `rate_per_s` (how `vllm bench serve --num-prompts N --request-rate R` and similar
      benchmarks send them: N requests, not a Poisson count over N / R seconds); with both, until
      either is reached.
    - gamma: gamma inter-arrival times with mean 1/`rate_per_s` and coefficient of variation
      `cv` (cv 1 is Poisson, above 1 bursty).
    - onoff: Poisson at `rate_per_s` for `on_s`, then silence for `off_s`, repeated.
    - profile: Poisson whose rate follows `rates_per_s`, one value per `segment_s` (24 values
      and 3600 s make a daily profile); `duration_s` defaults to the whole profile.
    - trace: replay `path` (CSV or JSONL: timestamp, input_tokens, output_tokens[, prefix_id]).
    - concurrency: a closed loop of `users`, each sending its next request `think_s` seconds
      (fixed, or exponential with `think_dist: exponential`) after its last one ended, until
      `duration_s` or until `requests` have been sent (how `vllm bench serve
      --max-concurrency`, GuideLLM's concurrent mode and many published benchmarks load a
      server). Every user sends its first request at 0.
    """

    kind: Literal["poisson", "gamma", "onoff", "profile", "trace", "concurrency"]
    rate_per_s: Positive | None = None  # finite; the work cap (sim/work.py) bounds the rest
    duration_s: Positive | None = None
    cv: float | None = Field(default=None, gt=0)
    on_s: float | None = Field(default=None, gt=0)
    off_s: float | None = Field(default=None, ge=0)
    rates_per_s: list[float] | None = None
    segment_s: float = Field(default=3600.0, gt=0)
    path: str | None = None
    users: int | None = Field(default=None, ge=1)
    think_s: float = Field(default=0.0, ge=0)
    think_dist: Literal["fixed", "exponential"] = "fixed"
    requests: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _needs(self) -> Arrivals:
        if self.kind == "concurrency":
            if self.users is None:
                raise ValueError("kind 'concurrency' needs users")
            if self.duration_s is None and self.requests is None:
                raise ValueError("kind 'concurrency' needs duration_s or requests")
            return self
        if self.kind == "poisson" and self.duration_s is None and self.requests is not None:
            if self.rate_per_s is None:
                raise ValueError("kind 'poisson' needs rate_per_s")
            return self
        need = {
            "poisson": ("rate_per_s", "duration_s"),
            "gamma": ("rate_per_s", "duration_s", "cv"),
            "onoff": ("rate_per_s", "duration_s", "on_s", "off_s"),
            "profile": ("rates_per_s",),
            "trace": ("path",),
        }[self.kind]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"kind {self.kind!r} needs {', '.join(missing)}")
        if self.rates_per_s is not None and (
            not self.rates_per_s or any(r < 0 for r in self.rates_per_s)
        ):
            raise ValueError("rates_per_s must be a non-empty list of rates >= 0")
        return self


class Prefix(_Strict):
    """A `share` of requests start with one of `groups` shared prompt prefixes of `tokens`
    tokens (part of the input length, capped at input - 1)."""

    share: float = Field(default=0.0, ge=0, le=1)
    tokens: int = Field(default=0, ge=0)
    groups: int = Field(default=1, ge=1)


class Slo(_Strict):
    ttft_ms: Ms | None = None
    tpot_ms: Ms | None = None
    e2e_ms: Ms | None = None


class Service(_Strict):
    """How long work takes on a replica.

    - roofline: iteration-level continuous batching whose step times come from the
      performance model (fleetplan.perf.roofline.step_s).
    - exponential: each request holds one of `max_num_seqs` slots for an exponential time of
      mean `mean_s` and emits its whole response at the end (a queueing-theory reference).
    """

    kind: Literal["roofline", "exponential"] = "roofline"
    mean_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _needs(self) -> Service:
        if self.kind == "exponential" and self.mean_s is None:
            raise ValueError("kind 'exponential' needs mean_s")
        return self


class Scenario(_Strict):
    model: ModelRef
    gpu: str
    precision: str = "auto"  # the format the model's weights ship in (Catalog.precision_for)
    kv_precision: str = "auto"
    tp: int = Field(default=1, ge=1, le=64)
    # data-parallel attention groups (SGLang --enable-dp-attention): a divisor of tp
    attention_dp: int = Field(default=1, ge=1, le=64)
    # expert-parallel groups of a MoE model's routed experts: a divisor of tp and the experts
    ep: int = Field(default=1, ge=1, le=64)
    engine: str = "vllm"
    replicas: int = Field(default=1, ge=1, le=10_000, strict=True)
    load_balancer: Literal["round_robin", "least_outstanding"] = "least_outstanding"
    max_num_seqs: int | None = Field(default=None, ge=1)
    max_num_batched_tokens: int | None = Field(default=None, ge=1)
    kv_capacity_tokens: int | None = Field(default=None, ge=1)
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    block_size: int | None = Field(default=None, ge=1, le=1024)  # default: the engine's
    # the KV pool's share a vLLM-style scheduler keeps free when it admits a prompt; None: the
    # engine's (EngineProfile.admission_watermark: V0 1 %, V1 none)
    watermark: float | None = Field(default=None, ge=0, lt=1)
    prefix_caching: bool = True
    # scheduler settings per engine family (sim/policy.py); None: the engine's default
    chunked_prefill: bool | None = None
    capacity_scheduler_policy: Literal["guaranteed_no_evict", "max_utilization"] | None = None
    schedule_policy: Literal["lpm", "fcfs"] | None = None
    # the engine's API server ahead of each replica (one serial process, engines.toml
    # api_server_ms_per_request / _us_per_output_token / _latency_ms; sim/frontend.py). Off by
    # default: `plan` sizes the engine alone. The costs are fitted on what a benchmark client
    # saw (its own serial work included), and a deployment scales the server out
    # (vLLM --api-server-count, trtllm-serve --num_postprocess_workers)
    api_server: bool = False
    service: Service = Service()
    arrivals: Arrivals
    lengths: Lengths = Lengths()
    prefix: Prefix = Prefix()
    slo: Slo = Slo()
    sample_interval_s: float | None = Field(default=None, gt=0)
    max_events: int = Field(default=500_000_000, ge=1)  # the work cap (see sim/work.py)
    seed: Seed = 0


# fields of `fleetplan plan`'s scenarios that a simulation scenario does not have
PLAN_ONLY_FIELDS = (
    "traffic", "input_tokens", "output_tokens", "precisions", "engines", "constraints",
)  # fmt: skip


def parse_scenario(data: Any, source: str = "scenario") -> Scenario:
    """Validate a mapping into a Scenario; errors name the field and the value. A plan's
    scenario (its traffic, token means or search lists, and neither a GPU nor arrivals) is told
    apart from a broken simulation scenario: one line saying which command reads it, not a list
    of every foreign field."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
    plan_fields = [k for k in PLAN_ONLY_FIELDS if k in data]
    if plan_fields and "arrivals" not in data and "gpu" not in data:
        raise InputError(
            f"{source}: a `fleetplan plan` scenario ({', '.join(plan_fields)}), not a simulation "
            "scenario (model, gpu, arrivals: fleetplan docs simulate); "
            "`fleetplan plan FILE --verify` simulates a plan's recommendation"
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:  # the wording every file's errors share
        raise InputError(f"{source}: {format_validation_error(exc, Scenario)}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read a YAML (or JSON) scenario file; a trace path is taken relative to the file."""
    from fleetplan.files import load_structured

    p = Path(path)
    data = load_structured(p, "simulation scenario")
    sc = parse_scenario(data, str(p))
    if sc.arrivals.kind == "trace" and sc.arrivals.path:
        trace = Path(sc.arrivals.path)
        if not trace.is_absolute():
            trace = p.parent / trace
            sc = sc.model_copy(
                update={"arrivals": sc.arrivals.model_copy(update={"path": str(trace)})}
            )
    return sc
