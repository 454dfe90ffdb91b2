"""Router configuration: a YAML file validated with pydantic, then resolved to frozen specs.

Every provider's price is resolved at load: an explicit ``price`` block wins; otherwise an API
provider's models are priced by ``fleetplan.catalog.api_prices.api_price``; a self-hosted
provider is priced from what its reserved GPUs cost a month divided by the tokens it is expected
to serve a month (never $0). A model priced by neither is an error at load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from fleetplan.errors import FleetplanError, InputError
from fleetplan.units import HOURS_PER_MONTH
from fleetplan.validation import (
    Count,
    Ms,
    NonNegative,
    NonNegCount,
    NonNegSeconds,
    OpenFraction,
    Positive,
    PositiveUsd,
    RatePerMin,
    Seconds,
    Seed,
    Tokens,
    TokenVolume,
    Usd,
)

# a body size limit: bodies are buffered whole, so 2 GiB (a signed 32-bit length) is past sane
Bytes = Annotated[int, Strict(), Field(ge=1, le=2**31)]
LeaseS = Annotated[float, Strict(), AllowInfNan(False), Field(gt=0, le=30)]  # renewed at 1/3

Strategy = Literal["weighted", "cost", "quality", "latency", "least_busy", "cascade"]
STRATEGIES: tuple[str, ...] = ("weighted", "cost", "quality", "latency", "least_busy", "cascade")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceIn(_Strict):
    input_usd_per_mtok: Usd
    output_usd_per_mtok: Usd


class ReservedIn(_Strict):
    """What a self-hosted provider costs: its GPUs' monthly bill over its expected tokens."""

    gpu_hours_usd_per_month: PositiveUsd | None = None
    gpus: Count | None = None
    usd_per_gpu_hour: PositiveUsd | None = None
    expected_tokens_per_month: TokenVolume

    @model_validator(mode="after")
    def _one_basis(self) -> ReservedIn:
        hourly = self.gpus is not None and self.usd_per_gpu_hour is not None
        if (self.gpu_hours_usd_per_month is None) == (not hourly):
            raise ValueError(
                "give either gpu_hours_usd_per_month, or both gpus and usd_per_gpu_hour"
            )
        return self


class LimitsIn(_Strict):
    requests_per_min: RatePerMin | None = None
    tokens_per_min: Positive | None = None
    max_concurrent: Count | None = None


class TimeoutsIn(_Strict):
    connect_s: Seconds = 5.0
    first_token_s: Seconds = 30.0  # stream: headers and first chunk
    first_byte_s: Seconds = 120.0  # non-streamed: response headers
    idle_s: Seconds = 30.0  # between two chunks of a stream
    total_s: Seconds = 600.0


class ProviderIn(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    base_url: str
    key_env: str | None = None
    kind: Literal["api", "self_hosted"] = "api"
    api: Literal["openai", "anthropic"] = "openai"  # the upstream's wire format
    models: dict[str, str] = Field(min_length=1)  # public name -> upstream name
    weight: NonNegative = 1.0
    priority: NonNegCount = 0  # quality-first tries lower numbers first
    price: PriceIn | None = None
    price_provider: str | None = None  # provider id in the price package, e.g. "openai"
    reserved: ReservedIn | None = None
    limits: LimitsIn = LimitsIn()
    timeouts: TimeoutsIn = TimeoutsIn()

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        u = urlparse(v)
        if u.scheme not in ("http", "https") or not u.hostname:
            # never echo the value: a URL may carry a token in its path or query
            raise ValueError(f"base_url must be an http(s) URL with a host, got {redact_url(v)!r}")
        if u.username or u.password:
            raise ValueError("base_url must not carry credentials; use key_env")
        return v.rstrip("/")


class OverflowIn(_Strict):
    """Prefer self-hosted providers until they are this busy, then send the excess to APIs."""

    max_in_flight: Count | None = None
    max_ttft_ms: Ms | None = None  # moving-average TTFT (queue proxy)


class HealthIn(_Strict):
    failure_threshold: Count = 3
    cooldown_s: Seconds = 10.0
    max_retry_after_s: Seconds = 60.0  # an upstream's Retry-After, capped
    check_interval_s: NonNegSeconds = 0.0  # 0: no active checks
    check_timeout_s: Seconds = 2.0


class AdmissionIn(_Strict):
    """Gateway-wide, per process: what it serves at once, how many wait, for how long."""

    max_concurrent: Count | None = 1000
    max_queue: NonNegCount = 1000
    queue_timeout_s: Seconds = 10.0
    # shed while the event loop lags more (a short sleep wakes this late): a loop that busy has
    # stopped keeping up, and what it admits now waits for CPU, not for an upstream. None: off
    max_loop_lag_ms: Ms | None = 200.0


class CascadeIn(_Strict):
    """`cascade`: simple requests to the small (self-hosted) tier, the rest to the frontier.

    A request is *hard* when any rule says so: its prompt is over ``max_prompt_tokens`` (bytes
    of the body / 4), it carries tools (``hard_if_tools``), or its ``tier_header`` says
    ``frontier``; a tier header saying ``small`` makes it simple whatever else holds.
    """

    small: list[str] = Field(min_length=1)  # provider names of the simple tier
    max_prompt_tokens: Tokens | None = None
    hard_if_tools: bool = True
    tier_header: str | None = "x-fleetplan-tier"


class GatewayIn(_Strict):
    key_env: str = "FLEETPLAN_GATEWAY_KEY"
    key: str | None = None  # prefer key_env; a key in a file is easy to leak
    metrics_key_env: str | None = None  # a separate key for /metrics (the gateway key works too)
    max_body_bytes: Bytes = 1_000_000
    body_timeout_s: Seconds = 30.0  # the whole body must arrive in this
    log_path: str | None = None  # SQLite request log; none unless asked
    keys_db: str | None = None  # virtual keys and their spend: a SQLite file or a redis:// URL
    lease_ttl_s: LeaseS = 15.0  # in-flight leases (renewed at 1/3)
    redis_max_connections: Count = 256
    admission: AdmissionIn = AdmissionIn()
    cascade: CascadeIn | None = None
    strategy: Strategy = "weighted"
    max_attempts: Count | None = None
    overflow: OverflowIn | None = None
    health: HealthIn = HealthIn()
    latency_ema_alpha: OpenFraction = 0.2
    seed: Seed | None = None


class RouterConfigIn(_Strict):
    gateway: GatewayIn = GatewayIn()
    providers: list[ProviderIn] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> RouterConfigIn:
        names = [p.name for p in self.providers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"provider names must be unique; repeated: {', '.join(dup)}")
        g = self.gateway
        if g.strategy == "cascade":
            if g.cascade is None:
                raise ValueError("strategy cascade needs gateway.cascade (small: [providers])")
            unknown = sorted(set(g.cascade.small) - set(names))
            if unknown:
                raise ValueError(f"gateway.cascade.small names no provider: {', '.join(unknown)}")
        return self


@dataclass(frozen=True)
class ModelPrice:
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    source: str

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok
        ) / 1e6


@dataclass(frozen=True)
class Provider:
    name: str
    base_url: str
    key_env: str | None
    kind: str
    api: str
    models: dict[str, str]
    prices: dict[str, ModelPrice]  # by public model name
    weight: float
    priority: int
    limits: LimitsIn
    timeouts: TimeoutsIn
    # what the reserved fleet costs a month whatever it serves (0: priced per token only)
    fixed_usd_per_month: float = 0.0

    @property
    def self_hosted(self) -> bool:
        return self.kind == "self_hosted"

    def api_key(self) -> str | None:
        return os.environ.get(self.key_env) if self.key_env else None


@dataclass(frozen=True)
class RouterConfig:
    gateway: GatewayIn
    providers: tuple[Provider, ...]

    def providers_for(self, model: str) -> list[Provider]:
        return [p for p in self.providers if model in p.models]

    @property
    def models(self) -> list[str]:
        return sorted({m for p in self.providers for m in p.models})

    def gateway_key(self) -> str:
        key = self.gateway.key or os.environ.get(self.gateway.key_env)
        if not key:
            raise InputError(
                f"no gateway key: set the environment variable {self.gateway.key_env} "
                "(or gateway.key_env / gateway.key in the config); the gateway never runs open"
            )
        return key

    def upstream_keys(self) -> list[str]:
        return [k for p in self.providers if (k := p.api_key())]

    def check_keys(self) -> None:
        """A `key_env` naming an unset variable is an error at start, not 401s at run time."""
        unset = [f"{p.name} ({p.key_env})" for p in self.providers if p.key_env and not p.api_key()]
        if unset:
            raise InputError(
                "provider key_env names an unset environment variable: "
                + ", ".join(unset)
                + "; set it, or remove key_env for an upstream that needs no key"
            )
        env = self.gateway.metrics_key_env
        if env and not os.environ.get(env):
            raise InputError(f"gateway.metrics_key_env: the environment variable {env} is unset")

    def metrics_key(self) -> str | None:
        env = self.gateway.metrics_key_env
        return os.environ.get(env) if env else None


def _self_hosted_price(p: ProviderIn) -> ModelPrice:
    r = p.reserved
    if r is None:
        raise InputError(
            f"provider {p.name!r} is self_hosted: give `reserved` (gpu_hours_usd_per_month or "
            "gpus + usd_per_gpu_hour, and expected_tokens_per_month) or an explicit `price`; "
            "a self-hosted fleet is never priced at $0"
        )
    if r.gpu_hours_usd_per_month is not None:
        monthly, basis = r.gpu_hours_usd_per_month, "gpu_hours_usd_per_month"
    else:
        assert r.gpus is not None and r.usd_per_gpu_hour is not None
        monthly = r.gpus * r.usd_per_gpu_hour * HOURS_PER_MONTH
        basis = f"{r.gpus} GPUs x ${r.usd_per_gpu_hour}/h x {HOURS_PER_MONTH:g} h"
    per_mtok = monthly / (r.expected_tokens_per_month / 1e6)  # for routing decisions only
    src = f"reserved: {basis} / {r.expected_tokens_per_month:g} tokens per month"
    return ModelPrice(per_mtok, per_mtok, src)


def _api_price(p: ProviderIn, public: str, upstream: str) -> ModelPrice:
    if p.price is not None:
        return ModelPrice(
            p.price.input_usd_per_mtok, p.price.output_usd_per_mtok, "config: provider price"
        )
    try:
        from fleetplan.catalog.api_prices import api_price
    except ImportError as exc:
        raise InputError(
            f"provider {p.name!r} model {upstream!r}: no `price` given and the API price "
            "catalog is not available; give price: {input_usd_per_mtok, output_usd_per_mtok}"
        ) from exc
    try:
        ap = api_price(upstream, p.price_provider)
    except FleetplanError as exc:
        raise InputError(
            f"provider {p.name!r} model {upstream!r} (public {public!r}) has no price: {exc}; "
            "give price: {input_usd_per_mtok, output_usd_per_mtok} in the provider"
        ) from exc
    src = f"{ap.source} (as of {ap.as_of})"
    return ModelPrice(ap.input_usd_per_mtok, ap.output_usd_per_mtok, src)


def _reserved_usd_per_month(p: ProviderIn) -> float:
    r = p.reserved
    if p.kind != "self_hosted" or p.price is not None or r is None:
        return 0.0
    if r.gpu_hours_usd_per_month is not None:
        return r.gpu_hours_usd_per_month
    assert r.gpus is not None and r.usd_per_gpu_hour is not None
    return r.gpus * r.usd_per_gpu_hour * HOURS_PER_MONTH


def resolve(cfg: RouterConfigIn) -> RouterConfig:
    providers = []
    for p in cfg.providers:
        prices: dict[str, ModelPrice] = {}
        for public, upstream in p.models.items():
            if p.kind == "self_hosted" and p.price is None:
                prices[public] = _self_hosted_price(p)
            else:
                prices[public] = _api_price(p, public, upstream)
        providers.append(
            Provider(
                name=p.name,
                base_url=p.base_url,
                key_env=p.key_env,
                kind=p.kind,
                api=p.api,
                models=dict(p.models),
                prices=prices,
                weight=p.weight,
                priority=p.priority,
                limits=p.limits,
                timeouts=p.timeouts,
                fixed_usd_per_month=_reserved_usd_per_month(p),
            )
        )
    return RouterConfig(gateway=cfg.gateway, providers=tuple(providers))


def redact_url(url: str) -> str:
    """A URL without what may be secret in it: credentials, path, query and fragment."""
    try:
        u = urlparse(url)
        host = u.hostname or ""
        port = f":{u.port}" if u.port else ""
    except ValueError:
        return "[unparseable URL]"
    return f"{u.scheme}://{host}{port}/…" if u.scheme else "[not a URL]"


def _fmt_validation(exc: ValidationError, where: str) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top)"
        got = e.get("input")
        if isinstance(got, str) and ("url" in loc or "key" in loc):
            got = redact_url(got) if "url" in loc else "[redacted]"
        msg = e["msg"]
        if "url" in loc:  # pydantic's message may quote the value
            msg = msg.split(", got ")[0]
        got_s = "" if isinstance(got, dict | list) else f" (got {got!r})"
        parts.append(f"{loc}: {msg}{got_s}")
    return f"{where}: " + "; ".join(parts)


def parse_config(data: object, where: str = "router config") -> RouterConfig:
    try:
        cfg = RouterConfigIn.model_validate(data)
    except ValidationError as exc:
        raise InputError(_fmt_validation(exc, where)) from None
    return resolve(cfg)


def load_config(path: str | Path) -> RouterConfig:
    from fleetplan.files import load_structured

    p = Path(path)
    return parse_config(load_structured(p, "router config"), where=str(p))
