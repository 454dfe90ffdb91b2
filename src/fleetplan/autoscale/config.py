"""The autoscaling scenario file: a deployment (from a plan scenario), the traffic to replay,
cold start, billing, API overflow and the policies to compare. Unknown fields are errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)

from fleetplan.validation import (
    Count,
    NonNegative,
    NonNegCount,
    NonNegRatePerS,
    NonNegSeconds,
    OpenFraction,
    Positive,
    RatePerS,
    Seconds,
    Seed,
    validate_mapping,
)

MAX_TICKS = 2_000_000  # a week at 1 s ticks is 604,800


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Spike(_M):
    """A recurring surge: on `weekday` (0 = Monday) at `hour`, traffic ramps to `qps` over
    `ramp_min` minutes and stays for `duration_min`."""

    weekday: Annotated[int, Strict(), Field(ge=0, le=6)]
    hour: Annotated[float, Strict(), AllowInfNan(False), Field(ge=0, lt=24)]
    qps: RatePerS
    duration_min: Annotated[Positive, Field(le=24 * 60)] = 60
    ramp_min: Annotated[NonNegative, Field(le=600)] = 5


class SyntheticTraffic(_M):
    """A daily cycle between `night_qps` (at 03:00) and `day_qps` (at 15:00), weekends scaled
    by `weekend_factor`, recurring spikes, Poisson arrivals (plus gamma noise of `noise_cv` on
    the rate, drawn per hour)."""

    kind: Literal["synthetic"] = "synthetic"
    days: Annotated[Positive, Field(le=366)] = 7
    start_weekday: Annotated[int, Strict(), Field(ge=0, le=6)] = 0
    night_qps: NonNegRatePerS
    day_qps: RatePerS
    weekend_factor: Annotated[NonNegative, Field(le=10)] = 1.0
    spikes: list[Spike] = Field(default_factory=list, max_length=100)
    noise_cv: Annotated[NonNegative, Field(le=2)] = 0.0
    scale: Annotated[Positive, Field(le=1000, description="Multiplies every rate.")] = 1.0

    @model_validator(mode="after")
    def _low_high(self) -> SyntheticTraffic:
        if self.night_qps > self.day_qps:  # the cycle would peak at night, not as named
            raise ValueError(
                f"night_qps {self.night_qps:g} is above day_qps {self.day_qps:g}; accepted: "
                "night_qps (the daily low) <= day_qps (the daily high)"
            )
        return self


class HistoryTraffic(_M):
    """Replay a traffic history: requests per hour from a gateway log, a request CSV/JSONL or
    hourly counts (`fleetplan forecast --help` lists the forms)."""

    kind: Literal["history"]
    path: str
    columns: dict[str, str] = Field(default_factory=dict)
    scale: Annotated[Positive, Field(le=1000, description="Multiplies every rate.")] = 1.0


class ColdStart(_M):
    """Seconds from asking for a replica to it serving. Without `seconds`: the model's load
    time (container start + weights / storage bandwidth + warm-up) plus `node_provision_s`."""

    seconds: Annotated[NonNegSeconds, Field(le=7200)] | None = None
    node_provision_s: Annotated[NonNegSeconds, Field(le=7200)] = 0.0


class Overflow(_M):
    """Send requests that would wait longer than `max_wait_s` in the queue to an API."""

    api: str
    max_wait_s: Annotated[Seconds, Field(le=600)] = 2.0


class Policy(_M):
    """One scaling policy. kinds and their fields:

    - static: `replicas` (default: the plan's count at peak).
    - reactive (HPA-like): `target_utilization`, `sync_s`, `scale_up_window_s`,
      `scale_down_window_s` (stabilization: the largest recommendation in the window wins).
    - queue (KEDA-like): `target_queue_per_replica` (requests running or waiting per replica;
      default: the batch limit x `target_utilization`), `polling_s`, `cooldown_s` before
      scaling to zero.
    - predictive: replicas for the expected traffic `lead_s` ahead (cold start included) times
      `1 + margin`, never below what `reactive` asks.
    - warm_standby: reactive plus `standby` ready replicas kept above it.
    All take `min_replicas` and `max_replicas`; `min_replicas: 0` scales to zero.
    """

    name: str = Field(min_length=1, max_length=64)
    kind: Literal["static", "reactive", "queue", "predictive", "warm_standby"]
    replicas: NonNegCount | None = None
    min_replicas: NonNegCount = 1
    max_replicas: Count = 1000
    target_utilization: OpenFraction = 0.7
    sync_s: Annotated[Seconds, Field(le=3600)] = 15
    scale_up_window_s: Annotated[NonNegSeconds, Field(le=86400)] = 0
    scale_down_window_s: Annotated[NonNegSeconds, Field(le=86400)] = 300
    target_queue_per_replica: Annotated[Positive, Field(le=1e6)] | None = None
    polling_s: Annotated[Seconds, Field(le=3600)] = 30
    cooldown_s: Annotated[NonNegSeconds, Field(le=86400)] = 300
    margin: Annotated[NonNegative, Field(le=10)] = 0.2
    lead_s: Annotated[NonNegSeconds, Field(le=86400)] | None = None
    standby: NonNegCount = 1
    overflow: Overflow | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Policy:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}"
            )
        if self.replicas is not None:  # the controller would clamp or ignore it silently
            if self.kind != "static":
                raise ValueError(
                    f"replicas {self.replicas} on kind {self.kind!r}; accepted: replicas only on "
                    "kind 'static' (the others scale between min_replicas and max_replicas)"
                )
            if not self.min_replicas <= self.replicas <= self.max_replicas:
                raise ValueError(
                    f"replicas {self.replicas} is outside min_replicas {self.min_replicas} to "
                    f"max_replicas {self.max_replicas}; accepted: a count within them "
                    "(min_replicas: 0 allows replicas: 0)"
                )
        return self


class AutoscaleScenario(_M):
    name: str = ""
    plan: str | dict[str, Any] = Field(
        description="A plan scenario (path or inline mapping); its recommendation is the "
        "deployment that scales."
    )
    traffic: SyntheticTraffic | HistoryTraffic = Field(discriminator="kind")
    cold_start: ColdStart = ColdStart()
    billing_granularity_s: Annotated[Seconds, Field(le=86400)] | None = None
    tick_s: Annotated[Seconds, Field(ge=1, le=600)] = 10
    window_s: Annotated[Seconds, Field(ge=10, le=86400)] = 300
    max_queue_wait_s: Annotated[Seconds, Field(le=3600)] = 60
    policies: list[Policy] = Field(min_length=1, max_length=50)
    seed: Seed = 0

    @model_validator(mode="after")
    def _names(self) -> AutoscaleScenario:
        names = [p.name for p in self.policies]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"policy names must be unique; repeated: {', '.join(sorted(dup))}")
        if self.window_s < self.tick_s:
            raise ValueError(f"window_s {self.window_s} is shorter than tick_s {self.tick_s}")
        if isinstance(self.traffic, SyntheticTraffic):  # no window: "100 %" of none met
            check_span(self.traffic.days * 86400.0, self.window_s, "traffic.days")
        return self


def check_span(duration_s: float, window_s: float, field: str) -> None:
    """Traffic shorter than one SLO window would report attainment over no window at all."""
    if duration_s < window_s:
        raise ValueError(
            f"{field}: {duration_s:,.0f} s of traffic is shorter than window_s {window_s:g}; "
            "accepted: at least one window of traffic"
        )


def parse_autoscale(data: Any, where: str = "autoscale scenario") -> AutoscaleScenario:
    return validate_mapping(AutoscaleScenario, data, where)


def load_autoscale(path: str | Path) -> tuple[AutoscaleScenario, Path]:
    """Read an autoscaling scenario (YAML); returns it and the folder relative paths use."""
    from fleetplan.files import load_structured

    p = Path(path)
    data = load_structured(p, "autoscale scenario")
    return parse_autoscale(data, f"autoscale scenario {str(p)!r}"), p.parent
