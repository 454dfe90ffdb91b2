"""Fleet mix: a base fleet on on-demand/reserved/owned capacity plus burst capacity.

`hybrid` is the usual formula: base GPUs bill every hour, burst GPUs bill the fraction of the
month they run. `hybrid_from_profile` derives those from a demand profile over a day (GPUs
needed in each hour): the base is sized for a percentile of the hourly demand, burst covers
the hours above it. A common comparison sets the hybrid beside an on-demand fleet sized for
*average* demand, which cannot serve the peak; the fair comparison is the peak-sized fleet,
reported too.
Spot capacity can be reclaimed: with an interruption rate, the expected cost of covering lost
burst hours on on-demand capacity is added; without one the risk is stated, not priced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fleetplan.economics.unit_cost import check_nonnegative
from fleetplan.errors import InputError
from fleetplan.units import HOURS_PER_MONTH


@dataclass(frozen=True)
class Hybrid:
    base_gpus: int
    burst_gpus: int
    burst_gpu_hours_per_month: float
    base_usd_per_month: float
    burst_usd_per_month: float
    interruption_usd_per_month: float
    total_usd_per_month: float
    compare_gpus: int
    compare_usd_per_month: float
    saving_fraction: float
    risk: str


def hybrid(
    base_gpus: int,
    base_usd_per_gpu_hour: float,
    burst_gpus: int,
    burst_usd_per_gpu_hour: float,
    burst_fraction: float,
    compare_gpus: int,
    compare_usd_per_gpu_hour: float | None = None,
    *,
    spot_interruption_fraction: float | None = None,
) -> Hybrid:
    """Base + burst versus `compare_gpus` on-demand GPUs at `compare_usd_per_gpu_hour`
    (default: the base price). `spot_interruption_fraction`: share of burst hours lost to
    reclaims and re-bought at the base price."""
    if min(base_gpus, burst_gpus, compare_gpus) < 0:
        raise InputError("GPU counts must not be negative")
    if not 0 <= burst_fraction <= 1:
        raise InputError(f"burst_fraction = {burst_fraction:g}; expected a fraction in [0, 1]")
    check_nonnegative(base_usd_per_gpu_hour, "base_usd_per_gpu_hour")
    check_nonnegative(burst_usd_per_gpu_hour, "burst_usd_per_gpu_hour")
    burst_h = burst_gpus * HOURS_PER_MONTH * burst_fraction
    return _result(
        base_gpus,
        base_usd_per_gpu_hour,
        burst_gpus,
        burst_usd_per_gpu_hour,
        burst_h,
        compare_gpus,
        base_usd_per_gpu_hour if compare_usd_per_gpu_hour is None else compare_usd_per_gpu_hour,
        spot_interruption_fraction,
    )


def _result(
    base: int,
    base_price: float,
    burst: int,
    burst_price: float,
    burst_h: float,
    compare: int,
    compare_price: float,
    interrupt: float | None,
    api_burst: str = "",
) -> Hybrid:
    base_usd = base * base_price * HOURS_PER_MONTH
    burst_usd = burst_h * burst_price
    if api_burst:
        extra = 0.0
        risk = (
            f"burst sent to the {api_burst} API, priced per request as GPU-hour equivalents: "
            "no interruption risk, but its rate limits and data-residency rules apply"
        )
    elif interrupt is None:
        extra = 0.0
        risk = (
            "spot interruption risk not priced (give an interruption fraction): reclaimed "
            "burst capacity must fall back to on-demand or an API, or requests queue"
        )
    else:
        if not 0 <= interrupt <= 1:
            raise InputError(f"spot interruption fraction = {interrupt:g}; expected [0, 1]")
        extra = burst_h * interrupt * (base_price - burst_price)
        risk = f"{interrupt:.0%} of burst hours assumed reclaimed and re-bought at the base price"
    total = base_usd + burst_usd + extra
    comp = compare * compare_price * HOURS_PER_MONTH
    return Hybrid(
        base_gpus=base,
        burst_gpus=burst,
        burst_gpu_hours_per_month=burst_h,
        base_usd_per_month=base_usd,
        burst_usd_per_month=burst_usd,
        interruption_usd_per_month=extra,
        total_usd_per_month=total,
        compare_gpus=compare,
        compare_usd_per_month=comp,
        saving_fraction=1 - total / comp if comp else 0.0,
        risk=risk,
    )


def hybrid_from_profile(
    demand_gpus: Sequence[float],
    base_percentile: float,
    base_usd_per_gpu_hour: float,
    burst_usd_per_gpu_hour: float,
    *,
    spot_interruption_fraction: float | None = None,
    api_burst: str = "",
) -> Hybrid:
    """Hybrid fleet for a demand profile over a day (GPUs needed per hour, any number of
    equal slots), compared with an on-demand fleet sized for the peak. With `api_burst` (an
    API model name) the burst price is that API's cost of the requests one GPU-hour serves."""
    d = np.asarray(demand_gpus, dtype=float)
    if d.size == 0 or not np.all(np.isfinite(d)) or np.any(d < 0):
        raise InputError("demand profile must be non-empty, finite and non-negative")
    if not 0 <= base_percentile <= 100:
        raise InputError(f"base_percentile = {base_percentile:g}; expected 0-100")
    need = np.ceil(np.round(d, 9))
    base = math.ceil(round(float(np.percentile(need, base_percentile)), 9))
    over = np.maximum(need - base, 0)
    burst_h = float(over.mean()) * HOURS_PER_MONTH
    peak = int(need.max())
    return _result(
        base,
        base_usd_per_gpu_hour,
        int(over.max()),
        burst_usd_per_gpu_hour,
        burst_h,
        peak,
        base_usd_per_gpu_hour,
        spot_interruption_fraction,
        api_burst,
    )
