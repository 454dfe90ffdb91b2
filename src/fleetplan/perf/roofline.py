"""Step times of one replica: prefill and decode, as rooflines with engine efficiencies.

`Setup` compiles a (model, GPU, precision, KV precision, tp, engine) combination into the
scalars the formulas need; `step_s` then evaluates a forward step for arrays of
(decode sequences, their mean context, prefill tokens, their mean context) at once, so the
search and the static-batch sum run as numpy arrays, not Python loops. Every formula is in
fleetplan/docs/performance.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.catalog.generations import MFU_CEILING, measured_card_note, on_card
from fleetplan.catalog.params import count_params
from fleetplan.catalog.specs import GpuSpec, ModelSpec, Precision
from fleetplan.errors import UnsupportedError
from fleetplan.perf.attention_dp import (
    attention_dp_note,
    attention_dp_weight_bytes,
    kv_shard_fraction,
)
from fleetplan.perf.expert_parallel import (
    check_ep,
    ep_note,
    expert_overhead_s,
    moe_terms,
    sharded_moe_gemm_scale,
)
from fleetplan.perf.formats import attention_format, compute_format_for, weight_only_gemm_scale
from fleetplan.perf.kernels import (
    attention_flops_per_ctx_token,
    block_fp8_gemm_scale,
    block_fp8_moe_scale,
    eager_floor_s,
    marlin_expert_padding,
    mla_absorbed_decode_bytes,
    nvfp4_gemm_scale,
    prefill_kv_reread,
    replicated_params,
    triton_attention_block_q,
)
from fleetplan.perf.layer_floors import scaled_layer_overhead_s
from fleetplan.perf.memory import (
    kv_bytes_per_token_per_layer,
    kv_layer_tokens,
    kv_width,
    served_model,
    served_model_note,
    weights,
)
from fleetplan.perf.parallel import allreduce_latency_s, allreduce_link_gb_s, allreduce_s

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Setup:
    """Scalars of one replica configuration; build with `setup()`."""

    model: ModelSpec
    gpu: GpuSpec
    precision: Precision
    engine: EngineProfile
    tp: int
    kv_bytes: float  # per element
    compute_format: str
    emulated: bool
    peak_flops: float  # per GPU, dense, in the compute format
    bandwidth: float  # bytes/s per GPU
    mbu: float
    attention_mbu: float
    mfu: float
    gemm_half_tokens: float
    step_overhead_s: float
    layer_overhead_s: float  # per_layer_overhead_us x the layer's kernel floors (perf.layer_floors)
    allreduce_latency_s: float
    dense_bytes_gpu: float  # weights every step streams, per GPU
    expert_bytes_gpu: float  # one routed expert of one layer, per GPU
    linear_flops_per_token_gpu: float  # 2 x matmul params a token passes through, per GPU
    attn_flops_per_ctx_token_gpu: float  # decode attention FLOPs per token of context, per GPU
    kv_layer_bytes_gpu: float  # KV bytes per token per layer held by one GPU
    notes: tuple[str, ...]
    kv_read_factor: float = 1.0  # decode-attention KV traffic per cached byte (GQA re-reads)
    expert_flops_per_token_gpu: float = 0.0  # routed-expert share of linear_flops_per_token_gpu
    moe_gemm_half_tokens: float = 0.0  # tokens per expert at which grouped GEMMs reach mfu/2
    # weights a step that decodes streams beyond dense_bytes_gpu (kernels.mla_absorbed_decode_bytes)
    mla_decode_bytes_gpu: float = 0.0
    moe_stream_scale: float = 1.0  # share of mbu that routed-expert weight reads reach
    moe_expert_overhead_s: float = 0.0  # per routed expert a GPU runs, per MoE layer and step
    attention_peak_flops: float = 0.0  # per GPU, dense, in the format attention runs in
    attention_mfu: float = 0.0  # share of attention_peak_flops the attention kernels reach
    attention_dp: int = 1  # data-parallel attention groups (SGLang --enable-dp-attention)
    ep: int = 1  # expert-parallel groups of the routed experts (perf.expert_parallel)
    # prefill attention FLOPs per token of context, per GPU (MLA: decompressed MHA; 0: as decode)
    attn_prefill_flops_per_ctx_token_gpu: float = 0.0
    # share of the GEMM rate the linear layers' kernels reach in this weight format (block-scaled
    # FP8 in Triton or blockwise kernels: perf.kernels.block_fp8_gemm_scale; 1 otherwise)
    gemm_scale: float = 1.0
    # share of the GEMM rate the routed experts' grouped GEMMs reach in this format (block FP8 in
    # the Triton fused-MoE kernel: perf.kernels.block_fp8_moe_scale)
    moe_gemm_scale: float = 1.0
    # a tensor-parallel split's ceiling on expert GEMMs (expert_parallel.sharded_moe_gemm_scale)
    sharded_moe_scale: float = 1.0
    link_gb_s: float = 0.0  # bus bandwidth of the tp group's collectives (allreduce_link_gb_s)
    # > 0: the engine runs the model eagerly (no CUDA graphs): the host's time to launch a
    # step's kernels, which the step's non-attention work cannot undercut (eager_floor_s)
    eager_floor_s: float = 0.0
    # context bytes a prompt token reads again per byte attended (perf.kernels.prefill_kv_reread)
    prefill_kv_reread: float = 0.0

    @property
    def label(self) -> str:
        tp = f" x{self.tp}" if self.tp > 1 else ""
        e = self.engine
        return f"{self.model.id} on {self.gpu.id}{tp} ({self.precision.id}, {e.id} = " + (
            f"{e.family or e.name} {e.versions})"
        )


def check_tp(model: ModelSpec, tp: int) -> None:
    """Tensor parallelism splits attention heads across GPUs: tp must divide them; and tp must
    divide the KV heads, or the KV heads must divide tp (each is then replicated, as vLLM does)."""
    if tp < 1 or model.attention_heads % tp:
        raise UnsupportedError(
            f"tp {tp} does not divide the {model.attention_heads} attention heads of {model.id}"
        )
    if not model.is_mla and model.kv_heads % tp and tp % model.kv_heads:
        raise UnsupportedError(
            f"tp {tp} and the {model.kv_heads} KV heads of {model.id} do not divide one another"
        )


def setup(
    model: ModelSpec,
    gpu: GpuSpec,
    precision: Precision,
    engine: EngineProfile,
    *,
    tp: int = 1,
    kv_precision: str = "auto",
    attention_dp: int = 1,
    ep: int = 1,
) -> Setup:
    """The step-time scalars of a combination (`attention_dp`: attention_dp.kv_shard_fraction;
    `ep`: perf.expert_parallel)."""
    # the scheduler limits the engine picks on this GPU and for this model's context window
    on_gpu = engine.for_gpu(gpu)
    engine = on_gpu.for_model(model)
    long_context = ""
    if engine.chunked_prefill != on_gpu.chunked_prefill:
        long_context = (
            f"{engine.id} turns chunked prefill on by itself for {model.id}'s "
            f"{model.max_context:,}-token context window: prompts enter "
            f"{engine.max_num_batched_tokens} tokens a step (modelled)"
        )
    window = served_model_note(model, engine)
    model = served_model(model, engine)
    if precision.id not in engine.precisions:
        raise UnsupportedError(
            f"engine {engine.id} does not serve {precision.id}; it serves "
            f"{', '.join(engine.precisions)}"
        )
    check_tp(model, tp)
    check_ep(model, tp, ep)
    fmt, emulated, note = compute_format_for(gpu, precision)
    arch, pid = gpu.architecture, precision.id
    counts = count_params(model)
    w = weights(model, precision)
    scale = model.params_total_b * 1e9 / counts.total
    # matmul params a token passes through: active params minus the looked-up embedding table
    active = model.params_active_b * 1e9
    linear_params = active - counts.embedding * (0.0 if model.tie_word_embeddings else scale)
    linear_params = max(linear_params, active * 0.5)
    expert_params = counts.expert * scale * model.moe_experts_per_token * model.moe_layers
    mfu = on_card(gpu, "mfu_prefill", engine.factor("mfu_prefill", arch, pid))
    # attention kernels run at their own share of the peak (EngineProfile.attention_mfu_scale)
    attn_mfu = min(mfu * engine.attention_mfu_scale, MFU_CEILING)
    attn_per_ctx, attn_prefill_per_ctx = attention_flops_per_ctx_token(model, engine, attn_mfu)
    extrapolated = ""
    if arch not in engine.calibrated_architectures:
        where = ", ".join(engine.calibrated_architectures) or "no GPU (no validation rows)"
        extrapolated = (
            f"{engine.id} efficiency factors are calibrated on {where}; on {gpu.id} ({arch}) "
            "they are extrapolated: check with `fleetplan calibrate` on your own benchmark"
        )
        if lender := dict(engine.borrowed_from).get(arch, ""):
            extrapolated += (
                f" (its {arch} bandwidth and GEMM shares take {lender}'s {arch} ratios, fitted "
                f"on that family's {arch} rows)"
            )
        elif arch in engine.measured_generations:
            extrapolated += (
                f" (its {arch} prefill GEMM share takes the measured ratio of {arch}'s best-GEMM "
                "share of spec to its calibrated generation's; bandwidth as calibrated)"
            )
    replicated = ""
    if not model.is_mla and tp > 1 and model.kv_heads % tp:
        replicated = (
            f"tp {tp} exceeds the model's {model.kv_heads} KV heads: each GPU holds a copy of "
            f"{math.ceil(model.kv_heads / tp)} KV head(s), so KV memory is replicated "
            f"{tp * math.ceil(model.kv_heads / tp) / model.kv_heads:g}x (modelled)"
        )
    dp_note = attention_dp_note(tp, attention_dp, engine)
    floor = eager_floor_s(model, engine)
    release = f"{engine.id}@{engine.version}" if engine.version else engine.id
    eager = ""
    if floor > 0:
        eager = (
            f"{release} runs {model.id} eagerly (no CUDA graphs): a step takes at least the "
            f"host's {floor * 1e3:.0f} ms to launch its kernels (modelled)"
        )
    reread = prefill_kv_reread(model, engine, arch)
    sinks = ""
    if reread:
        sinks = (
            f"{release} runs {model.id}'s attention sinks on {arch} through its Triton attention "
            f"kernel, which reads a prompt's context again for every "
            f"{triton_attention_block_q(model)} query tokens: long prompts prefill at the "
            "memory's pace (modelled)"
        )
    wo_scale = weight_only_gemm_scale(model, precision, engine, arch, fmt, emulated)
    marlin = ""
    if wo_scale < 1:
        marlin = (
            f"{release} runs {precision.id}'s linear layers weight-only through Marlin on {arch}: "
            f"their MACs at {wo_scale:g}x a 16-bit GEMM's rate, the weights streamed as "
            f"{precision.id} (modelled)"
        )
    notes = (note, extrapolated, replicated, long_context, window, dp_note, ep_note(model, tp, ep))
    notes = tuple(n for n in (*notes, eager, sinks, marlin, measured_card_note(gpu)) if n)
    # a decode-attention kernel that runs one query head per thread block reads a GQA group's
    # shared KV head once per query head (partly served from L2): engine's gqa_kv_reread
    group = 1 if model.is_mla else model.queries_per_kv_head
    return Setup(
        model=model,
        gpu=gpu,
        precision=precision,
        engine=engine,
        tp=tp,
        kv_bytes=kv_width(kv_precision, precision),
        compute_format=fmt,
        emulated=emulated,
        peak_flops=gpu.peak_flops(fmt),
        bandwidth=gpu.memory_bandwidth_bytes_s,
        mbu=on_card(gpu, "mbu", engine.factor("mbu", arch, pid)),
        attention_mbu=on_card(gpu, "attention_mbu", engine.factor("attention_mbu", arch, pid)),
        mfu=mfu,
        gemm_half_tokens=engine.factor("gemm_half_tokens", arch, pid),
        step_overhead_s=engine.factor("step_overhead_ms", arch, pid) * 1e-3,
        layer_overhead_s=scaled_layer_overhead_s(
            engine.factor("per_layer_overhead_us", arch, pid), model, precision
        ),
        allreduce_latency_s=allreduce_latency_s(
            engine.allreduce_latency_us, gpu.interconnect_latency_us, tp
        ),
        dense_bytes_gpu=w.streamed_dense_bytes / tp
        + attention_dp_weight_bytes(model, precision, tp, attention_dp, engine),
        mla_decode_bytes_gpu=mla_absorbed_decode_bytes(model, precision, engine, tp),
        expert_bytes_gpu=w.expert_bytes
        / tp
        * marlin_expert_padding(model, precision, engine, gpu, max(tp // ep, 1)),
        linear_flops_per_token_gpu=2.0 * linear_params / tp
        + 2.0 * replicated_params(model) * max(1.0 / attention_dp - 1.0 / tp, 0.0),
        attn_flops_per_ctx_token_gpu=attn_per_ctx / tp,
        attn_prefill_flops_per_ctx_token_gpu=attn_prefill_per_ctx / tp,
        gemm_scale=block_fp8_gemm_scale(model, precision, engine, mfu, arch)
        * nvfp4_gemm_scale(fmt, emulated, mfu)
        * wo_scale,
        moe_gemm_scale=block_fp8_moe_scale(model, precision, engine, mfu, arch),
        sharded_moe_scale=float(sharded_moe_gemm_scale(model.hidden_size, tp))
        if model.is_moe
        else 1.0,
        kv_layer_bytes_gpu=kv_bytes_per_token_per_layer(model, kv_width(kv_precision, precision))
        * kv_shard_fraction(model, tp, attention_dp),
        notes=notes,
        kv_read_factor=1.0 + (group - 1) * engine.gqa_kv_reread,
        expert_flops_per_token_gpu=2.0 * min(expert_params, linear_params) / tp,
        moe_gemm_half_tokens=engine.factor("moe_gemm_half_tokens", arch, pid),
        # a weight-only MoE kernel (dequantizing in the kernel: Marlin W4A16) streams at its
        # own share; a format's moe_stream_scale scale is fitted on weight-only rows only
        moe_stream_scale=engine.factor("moe_stream_scale", arch, pid if emulated else ""),
        moe_expert_overhead_s=expert_overhead_s(
            engine.factor("moe_expert_overhead_us", arch, pid), gpu.memory_bandwidth_bytes_s
        ),
        attention_peak_flops=gpu.peak_flops(
            attention_format(gpu, fmt, kv_width(kv_precision, precision))
        ),
        attention_mfu=attn_mfu,
        attention_dp=attention_dp,
        ep=ep,
        link_gb_s=allreduce_link_gb_s(gpu.interconnect, gpu.interconnect_gb_s, tp),
        eager_floor_s=floor,
        prefill_kv_reread=reread,
    )


@dataclass(frozen=True)
class StepTime:
    """One forward step's time and its parts (arrays broadcast over the inputs), seconds."""

    linear_compute_s: F64
    linear_memory_s: F64
    attention_compute_s: F64
    attention_memory_s: F64
    comm_s: F64
    overhead_s: F64
    total_s: F64
    weight_bytes: F64
    kv_bytes: F64
    flops: F64


def step_s(
    s: Setup,
    decode_seqs: ArrayLike,
    decode_context: ArrayLike,
    prefill_tokens: ArrayLike = 0.0,
    prefill_context: ArrayLike = 0.0,
) -> StepTime:
    """A forward step of `decode_seqs` sequences decoding one token each at mean context
    `decode_context`, plus `prefill_tokens` prompt tokens whose mean attended context is
    `prefill_context` (half the prompt for a whole causal prefill)."""
    b = np.asarray(decode_seqs, dtype=np.float64)
    c = np.asarray(decode_context, dtype=np.float64)
    p = np.asarray(prefill_tokens, dtype=np.float64)
    pc = np.asarray(prefill_context, dtype=np.float64)
    m = s.model
    tokens = b + p
    # per-setup factors first (columns when setups are stacked), then one pass per term
    zero = np.zeros_like(tokens)
    # linear layers: stream the weights once, multiply every token
    w_bytes = s.dense_bytes_gpu + np.where(b > 0, s.mla_decode_bytes_gpu, 0.0) + zero
    lin_memory = w_bytes / (s.bandwidth * s.mbu)
    moe_comm = zero
    if m.is_moe:
        expert_bytes, expert_memory, expert_compute, moe_comm = moe_terms(s, tokens)
        w_bytes = w_bytes + expert_bytes
        lin_memory = lin_memory + expert_memory
    lin_flops = s.linear_flops_per_token_gpu * tokens
    with np.errstate(divide="ignore", invalid="ignore"):
        # FLOPs / (peak · mfu · tokens / (tokens + half)): the GEMM efficiency at `tokens`
        dense_per_token = (s.linear_flops_per_token_gpu - s.expert_flops_per_token_gpu) / (
            s.peak_flops * s.mfu * s.gemm_scale
        )
        lin_compute = np.where(tokens > 0, dense_per_token * (tokens + s.gemm_half_tokens), 0.0)
        if m.is_moe:
            lin_compute = lin_compute + expert_compute
    # attention: decode reads every cached token's KV; prefill is compute-bound (flash attention)
    per_layer_attn = s.attn_flops_per_ctx_token_gpu / m.layers
    per_layer_prefill = prefill_attn_flops(s) / m.layers
    dec_tokens = b * kv_layer_tokens(m, c)  # KV tokens the decodes read, over the layers
    kv_bytes = (dec_tokens + p * m.layers) * s.kv_layer_bytes_gpu
    kv_traffic = kv_bytes + dec_tokens * ((s.kv_read_factor - 1.0) * s.kv_layer_bytes_gpu)
    pre_tokens = p * kv_layer_tokens(m, pc)  # context tokens the prompts attend to, over layers
    # a prefill kernel streaming the context again per few query tokens (0 for most; a column)
    kv_traffic = kv_traffic + pre_tokens * (s.kv_layer_bytes_gpu * s.prefill_kv_reread)
    attn_flops = per_layer_attn * dec_tokens + per_layer_prefill * pre_tokens
    attn_compute = attn_flops * (1.0 / (s.attention_peak_flops * s.attention_mfu))
    attn_memory = kv_traffic * (1.0 / (s.bandwidth * s.attention_mbu))
    comm = (
        2 * m.layers * allreduce_s(tokens, m.hidden_size, s.tp, s.link_gb_s, s.allreduce_latency_s)
        + moe_comm
    )
    overhead = s.step_overhead_s + m.layers * s.layer_overhead_s + zero
    if s.eager_floor_s > 0:  # launch-bound: the host's share no kernel hides
        overhead = overhead + np.maximum(
            s.eager_floor_s - (lin_compute + lin_memory + comm + overhead), 0.0
        )
    # near the ridge point a GEMM kernel overlaps its weight loads and its MACs only partly:
    # the parts add (at batch 1 the MACs vanish, at large batch the weight stream does)
    total = lin_compute + lin_memory + np.maximum(attn_compute, attn_memory) + comm + overhead
    return StepTime(
        linear_compute_s=lin_compute,
        linear_memory_s=lin_memory,
        attention_compute_s=attn_compute,
        attention_memory_s=attn_memory,
        comm_s=comm,
        overhead_s=overhead,
        total_s=total,
        weight_bytes=w_bytes,
        kv_bytes=kv_bytes,
        flops=lin_flops + attn_flops,
    )


def prefill_attn_flops(s: Setup) -> F64:
    """Prefill attention FLOPs per context token per GPU (the decode figure where unset)."""
    pre = np.asarray(s.attn_prefill_flops_per_ctx_token_gpu, dtype=np.float64)
    return np.where(pre > 0, pre, s.attn_flops_per_ctx_token_gpu)


def memory_bound_tok_per_s(weight_bytes: float, bandwidth_bytes_s: float) -> float:
    """The single-stream decode ceiling: every token reads all weights once."""
    return bandwidth_bytes_s / weight_bytes
