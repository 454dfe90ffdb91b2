"""Memory model: weight bytes, KV bytes per token, and what fits on a GPU.

All byte counts are bytes; figures for people are GB (1e9) unless a name says GiB.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.catalog.params import count_params
from fleetplan.catalog.specs import GpuSpec, ModelSpec, Precision
from fleetplan.errors import InputError
from fleetplan.perf.attention_dp import attention_dp_weight_bytes, kv_shard_fraction
from fleetplan.perf.kernels import marlin_expert_padding, mla_absorbed_bytes, mla_kv_padding
from fleetplan.units import GIB

KV_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "fp32": 4.0}
EMBEDDING_BYTES = 2.0  # embeddings and lm_head stay 16-bit in non-GGUF quantized checkpoints


@dataclass(frozen=True)
class Weights:
    """Weight bytes of a whole model (all GPUs together) at a precision."""

    total_bytes: float
    embedding_bytes: float  # input embedding table (looked up, not streamed, in a step)
    lm_head_bytes: float
    routed_expert_bytes: float  # all routed experts, all layers (MoE); 0 for dense models
    expert_bytes: float  # one routed expert in one layer

    @property
    def streamed_dense_bytes(self) -> float:
        """Bytes every decode step reads whatever the batch: all but embeddings and experts."""
        return self.total_bytes - self.embedding_bytes - self.routed_expert_bytes


def weights(model: ModelSpec, precision: Precision) -> Weights:
    """Weight bytes, using the published parameter total and the architecture's split (a
    precision that quantizes only the experts, `Precision.experts_only`, leaves the rest of a
    MoE model's body 16-bit)."""
    counts = count_params(model)
    scale = model.params_total_b * 1e9 / counts.total  # published total over computed total
    b = precision.weight_bytes_per_param
    emb_b = b if precision.quantizes_embeddings else max(b, EMBEDDING_BYTES)
    emb_b = min(emb_b, b) if b > EMBEDDING_BYTES else emb_b  # fp32 keeps 4 bytes
    embedding = counts.embedding * emb_b
    lm_head = counts.lm_head * emb_b
    body_params = (counts.total - counts.embedding - counts.lm_head) * scale
    routed = counts.routed_experts * scale * b
    body = body_params * b
    if precision.experts_only and counts.routed_experts > 0:  # the rest of the body 16-bit
        body = routed + (body_params - counts.routed_experts * scale) * max(b, EMBEDDING_BYTES)
    return Weights(
        total_bytes=body + embedding + lm_head,
        embedding_bytes=embedding,
        lm_head_bytes=lm_head,
        routed_expert_bytes=routed,
        expert_bytes=counts.expert * scale * b,
    )


def kv_bytes_per_token_per_layer(model: ModelSpec, kv_bytes: float) -> float:
    """KV bytes one token adds in one layer: 2·H_kv·d_head·b, or MLA's latent (rank + rope)·b."""
    if model.is_mla:
        return (model.kv_lora_rank + model.qk_rope_head_dim) * kv_bytes
    return 2.0 * model.kv_heads * model.head_dim * kv_bytes


def kv_bytes_per_token(model: ModelSpec, kv_bytes: float) -> float:
    """KV bytes per token of context across all layers (sliding-window layers included)."""
    return kv_bytes_per_token_per_layer(model, kv_bytes) * model.layers


def kv_layer_tokens(model: ModelSpec, context: ArrayLike) -> Any:
    """Σ over layers of the tokens whose KV a layer holds (and attends to) at `context` tokens:
    full layers × context + sliding-window layers × min(context, window). The one definition
    the memory model, the step time and the simulator's KV pool all use (scalar or array)."""
    if not model.sliding_window_layers:  # the same number: 0 × win adds 0
        return model.layers * context
    full = model.layers - model.sliding_window_layers
    win = np.minimum(context, model.sliding_window) if model.sliding_window else context
    return full * context + model.sliding_window_layers * win


def served_model(model: ModelSpec, engine: EngineProfile) -> ModelSpec:
    """`model` as `engine` runs it by default: an engine that takes the attention window from
    its own setting rather than the config (`uniform_sliding_window` false: TensorRT-LLM's
    max_attention_window, unset = the whole sequence) runs a model whose every layer has the
    config's window (Mistral 7B v0.1) with full attention, and caches the whole context. A
    model that mixes window and full layers keeps them (their windows are part of the model's
    definition, not a cache setting)."""
    uniform = model.sliding_window and model.sliding_window_layers == model.layers
    if engine.uniform_sliding_window or not uniform:
        return model
    return replace(model, sliding_window=0, sliding_window_layers=0)


def served_model_note(model: ModelSpec, engine: EngineProfile) -> str:
    """What `served_model` changes, for a setup's notes ('' when nothing)."""
    if served_model(model, engine) is model:
        return ""
    return (
        f"{engine.id} applies an attention window only when told one (max_attention_window): "
        f"{model.id}'s {model.sliding_window:,}-token sliding window runs as full attention, "
        "its KV cache holding the whole context (modelled)"
    )


def scheduler_cap(engine: EngineProfile, attention_dp: int = 1) -> int:
    """Sequences the engine's scheduler runs at once on one replica: max_num_seqs, or that on
    each of the `attention_dp` data-parallel attention ranks where each rank schedules its own
    batch (`max_num_seqs_per_attention_dp_rank`)."""
    ranks = attention_dp if engine.max_num_seqs_per_attention_dp_rank else 1
    return engine.max_num_seqs * ranks


def kv_bytes_for_context(model: ModelSpec, kv_bytes: float, context: float) -> float:
    """KV bytes one sequence of `context` tokens holds: sliding-window layers cap at the window."""
    return float(kv_bytes_per_token_per_layer(model, kv_bytes) * kv_layer_tokens(model, context))


def kv_pool_layers(model: ModelSpec, swa_full_tokens_ratio: float = 0.0) -> float:
    """The layers a paged KV pool's token spans: the full-attention ones when sliding-window
    layers sit beside them (those hold at most the window of a sequence, vLLM's hybrid KV-cache
    manager), else all (a model of window layers only is counted as full attention). An engine
    that gives the window layers a pool of their own sized `swa_full_tokens_ratio` x the full
    layers' tokens (SGLang's SWAKVPool) pays full + ratio x window layers for each pool token."""
    if model.sliding_window and 0 < model.sliding_window_layers < model.layers:
        full = model.layers - model.sliding_window_layers
        return full + swa_full_tokens_ratio * model.sliding_window_layers
    return model.layers


def swa_pool_ratio(model: ModelSpec, engine: EngineProfile) -> float:
    """The `swa_full_tokens_ratio` `engine` sizes `model`'s window layers' pool with: 0 for a
    shared pool (vLLM), the engine's ratio for the families it gives a window pool, and 1 (every
    layer at full context) for its other window models (SGLang 0.5: Gemma 2/3 run with
    disable_hybrid_swa_memory, Llama 4's chunked layers only with --hybrid-kvcache-ratio)."""
    if not engine.swa_full_tokens_ratio or kv_pool_layers(model) == model.layers:
        return 0.0
    return engine.swa_full_tokens_ratio if model.family in engine.swa_pool_families else 1.0


def kv_window_pool_tokens(
    model: ModelSpec, context: ArrayLike, swa_full_tokens_ratio: float = 0.0
) -> Any:
    """The sliding-window layers' KV of a sequence of `context` tokens, in pool tokens
    (`kv_pool_layers`): the rest of `kv_layer_tokens` beside the pool's own `context`; none
    where the window layers have a pool of their own (`swa_full_tokens_ratio` > 0)."""
    full = kv_pool_layers(model)
    if swa_full_tokens_ratio > 0 and full < model.layers:
        return 0.0 * np.asarray(context)
    return (kv_layer_tokens(model, context) - full * np.asarray(context)) / full


def kv_pool_tokens(model: ModelSpec, f: Fit, swa_full_tokens_ratio: float = 0.0) -> int:
    """A replica's KV budget in pool tokens (`kv_pool_layers`; `f.kv_capacity_tokens` when
    that is every layer)."""
    full = kv_pool_layers(model, swa_full_tokens_ratio)
    if f.kv_budget_bytes_per_gpu <= 0 or full == model.layers:
        return f.kv_capacity_tokens
    return int(f.kv_budget_bytes_per_gpu // (f.kv_bytes_per_token_per_gpu / model.layers * full))


def activation_workspace_bytes(model: ModelSpec, engine: EngineProfile, tp: int) -> float:
    """Peak activation memory of the engine's largest step (its profiling run).

    The largest step carries `max_num_batched_tokens` tokens; the widest tensors are the fused
    QKV output and the MLP's gate+up output (MoE: k experts per token), 16-bit. The fp32 logits
    of up to `max_num_seqs` sequences come after the forward pass has freed those (vLLM V1's
    profile run: the dummy forward, then the dummy sampler run on its last hidden states), so
    the peak is the larger of the two, not their sum.

    A family that measured the peak of an MLA model's run (`mla_profile_hidden_vectors`: vLLM
    V0, whose run for such a model covers the whole context window, `EngineProfile.for_model`)
    holds at least that many hidden-size 16-bit vectors per token of the run: there the
    residual stream, the normed input, the shared experts' and the fused-MoE kernel's outputs
    and its per-token (top-k x hidden) cache are alive at once, on every GPU whatever tp, which
    the widest-tensor estimate above leaves out.
    """
    tokens = engine.max_num_batched_tokens
    qkv = (model.attention_heads + 2 * model.kv_heads) * model.head_dim / tp
    mlp_width = model.intermediate_size
    if model.is_moe:
        mlp_width = max(mlp_width, model.moe_experts_per_token * model.moe_intermediate_size)
    mlp = 2 * mlp_width / tp
    per_token = (qkv + mlp + 2 * model.hidden_size) * 2.0
    if model.is_mla:
        per_token = max(per_token, engine.mla_profile_hidden_vectors * model.hidden_size * 2.0)
    logits = min(engine.max_num_seqs, tokens) * model.vocab_size * 4.0
    return max(tokens * per_token, logits)


@dataclass(frozen=True)
class Fit:
    """What fits on one replica of `tp` GPUs, per GPU, and what limits it."""

    model: str
    gpu: str
    precision: str
    kv_precision: str
    tp: int
    context: int
    gpu_memory_bytes: float
    gpu_memory_utilization: float
    weights_bytes: float  # whole model
    weights_bytes_per_gpu: float
    runtime_overhead_bytes: float
    activation_bytes: float
    kv_budget_bytes_per_gpu: float  # may be negative: weights did not fit
    kv_bytes_per_token: float  # whole model, all layers, full attention
    kv_bytes_per_token_per_gpu: float
    kv_bytes_per_sequence: float  # at `context`, whole model (sliding windows applied)
    kv_capacity_tokens: int
    max_concurrent_sequences: int  # at `context`, KV memory only
    max_num_seqs: int  # the engine's scheduler cap
    fits: bool
    limit: str
    notes: tuple[str, ...] = field(default=())

    @property
    def concurrency(self) -> int:
        """Sequences that can run at once: KV ceiling and the engine cap, whichever is lower."""
        return min(self.max_concurrent_sequences, self.max_num_seqs)


def fit(
    model: ModelSpec,
    gpu: GpuSpec,
    precision: Precision,
    engine: EngineProfile,
    *,
    kv_precision: str = "auto",
    tp: int = 1,
    context: int | None = None,
    gpu_memory_utilization: float | None = None,
    notes: tuple[str, ...] = (),
    attention_dp: int = 1,
) -> Fit:
    """Does `model` fit on `tp` × `gpu` at `precision`, with how much KV cache and concurrency
    (`attention_dp`: data-parallel attention groups, `kv_shard_fraction`)."""
    # the scheduler limits the engine picks on this GPU and for this model's context window
    engine = engine.for_gpu(gpu).for_model(model)
    model = served_model(model, engine)
    if tp < 1:
        raise InputError(f"--tp = {tp}; expected a positive integer (1, 2, 4, 8)")
    ctx = model.max_context if context is None else context
    if ctx <= 0:
        raise InputError(f"--context = {ctx}; expected a positive number of tokens")
    if ctx > model.max_context:
        raise InputError(
            f"--context = {ctx} exceeds {model.id}'s maximum context of {model.max_context} tokens"
        )
    util = (
        engine.gpu_memory_utilization
        if gpu_memory_utilization is None
        else (gpu_memory_utilization)
    )
    if not 0 < util <= 1:
        raise InputError(f"--gpu-memory-utilization = {util}; expected a fraction in (0, 1]")
    kv_b = kv_width(kv_precision, precision)
    w = weights(model, precision)
    pad = marlin_expert_padding(model, precision, engine, gpu, tp)
    w_gpu = (
        w.total_bytes / tp
        + w.routed_expert_bytes * (pad - 1.0) / tp
        + attention_dp_weight_bytes(model, precision, tp, attention_dp, engine)
        + mla_absorbed_bytes(model, precision, engine, tp)
    )
    overhead = engine.runtime_overhead_gib * GIB
    act = activation_workspace_bytes(model, engine, tp)
    budget = kv_budget_bytes(engine.memory_semantics, gpu.memory_bytes, util, w_gpu, overhead + act)
    # what the cache allocates per token: the entry, padded where the engine aligns it
    pad = mla_kv_padding(model, gpu, engine, kv_b)
    per_tok = kv_bytes_per_token(model, kv_b) * pad
    shard = kv_shard_fraction(model, tp, attention_dp)
    per_tok_gpu = per_tok * shard
    if swa := swa_pool_ratio(model, engine):  # the window layers' pool grows with the full one
        per_seq = kv_bytes_per_token_per_layer(model, kv_b) * pad * ctx * kv_pool_layers(model, swa)
    else:
        per_seq = kv_bytes_for_context(model, kv_b, ctx) * pad
    per_seq_gpu = per_seq * shard
    capacity = int(budget // per_tok_gpu) if budget > 0 else 0
    # sliding windows let a sequence hold fewer bytes than context x per-token
    max_seqs = int(budget // per_seq_gpu) if budget > 0 else 0
    cap = scheduler_cap(engine, attention_dp)
    usable = gpu.memory_bytes * util
    share = f"{util:.0%} of {gpu.memory_bytes / 1e9:.1f} GB"
    if engine.memory_semantics in ("free_after_weights", "kv_of_total"):  # not the weights
        usable, share = gpu.memory_bytes, f"all of {gpu.memory_bytes / 1e9:.1f} GB"
    if w_gpu > usable:
        fits = False
        limit = (
            f"weights need {w_gpu / 1e9:.1f} GB per GPU but only {usable / 1e9:.1f} GB is usable "
            f"({share})"
        )
    elif max_seqs < 1:
        fits = False
        limit = (
            f"weights fit, but the {max(budget, 0) / 1e9:.2f} GB left for KV cache holds "
            f"{capacity:,} tokens, less than one {ctx:,}-token sequence"
        )
    elif max_seqs < cap:
        fits = True
        limit = f"KV cache: {max_seqs} sequences of {ctx:,} tokens"
    else:
        fits = True
        limit = f"scheduler cap max_num_seqs={cap} (KV room for {max_seqs})"
    return Fit(
        model=model.id,
        gpu=gpu.id,
        precision=precision.id,
        kv_precision=kv_name(kv_precision, precision),
        tp=tp,
        context=ctx,
        gpu_memory_bytes=gpu.memory_bytes,
        gpu_memory_utilization=util,
        weights_bytes=w.total_bytes,
        weights_bytes_per_gpu=w_gpu,
        runtime_overhead_bytes=overhead,
        activation_bytes=act,
        kv_budget_bytes_per_gpu=budget,
        kv_bytes_per_token=per_tok,
        kv_bytes_per_token_per_gpu=per_tok_gpu,
        kv_bytes_per_sequence=per_seq,
        kv_capacity_tokens=capacity,
        max_concurrent_sequences=max_seqs,
        max_num_seqs=cap,
        fits=fits,
        limit=limit,
        notes=notes,
    )


def kv_budget_bytes(
    semantics: str, memory_bytes: float, util: float, weights_bytes: float, other_bytes: float
) -> float:
    """KV-cache bytes per GPU under the engine family's memory semantics.

    - "total" (vLLM --gpu-memory-utilization): util × total memory holds weights, activations,
      runtime buffers and the KV cache;
    - "free_after_weights" (TensorRT-LLM kv_cache_free_gpu_mem_fraction): the KV cache gets
      util × what is free after weights, activations and runtime buffers;
    - "static" (SGLang --mem-fraction-static): util × total holds weights and the KV pool;
      activations and runtime buffers live in the rest;
    - "kv_of_total" (LMDeploy TurboMind before v0.2.1, cache_max_entry_count in (0, 1)): the
      KV cache alone gets util × total memory, within what the weights and buffers leave.
    """
    if semantics == "free_after_weights":
        return util * (memory_bytes - weights_bytes - other_bytes)
    if semantics == "kv_of_total":
        return min(memory_bytes * util, memory_bytes - weights_bytes - other_bytes)
    if semantics == "static":
        return min(memory_bytes * util - weights_bytes, memory_bytes - weights_bytes - other_bytes)
    return memory_bytes * util - weights_bytes - other_bytes


def kv_name(kv_precision: str, precision: Precision) -> str:
    if kv_precision == "auto":
        return "fp32" if precision.id == "fp32" else "bf16"
    return kv_precision


def kv_width(kv_precision: str, precision: Precision) -> float:
    """Bytes per KV element for `--kv-precision` ('auto' follows the model's 16-bit dtype)."""
    name = kv_name(kv_precision.lower(), precision)
    if name not in KV_BYTES:
        raise InputError(
            f"--kv-precision = {kv_precision!r}; accepted: auto, {', '.join(KV_BYTES)}"
        )
    return KV_BYTES[name]
