"""Owned-hardware TCO against renting.

Owned $/GPU-hour = capex amortized over the life's hours + power (W × load × PUE × $/kWh) +
(ops labor $/month) / 730 per GPU. Payback month: the first month in which cumulative rent
exceeds capex plus cumulative owned running costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetplan.economics.unit_cost import check_nonnegative, check_utilization
from fleetplan.errors import InputError
from fleetplan.units import HOURS_PER_MONTH

HOURS_PER_YEAR = HOURS_PER_MONTH * 12  # 8,760


@dataclass(frozen=True)
class Tco:
    gpus: int
    capex_usd: float  # GPUs plus networking and setup
    life_years: float
    amortized_usd_per_gpu_hour: float
    power_usd_per_gpu_hour: float
    ops_usd_per_gpu_hour: float
    owned_usd_per_gpu_hour: float
    rent_usd_per_gpu_hour: float | None
    owned_usd_per_month: float
    rent_usd_per_month: float | None
    payback_month: int | None  # None: renting is never dearer
    capex_basis: str
    utilization: float


def tco(
    gpu_price_usd: float,
    gpus: int = 1,
    *,
    life_years: float = 3.0,
    power_w: float = 0.0,
    load: float = 1.0,
    pue: float = 1.0,
    usd_per_kwh: float = 0.0,
    network_setup_usd: float = 0.0,
    ops_usd_per_month: float = 0.0,
    rent_usd_per_gpu_hour: float | None = None,
    capex_basis: str = "user-given",
) -> Tco:
    """Cost per GPU-hour of owning `gpus` GPUs; with a rent price, the payback month."""
    if gpus < 1:
        raise InputError(f"gpus = {gpus}; expected at least 1")
    for v, f in (
        (gpu_price_usd, "gpu_price_usd"),
        (power_w, "power_w"),
        (usd_per_kwh, "usd_per_kwh"),
        (network_setup_usd, "network_setup_usd"),
        (ops_usd_per_month, "ops_usd_per_month"),
    ):
        check_nonnegative(v, f)
    check_utilization(load, "load")
    if not life_years > 0 or pue < 1:
        raise InputError("life_years must be positive and pue at least 1")
    capex = gpu_price_usd * gpus + network_setup_usd
    amort = capex / gpus / (life_years * HOURS_PER_YEAR)
    power = power_w / 1000 * load * pue * usd_per_kwh
    ops = ops_usd_per_month / HOURS_PER_MONTH / gpus
    owned = amort + power + ops
    run_month = (power + ops) * gpus * HOURS_PER_MONTH
    rent_month = (
        None if rent_usd_per_gpu_hour is None else rent_usd_per_gpu_hour * gpus * HOURS_PER_MONTH
    )
    payback = None
    if rent_month is not None and rent_month > run_month:
        payback = math.ceil(round(capex / (rent_month - run_month), 9))
    return Tco(
        gpus=gpus,
        capex_usd=capex,
        life_years=life_years,
        amortized_usd_per_gpu_hour=amort,
        power_usd_per_gpu_hour=power,
        ops_usd_per_gpu_hour=ops,
        owned_usd_per_gpu_hour=owned,
        rent_usd_per_gpu_hour=rent_usd_per_gpu_hour,
        owned_usd_per_month=owned * gpus * HOURS_PER_MONTH,
        rent_usd_per_month=rent_month,
        payback_month=payback,
        capex_basis=capex_basis,
        utilization=load,
    )
