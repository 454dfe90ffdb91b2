"""Which factors a family's fit stages pin down, and on which rows (`crossval._stages`): the
dense kernels' on dense-model rows, the MoE kernels' on MoE rows (with a Triton prefill's
re-read bandwidth where a stage's rows run it), the API server's on the rows measured through it
that its view can judge (`server_stage_row`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fleetplan.accuracy.predict import (
    burst_runs_at_once,
    burst_ttft_row,
    concurrency_cap,
    fittable,
    preempts_in_burst,
    row_engine,
    row_setup,
)
from fleetplan.accuracy.rows import ValidationRow
from fleetplan.catalog import Catalog
from fleetplan.catalog.engine_profile import EngineProfile

BASE_FACTORS = ("mbu", "attention_mbu", "mfu_prefill", "step_overhead_ms")
MIN_ARCH_ROWS = 10  # rows of a GPU generation (or weight-only format) needed to fit its scale
# the bandwidth of a Triton prefill kernel's context re-reads (perf.kernels.prefill_kv_reread),
# fitted in the stage of the rows that run it where it has MIN_REREAD_ROWS of them: one scale,
# which a single GPUStack A100 gpt-oss page's 8-10 fittable rows pin (its long prompts move it,
# the short ones hold the rest); with fewer a fold keeps the memory's share. Every fit starts it
# at that share (1), not at the packaged value the held-out source helped set
REREAD_FACTOR = "prefill_kv_reread_bandwidth_scale"
REREAD_START = 1.0
MIN_REREAD_ROWS = 4


def dense_factors(
    rows: Sequence[ValidationRow], catalog: Catalog, current: bool = False
) -> list[str]:
    """What dense-model rows pin down: the base factors (for a current family also the
    per-layer kernel-boundary time), the attention kernels' share of the peak beside the
    GEMMs' (the long prompts' prefill), the all-reduce latency where tensor-parallel rows exist,
    and a GPU generation's bandwidth and GEMM scales where it has enough rows besides the
    family's most common generation."""
    names = list(BASE_FACTORS) + (["per_layer_overhead_us"] if current else [])
    names.append("attention_mfu_scale")
    if any(r.tp > 1 for r in rows):
        names.append("allreduce_latency_us")
    archs = [catalog.gpu(r.gpu).architecture for r in rows]
    common = max(set(archs), key=archs.count) if archs else ""
    for a in sorted(set(archs) - {common}):
        if archs.count(a) >= MIN_ARCH_ROWS:
            names += [f"arch:{a}:mbu", f"arch:{a}:mfu_prefill"]
    return names


def reread_rows(rows: Sequence[ValidationRow], catalog: Catalog) -> list[ValidationRow]:
    """The rows whose engine runs the model's attention sinks through its Triton attention kernel
    on the row's GPU (`EngineProfile.sink_attention_triton_on`), which reads a prompt's context
    again for every few query tokens (perf.kernels.prefill_kv_reread)."""
    return [
        r
        for r in rows
        if catalog.model(r.model).attention_sinks
        and catalog.gpu(r.gpu).architecture in row_engine(r, catalog).sink_attention_triton_on
    ]


def reread_factor(rows: Sequence[ValidationRow], catalog: Catalog) -> list[str]:
    """`REREAD_FACTOR` where a stage's rows hold `MIN_REREAD_ROWS` rows that run the kernel."""
    return [REREAD_FACTOR] if len(reread_rows(rows, catalog)) >= MIN_REREAD_ROWS else []


def _weight_only(row: ValidationRow, catalog: Catalog) -> bool:
    """Whether the row's GPU runs its weight format weight-only (no tensor cores for it)."""
    return catalog.gpu(row.gpu).architecture in catalog.precision(row.precision).emulated_on


def weight_only_moe_formats(rows: Sequence[ValidationRow], catalog: Catalog) -> list[str]:
    """Weight formats that MoE rows ran weight-only (their GPU has no tensor cores for the
    format: the engine dequantizes in the kernel, vLLM's Marlin MoE for MXFP4 on Hopper and
    Ampere), with MIN_ARCH_ROWS rows, beside rows of other formats: such a kernel streams the
    experts at its own share of the bandwidth (`moe_factors`)."""
    fmts = [r.precision for r in rows if _weight_only(r, catalog)]
    if len(fmts) == len(rows):
        return []
    return sorted(f for f in set(fmts) if fmts.count(f) >= MIN_ARCH_ROWS)


def native_moe_rows(rows: Sequence[ValidationRow], catalog: Catalog) -> list[ValidationRow]:
    """The MoE rows a family's MoE stage fits on: all but those of a format run weight-only
    that has too few rows for a scale of its own (`weight_only_moe_formats`), beside rows of
    other formats. A dequantizing kernel (SGLang's and TensorRT-LLM's MXFP4 MoE on Hopper and
    Ampere) streams and multiplies the experts at its own rates; a handful of its rows would
    otherwise bend the native kernels' shares toward it: SGLang's six gpt-oss rows, beside 144
    DeepSeek-R1 FP8 ones, held its grouped-GEMM small-batch factor at its 64-token ceiling, where
    the DeepSeek-R1 rows alone put it near 0. Such rows are still predicted, with the factors
    the native rows set."""
    own = set(weight_only_moe_formats(rows, catalog))
    if all(_weight_only(r, catalog) for r in rows):
        return list(rows)
    return [r for r in rows if r.precision in own or not _weight_only(r, catalog)]


def moe_factors(
    has_dense: bool,
    per_expert_cost: bool = False,
    weight_only: Sequence[str] = (),
    stream_share: bool = True,
) -> list[str]:
    """What MoE rows pin down once the dense kernels' factors are set: the grouped-GEMM
    small-batch factor and the expert-weight streaming share (unless the family's MoE kernels
    read the experts at the dense weights' share, `stream_share` False:
    EngineProfile.experts_stream_at_mbu), its scale for each format run weight-only
    (`weight_only_moe_formats`), the fixed cost per expert run where the
    family's profile models one (`per_expert_cost`: its moe_expert_overhead_us is set), and
    the per-step overhead when the family has no dense rows to set it."""
    names = ["moe_gemm_half_tokens"] + (["moe_stream_scale"] if stream_share else [])
    names += [f"format:{f}:moe_stream_scale" for f in weight_only]
    if per_expert_cost:
        names.append("moe_expert_overhead_us")
    return names if has_dense else [*names, "step_overhead_ms"]


# the API server's serial work and latency (sim/frontend.py), fitted on the rows measured
# through it, for the families whose profile models the server (non-zero costs in engines.toml),
# in a stage of their own after the kernels' factors. Every fit starts them from the same values,
# not the packaged (in-sample) ones, which the held-out source helped set: 65 us a token is
# vLLM PR 17546's API-server throughput (13.1 ms a ~200-token ShareGPT request, all of it
# charged to the tokens, https://github.com/vllm-project/vllm/pull/17546); 1 ms a request and
# 10 ms on the way are round starting points, not measurements
SERVER_FACTORS = (
    "api_server_ms_per_request",
    "api_server_us_per_output_token",
    "api_server_latency_ms",
)
# where the server renders some models' chat prompts natively (EngineProfile
# native_chat_families: vLLM's openai_harmony for gpt-oss), the further latency of a prompt
# rendered from a Hugging Face chat template is a factor of its own (`server_factors`)
CHAT_TEMPLATE_FACTOR = "chat_template_latency_ms"
# and, where the server hands a request to the engine after the work queued meanwhile
# (EngineProfile.api_server_queued_hand_off), the serial time a prompt rendered from the
# template holds it: the bursts' first tokens tell it apart (a burst reaches the engine when its
# last request is taken in)
CHAT_TEMPLATE_SERIAL = "chat_template_ms_per_request"
SERVER_START = {
    "api_server_ms_per_request": 1.0,
    "api_server_us_per_output_token": 65.0,
    "api_server_latency_ms": 10.0,
    CHAT_TEMPLATE_FACTOR: 10.0,
    CHAT_TEMPLATE_SERIAL: 1.0,
}


def models_server(engine: EngineProfile) -> bool:
    """Whether a family's profile models its API server (`sim/frontend.py`)."""
    return engine.api_server_ms_per_request + engine.api_server_us_per_output_token > 0


def server_factors(engine: EngineProfile) -> tuple[str, ...]:
    """The API server's factors a family's fit takes: `SERVER_FACTORS`, and the chat-template
    latency where the server renders some models' chat prompts natively (the rows of the two
    kinds tell the two latencies apart; elsewhere it would double `api_server_latency_ms`)."""
    if not engine.native_chat_families:
        return SERVER_FACTORS
    serial = (CHAT_TEMPLATE_SERIAL,) if engine.api_server_queued_hand_off else ()
    return (*SERVER_FACTORS, CHAT_TEMPLATE_FACTOR, *serial)


# a TTFT at a fixed concurrency through the server is fitted where the server is idle when a
# request comes: at most this many users
SERVER_TTFT_USERS = 4


def server_stage_row(row: ValidationRow, catalog: Catalog) -> bool:
    """Whether the server's stage fits on a row measured through the server: a row a fit can
    judge (a TTFT only at a few users), or a burst's TTFT whose requests all run at once
    (`burst_runs_at_once`); never a burst that preempts (`preempts_in_burst`, whatever the
    row's metric). A burst's setup is built once for both checks."""
    if not row.api_server:
        return False
    plain = fittable(row) and (row.group != "TTFT" or row.batch <= SERVER_TTFT_USERS)
    if not (plain or burst_ttft_row(row)):
        return False
    if row.schedule != "offline":
        return True
    s = row_setup(row, catalog)
    if not plain and not burst_runs_at_once(row, s):
        return False
    tput = dataclasses.replace(row, metric="output_tok_per_s")
    return not preempts_in_burst(tput, s, min(row.batch, concurrency_cap(row, s)))
