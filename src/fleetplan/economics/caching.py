"""Caching ROI: prefix caching and semantic caching, in tokens and dollars.

Prefix caching: a request whose shared prefix is cached prefills only its own suffix, so
prefill tokens/h = requests/h × (suffix + (1 − hit) × prefix). Semantic caching: a hit skips
the model entirely, but every request pays the embedding of its query, and the vector store
costs a fixed amount per month.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetplan.economics.unit_cost import check_nonnegative
from fleetplan.errors import InputError
from fleetplan.units import HOURS_PER_MONTH


def _fraction(x: float, field: str) -> None:
    if not 0 <= x <= 1:
        raise InputError(f"{field} = {x:g}; expected a fraction in [0, 1]")


@dataclass(frozen=True)
class PrefixCaching:
    prefill_tokens_per_hour_uncached: float
    prefill_tokens_per_hour_cached: float
    reduction: float  # fraction of prefill tokens saved
    usd_per_month_uncached: float | None
    usd_per_month_cached: float | None
    saves_usd_per_month: float | None
    price_basis: str


def prefix_caching(
    prefix_tokens: float,
    suffix_tokens: float,
    requests_per_hour: float,
    hit_rate: float,
    *,
    input_usd_per_mtok: float | None = None,
    cached_usd_per_mtok: float | None = None,
    price_basis: str = "no price given",
) -> PrefixCaching:
    """Prefill tokens with and without a prefix cache; dollars when input prices are given
    (an API's cached-input price, or 0 for a self-hosted engine that skips the prefill)."""
    for v, f in ((prefix_tokens, "prefix_tokens"), (suffix_tokens, "suffix_tokens")):
        check_nonnegative(v, f)
    check_nonnegative(requests_per_hour, "requests_per_hour")
    _fraction(hit_rate, "hit_rate")
    before = requests_per_hour * (prefix_tokens + suffix_tokens)
    after = requests_per_hour * (suffix_tokens + (1 - hit_rate) * prefix_tokens)
    usd_before = usd_after = None
    if input_usd_per_mtok is not None:
        cached = cached_usd_per_mtok if cached_usd_per_mtok is not None else input_usd_per_mtok
        hits = requests_per_hour * hit_rate * prefix_tokens
        usd_before = before * input_usd_per_mtok / 1e6 * HOURS_PER_MONTH
        usd_after = (after * input_usd_per_mtok + hits * cached) / 1e6 * HOURS_PER_MONTH
    return PrefixCaching(
        prefill_tokens_per_hour_uncached=before,
        prefill_tokens_per_hour_cached=after,
        reduction=1 - after / before if before else 0.0,
        usd_per_month_uncached=usd_before,
        usd_per_month_cached=usd_after,
        saves_usd_per_month=None if usd_before is None else usd_before - usd_after,  # type: ignore[operator]
        price_basis=price_basis,
    )


@dataclass(frozen=True)
class SemanticCaching:
    requests_per_month: float
    llm_usd_per_month_uncached: float
    llm_usd_per_month_cached: float
    embedding_usd_per_month: float
    vector_store_usd_per_month: float
    saves_usd_per_month: float  # negative when the cache costs more than it saves
    breakeven_hit_rate: float | None


def semantic_caching(
    requests_per_month: float,
    llm_usd_per_request: float,
    hit_rate: float,
    *,
    embedding_tokens_per_request: float,
    embedding_usd_per_mtok: float,
    vector_store_usd_per_month: float,
) -> SemanticCaching:
    """Net saving of a semantic cache; `breakeven_hit_rate` is the hit rate at which it pays."""
    for v, f in (
        (requests_per_month, "requests_per_month"),
        (llm_usd_per_request, "llm_usd_per_request"),
        (embedding_tokens_per_request, "embedding_tokens_per_request"),
        (embedding_usd_per_mtok, "embedding_usd_per_mtok"),
        (vector_store_usd_per_month, "vector_store_usd_per_month"),
    ):
        check_nonnegative(v, f)
    _fraction(hit_rate, "hit_rate")
    llm = requests_per_month * llm_usd_per_request
    embed = requests_per_month * embedding_tokens_per_request * embedding_usd_per_mtok / 1e6
    cost_of_cache = embed + vector_store_usd_per_month
    return SemanticCaching(
        requests_per_month=requests_per_month,
        llm_usd_per_month_uncached=llm,
        llm_usd_per_month_cached=llm * (1 - hit_rate),
        embedding_usd_per_month=embed,
        vector_store_usd_per_month=vector_store_usd_per_month,
        saves_usd_per_month=llm * hit_rate - cost_of_cache,
        breakeven_hit_rate=(cost_of_cache / llm) if llm > 0 and cost_of_cache <= llm else None,
    )
