"""Owned-hardware TCO against renting, in the terms a finance review asks for.

Owned $/GPU-hour = depreciation of the GPU and its share of the host server (straight line over
the life) + support/upkeep (a fraction of that capex per year) + power (GPU TDP and the host's
share, x load x PUE x $/kWh) + ops labor per GPU. Payback month: the first month in which
cumulative rent exceeds capex plus cumulative owned running costs — within the depreciation
life: hardware that pays back only after it is written off (and replaced) never pays back.

The CLI's defaults carry their sources (`OWNED_DEFAULTS`); every one is overridable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetplan.economics.unit_cost import check_nonnegative, check_utilization
from fleetplan.errors import InputError
from fleetplan.units import HOURS_PER_MONTH

HOURS_PER_YEAR = HOURS_PER_MONTH * 12  # 8,760


@dataclass(frozen=True)
class OwnedDefault:
    value: float
    source: str


# Sourced defaults for owning datacenter GPUs (8-GPU servers); override each on the command line.
OWNED_DEFAULTS = {
    "host_usd_per_gpu": OwnedDefault(
        4_000.0,
        "non-GPU bill of materials of a DGX H100 (CPUs, memory, NICs, storage, chassis, "
        "power supplies) $32,010 per 8-GPU server, from SemiAnalysis' breakdown as "
        "reproduced by Epoch AI (https://github.com/epoch-research/training-cost-trends)",
    ),
    "host_power_w_per_gpu": OwnedDefault(
        575.0,
        "DGX H100 maximum input 10.2 kW less 8 x 700 W GPUs, per GPU "
        "(https://www.supercluster.blog/p/6-ai-supercluster-nvidia-dgx-h100)",
    ),
    "pue": OwnedDefault(
        1.58,
        "industry-average PUE 1.58 (Uptime Institute, 2023; "
        "https://journal.uptimeinstitute.com/large-data-centers-are-mostly-more-efficient-analysis-confirms/)",
    ),
    "usd_per_kwh": OwnedDefault(
        0.13,
        "US average commercial electricity price, about 13 cents/kWh (EIA Electric Power "
        "Monthly table 5.6.A, https://www.eia.gov/electricity/monthly/epm_table_grapher.php?t=epmt_5_6_a)",
    ),
    "support_fraction_per_year": OwnedDefault(
        0.20,
        "vendor support at 20% of the system price per year (DGX H100: $39,800 on $199,000; "
        "https://www.supercluster.blog/p/4-nvidia-dgx-h100-hardware)",
    ),
    "life_years": OwnedDefault(
        3.0,
        "straight-line depreciation over 3 years, a conservative life for accelerators "
        "(a new datacenter GPU generation ships about every two years)",
    ),
}


@dataclass(frozen=True)
class Tco:
    gpus: int
    gpu_capex_usd: float
    host_capex_usd: float
    network_setup_usd: float
    capex_usd: float  # GPUs, their host servers, networking and setup
    life_years: float
    amortized_usd_per_gpu_hour: float  # depreciation of all capex
    support_usd_per_gpu_hour: float
    power_usd_per_gpu_hour: float
    power_w_per_gpu: float  # GPU TDP + host share, before load and PUE
    load_fraction_of_tdp: float
    pue: float
    usd_per_kwh: float
    ops_usd_per_gpu_hour: float
    owned_usd_per_gpu_hour: float
    rent_usd_per_gpu_hour: float | None
    owned_usd_per_month: float
    rent_usd_per_month: float | None
    payback_month: int | None  # None: renting is never dearer within the life
    capex_basis: str
    payback_basis: str = ""  # how the payback month was found, or why there is none


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
    host_usd_per_gpu: float = 0.0,
    host_power_w_per_gpu: float = 0.0,
    support_fraction_per_year: float = 0.0,
    rent_usd_per_month: float | None = None,
) -> Tco:
    """Cost per GPU-hour of owning `gpus` GPUs; with a rent price, the payback month.

    `rent_usd_per_month` (a plan's cloud cost) overrides `rent_usd_per_gpu_hour` x GPUs; with
    both, `rent_usd_per_gpu_hour` is the rented GPUs' own rate (a plan may rent other counts)."""
    if gpus < 1:
        raise InputError(f"gpus = {gpus}; expected at least 1")
    for v, f in (
        (gpu_price_usd, "gpu_price_usd"),
        (power_w, "power_w"),
        (usd_per_kwh, "usd_per_kwh"),
        (network_setup_usd, "network_setup_usd"),
        (ops_usd_per_month, "ops_usd_per_month"),
        (host_usd_per_gpu, "host_usd_per_gpu"),
        (host_power_w_per_gpu, "host_power_w_per_gpu"),
        (support_fraction_per_year, "support_fraction_per_year"),
    ):
        check_nonnegative(v, f)
    check_utilization(load, "load")
    if not life_years > 0:
        raise InputError(f"life_years = {life_years:g}; expected a positive number of years")
    if pue < 1:
        raise InputError(f"pue = {pue:g}; expected at least 1 (total facility / IT power)")
    gpu_capex = gpu_price_usd * gpus
    host_capex = host_usd_per_gpu * gpus
    capex = gpu_capex + host_capex + network_setup_usd
    amort = capex / gpus / (life_years * HOURS_PER_YEAR)
    support = (gpu_capex + host_capex) * support_fraction_per_year / gpus / HOURS_PER_YEAR
    watts = power_w + host_power_w_per_gpu
    power = watts / 1000 * load * pue * usd_per_kwh
    ops = ops_usd_per_month / HOURS_PER_MONTH / gpus
    owned = amort + support + power + ops
    run_month = (support + power + ops) * gpus * HOURS_PER_MONTH
    rent_month = rent_usd_per_month
    if rent_month is None and rent_usd_per_gpu_hour is not None:
        rent_month = rent_usd_per_gpu_hour * gpus * HOURS_PER_MONTH
    payback, life_months = None, life_years * 12
    if rent_month is None:
        payback_basis = "no rent to compare"
    elif rent_month <= run_month:
        payback_basis = "never: renting costs no more than running the owned GPUs"
    else:
        payback = math.ceil(round(capex / (rent_month - run_month), 9))
        payback_basis = "first month cumulative rent exceeds capex + running costs"
        if payback > life_months:
            payback_basis = (
                f"never within the {life_years:g}-year life ({life_months:g} months): "
                f"cumulative rent would exceed capex + running costs in month {payback:,}"
            )
            payback = None
    return Tco(
        gpus=gpus,
        gpu_capex_usd=gpu_capex,
        host_capex_usd=host_capex,
        network_setup_usd=network_setup_usd,
        capex_usd=capex,
        life_years=life_years,
        amortized_usd_per_gpu_hour=amort,
        support_usd_per_gpu_hour=support,
        power_usd_per_gpu_hour=power,
        power_w_per_gpu=watts,
        load_fraction_of_tdp=load,
        pue=pue,
        usd_per_kwh=usd_per_kwh,
        ops_usd_per_gpu_hour=ops,
        owned_usd_per_gpu_hour=owned,
        rent_usd_per_gpu_hour=(
            rent_usd_per_gpu_hour
            if rent_usd_per_gpu_hour is not None or rent_usd_per_month is None
            else rent_usd_per_month / gpus / HOURS_PER_MONTH
        ),
        owned_usd_per_month=owned * gpus * HOURS_PER_MONTH,
        rent_usd_per_month=rent_month,
        payback_month=payback,
        capex_basis=capex_basis,
        payback_basis=payback_basis,
    )
