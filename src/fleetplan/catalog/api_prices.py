"""API prices per 1M tokens, from the `genai-prices` package (offline), with user overrides.

`api_price("gpt-4o")` reads the price card genai-prices bundles (no network); names are matched
the way genai-prices matches them (dated snapshots like `gpt-4o-2024-08-06` resolve), and a
hosted open model is named `provider:model` (`together:meta-llama/Llama-3.3-70B-Instruct-Turbo`).
An unknown name raises `UnknownNameError` with the nearest known names — never a default price.

Batch prices come from genai-prices' own batch variant of a model where it has one, else from
`data/api_batch_discounts.toml` (a discount per provider, each row citing the provider's page).
Long-context tiers are genai-prices' threshold ("cliff") tiers: crossing a tier's start prices
all of the request's tokens at that tier. A price update over the network happens only through
`update_prices()` (the CLI's `--update-prices`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fleetplan.errors import InputError, UnknownNameError
from fleetplan.validation import Usd

__all__ = [
    "ApiPrice",
    "PriceTier",
    "api_price",
    "known_api_models",
    "load_api_overrides",
    "update_prices",
]

MTOK = 1e6


@dataclass(frozen=True)
class PriceTier:
    """Prices that apply to a whole request once its input reaches `start_input_tokens`."""

    start_input_tokens: int
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    cached_input_usd_per_mtok: float | None


@dataclass(frozen=True)
class ApiPrice:
    """One API model's per-token prices (USD per 1M tokens) and their basis."""

    model: str
    provider: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    cached_input_usd_per_mtok: float | None
    tiers: tuple[PriceTier, ...]
    source: str
    as_of: str
    pricing: str = "standard"  # or "batch"
    pricing_url: str = ""

    def rates(self, input_tokens: float) -> tuple[float, float, float | None]:
        """(input, output, cached input) $/1M tokens for a request with this many input tokens."""
        rate = (self.input_usd_per_mtok, self.output_usd_per_mtok, self.cached_input_usd_per_mtok)
        for tier in self.tiers:
            if input_tokens >= tier.start_input_tokens:
                rate = (
                    tier.input_usd_per_mtok,
                    tier.output_usd_per_mtok,
                    tier.cached_input_usd_per_mtok,
                )
        return rate

    def usd_per_request(
        self, input_tokens: float, output_tokens: float, cached_input_tokens: float = 0.0
    ) -> float:
        """Price of one request; `cached_input_tokens` are part of `input_tokens`, billed once
        at the cached price (the rest at the input price)."""
        if min(input_tokens, output_tokens, cached_input_tokens) < 0:
            raise InputError("token counts must not be negative")
        if cached_input_tokens > input_tokens:
            raise InputError(
                f"cached input tokens ({cached_input_tokens:g}) exceed input tokens "
                f"({input_tokens:g}); cached tokens are part of the input"
            )
        in_rate, out_rate, cached_rate = self.rates(input_tokens)
        if cached_input_tokens and cached_rate is None:
            raise InputError(f"{self.model} has no cached-input price; give it in a price file")
        fresh = input_tokens - cached_input_tokens
        return (
            fresh * in_rate + cached_input_tokens * (cached_rate or 0.0) + output_tokens * out_rate
        ) / MTOK


# ----------------------------------------------------------------- genai-prices snapshot


def _genai() -> Any:
    import genai_prices

    return genai_prices


def _snapshot() -> Any:
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot()


def _source() -> str:
    snap = _snapshot()
    how = (
        f"fetched {snap.timestamp:%Y-%m-%d %H:%M}" if snap.from_auto_update else "bundled snapshot"
    )
    return f"genai-prices {_genai().__version__} ({how})"


def known_api_models() -> list[str]:
    """Every model id genai-prices knows (plain ids; name a host with `provider:model`)."""
    return sorted({m.id for p in _snapshot().providers for m in p.models})


def _float(x: Any) -> float | None:
    if x is None:
        return None
    if isinstance(x, Decimal | int | float):
        return float(x)
    return float(x.base)  # TieredPrices


def _tier_value(x: Any, start: int) -> float | None:
    if x is None or isinstance(x, Decimal | int | float):
        return _float(x)
    value = float(x.base)
    for t in x.tiers:
        if start >= t.start:
            value = float(t.price)
    return value


def _card_from(
    provider: Any, model: Any, when: datetime, context: dict[str, str] | None
) -> tuple[float, float, float | None, tuple[PriceTier, ...]]:
    mp = model.get_prices(when, context)
    inp, out, cached = mp.input_mtok, mp.output_mtok, mp.cache_read_mtok
    if out is None and inp is not None:  # input-only models (embeddings) bill no output
        out = Decimal(0)
    if inp is None:
        raise UnknownNameError(
            "api model (token-priced)", f"{provider.id}:{model.id}", known_api_models()
        )
    starts = sorted({t.start for x in (inp, out, cached) if hasattr(x, "tiers") for t in x.tiers})
    tiers = tuple(
        PriceTier(s, _tier_value(inp, s), _tier_value(out, s), _tier_value(cached, s))  # type: ignore[arg-type]
        for s in starts
    )
    return _float(inp), _float(out), _float(cached), tiers  # type: ignore[return-value]


def _resolve(name: str, provider: str | None) -> tuple[Any, Any]:
    snap = _snapshot()
    ids = {p.id for p in snap.providers}
    if provider is None and ":" in name and name.split(":", 1)[0].lower() in ids:
        provider, name = name.split(":", 1)
    if provider is not None and provider.lower() not in ids:
        raise UnknownNameError("api provider", provider, ids)
    try:
        return snap.find_provider_model(name, None, provider, None)
    except LookupError:
        pass
    if provider is None:  # a host of open models: look in every provider
        hits = [(p, m) for p in snap.providers for m in p.models if m.is_match(name.lower())]
        hosts = sorted({p.id for p, _ in hits})
        if len(hosts) == 1:
            return hits[0]
        if hosts:
            raise InputError(
                f"api model {name!r} is sold by several providers ({', '.join(hosts)}); "
                f"name one as provider:model, e.g. {hosts[0]}:{name}"
            )
    raise UnknownNameError("api model", name, known_api_models())


@cache
def _batch_table() -> dict[str, dict[str, Any]]:
    import tomllib

    text = resources.files("fleetplan.catalog.data").joinpath("api_batch_discounts.toml")
    return tomllib.loads(text.read_text(encoding="utf-8"))


def api_price(
    name: str,
    provider: str | None = None,
    *,
    batch: bool = False,
    overrides: dict[str, ApiPrice] | None = None,
) -> ApiPrice:
    """The price card of an API model: user overrides first, then genai-prices.

    `batch=True` gives the provider's batch-API prices (genai-prices' batch variant, else the
    cited discount table); a provider without a known batch price is an error.
    """
    if overrides:
        card = overrides.get(override_key(name, batch))
        if card is not None:
            return card
        if override_key(name, not batch) in overrides:  # the file prices it the other way only
            given, wanted = ("standard", "batch") if batch else ("batch", "standard")
            raise InputError(
                f"the price file gives {name!r} a {given} price only; add a row with "
                f"pricing = {wanted!r} for its {wanted} price"
            )
    if _LIVE:  # prices fetched over the network in this process: never from the disk cache
        return _from_genai(name.strip(), provider, batch)
    return _cached_card(name.strip(), provider, batch)


_LIVE: list[str] = []  # set by update_prices()


def _cached_card(name: str, provider: str | None, batch: bool) -> ApiPrice:
    """The card genai-prices' bundled data gives today, kept in the user's cache folder (loading
    genai-prices and its data costs a new process ~0.2 s), keyed by that data file."""
    from importlib.util import find_spec

    from fleetplan.disk_cache import cached, file_stamp

    try:
        origin = find_spec("genai_prices").origin  # type: ignore[union-attr]
        table = resources.files("fleetplan.catalog.data").joinpath("api_batch_discounts.toml")
        stamps = (
            file_stamp(Path(str(origin)).parent / "data.py"),
            file_stamp(str(table)),
            file_stamp(__file__),  # this module builds the card: an edit rebuilds it
        )
    except (AttributeError, TypeError, ValueError, OSError):  # an unusual install: no cache
        return _from_genai(name, provider, batch)
    day = f"{datetime.now(tz=UTC):%Y-%m-%d}"
    return cached(
        "api-price",
        (name, provider, batch, day, stamps),
        lambda: _from_genai(name, provider, batch),
    )


def _from_genai(name: str, provider: str | None, batch: bool) -> ApiPrice:
    prov, model = _resolve(name, provider)
    now = datetime.now(tz=UTC)
    as_of = f"prices in effect {now:%Y-%m-%d}"
    url = (prov.pricing_urls or [""])[0]
    std = _card_from(prov, model, now, None)
    card = ApiPrice(model.id, prov.id, *std, source=_source(), as_of=as_of, pricing_url=url)
    if not batch:
        return card
    variant = _card_from(prov, model, now, {"processing": "batch"})
    if variant != std:
        return ApiPrice(
            model.id,
            prov.id,
            *variant,
            source=f"{_source()}, batch price variant",
            as_of=as_of,
            pricing="batch",
            pricing_url=url,
        )
    row = _batch_table().get(prov.id)
    if row is None:
        raise InputError(
            f"no batch-API price known for {prov.id}:{model.id} (genai-prices has no batch "
            f"variant and the discount table has no row for {prov.id}); give one in a price file"
        )
    keep = 1.0 - float(row["discount"])

    def cut(x: float | None) -> float | None:
        return None if x is None else x * keep

    return replace(
        card,
        input_usd_per_mtok=card.input_usd_per_mtok * keep,
        output_usd_per_mtok=card.output_usd_per_mtok * keep,
        cached_input_usd_per_mtok=cut(card.cached_input_usd_per_mtok),
        tiers=tuple(
            PriceTier(
                t.start_input_tokens,
                t.input_usd_per_mtok * keep,
                t.output_usd_per_mtok * keep,
                cut(t.cached_input_usd_per_mtok),
            )
            for t in card.tiers
        ),
        source=f"{card.source}, less {row['discount']:.0%} batch discount: {row['source']}",
        pricing="batch",
    )


# ------------------------------------------------------------------------ user overrides


class _OverrideEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1)
    provider: str = "user"
    # the shared vocabulary: finite, a number (not a "2.5" string), at most MAX_USD
    input_usd_per_mtok: Usd
    output_usd_per_mtok: Usd
    cached_input_usd_per_mtok: Usd | None = None
    pricing: str = Field(default="standard", pattern="^(standard|batch)$")
    source: str = "user-given"
    as_of: str = "user-given"


class _OverrideFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api: list[_OverrideEntry] = []


def override_key(name: str, batch: bool) -> str:
    """The key of a user price in `load_api_overrides`' mapping: a model's standard and batch
    prices are two rows of a price file, and neither replaces the other."""
    return f"{name.strip().lower()}\0{'batch' if batch else 'standard'}"


def load_api_overrides(*paths: Path | str) -> dict[str, ApiPrice]:
    """User API prices from TOML or YAML files: a list `api` of tables with `model`,
    `input_usd_per_mtok`, `output_usd_per_mtok` and optional `cached_input_usd_per_mtok`,
    `provider`, `pricing` (standard or batch: a model may have a row of each), `source`,
    `as_of`. Keyed by `override_key`."""
    from fleetplan.validation import validate_mapping

    out: dict[str, ApiPrice] = {}
    for path in paths:
        data = read_mapping(Path(path), "price file")
        where = f"price file {str(path)!r}"
        for e in validate_mapping(_OverrideFile, data, where).api:
            out[override_key(e.model, e.pricing == "batch")] = ApiPrice(
                model=e.model,
                provider=e.provider,
                input_usd_per_mtok=e.input_usd_per_mtok,
                output_usd_per_mtok=e.output_usd_per_mtok,
                cached_input_usd_per_mtok=e.cached_input_usd_per_mtok,
                tiers=(),
                source=f"{e.source} ({path})",
                as_of=e.as_of,
                pricing=e.pricing,
            )
    return out


def read_mapping(path: Path, what: str = "file") -> dict[str, Any]:
    """A YAML/TOML/JSON file's top-level mapping; errors name it as `what` ('price file')."""
    from fleetplan.files import load_structured

    data = load_structured(path, what)
    if not isinstance(data, dict):
        raise InputError(f"{what} {str(path)!r}: expected a mapping at the top level")
    return data


def update_prices(timeout_s: float = 30.0) -> str:
    """Fetch genai-prices' current price data (network) for this process; returns the source."""
    genai = _genai()
    updater = genai.UpdatePrices()
    try:
        updater.start(wait=False)
        ok = updater.wait(timeout=timeout_s)
    except Exception as exc:
        raise InputError(f"price update failed: {exc}") from None
    finally:
        updater.stop()
    if not ok:
        raise InputError(f"price update did not finish within {timeout_s:g} s")
    _LIVE.append(_source())
    return _LIVE[-1]
