"""Unit cost of a deployment: $/hour, $/month, $/request and $/1M tokens at a utilization.

$/1M tokens = (usd_per_gpu_hour × gpus / 3600) / (tok_per_s × utilization) × 1e6, where
`tok_per_s` is the deployment's sustained throughput when busy and `utilization` the fraction
of hours it is busy. A $/1M figure without its utilization is
meaningless, so every result carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleetplan.errors import InputError
from fleetplan.units import HOURS_PER_MONTH, SECONDS_PER_HOUR

MTOK = 1e6


@dataclass(frozen=True)
class UnitCost:
    """What a deployment costs per unit of time and per unit of work."""

    gpus: int
    usd_per_gpu_hour: float
    utilization: float
    tok_per_s: float  # sustained throughput when busy (all GPUs of the deployment)
    usd_per_hour: float
    usd_per_month: float
    usd_per_mtok: float  # at `utilization`
    price_basis: str
    throughput_basis: str

    @property
    def effective_tok_per_s(self) -> float:
        return self.tok_per_s * self.utilization


def check_utilization(utilization: float, field: str = "utilization") -> None:
    if not 0 < utilization <= 1:
        raise InputError(f"{field} = {utilization:g}; expected a fraction in (0, 1]")


def check_nonnegative(value: float, field: str) -> None:
    if not value >= 0:  # also rejects NaN
        raise InputError(f"{field} = {value:g}; expected a non-negative number")


def usd_per_mtok(usd_per_hour: float, tok_per_s: float, utilization: float = 1.0) -> float:
    """$ per 1M tokens of a deployment costing `usd_per_hour` that serves `tok_per_s` when
    busy and is busy a fraction `utilization` of the time."""
    check_nonnegative(usd_per_hour, "usd_per_hour")
    check_utilization(utilization)
    if not tok_per_s > 0:
        raise InputError(f"tok_per_s = {tok_per_s:g}; expected a positive throughput")
    return usd_per_hour / SECONDS_PER_HOUR / (tok_per_s * utilization) * MTOK


def unit_cost(
    usd_per_gpu_hour: float,
    gpus: int,
    tok_per_s: float,
    utilization: float = 1.0,
    *,
    price_basis: str = "user-given",
    throughput_basis: str = "user-given",
) -> UnitCost:
    """Unit cost of `gpus` GPUs at `usd_per_gpu_hour` serving `tok_per_s` together."""
    if gpus < 1:
        raise InputError(f"gpus = {gpus}; expected at least 1")
    check_nonnegative(usd_per_gpu_hour, "usd_per_gpu_hour")
    per_hour = usd_per_gpu_hour * gpus
    return UnitCost(
        gpus=gpus,
        usd_per_gpu_hour=usd_per_gpu_hour,
        utilization=utilization,
        tok_per_s=tok_per_s,
        usd_per_hour=per_hour,
        usd_per_month=per_hour * HOURS_PER_MONTH,
        usd_per_mtok=usd_per_mtok(per_hour, tok_per_s, utilization),
        price_basis=price_basis,
        throughput_basis=throughput_basis,
    )


def usd_per_request(usd_per_hour: float, req_per_hour: float, utilization: float = 1.0) -> float:
    """$ per request of a deployment serving `req_per_hour` when busy (a mostly idle GPU
    still bills every hour, so $/request = $/h × hours / requests)."""
    check_nonnegative(usd_per_hour, "usd_per_hour")
    check_utilization(utilization)
    if not req_per_hour > 0:
        raise InputError(f"req_per_hour = {req_per_hour:g}; expected a positive rate")
    return usd_per_hour / (req_per_hour * utilization)


def usd_per_request_at_volume(usd_per_hour: float, requests_per_day: float) -> float:
    """$ per request of an always-on deployment that gets `requests_per_day`."""
    check_nonnegative(usd_per_hour, "usd_per_hour")
    if not requests_per_day > 0:
        raise InputError(f"requests_per_day = {requests_per_day:g}; expected a positive number")
    return usd_per_hour * 24.0 / requests_per_day


@dataclass(frozen=True)
class ModelCapacity:
    """A replica's throughput for a request profile, from the performance model."""

    model: str
    gpu: str
    precision: str
    tp: int
    batch: int
    output_tok_per_s: float
    total_tok_per_s: float
    req_per_hour: float
    basis: str
    tpot_ms: float = 0.0
    # how far the model's output tok/s was from published measurements of setups like this,
    # out of sample (catalog.error_bands); "" where not known
    error_basis: str = ""


# The built-in plan's SLOs (fleetplan/examples/chat-8b.yaml): the batch a capacity figure uses
# is the largest that meets them, never the largest that merely fits.
DEFAULT_TPOT_P95_MS = 50.0
DEFAULT_TTFT_P95_MS = 1500.0
BATCH_GRID = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]


def model_capacity(
    model: str,
    gpu: str,
    *,
    precision: str = "auto",
    tp: int = 1,
    input_tokens: int,
    output_tokens: int,
    engine: str = "vllm",
    catalog: object | None = None,
    tpot_slo_ms: float | None = DEFAULT_TPOT_P95_MS,
    ttft_slo_ms: float | None = DEFAULT_TTFT_P95_MS,
) -> ModelCapacity:
    """Requests/hour of one replica at the largest batch that fits and meets the SLOs
    (continuous batching; TPOT per token, TTFT without queueing): req/h = output_tok_per_s x
    3600 / output_tokens, from `estimate_perf`."""
    from fleetplan.errors import UnsupportedError
    from fleetplan.estimate import estimate_perf

    pe = estimate_perf(
        model,
        gpu,
        precision=precision,
        tp=tp,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        batches=[*BATCH_GRID, "max"],
        engine=engine,
        catalog=catalog,  # type: ignore[arg-type]
    )
    # (a replica that holds not one sequence: estimate_perf says so and which --tp fits)
    r = pe.result
    k, slo = slo_batch_index(pe, tpot_slo_ms, ttft_slo_ms)
    if k is None:
        raise UnsupportedError(
            f"{model} at {precision} on {tp}× {gpu} misses the SLO ({slo}) even at batch 1 "
            f"(TPOT {r.tpot_s[0] * 1e3:.1f} ms, TTFT {r.ttft_s[0] * 1e3:,.0f} ms)"
        )
    out_tps = float(r.output_tok_per_s[k])
    batch = int(r.batch[k])
    limit = "the largest that fits" if k == len(pe.fits) - 1 or not slo else f"SLO {slo}"
    return ModelCapacity(
        model=pe.setup.model.id if hasattr(pe.setup, "model") else model,
        gpu=gpu,
        precision=precision,
        tp=tp,
        batch=batch,
        output_tok_per_s=out_tps,
        total_tok_per_s=float(r.total_tok_per_s[k]),
        req_per_hour=out_tps * SECONDS_PER_HOUR / output_tokens,
        basis=(
            f"performance model (analytic roofline, {engine}, continuous batching) at batch "
            f"{batch} ({limit}; TPOT {r.tpot_s[k] * 1e3:.1f} ms): {out_tps:,.0f} output tok/s"
        ),
        error_basis=pe.expected_error.clause() if pe.expected_error else "",
        tpot_ms=float(r.tpot_s[k] * 1e3),
    )


def slo_batch_index(
    pe: Any, tpot_slo_ms: float | None, ttft_slo_ms: float | None
) -> tuple[int | None, str]:
    """Index of the largest batch of a `PerfEstimate` that fits and meets the SLOs (TPOT per
    token, TTFT without queueing), or None; and the SLO in words."""
    r = pe.result
    ok = [
        i
        for i, fits in enumerate(pe.fits)
        if fits
        and (tpot_slo_ms is None or r.tpot_s[i] * 1e3 <= tpot_slo_ms)
        and (ttft_slo_ms is None or r.ttft_s[i] * 1e3 <= ttft_slo_ms)
    ]
    slo = ", ".join(
        f"{name} ≤ {v:g} ms"
        for name, v in (("TPOT", tpot_slo_ms), ("TTFT (no queueing)", ttft_slo_ms))
        if v is not None
    )
    return (ok[-1] if ok else None), slo


def smallest_tp(model: str, gpu: str, gpus: int, precision: str, catalog: object) -> int:
    """The smallest tensor-parallel degree (dividing `gpus`) at which the model fits."""
    from fleetplan.errors import UnsupportedError
    from fleetplan.estimate import TP_CHOICES, estimate_perf

    for tp in TP_CHOICES:
        if tp > gpus or gpus % tp:
            continue
        try:
            # refused where the split holds not one sequence (estimate.does_not_fit)
            estimate_perf(
                model, gpu, precision=precision, tp=tp, batches=[1],
                catalog=catalog,  # type: ignore[arg-type]
            )  # fmt: skip
        except UnsupportedError:
            continue
        return tp
    raise UnsupportedError(
        f"{model} at {precision} fits on no tensor-parallel split of {gpus}× {gpu}"
    )
