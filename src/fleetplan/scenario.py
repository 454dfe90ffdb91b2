"""The scenario file of `fleetplan plan` (YAML or TOML), validated with clear errors.

Schema (every field documented in fleetplan/docs/scenario.md; unknown fields are errors):

    model: llama-3.1-8b            # catalog id/alias or a config.json path
    serve_model: meta-llama/Llama-3.1-8B-Instruct   # HF id `--emit` serves (catalog default)
    precisions: [bf16, fp8]         # allowed weight precisions
    engines: [vllm]
    traffic: {avg_qps: 20, peak_qps: 50, hourly_qps: [...24...], growth_per_month: 0.1,
              arrivals: poisson | {kind: gamma, cv: 3} | {kind: onoff, on_s: 5, off_s: 10}
                        | {kind: trace, path: requests.csv}}
                                    # or forecast: forecast.json (fleetplan forecast --json)
    input_tokens:  {mean: 800, p50: 600, p95: 2500, p99: 4000}   # or {lognormal: {...}}
    output_tokens: {mean: 300}                                   # or {csv: f, column: c}
    slo: {ttft_p95_ms: 1500, tpot_p99_ms: 60, e2e_p95_ms: 20000, min_replicas: 2}  # p50-p99.9
    constraints: {gpus: [...], providers: [...], pricing: [...], max_usd_per_month: 50000,
                  tp: [1, 2, 4, 8], self_host_only: false}
    headroom: 0.7                   # utilization target at peak
    compare_apis: [gpt-4o-mini]
    classes: [{name: chat, share: 0.8, input_tokens: {...}, output_tokens: {...}}, ...]
    hand_sizing: {t_step_ms: 18, batch: 48, context: 8000}   # reproduce a hand derivation
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_validator,
)

from fleetplan.validation import (
    MAX_MS,
    Count,
    Headroom,
    ModelRef,
    Ms,
    NonNegRatePerS,
    NonNegSeconds,
    OpenFraction,
    Positive,
    PositiveUsd,
    RatePerS,
    Seconds,
    StrictBool,
    TokenLength,
    Tokens,
    Usd,
    accepted,
    hf_repo_id,
    validate_mapping,
)
from fleetplan.workload import (
    Arrivals,
    Lengths,
    Slo,
    SloTarget,
    Traffic,
    from_csv,
    from_percentiles,
    lognormal,
    parse_slo_name,
    trace_arrivals,
)

PRICING = Literal[
    "on-demand", "spot", "reserved-1y", "reserved-3y", "savings-plan-1y", "savings-plan-3y"
]
MULTI_YEAR = ("reserved-3y", "savings-plan-3y")
# What production defaults leave out unless a scenario allows it (constraints.allow)
ALLOW = Literal["consumer", "community", "price-range", "reserved-3y", "savings-plan-3y"]
T = TypeVar("T")
# A list that selects (precisions, engines, gpus, providers, pricing, tp) must not be empty: an
# empty selection would select nothing. Leave the field out for its default. Lists that add
# things (compare_apis, classes, allow) may be empty: nothing added, as when left out.
Filter = Annotated[list[T], Field(min_length=1)]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class LognormalSpec(_M):
    median: TokenLength
    sigma: Annotated[float, Field(ge=0, le=5), AllowInfNan(False), Strict()]


class LengthSpec(_M):
    mean: TokenLength | None = None
    p50: TokenLength | None = None
    p95: TokenLength | None = None
    p99: TokenLength | None = None
    lognormal: LognormalSpec | None = None
    csv: str | None = None
    column: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> LengthSpec:
        forms = [
            any(v is not None for v in (self.mean, self.p50, self.p95, self.p99)),
            self.lognormal is not None,
            self.csv is not None,
        ]
        if sum(forms) != 1:
            raise ValueError(
                "give exactly one form: summary statistics (mean/p50/p95/p99), "
                "lognormal {median, sigma}, or csv (+ column)"
            )
        if self.p50 and self.p95 and self.p95 < self.p50:
            raise ValueError(f"p95 ({self.p95:g}) is below p50 ({self.p50:g})")
        if self.p95 and self.p99 and self.p99 < self.p95:
            raise ValueError(f"p99 ({self.p99:g}) is below p95 ({self.p95:g})")
        if self.p50 and self.p99 and self.p99 < self.p50:
            raise ValueError(f"p99 ({self.p99:g}) is below p50 ({self.p50:g})")
        return self

    def resolve(self, field: str, base: Path, default_column: str) -> Lengths:
        if self.lognormal is not None:
            return lognormal(self.lognormal.median, self.lognormal.sigma)
        if self.csv is not None:
            path = Path(self.csv)
            return from_csv(
                path if path.is_absolute() else base / path, self.column or default_column
            )
        return from_percentiles(field, self.mean, self.p50, self.p95, self.p99)


class ArrivalsSpec(_M):
    """How requests arrive around the peak rate: `poisson`; `gamma` inter-arrival times with
    coefficient of variation `cv` (above 1: bursty); `onoff`: Poisson bursts of `on_s` seconds
    separated by `off_s` of silence (the peak rate is the average over the cycle); `trace`:
    the timestamps of a CSV/JSONL file (`timestamp` column), rescaled to the peak rate."""

    kind: Literal["poisson", "gamma", "onoff", "trace"] = "poisson"
    cv: Annotated[Positive, Field(le=20)] | None = None
    on_s: Seconds | None = None
    off_s: NonNegSeconds | None = None
    path: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> ArrivalsSpec:
        need = {"poisson": (), "gamma": ("cv",), "onoff": ("on_s", "off_s"), "trace": ("path",)}
        missing = [f for f in need[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"arrivals kind {self.kind!r} needs {', '.join(missing)}")
        return self

    def resolve(self, base: Path) -> Arrivals:
        if self.kind == "trace":
            assert self.path is not None
            path = Path(self.path)
            return trace_arrivals(path if path.is_absolute() else base / path)
        return Arrivals(
            self.kind, cv=self.cv or 1.0, on_s=self.on_s or 0.0, off_s=self.off_s or 0.0
        )


class TrafficSpec(_M):
    avg_qps: RatePerS
    peak_qps: RatePerS | None = None
    hourly_qps: list[NonNegRatePerS] | None = None
    growth_per_month: Annotated[float, Field(gt=-1, le=10), AllowInfNan(False), Strict()] = 0.0
    forecast: str | None = Field(
        default=None,
        description="`fleetplan forecast --json` output: horizons from its peaks, not growth",
    )
    arrivals: ArrivalsSpec = ArrivalsSpec()

    @field_validator("arrivals", mode="before")
    @classmethod
    def _kind_alone(cls, v: Any) -> Any:
        return {"kind": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check(self) -> TrafficSpec:
        if self.forecast is not None and self.growth_per_month:
            raise ValueError("give growth_per_month or forecast, not both")
        if self.peak_qps is not None and self.peak_qps < self.avg_qps:
            raise ValueError(f"peak_qps ({self.peak_qps:g}) is below avg_qps ({self.avg_qps:g})")
        if self.hourly_qps is not None:
            if len(self.hourly_qps) != 24:
                raise ValueError(f"hourly_qps has {len(self.hourly_qps)} values; expected 24")
            if any(not q >= 0 for q in self.hourly_qps):
                raise ValueError("hourly_qps values must be non-negative")
            busiest = max(self.hourly_qps)
            # the profile sets the peak: one wholly below the average (all zeros) was set
            # aside for avg_qps without a word
            if busiest < self.avg_qps:
                raise ValueError(
                    f"hourly_qps peaks at {busiest:g} req/s, below avg_qps ({self.avg_qps:g}): "
                    "a day averaging avg_qps has an hour at or above it"
                )
            if self.peak_qps is not None and self.peak_qps < busiest:
                raise ValueError(
                    f"peak_qps ({self.peak_qps:g}) is below the busiest hour of hourly_qps "
                    f"({busiest:g})"
                )
        return self

    def resolve(self) -> Traffic:
        peak = self.peak_qps or (max(self.hourly_qps) if self.hourly_qps else self.avg_qps)
        return Traffic(
            self.avg_qps,
            max(peak, self.avg_qps),
            tuple(self.hourly_qps or ()),
            self.growth_per_month,
        )


class SloSpec(BaseModel):
    """Latency SLOs at any percentile from p50 to p99.9: `ttft_p95_ms`, `tpot_p99_ms`,
    `e2e_p95_ms`, `ttft_p999_ms` (99.9), ... and `min_replicas`."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False, strict=True)
    ttft_p95_ms: Ms | None = None
    tpot_p95_ms: Ms | None = None
    min_replicas: Annotated[int, Field(ge=1, le=1000)] = 1

    @model_validator(mode="after")
    def _targets(self) -> SloSpec:
        for name, value in (self.model_extra or {}).items():
            parsed = parse_slo_name(name)
            if parsed is None or not 50 <= parsed[1] <= 99.9:
                raise ValueError(
                    f"unknown field {name!r}; SLOs are named <ttft|tpot|e2e>_p<50..999>_ms, "
                    "e.g. ttft_p99_ms, e2e_p95_ms, tpot_p999_ms (p99.9)"
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} = {value!r}; expected a number of ms")
            if not 0 < value <= MAX_MS:  # NaN and inf fail this too
                raise ValueError(f"{name} = {value!r}; accepted: {accepted(Ms)}")
        return self

    def resolve(self) -> Slo:
        targets = []
        for name, value in self.model_dump().items():
            parsed = parse_slo_name(name)
            if parsed is not None and value is not None:
                targets.append(SloTarget(parsed[0], parsed[1], float(value)))
        return Slo(tuple(targets), self.min_replicas)


class Constraints(_M):
    gpus: Filter[str] | None = None
    providers: Filter[str] | None = None
    pricing: Filter[PRICING] = ["on-demand", "reserved-1y", "savings-plan-1y"]
    allow: list[ALLOW] = []
    max_usd_per_month: PositiveUsd | None = None
    tp: Filter[Literal[1, 2, 4, 8]] = [1, 2, 4, 8]
    self_host_only: StrictBool = False

    @model_validator(mode="after")
    def _multi_year_allowed(self) -> Constraints:
        for p in self.pricing:
            if p in MULTI_YEAR and p not in self.allow:
                raise ValueError(
                    f"pricing {p!r} is a multi-year commitment; add it to constraints.allow "
                    "to plan with it"
                )
        return self

    @property
    def pricing_allowed(self) -> list[str]:
        """The pricing models searched: `pricing` plus multi-year terms named in `allow`."""
        return list(dict.fromkeys([*self.pricing, *(a for a in self.allow if a in MULTI_YEAR)]))


class RequestClass(_M):
    name: str = Field(min_length=1)
    share: OpenFraction
    input_tokens: LengthSpec
    output_tokens: LengthSpec


class HandSizing(_M):
    t_step_ms: Ms
    batch: Count
    context: Tokens | None = None


class ScenarioSpec(_M):
    name: str = ""
    model: ModelRef
    serve_model: str | None = None
    # "auto": the precision the model's weights ship in (Catalog.precision_for)
    precisions: Filter[str] = ["auto"]
    kv_precision: str = "auto"
    engines: Filter[str] = ["vllm"]
    traffic: TrafficSpec
    input_tokens: LengthSpec
    output_tokens: LengthSpec
    slo: SloSpec = SloSpec()
    constraints: Constraints = Constraints()
    headroom: Headroom = 0.7
    compare_apis: list[str] = []
    ops_usd_per_month: Usd = 0.0
    classes: list[RequestClass] = []
    prefix_caching: StrictBool = True
    hand_sizing: HandSizing | None = None

    @field_validator("serve_model")
    @classmethod
    def _serve_model_is_hf_id(cls, v: str | None) -> str | None:
        return None if v is None else hf_repo_id(v)

    @field_validator("kv_precision")
    @classmethod
    def _kv_precision_known(cls, v: str) -> str:
        """One of the KV formats, in lower case: the performance model read 'FP8' as fp8 while
        --emit, comparing 'FP8' with 'fp8', left --kv-cache-dtype out; an unknown one was
        refused later as `--kv-precision`, an option plan does not have."""
        from fleetplan.perf.memory import KV_BYTES

        known = ["auto", *KV_BYTES]
        if v.lower() not in known:
            raise ValueError(f"accepted: {', '.join(known)}")
        return v.lower()

    @model_validator(mode="after")
    def _classes_sum(self) -> ScenarioSpec:
        names = [c.name for c in self.classes]
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice is not None:  # the mix's shares and replicas are keyed by class name
            raise ValueError(f"classes: name {twice!r} appears twice; give each class its own")
        if self.classes:
            total = sum(c.share for c in self.classes)
            if abs(total - 1) > 1e-6:
                raise ValueError(f"classes' shares sum to {total:g}; expected 1")
        return self


def parse_scenario(data: Any, where: str = "scenario") -> ScenarioSpec:
    return validate_mapping(ScenarioSpec, data, where)


def load_scenario(path: str | Path) -> tuple[ScenarioSpec, Path]:
    """Read a YAML or TOML scenario file; returns the spec and the folder relative paths use."""
    from fleetplan.files import load_structured

    p = Path(path)
    data = load_structured(p, "scenario file")
    return parse_scenario(data, f"scenario file {str(p)!r}"), p.parent
