"""The validated-number vocabulary every entry point shares (files, CLI options, configs).

Each type is a pydantic `Annotated` alias: finite (no inf, no NaN), strict (a "20" string in a
TOML file or `true` is not silently a number; a count is an integer, never 2.5 or 1e300) and
bounded by what the field can mean. Schemas (scenario, catalog, simulator and router configs)
use them as field types; CLI options go through `check_option` with the same types, so a value
is accepted or refused the same way wherever it enters.

The upper bounds are sanity limits, stated here once, not physics: they keep a typo (1e308)
from reaching an int64 or a day-long loop, and each error message says what is accepted.
"""

from __future__ import annotations

import math
import re
import types
import typing
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
)

from fleetplan.errors import InputError

MAX_TOKENS = 100_000_000  # a request or context longer than this is a typo (Llama 4 Scout: 10.5M)
MAX_COUNT = 1_000_000  # GPUs, replicas, batch slots, sequences, experts, layers
MAX_RATE_PER_S = 1_000_000.0  # requests (or events) per second
MAX_USD = 1e12  # any single price or budget
MAX_MS = 86_400_000.0  # one day
MAX_S = 31_536_000.0  # one year
MAX_FINITE = 1e15  # the bound of a plain finite number without a more specific meaning

_FINITE = AllowInfNan(False)
_STRICT = Strict()

Finite = Annotated[float, _STRICT, _FINITE, Field(ge=-MAX_FINITE, le=MAX_FINITE)]
NonNegative = Annotated[float, _STRICT, _FINITE, Field(ge=0, le=MAX_FINITE)]
Positive = Annotated[float, _STRICT, _FINITE, Field(gt=0, le=MAX_FINITE)]
Fraction = Annotated[float, _STRICT, _FINITE, Field(ge=0, le=1)]
"""A share or probability in [0, 1]."""
OpenFraction = Annotated[float, _STRICT, _FINITE, Field(gt=0, le=1)]
"""A utilization target or headroom in (0, 1]: zero would need infinitely many replicas."""
Headroom = Annotated[float, _STRICT, _FINITE, Field(ge=0.01, le=1)]
"""Run at most this fraction of capacity at peak; below 1% the replica count is absurd."""
Usd = Annotated[float, _STRICT, _FINITE, Field(ge=0, le=MAX_USD)]
PositiveUsd = Annotated[float, _STRICT, _FINITE, Field(gt=0, le=MAX_USD)]
RatePerS = Annotated[float, _STRICT, _FINITE, Field(gt=0, le=MAX_RATE_PER_S)]
RatePerMin = Annotated[float, _STRICT, _FINITE, Field(gt=0, le=MAX_RATE_PER_S * 60)]
"""A rate limit in requests per minute (a key's --rpm, a provider's requests_per_min)."""
NonNegRatePerS = Annotated[float, _STRICT, _FINITE, Field(ge=0, le=MAX_RATE_PER_S)]
Ms = Annotated[float, _STRICT, _FINITE, Field(gt=0, le=MAX_MS)]
NonNegMs = Annotated[float, _STRICT, _FINITE, Field(ge=0, le=MAX_MS)]
"""A duration that may be nil (a provider's time per output token in a replay)."""
Seconds = Annotated[float, _STRICT, _FINITE, Field(gt=0, le=MAX_S)]
NonNegSeconds = Annotated[float, _STRICT, _FINITE, Field(ge=0, le=MAX_S)]
TokenLength = Annotated[float, _STRICT, _FINITE, Field(gt=0, le=MAX_TOKENS)]
"""A mean or percentile of a token-length distribution (may be fractional: it is a statistic)."""

Tokens = Annotated[int, _STRICT, Field(ge=1, le=MAX_TOKENS)]
"""A token count: an integer from 1 to MAX_TOKENS (the model's context is checked later)."""
NonNegTokens = Annotated[int, _STRICT, Field(ge=0, le=MAX_TOKENS)]
TokenVolume = Annotated[float, _STRICT, _FINITE, Field(ge=1, le=MAX_FINITE)]
"""Tokens over a period (a month's expected traffic): at least one, so a price per token
derived from it stays finite."""
Count = Annotated[int, _STRICT, Field(ge=1, le=MAX_COUNT)]
NonNegCount = Annotated[int, _STRICT, Field(ge=0, le=MAX_COUNT)]
GpuDemand = Annotated[float, _STRICT, _FINITE, Field(ge=0, le=MAX_COUNT)]
"""GPUs needed (an hour's demand): may be fractional, it is rounded up; at most MAX_COUNT."""
Workers = Annotated[int, _STRICT, Field(ge=1, le=256)]
"""Local worker processes (a sweep's pool, the gateway's): one machine's worth."""
Port = Annotated[int, _STRICT, Field(ge=1, le=65535)]
Seed = Annotated[int, _STRICT, Field(ge=0, le=2**32 - 1)]
StrictBool = Annotated[bool, _STRICT]

_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def check(field: str, value: Any, kind: Any) -> Any:
    """`value` validated as `kind`, or an InputError naming the field, value and what is accepted.

    For values that come already typed (CLI options, Python callers); files go through their
    pydantic schema, which uses the same types.
    """
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    try:
        return adapter.validate_python(value)
    except ValidationError:
        raise InputError(f"{field} = {value!r}; accepted: {accepted(kind)}") from None


def accepted(kind: Any) -> str:
    """What a vocabulary type accepts, in words: 'a number in (0, 1]', 'an integer in [1, 8]'."""
    args = typing.get_args(kind)
    base = args[0] if args else kind
    lo, hi, lo_open, hi_open = None, None, False, False
    for meta in args[1:]:
        for item in getattr(meta, "metadata", [meta]):
            for attr, is_lo, is_open in (("gt", 1, 1), ("ge", 1, 0), ("lt", 0, 1), ("le", 0, 0)):
                bound = getattr(item, attr, None)
                if bound is None:
                    continue
                if is_lo:
                    lo, lo_open = bound, bool(is_open)
                else:
                    hi, hi_open = bound, bool(is_open)
    noun = "an integer" if base is int else "a finite number" if base is float else str(base)
    if lo is None and hi is None:
        return noun
    if base is int and lo is not None and hi is not None and not (lo_open or hi_open):
        return f"an integer from {_g(lo, '')} to {_g(hi, '')}"
    left = "(" if lo_open or lo is None else "["
    right = ")" if hi_open or hi is None else "]"
    return f"{noun} in {left}{_g(lo, '-inf')}, {_g(hi, 'inf')}{right}"


def _g(x: float | None, none: str) -> str:
    """A bound as a reader writes it: 86,400,000, 65535 and 0.01, not 8.64e+07; 1e+15 stays
    short (digits grouped from six on, where a count of zeros starts to need them)."""
    if x is None:
        return none
    if isinstance(x, float) and not (x.is_integer() and abs(x) < 1e15):
        return f"{x:g}"
    return f"{int(x):,}" if abs(x) >= 100_000 else f"{int(x)}"


def finite(field: str, value: float) -> float:
    """`value` if it is a finite number, else an InputError naming the field."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError(f"{field} = {value!r}: expected a finite number")
    return float(value)


Percentile = Annotated[float, _STRICT, _FINITE, Field(ge=0, le=100)]
Years = Annotated[float, _STRICT, _FINITE, Field(gt=0, le=100)]
Pue = Annotated[float, _STRICT, _FINITE, Field(ge=1, le=10)]
RatePerHour = Annotated[float, _STRICT, _FINITE, Field(ge=0, le=MAX_RATE_PER_S * 3600)]
CapacityPerHour = Annotated[float, _STRICT, _FINITE, Field(gt=0, le=MAX_RATE_PER_S * 3600)]
"""What one replica serves an hour: zero would need infinitely many replicas."""
TokPerS = Annotated[float, _STRICT, _FINITE, Field(gt=0, le=1e9)]
SloMs = Annotated[float, _STRICT, _FINITE, Field(ge=0, le=MAX_MS)]
"""A latency SLO option in ms, where 0 means no limit (`--tpot-p95-ms 0`)."""

# What a CLI option's name says it holds (names carry units at the boundary). The first rule
# that matches wins: an exact name, then a suffix. Options matching none are still finite.
_OPTION_NAMES: dict[str, Any] = {
    "port": Port,
    "workers": Workers,
    "header_timeout_s": Seconds,
    "seed": Seed,
    "tp": Count,
    "gpus": Count,
    "gpus_per_replica": Count,
    "context": Tokens,
    "utilization": OpenFraction,
    "gpu_memory_utilization": OpenFraction,
    "hit_rate": Fraction,
    "semantic_hit_rate": Fraction,
    "quantile": OpenFraction,  # quantile 0 covers nothing
    "spot_interruption": Fraction,
    "load": OpenFraction,
    "slo_attainment": OpenFraction,
    "qps": RatePerS,
    "peak_qps": RatePerS,
    "tpot_p95_ms": SloMs,
    "ttft_p95_ms": SloMs,
    "adapter_overhead": Fraction,
    "base_percentile": Percentile,
    "life_years": Years,
    "pue": Pue,
    "tok_per_s": TokPerS,
    "req_per_gpu_hour": RatePerHour,
    "capacity_req_per_hour": CapacityPerHour,
    "rpm": RatePerMin,
    "tpm": Positive,
    "budget_usd_per_month": PositiveUsd,  # a key's budget: 0 would refuse every request
    "volume_max": Positive,  # the largest volume on breakeven's curves: 0 draws no curve
    "requests_per_day": Positive,  # $/request at a volume: 0 requests have no price each
}
ForecastShare = Annotated[float, _STRICT, _FINITE, Field(ge=0.5, lt=1)]
"""A forecast's quantile or interval level: below the median sizes for less than typical."""
# Options whose meaning is the command's own, by (command path, name); before _OPTION_NAMES.
_COMMAND_OPTIONS: dict[tuple[str, str], Any] = {
    ("forecast", "horizon"): Annotated[int, _STRICT, Field(ge=1, le=400)],  # days
    ("forecast", "quantile"): ForecastShare,
    ("forecast", "level"): ForecastShare,
    # a plan's SLO is a limit (no "0 = no limit": leave the option out); as the scenario field
    ("plan", "ttft_p95_ms"): Ms,
    ("plan", "tpot_p95_ms"): Ms,
}
_OPTION_SUFFIXES: tuple[tuple[str, Any], ...] = (
    ("_tokens", NonNegTokens),
    ("_per_hour", RatePerHour),  # after the usd rules below for prices
    ("_per_s", NonNegRatePerS),
)
_INT = Annotated[int, Field(ge=0, le=int(MAX_FINITE))]
_WORK_CAP = Annotated[int, Field(ge=1, le=int(MAX_FINITE))]


def option_kind(name: str, base: type, command: str = "") -> Any:
    """The vocabulary type for a numeric CLI option called `name` (python name) of type `base`
    of `command` (its path: `forecast`, `route simulate`)."""
    kind = _COMMAND_OPTIONS.get((command, name)) or _OPTION_NAMES.get(name)
    if kind is not None:
        return kind
    if "usd" in name.split("_"):
        return Usd
    if name.endswith("_tokens") and base is float:
        return TokenLength  # a mean or percentile (plan --input-tokens)
    for suffix, kind in _OPTION_SUFFIXES:
        if name.endswith(suffix):
            return kind
    if name.endswith("_max_requests"):
        return _WORK_CAP  # a work cap: zero would refuse every run
    return _INT if base is int else NonNegative if name.endswith("_max") else Finite


def number_list(field: str, text: str, kind: Any = NonNegative) -> list[float]:
    """Comma-separated numbers (`--loads 10,20`), each checked as `kind`; at least one. For an
    integer kind (`NonNegCount`) a whole number written as `3.0` or `1e3` counts as an integer."""
    whole = (typing.get_args(kind) or (kind,))[0] is int
    values = []
    for part in str(text).split(","):
        if not part.strip():
            continue
        try:
            value: float | int = float(part)
        except ValueError:
            raise InputError(f"{field} = {text!r}; expected comma-separated numbers") from None
        if whole and math.isfinite(value) and value == int(value):
            value = int(value)
        values.append(check(f"{field} value", value, kind))
    if not values:
        raise InputError(f"{field} is empty; expected comma-separated numbers")
    return values


def name_list(field: str, text: str, example: str) -> list[str]:
    """Comma-separated names (`--precisions bf16,fp8`), blanks dropped; at least one, else an
    InputError naming the field and giving `example`."""
    names = [part.strip() for part in str(text).split(",") if part.strip()]
    if not names:
        raise InputError(f"{field} = {text!r}; expected comma-separated names such as {example}")
    return names


# A Hugging Face repository id, owner/name (https://huggingface.co/docs/hub/repositories);
# never a file path.
_HF_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


def hf_repo_id(value: str) -> str:
    """`value` if it is a Hugging Face id (owner/name); a ValueError saying so otherwise."""
    if not _HF_ID.fullmatch(value) or ".." in value:
        raise ValueError(
            "expected a Hugging Face id owner/name (e.g. meta-llama/Llama-3.1-8B-Instruct), "
            "not a file path"
        )
    return value


MODEL_ACCEPTED = (
    "a catalog model id or alias (`fleetplan models`) or a path to a Hugging Face config.json "
    "(or the folder holding it)"
)


def model_ref(value: str) -> str:
    """`value` if it can name a model (not blank); a ValueError saying what is accepted."""
    if not value.strip():
        raise ValueError(f"expected {MODEL_ACCEPTED}")
    return value


ModelRef = Annotated[str, _STRICT, AfterValidator(model_ref)]
"""A MODEL: a catalog id or alias, or a config.json path (resolved by catalog.resolve_model)."""


def is_json_type(content_type: str) -> bool:
    """Whether a Content-Type declares JSON (application/json or a +json type), its media type
    read as the email package reads one: parameters cut off, lower-cased, and anything without
    exactly one slash taken as text/plain."""
    media = content_type.partition(";")[0].strip().lower()
    main, _, sub = media.partition("/") if media.count("/") == 1 else ("text", "", "plain")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


M = TypeVar("M", bound=BaseModel)


def validate_mapping(model: type[M], data: Any, where: str, expected: str | None = None) -> M:
    """`model` validated from a mapping read from a file; InputError naming `where`, the field
    and the value. `expected` says what a non-mapping should have been (default: a mapping at
    the top level)."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected {expected or 'a mapping at the top level'}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{where}: {format_validation_error(exc, model)}") from None


def format_validation_error(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """One line per problem: field path, the value given and what is accepted (`model`: the
    schema validated, whose field types give a bound's whole accepted range)."""
    return "; ".join(describe_error(err, model) for err in exc.errors())


# pydantic's errors for a value past one bound, which name that bound alone
_BOUND_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


def describe_error(err: Any, model: type[BaseModel] | None = None) -> str:
    """One pydantic error (an item of `errors()`) as 'field 'a.b' = value: what is accepted'.
    A value past a bound also gets the field's whole range where `model` says what it is:
    'Input should be less than or equal to 1; accepted: a finite number in [0.01, 1]'."""
    # pydantic names a validator wrapper in a path ('function-after[check(), ...]'): not a field
    path = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
    loc = ".".join(str(p) for p in path) or "(entry)"
    if err["type"] == "extra_forbidden":
        return f"unknown field {loc!r}"
    if err["type"] == "missing":
        return f"missing field {loc!r}"
    if not path and err["type"] == "value_error":  # a check across fields names its own
        return str(err["msg"]).removeprefix("Value error, ")
    value = err.get("input")
    shown = f" = {_short(value)}" if not isinstance(value, dict | list) else ""
    msg = err["msg"]
    if model is not None and err["type"] in _BOUND_ERRORS:
        kind = _field_kind(model, path)
        if kind is not None:
            msg = f"{msg}; accepted: {accepted(kind)}"
    return f"field {loc!r}{shown}: {msg}"


def _field_kind(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The annotated type of the field at `loc` in `model` (through nested models, lists and
    mappings, and X | None), with its constraints; None where the path leaves the schema."""
    current: Any = model
    info: Any = None
    for part in loc:
        current = _without_none(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            info = current.model_fields.get(part)
            if info is None:
                return None
            current = info.annotation
        elif typing.get_origin(current) in (list, tuple, dict) and typing.get_args(current):
            current, info = typing.get_args(current)[-1 if isinstance(part, str) else 0], None
        else:
            return None
    if info is not None and info.metadata:
        current = Annotated[(info.annotation, *info.metadata)]
    current = _without_none(current)
    base = typing.get_args(current)[0] if typing.get_origin(current) is Annotated else current
    return current if base in (int, float) else None


def _without_none(kind: Any) -> Any:
    """X for an `X | None` type; any other type as it is."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return kind


def _short(value: Any, limit: int = 80) -> str:
    """repr(value), cut to `limit` characters: a message is one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
