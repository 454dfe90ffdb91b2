"""Quantization economics: the same model at several precisions on one GPU type — GPUs per
replica, throughput, $/1M tokens — with the quality caveat each format carries.

Throughput comes from the performance model at the largest batch that fits the KV cache and
meets the SLOs (TPOT per token, TTFT without queueing; default the built-in plan's), on the
tensor-parallel degree with the lowest $/1M tokens (the smallest one that fits can leave too
little KV cache to batch: 70B fp8 on one 80 GB GPU). GGUF formats run on llama.cpp, and the
row says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fleetplan.catalog import Catalog
from fleetplan.catalog.specs import ModelSpec, Precision
from fleetplan.economics.unit_cost import (
    BATCH_GRID,
    DEFAULT_TPOT_P95_MS,
    DEFAULT_TTFT_P95_MS,
    check_utilization,
    slo_batch_index,
    usd_per_mtok,
)
from fleetplan.errors import UnsupportedError
from fleetplan.estimate import TP_CHOICES, check_request, estimate_fit, estimate_perf


@dataclass(frozen=True)
class QuantRow:
    precision: str
    runs: bool
    reason: str  # why not, or notes on how it runs
    tp: int | None = None
    weights_gb: float | None = None
    batch: int | None = None
    output_tok_per_s: float | None = None
    total_tok_per_s: float | None = None
    tpot_ms: float | None = None
    usd_per_hour: float | None = None  # one replica
    usd_per_million_output_tokens: float | None = None
    usd_per_million_tokens: float | None = None
    quality_note: str = ""
    engine: str = ""
    usd_per_gpu_hour: float | None = None  # per GPU the replica uses, as its instance bills


PriceFor = Callable[[int], float]
"""$ per GPU-hour of one replica of `tp` GPUs, as rented (whole instances)."""


def compare_precisions(
    model: ModelSpec,
    gpu: str,
    precisions: list[str],
    usd_per_gpu_hour: float | PriceFor,
    *,
    input_tokens: int = 512,
    output_tokens: int = 256,
    utilization: float = 0.7,
    engine: str = "vllm",
    catalog: Catalog,
    tpot_slo_ms: float | None = DEFAULT_TPOT_P95_MS,
    ttft_slo_ms: float | None = DEFAULT_TTFT_P95_MS,
) -> list[QuantRow]:
    """Each precision on the tensor-parallel degree with the lowest $/1M tokens. A price per
    GPU-hour is one rate for every degree; a `PriceFor` prices each degree's replica as rented
    (two GPUs of an 8-GPU-only instance bill the instance)."""
    check_utilization(utilization)
    check_request(model, input_tokens, output_tokens)  # as perf says it, not the fit's --context
    price_for: PriceFor = (
        usd_per_gpu_hour if callable(usd_per_gpu_hour) else (lambda tp: float(usd_per_gpu_hour))
    )
    rows = []
    for prec in catalog.precisions_for(model, precisions):
        note = quality_note(model, prec)
        eng = "llama.cpp" if prec.id.startswith("gguf") else engine
        moved = (
            f"{prec.id} runs on llama.cpp, not {engine}: its slots and kernels differ"
            if eng != engine
            else ""
        )
        best: QuantRow | None = None
        last_reason = ""
        for tp in TP_CHOICES:
            try:
                f = estimate_fit(
                    model, gpu, precision=prec.id, tp=tp, context=input_tokens + output_tokens,
                    engine=eng, catalog=catalog,
                )  # fmt: skip
            except UnsupportedError as exc:
                last_reason = "; ".join(x for x in (moved, str(exc)) if x)
                break
            if not f.fits:
                last_reason = f"does not fit on up to {tp} GPU(s): {f.limit}"
                continue
            pe = estimate_perf(
                model, gpu, precision=prec.id, tp=tp, input_tokens=input_tokens,
                output_tokens=output_tokens, batches=[*BATCH_GRID, "max"], engine=eng,
                catalog=catalog,
            )  # fmt: skip
            r = pe.result
            k, slo = slo_batch_index(pe, tpot_slo_ms, ttft_slo_ms)
            if k is None:
                last_reason = (
                    f"misses the SLO ({slo}) on {tp} GPU(s) even at batch 1 "
                    f"(TPOT {r.tpot_s[0] * 1e3:.1f} ms)"
                )
                continue
            rate = price_for(tp)
            per_hour = rate * tp
            out_tps, tot_tps = float(r.output_tok_per_s[k]), float(r.total_tok_per_s[k])
            row = QuantRow(
                precision=prec.id,
                runs=True,
                reason="; ".join(x for x in (moved, *pe.setup.notes) if x),
                tp=tp,
                weights_gb=f.weights_bytes / 1e9,
                batch=int(r.batch[k]),
                output_tok_per_s=out_tps,
                total_tok_per_s=tot_tps,
                tpot_ms=float(r.tpot_s[k] * 1e3),
                usd_per_hour=per_hour,
                usd_per_million_output_tokens=usd_per_mtok(per_hour, out_tps, utilization),
                usd_per_million_tokens=usd_per_mtok(per_hour, tot_tps, utilization),
                quality_note=note,
                engine=eng,
                usd_per_gpu_hour=rate,
            )
            if best is None or (row.usd_per_million_tokens or 0) < (
                best.usd_per_million_tokens or 0
            ):
                best = row
        rows.append(best or QuantRow(prec.id, False, last_reason, quality_note=note, engine=eng))
    return rows


def quality_note(model: ModelSpec, prec: Precision) -> str:
    """The quality caveat of serving `model` at `prec`, measured from the weights it ships in:
    the format's own note, except that the released format is the baseline, and a 16-bit copy
    of weights released in fewer bits gains nothing over them."""
    shipped = model.checkpoint_precision
    if not shipped:
        return prec.quality_note
    if prec.id == shipped:
        return f"the released weights ({shipped}); the baseline others are compared with"
    if prec.weight_bits >= 16:
        return f"a {prec.id} copy of the released {shipped} weights: their quality, more bytes"
    return prec.quality_note
