"""The autoscaling scenario file: a deployment (from a plan scenario), the traffic to replay,
cold start, billing, API overflow and the policies to compare. Unknown fields are errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fleetplan.catalog.schema import format_validation_error
from fleetplan.errors import InputError

MAX_TICKS = 2_000_000  # a week at 1 s ticks is 604,800


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Spike(_M):
    """A recurring surge: on `weekday` (0 = Monday) at `hour`, traffic ramps to `qps` over
    `ramp_min` minutes and stays for `duration_min`."""

    weekday: int = Field(ge=0, le=6)
    hour: float = Field(ge=0, lt=24)
    qps: float = Field(gt=0, le=1e6)
    duration_min: float = Field(default=60, gt=0, le=24 * 60)
    ramp_min: float = Field(default=5, ge=0, le=600)


class SyntheticTraffic(_M):
    """A daily cycle between `night_qps` (at 04:00) and `day_qps` (at 14:00), weekends scaled
    by `weekend_factor`, recurring spikes, Poisson arrivals (plus gamma noise of `noise_cv` on
    the rate, drawn per hour)."""

    kind: Literal["synthetic"] = "synthetic"
    days: float = Field(default=7, gt=0, le=366)
    start_weekday: int = Field(default=0, ge=0, le=6)
    night_qps: float = Field(ge=0, le=1e6)
    day_qps: float = Field(gt=0, le=1e6)
    weekend_factor: float = Field(default=1.0, ge=0, le=10)
    spikes: list[Spike] = Field(default_factory=list, max_length=100)
    noise_cv: float = Field(default=0.0, ge=0, le=2)
    scale: float = Field(default=1.0, gt=0, le=1000, description="Multiplies every rate.")


class HistoryTraffic(_M):
    """Replay a traffic history: requests per hour from a gateway log, a request CSV/JSONL or
    hourly counts (`fleetplan forecast --help` lists the forms)."""

    kind: Literal["history"]
    path: str
    columns: dict[str, str] = Field(default_factory=dict)
    scale: float = Field(default=1.0, gt=0, le=1000, description="Multiplies every rate.")


class ColdStart(_M):
    """Seconds from asking for a replica to it serving. Without `seconds`: the model's load
    time (container start + weights / storage bandwidth + warm-up) plus `node_provision_s`."""

    seconds: float | None = Field(default=None, ge=0, le=7200)
    node_provision_s: float = Field(default=0.0, ge=0, le=7200)


class Overflow(_M):
    """Send requests that would wait longer than `max_wait_s` in the queue to an API."""

    api: str
    max_wait_s: float = Field(default=2.0, gt=0, le=600)


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
    replicas: int | None = Field(default=None, ge=0, le=100_000)
    min_replicas: int = Field(default=1, ge=0, le=100_000)
    max_replicas: int = Field(default=1000, ge=1, le=100_000)
    target_utilization: float = Field(default=0.7, gt=0, le=1)
    sync_s: float = Field(default=15, gt=0, le=3600)
    scale_up_window_s: float = Field(default=0, ge=0, le=86400)
    scale_down_window_s: float = Field(default=300, ge=0, le=86400)
    target_queue_per_replica: float | None = Field(default=None, gt=0, le=1e6)
    polling_s: float = Field(default=30, gt=0, le=3600)
    cooldown_s: float = Field(default=300, ge=0, le=86400)
    margin: float = Field(default=0.2, ge=0, le=10)
    lead_s: float | None = Field(default=None, ge=0, le=86400)
    standby: int = Field(default=1, ge=0, le=10_000)
    overflow: Overflow | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Policy:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}"
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
    billing_granularity_s: float | None = Field(default=None, gt=0, le=86400)
    tick_s: float = Field(default=10, ge=1, le=600)
    window_s: float = Field(default=300, ge=10, le=86400)
    max_queue_wait_s: float = Field(default=60, gt=0, le=3600)
    policies: list[Policy] = Field(min_length=1, max_length=50)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)

    @model_validator(mode="after")
    def _names(self) -> AutoscaleScenario:
        names = [p.name for p in self.policies]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"policy names must be unique; repeated: {', '.join(sorted(dup))}")
        if self.window_s < self.tick_s:
            raise ValueError(f"window_s {self.window_s} is shorter than tick_s {self.tick_s}")
        return self


def parse_autoscale(data: Any, where: str = "autoscale scenario") -> AutoscaleScenario:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping at the top level")
    try:
        return AutoscaleScenario.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{where}: {format_validation_error(exc)}") from None


def load_autoscale(path: str | Path) -> tuple[AutoscaleScenario, Path]:
    """Read an autoscaling scenario (YAML); returns it and the folder relative paths use."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"autoscale scenario {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"autoscale scenario {str(p)!r} cannot be read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"autoscale scenario {str(p)!r}: not valid YAML ({exc})") from None
    return parse_autoscale(data, f"autoscale scenario {str(p)!r}"), p.parent
