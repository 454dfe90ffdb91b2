"""Monthly compute budget by workload category.

A budget file lists GPU lines (category, GPU, count, hours/month, pricing, price or catalog
offer) and API lines (category, API model or $/1M tokens, tokens/month). The result has each
line's cost, totals and shares by category, and what moving a line to spot, a reserved term or
a batch API would save. Reserved capacity bills all 730 hours whether used or not; spot is not
offered for SLO-bound online inference (a preemption mid-stream breaks the request).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fleetplan.catalog import Catalog
from fleetplan.economics.pricing import gpu_price
from fleetplan.errors import FleetplanError, InputError
from fleetplan.render.terminal import price_text
from fleetplan.units import HOURS_PER_MONTH
from fleetplan.validation import Count, NonNegative, Usd, format_validation_error

Name = Annotated[str, Field(min_length=1)]  # a GPU, API model or provider name: never blank

CATEGORIES = (
    "training",
    "fine-tuning",
    "online-inference",
    "batch-inference",
    "embeddings",
    "experimentation",
)
Category = Literal[
    "training",
    "fine-tuning",
    "online-inference",
    "batch-inference",
    "embeddings",
    "experimentation",
]
Pricing = Literal["on-demand", "spot", "reserved-1y", "reserved-3y"]


class LineEntry(BaseModel):
    """One budget line as written in the file."""

    model_config = ConfigDict(extra="forbid")
    category: Category
    name: str = ""
    # GPU line
    gpu: Name | None = None
    count: Count | None = None
    hours_per_month: Annotated[NonNegative, Field(le=HOURS_PER_MONTH)] | None = None
    pricing: Pricing = "on-demand"
    usd_per_gpu_hour: Usd | None = None
    provider: Name | None = None
    # API line
    api: Name | None = None
    usd_per_mtok: Usd | None = None
    batch_usd_per_mtok: Usd | None = None
    tokens_per_month: NonNegative | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> LineEntry:
        # a field of the other kind of line prices nothing here: refused, never ignored
        given = self.model_fields_set
        if self.gpu is not None:
            if self.count is None or self.hours_per_month is None:
                raise ValueError("a GPU line needs gpu, count and hours_per_month")
            other = sorted(given & _API_FIELDS)
            if other:
                raise ValueError(
                    f"a GPU line (gpu) takes no {', '.join(other)}: those price an API line"
                )
        else:
            if self.tokens_per_month is None or (self.api is None) == (self.usd_per_mtok is None):
                raise ValueError(
                    "an API line needs tokens_per_month and one of api or usd_per_mtok"
                )
            other = sorted(given & _GPU_FIELDS)
            if other:
                raise ValueError(
                    f"an API line takes no {', '.join(other)}: those price a GPU line (gpu)"
                )
        return self


_GPU_FIELDS = frozenset(
    {"gpu", "count", "hours_per_month", "pricing", "usd_per_gpu_hour", "provider"}
)
_API_FIELDS = frozenset({"api", "usd_per_mtok", "batch_usd_per_mtok", "tokens_per_month"})


class BudgetFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "budget"
    lines: list[LineEntry] = Field(min_length=1)


def parse_budget(data: dict[str, Any], where: str = "budget file") -> BudgetFile:
    """Validate a budget mapping; errors name the field, the value and what is accepted."""
    try:
        return BudgetFile.model_validate(data)
    except ValidationError as exc:  # the wording every file's errors share
        raise InputError(f"{where}: {format_validation_error(exc, BudgetFile)}") from None


@dataclass(frozen=True)
class Saving:
    move_to: str
    usd_per_month: float  # cost after the move
    saves_usd_per_month: float
    basis: str
    caveat: str = ""


@dataclass(frozen=True)
class Line:
    category: str
    name: str
    usd_per_month: float
    detail: str  # the arithmetic
    basis: str  # where the price comes from
    pricing: str
    gpu: str | None
    gpus: int | None
    hours_per_month: float | None
    usd_per_gpu_hour: float | None
    savings: tuple[Saving, ...]


@dataclass(frozen=True)
class Budget:
    name: str
    lines: tuple[Line, ...]
    total_usd_per_month: float
    by_category_usd_per_month: dict[str, float]
    share_by_category: dict[str, float]


ApiLookup = Callable[[str, bool], tuple[float, str]]  # (model, batch) -> ($/1M, basis)


def compute_budget(spec: BudgetFile, catalog: Catalog, api_lookup: ApiLookup) -> Budget:
    lines = []
    for i, e in enumerate(spec.lines):
        name = e.name or f"lines[{i}]"
        try:
            lines.append(_gpu_line(e, name, catalog) if e.gpu else _api_line(e, name, api_lookup))
        except FleetplanError as exc:
            where = f"lines[{i}]" + (f" ({e.name})" if e.name else "")  # not lines[0] (lines[0])
            exc.args = (f"{where}: {exc}", *exc.args[1:])
            raise
    total = sum(line.usd_per_month for line in lines)
    by_cat = {c: 0.0 for c in CATEGORIES}
    for line in lines:
        by_cat[line.category] += line.usd_per_month
    by_cat = {c: v for c, v in by_cat.items() if v or any(x.category == c for x in lines)}
    shares = {c: (v / total if total else 0.0) for c, v in by_cat.items()}
    return Budget(spec.name, tuple(lines), total, by_cat, shares)


def _committed(pricing: str) -> bool:
    return pricing.startswith(("reserved", "savings-plan"))


def _gpu_line(e: LineEntry, name: str, catalog: Catalog) -> Line:
    assert e.gpu and e.count and e.hours_per_month is not None
    # the line's GPUs are rented together: 3 GPUs of an 8-GPU-only offer share one instance
    price = gpu_price(
        catalog, e.gpu, e.usd_per_gpu_hour, provider=e.provider, pricing=e.pricing,
        gpus=e.count, price_field="usd_per_gpu_hour",
    )  # fmt: skip
    gpu_hours = e.count * e.hours_per_month
    billed_hours = HOURS_PER_MONTH if _committed(e.pricing) else e.hours_per_month
    cost = e.count * billed_hours * price.usd_per_gpu_hour  # a commitment bills every hour
    savings = []
    for alt in ("spot", "reserved-1y", "savings-plan-1y", "reserved-3y", "savings-plan-3y"):
        if alt == e.pricing:
            continue
        try:  # the same provider's offers where the line names one: a move of pricing only
            ap = gpu_price(catalog, e.gpu, None, provider=e.provider, pricing=alt, gpus=e.count)
        except InputError:
            continue
        billed_h = HOURS_PER_MONTH * e.count if _committed(alt) else gpu_hours
        new = billed_h * ap.usd_per_gpu_hour
        if new >= cost:  # a move that costs more is not a saving
            continue
        caveat = ""
        if alt == "spot":
            caveat = (
                "not for SLO-bound online serving: instances can be reclaimed"
                if e.category == "online-inference"
                else "interruptible: needs checkpointing or retries"
            )
        elif e.hours_per_month < HOURS_PER_MONTH:
            caveat = f"a commitment bills all 730 h; this line uses {e.hours_per_month:g} h/GPU"
        if alt.endswith("-3y"):
            caveat = "; ".join(x for x in (caveat, "a 3-year commitment") if x)
        savings.append(Saving(alt, new, cost - new, ap.basis, caveat))
    return Line(
        category=e.category,
        name=name,
        usd_per_month=cost,
        detail=_gpu_arithmetic(e, price.gpu, billed_hours, price.usd_per_gpu_hour),
        basis=price.basis,
        pricing=e.pricing,
        gpu=price.gpu,
        gpus=e.count,
        hours_per_month=e.hours_per_month,
        usd_per_gpu_hour=price.usd_per_gpu_hour,
        savings=tuple(savings),
    )


def _gpu_arithmetic(e: LineEntry, gpu: str, billed_hours: float, usd_per_gpu_hour: float) -> str:
    """The line's $/month as the product it is: GPUs × billed hours × $/GPU-hour."""
    hours = f"{billed_hours:g} h"
    if billed_hours != e.hours_per_month:
        hours += f" (committed; {e.hours_per_month:g} h used)"
    return f"{e.count} × {gpu} × {hours} × ${price_text(usd_per_gpu_hour)}"


def _api_line(e: LineEntry, name: str, api_lookup: ApiLookup) -> Line:
    assert e.tokens_per_month is not None
    mtok = e.tokens_per_month / 1e6
    if e.api is not None:
        rate, basis = api_lookup(e.api, False)
        try:
            batch_rate, batch_basis = api_lookup(e.api, True)
        except InputError:
            batch_rate, batch_basis = None, ""
    else:
        assert e.usd_per_mtok is not None
        rate, basis = e.usd_per_mtok, "user-given"
        batch_rate, batch_basis = e.batch_usd_per_mtok, "user-given"
    cost = mtok * rate
    savings = ()
    if batch_rate is not None and e.category != "online-inference":
        savings = (Saving("batch-api", mtok * batch_rate, cost - mtok * batch_rate, batch_basis),)
    return Line(
        category=e.category,
        name=name,
        usd_per_month=cost,
        detail=f"{e.tokens_per_month:,.0f} tokens × ${price_text(rate)}/1M",
        basis=basis,
        pricing="api",
        gpu=None,
        gpus=None,
        hours_per_month=None,
        usd_per_gpu_hour=None,
        savings=savings,
    )
