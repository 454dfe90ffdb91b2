"""Capacity-aware breakeven of a self-hosted deployment against an API.

Self-hosted cost per month is a step function of volume V (requests/month). Replicas are
bought as whole instances of `instance_gpus` GPUs, each holding q = instance_gpus //
gpus_per_replica replicas (a plan's packing: `economics.pricing.instances_bought`)::

    replicas(V)  = max(min_replicas, ceil(V / c)),  c = capacity_req_per_hour × 730 × utilization
    instances(V) = ceil(replicas(V) / q)
    self(V)      = instances(V) × R + ops,          R = usd_per_gpu_hour × instance_gpus × 730
    api(V)       = a × V,                           a = API $ per request

so the step is an instance: C = q × c requests/month for R. Within step k (V in ((k-1)C, kC])
self-hosting is no dearer once V ≥ (kR + ops)/a, so the first step that can break even is the
smallest k with k(aC − R) ≥ ops, and the breakeven is exactly (kR + ops)/a — no sampling. When
aC ≤ R (the API's price of a full instance's work is below its own rent) no volume breaks
even. The common "fixed cost / API price" ignores that one instance serves at most C requests;
it is reported as `naive_breakeven_requests_per_month` with the reason it is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fleetplan.economics.unit_cost import check_nonnegative, check_utilization
from fleetplan.errors import InputError
from fleetplan.render.terminal import small_usd_text
from fleetplan.units import HOURS_PER_MONTH

MAX_CURVE_STEPS = 60


@dataclass(frozen=True)
class SelfHosted:
    """A self-hosted deployment: replicas of `gpus_per_replica` GPUs, each serving
    `capacity_req_per_hour` requests when busy, busy a fraction `utilization` of the month,
    bought as whole instances of `instance_gpus` GPUs (0: as many as a replica has) at
    `usd_per_gpu_hour` per GPU billed."""

    usd_per_gpu_hour: float
    capacity_req_per_hour: float
    ops_usd_per_month: float = 0.0
    utilization: float = 1.0
    gpus_per_replica: int = 1
    min_replicas: int = 1
    price_basis: str = "user-given"
    capacity_basis: str = "user-given"
    instance_gpus: int = 0

    def __post_init__(self) -> None:
        check_nonnegative(self.usd_per_gpu_hour, "usd_per_gpu_hour")
        check_nonnegative(self.ops_usd_per_month, "ops_usd_per_month")
        check_utilization(self.utilization)
        if not self.capacity_req_per_hour > 0:
            raise InputError(
                f"capacity_req_per_hour = {self.capacity_req_per_hour:g}; expected a positive rate"
            )
        if self.gpus_per_replica < 1 or self.min_replicas < 0:
            raise InputError("gpus_per_replica must be ≥ 1 and min_replicas ≥ 0")
        if self.instance_gpus < 0:
            raise InputError(f"instance_gpus = {self.instance_gpus}; expected ≥ 0")

    @property
    def gpus_per_instance(self) -> int:
        """GPUs billed per instance (at least one replica's)."""
        return max(self.instance_gpus, self.gpus_per_replica)

    @property
    def replicas_per_instance(self) -> int:
        return self.gpus_per_instance // self.gpus_per_replica

    @property
    def capacity_req_per_month(self) -> float:
        """Requests one replica serves in a month at the stated utilization."""
        return self.capacity_req_per_hour * HOURS_PER_MONTH * self.utilization

    @property
    def instance_capacity_req_per_month(self) -> float:
        """Requests one instance (its replicas) serves in a month: the step of the cost."""
        return self.capacity_req_per_month * self.replicas_per_instance

    @property
    def replica_usd_per_month(self) -> float:
        return self.usd_per_gpu_hour * self.gpus_per_replica * HOURS_PER_MONTH

    @property
    def instance_usd_per_month(self) -> float:
        return self.usd_per_gpu_hour * self.gpus_per_instance * HOURS_PER_MONTH

    @property
    def min_instances(self) -> int:
        return math.ceil(self.min_replicas / self.replicas_per_instance)

    def replicas(self, requests_per_month: float) -> int:
        check_nonnegative(requests_per_month, "requests_per_month")
        need = math.ceil(_clean(requests_per_month / self.capacity_req_per_month))
        return max(self.min_replicas, need)

    def instances(self, requests_per_month: float) -> int:
        return math.ceil(self.replicas(requests_per_month) / self.replicas_per_instance)

    def gpus(self, requests_per_month: float) -> int:
        """GPUs billed at this volume."""
        return self.instances(requests_per_month) * self.gpus_per_instance

    def usd_per_month(self, requests_per_month: float) -> float:
        return self.instances(requests_per_month) * self.instance_usd_per_month + (
            self.ops_usd_per_month
        )


@dataclass(frozen=True)
class Curve:
    """Cost versus volume, at the step edges of the self-hosted side."""

    requests_per_month: tuple[int, ...]
    self_hosted_usd_per_month: tuple[float, ...]
    api_usd_per_month: tuple[float, ...]
    gpus: tuple[int, ...]


@dataclass(frozen=True)
class Breakeven:
    api: str
    api_usd_per_request: float
    self_hosted_usd_per_request_at_capacity: float  # one replica full, ops included
    self_hosted_marginal_usd_per_request: float  # GPU rent only, replica full
    breakeven_requests_per_month: int | None
    breakeven_tokens_per_month: int | None
    gpus_at_breakeven: int | None
    # past this volume, self-hosting never costs more
    cheaper_for_all_volumes_from_requests_per_month: int | None
    reason: str
    naive_breakeven_requests_per_month: float | None
    naive_note: str
    naive_holds: bool  # the naive figure is right here (it fits within one replica)
    tokens_per_request: int
    utilization: float
    capacity_req_per_month_per_replica: float
    curve: Curve = field(repr=False)


def _clean(x: float) -> float:
    """Drop float noise before ceil (333600.00000000006 is 333,600)."""
    return round(x, 6)


def breakeven(
    api: str,
    api_usd_per_request: float,
    sh: SelfHosted,
    tokens_per_request: int,
    volume_max_requests_per_month: float | None = None,
) -> Breakeven:
    """Smallest volume at which `sh` costs no more than the API, or None with the reason.
    The step is an instance (`SelfHosted.instances`): one replica where an instance holds
    one."""
    a = api_usd_per_request
    check_nonnegative(a, "api_usd_per_request")
    C, R, ops = sh.instance_capacity_req_per_month, sh.instance_usd_per_month, sh.ops_usd_per_month
    q = sh.replicas_per_instance
    unit = (
        "replica"
        if sh.gpus_per_instance == sh.gpus_per_replica
        else f"{sh.gpus_per_instance}-GPU instance ({q} replica{'s' if q > 1 else ''})"
    )
    full = (R + ops) / C
    marginal = R / C
    naive = _clean((R * max(sh.min_instances, 1) + ops) / a) if a > 0 else None
    first: int | None = None
    sustained: int | None = None
    gain = a * C - R  # what one full instance saves against the API, before ops
    if gain > 0 or (gain == 0 and ops == 0 and a > 0):
        k = max(1, sh.min_instances, math.ceil(_clean(ops / gain)) if gain > 0 else 1)
        first = math.ceil(_clean((k * R + ops) / a))
        # self-hosting is dearer again just past each step edge until k(aC−R) ≥ ops + aC
        k_all = math.ceil(_clean((ops + a * C) / gain)) if gain > 0 else None
        if k_all is not None:
            sustained = max(first, math.ceil(_clean(((k_all - 1) * R + ops) / a)))
        gpus = sh.gpus(first)
        reason = (
            f"self-hosting costs no more than {api} from {first:,} requests/month "
            f"({gpus} GPU{'s' if gpus > 1 else ''}; one {unit} serves up to "
            f"{C:,.0f} requests/month at {sh.utilization:.0%} utilization)"
        )
    else:
        gpus = None
        reason = (
            f"no breakeven: the GPU time of a full {unit} alone costs "
            f"${small_usd_text(marginal)}/request (${small_usd_text(full)} with ops), above "
            f"{api}'s ${small_usd_text(a)}/request; more volume only adds "
            f"{unit.split(' (')[0]}s at the same marginal cost"
        )
    if naive is None:
        note = "the API is free at this profile; nothing breaks even"
    elif naive <= C:
        note = (
            f"fixed cost / API price = {naive:,.0f} requests/month fits within the capacity of "
            f"one {unit} ({C:,.0f}), so the naive figure happens to hold"
        )
    else:
        note = (
            f"fixed cost / API price = {naive:,.0f} requests/month ignores capacity: one "
            f"{unit} serves at most {C:,.0f}, so that volume needs {sh.gpus(naive)} GPUs costing "
            f"${sh.usd_per_month(naive):,.2f}/month against the API's ${a * naive:,.2f}"
        )
    vmax = volume_max_requests_per_month
    if vmax is None:
        vmax = max(3 * C, 2 * (sustained or first or 0), naive or 0)
    curve = cost_curve(sh, a, vmax)
    return Breakeven(
        api=api,
        api_usd_per_request=a,
        self_hosted_usd_per_request_at_capacity=full,
        self_hosted_marginal_usd_per_request=marginal,
        breakeven_requests_per_month=first,
        breakeven_tokens_per_month=None if first is None else first * tokens_per_request,
        gpus_at_breakeven=gpus,
        cheaper_for_all_volumes_from_requests_per_month=sustained,
        reason=reason,
        naive_breakeven_requests_per_month=naive,
        naive_note=note,
        naive_holds=naive is not None and naive <= C,
        tokens_per_request=tokens_per_request,
        utilization=sh.utilization,
        capacity_req_per_month_per_replica=sh.capacity_req_per_month,
        curve=curve,
    )


def cost_curve(sh: SelfHosted, api_usd_per_request: float, volume_max: float) -> Curve:
    """Both costs at each self-hosted step edge (start and end of every instance count) up to
    `volume_max`; at most MAX_CURVE_STEPS steps, evenly spread when there are more."""
    check_nonnegative(volume_max, "volume_max")
    C = sh.instance_capacity_req_per_month
    steps = max(1, math.ceil(_clean(volume_max / C)))
    stride = max(1, math.ceil(steps / MAX_CURVE_STEPS))
    vols: set[int] = {0, int(volume_max)}
    for k in range(1, steps + 1, stride):
        vols.add(math.floor((k - 1) * C) + 1)
        vols.add(math.floor(k * C))
    ordered = sorted(v for v in vols if v <= volume_max)
    return Curve(
        requests_per_month=tuple(ordered),
        self_hosted_usd_per_month=tuple(sh.usd_per_month(v) for v in ordered),
        api_usd_per_month=tuple(api_usd_per_request * v for v in ordered),
        gpus=tuple(sh.gpus(v) for v in ordered),
    )
