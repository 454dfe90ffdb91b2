"""A step's total time alone, for the hot loops (the sizing's load point, the latency search):
the per-setup factors of `roofline.step_s` folded once (`step_factors`), then each step is a few
array operations (`step_total_s`). A test holds the two to each other."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fleetplan.perf.expert_parallel import moe_terms
from fleetplan.perf.memory import kv_layer_tokens
from fleetplan.perf.roofline import F64, Setup, prefill_attn_flops


@dataclass(frozen=True)
class StepFactors:
    """The per-setup factors of `step_total_s` (columns where setups are stacked): folded once
    per setup, not once per step evaluated."""

    fixed_s: F64  # weight stream, step and layer overheads, all-reduce latencies
    dense_s_per_token: F64  # dense GEMM seconds per token (efficiency ramp via gemm_half_tokens)
    comm_s_per_token: F64  # all-reduce seconds per token
    attn_compute_s_per_token: F64  # per (token x attended token x layer)
    attn_memory_s_per_token: F64  # per KV token read per layer
    attn_prefill_compute_s_per_token: F64  # per (prompt token x attended token x layer)
    decode_s: F64  # weights only a step that decodes streams (Setup.mla_decode_bytes_gpu)


def step_factors(s: Setup) -> StepFactors:
    """`step_total_s`'s factors of setup `s`."""
    m = s.model
    fixed = s.dense_bytes_gpu / (s.bandwidth * s.mbu) + s.step_overhead_s
    fixed = fixed + m.layers * s.layer_overhead_s
    tp = np.asarray(s.tp, dtype=np.float64)
    fixed = fixed + np.where(tp > 1, 2 * m.layers * s.allreduce_latency_s, 0.0)
    link = np.asarray(s.link_gb_s, dtype=np.float64) * 1e9
    with np.errstate(divide="ignore", invalid="ignore"):
        dense = (s.linear_flops_per_token_gpu - s.expert_flops_per_token_gpu) / (
            s.peak_flops * s.mfu * s.gemm_scale
        )
        comm = np.where(
            tp > 1, 2 * m.layers * 2.0 * (tp - 1) / tp * m.hidden_size * 2.0 / link, 0.0
        )
        attn_rate = s.attention_peak_flops * s.attention_mfu
        attn_compute = s.attn_flops_per_ctx_token_gpu / m.layers / attn_rate
        attn_memory = s.kv_layer_bytes_gpu / (s.bandwidth * s.attention_mbu)
        attn_prefill = prefill_attn_flops(s) / m.layers / attn_rate
    return StepFactors(
        fixed, dense, comm, attn_compute, attn_memory, attn_prefill, decode_only_s(s)
    )


def decode_only_s(s: Setup) -> F64:
    """Seconds a step that decodes streams beyond a step of prompts alone: the weights only
    decoding reads (`Setup.mla_decode_bytes_gpu`)."""
    return s.mla_decode_bytes_gpu / (s.bandwidth * s.mbu)


def step_total_s(
    s: Setup,
    decode_seqs: ArrayLike,
    decode_context: ArrayLike,
    prefill_tokens: ArrayLike = 0.0,
    prefill_context: ArrayLike = 0.0,
    factors: StepFactors | None = None,
) -> F64:
    """`step_s(...).total_s` alone, in a third of the array operations: the per-setup factors
    are folded first (`factors`, from `step_factors(s)`, when given) and no part but the total
    is formed (the sizing's load point evaluates it some twenty times per replica count; a
    test holds the two to each other)."""
    f = factors or step_factors(s)
    b = np.asarray(decode_seqs, dtype=np.float64)
    p = np.asarray(prefill_tokens, dtype=np.float64)
    m = s.model
    tokens = b + p
    lin = np.where(tokens > 0, f.dense_s_per_token * (tokens + s.gemm_half_tokens), 0.0)
    if m.is_moe:
        _, expert_memory, expert_compute, moe_comm = moe_terms(s, tokens)
        lin = lin + expert_memory + expert_compute + moe_comm
    dec_tokens = b * kv_layer_tokens(m, np.asarray(decode_context, dtype=np.float64))
    pre_tokens = p * kv_layer_tokens(m, np.asarray(prefill_context, dtype=np.float64))
    attn_compute = (
        dec_tokens * f.attn_compute_s_per_token + pre_tokens * f.attn_prefill_compute_s_per_token
    )
    # as step_s: the KV the decodes read, the prompts' KV written, and the context a prefill
    # kernel reads again per few query tokens (Setup.prefill_kv_reread, 0 for most)
    kv_tokens = dec_tokens * s.kv_read_factor + p * m.layers + pre_tokens * s.prefill_kv_reread
    attn_memory = kv_tokens * f.attn_memory_s_per_token
    fixed = f.fixed_s + np.where(b > 0, f.decode_s, 0.0)
    total = lin + np.maximum(attn_compute, attn_memory) + f.comm_s_per_token * tokens + fixed
    if s.eager_floor_s > 0:  # as step_s: the eager launch time floors all but the attention
        rest = lin + f.comm_s_per_token * tokens + fixed
        total = total + np.maximum(s.eager_floor_s - rest, 0.0)
    return total
