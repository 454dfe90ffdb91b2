"""Multi-tenancy: statistical multiplexing of tenants, and LoRA adapters on a shared base.

Each tenant needs `peak_gpus` while active and is active a fraction `utilization` of the time,
independently of the others. Dedicated fleets need the sum of peaks; a pooled fleet needs the
`quantile` of the summed demand, computed exactly (convolution of the tenants' on/off
distributions) — not a "law of large numbers" guess.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fleetplan.economics.unit_cost import check_nonnegative
from fleetplan.errors import InputError
from fleetplan.validation import MAX_COUNT

MAX_TENANTS = 1_000  # each tenant costs one pass over the pooled distribution (<= 1M GPUs)


@dataclass(frozen=True)
class Multiplexing:
    tenants: int
    sum_of_peaks_gpus: int
    pooled_gpus: int
    quantile: float
    mean_demand_gpus: float
    dedicated_utilization: float
    pooled_utilization: float
    saving_fraction: float


def multiplexing(
    peak_gpus: Sequence[int], utilization: Sequence[float], quantile: float = 0.99
) -> Multiplexing:
    """GPUs for N on/off tenants: dedicated (sum of peaks) versus pooled (demand quantile)."""
    if len(peak_gpus) != len(utilization) or not peak_gpus:
        raise InputError("give one utilization per tenant (and at least one tenant)")
    if not 0 < quantile <= 1:
        raise InputError(f"quantile = {quantile:g}; expected a fraction in (0, 1]")
    if len(peak_gpus) > MAX_TENANTS:
        raise InputError(f"tenants = {len(peak_gpus):,}; accepted: 1 to {MAX_TENANTS:,}")
    for p, u in zip(peak_gpus, utilization, strict=True):
        if p < 0 or int(p) != p or p > MAX_COUNT:
            raise InputError(f"peak_gpus = {p}; accepted: an integer from 0 to {MAX_COUNT:,}")
        if not 0 <= u <= 1:
            raise InputError(f"utilization = {u:g}; expected a fraction in [0, 1]")
    if sum(peak_gpus) > MAX_COUNT:  # the demand distribution has one entry per GPU
        raise InputError(
            f"peak_gpus sum to {int(sum(peak_gpus)):,} GPUs; accepted: at most {MAX_COUNT:,} "
            "across all tenants"
        )
    dist = np.array([1.0])
    for p, u in zip(peak_gpus, utilization, strict=True):
        # convolution with the tenant's two-point distribution (0 w.p. 1-u, p w.p. u): the
        # same sums np.convolve forms, without the p-1 zeros between the two points
        if p == 0:
            dist = dist * ((1 - u) + u)
            continue
        nxt = np.zeros(len(dist) + int(p))
        nxt[: len(dist)] = dist * (1 - u)
        nxt[int(p) :] += dist * u
        dist = nxt
    cdf = np.cumsum(dist)
    pooled = int(np.searchsorted(cdf, quantile - 1e-12))
    total = int(sum(peak_gpus))
    mean = float(sum(p * u for p, u in zip(peak_gpus, utilization, strict=True)))
    return Multiplexing(
        tenants=len(peak_gpus),
        sum_of_peaks_gpus=total,
        pooled_gpus=pooled,
        quantile=quantile,
        mean_demand_gpus=mean,
        dedicated_utilization=mean / total if total else 0.0,
        pooled_utilization=mean / pooled if pooled else 0.0,
        saving_fraction=1 - pooled / total if total else 0.0,
    )


@dataclass(frozen=True)
class LoraSharing:
    adapters: int
    dedicated_gpus: int
    shared_gpus: int
    dedicated_usd_per_month: float
    shared_usd_per_month: float
    saving_fraction: float
    adapter_overhead: float


def lora_sharing(
    load_req_per_hour: Sequence[float],
    capacity_req_per_hour: float,
    gpus_per_replica: int,
    usd_per_gpu_hour: float,
    *,
    adapter_overhead: float,
    hours_per_month: float = 730.0,
) -> LoraSharing:
    """N fine-tuned variants: one deployment each versus one base model serving all adapters,
    its capacity reduced by `adapter_overhead` (1-3 % is often quoted; give your own)."""
    if not capacity_req_per_hour > 0:
        raise InputError(
            f"capacity_req_per_hour = {capacity_req_per_hour!r}; expected a positive rate"
        )
    if gpus_per_replica < 1:
        raise InputError(f"gpus_per_replica = {gpus_per_replica!r}; expected an integer ≥ 1")
    if not 0 <= adapter_overhead < 1:
        raise InputError(f"adapter_overhead = {adapter_overhead:g}; expected a fraction [0, 1)")
    check_nonnegative(usd_per_gpu_hour, "usd_per_gpu_hour")
    for x in load_req_per_hour:
        check_nonnegative(x, "load_req_per_hour")
    dedicated = sum(
        max(1, math.ceil(round(x / capacity_req_per_hour, 9))) for x in load_req_per_hour
    )
    shared_cap = capacity_req_per_hour * (1 - adapter_overhead)
    shared = max(1, math.ceil(round(sum(load_req_per_hour) / shared_cap, 9)))
    most = max(dedicated, shared) * gpus_per_replica
    if most > MAX_COUNT:  # the GPU count bound every other input is held to
        raise InputError(
            f"the loads need {most:,} GPUs (replicas of {gpus_per_replica} GPU(s) serving "
            f"{capacity_req_per_hour:g} requests/hour each); accepted: at most {MAX_COUNT:,} GPUs"
        )
    rate = gpus_per_replica * usd_per_gpu_hour * hours_per_month
    return LoraSharing(
        adapters=len(load_req_per_hour),
        dedicated_gpus=dedicated * gpus_per_replica,
        shared_gpus=shared * gpus_per_replica,
        dedicated_usd_per_month=dedicated * rate,
        shared_usd_per_month=shared * rate,
        saving_fraction=1 - shared / dedicated if dedicated else 0.0,
        adapter_overhead=adapter_overhead,
    )
