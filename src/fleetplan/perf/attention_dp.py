"""Data-parallel attention (SGLang `--enable-dp-attention`, TensorRT-LLM `enable_attention_dp`):
the tp GPUs of a replica form `attention_dp` groups that each run attention for their own
requests. What that changes in memory: the KV a GPU holds (its group's sequences only) and the
weights it copies (the attention weights split over its group; under engines whose ranks also
run the dense MLPs and shared experts on their own tokens, those whole)."""

from __future__ import annotations

import math

from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.catalog.params import count_params
from fleetplan.catalog.specs import ModelSpec, Precision
from fleetplan.errors import InputError


def check_attention_dp(tp: int, attention_dp: int) -> None:
    """Data-parallel attention splits the tp GPUs into `attention_dp` groups: it must divide tp."""
    if attention_dp < 1 or tp % attention_dp:
        raise InputError(
            f"attention_dp = {attention_dp}; expected a divisor of tp = {tp} (1 = attention "
            "tensor-parallel over all tp GPUs)"
        )


def kv_shard_fraction(model: ModelSpec, tp: int, attention_dp: int = 1) -> float:
    """Share of a token's KV that one GPU holds under tensor parallelism (on average over a
    replica's sequences).

    KV heads split across GPUs; when tp exceeds the KV heads each GPU keeps a replica of one
    head. MLA's latent vector is not split by heads: every GPU keeps the whole of it. With
    data-parallel attention (SGLang --enable-dp-attention) the tp GPUs form `attention_dp`
    groups that each run attention for their own requests, heads split over tp / attention_dp
    GPUs: a GPU holds the KV of a 1/attention_dp share of the sequences only (MLA's latent is
    then no longer copied onto every GPU).
    """
    check_attention_dp(tp, attention_dp)
    attn_tp = tp // attention_dp
    share = 1.0 if model.is_mla else math.ceil(model.kv_heads / attn_tp) / model.kv_heads
    return share / attention_dp


def attention_dp_note(tp: int, attention_dp: int, engine: EngineProfile | None = None) -> str:
    """What data-parallel attention changes, for a setup's notes ('' without it)."""
    if attention_dp <= 1:
        return ""
    split = f"split {tp // attention_dp} way(s)"
    copied = f"a copy of the attention weights {split}"
    if engine is not None and engine.attention_dp_replicates_mlp:
        copied += (
            f", and of the dense MLPs and shared experts whole ({engine.id} runs them per rank)"
        )
    return (
        f"attention data-parallel over {attention_dp} groups of {tp // attention_dp} GPU(s): "
        f"each GPU holds the KV cache of its group's requests and {copied} (modelled)"
    )


def attention_dp_weight_bytes(
    model: ModelSpec,
    precision: Precision,
    tp: int,
    attention_dp: int,
    engine: EngineProfile | None = None,
) -> float:
    """Weight bytes per GPU that data-parallel attention adds: each of the `attention_dp`
    groups holds the attention weights split over tp / attention_dp GPUs instead of all tp
    (read every step, like the other dense weights); under an engine whose ranks also run the
    dense MLPs and shared experts whole on their own tokens (`attention_dp_replicates_mlp`),
    those too."""
    check_attention_dp(tp, attention_dp)
    if attention_dp == 1:
        return 0.0
    counts = count_params(model)
    scale = model.params_total_b * 1e9 / counts.total
    params = counts.attention
    if engine is not None and engine.attention_dp_replicates_mlp:
        params += counts.dense_mlp + counts.shared_experts
    return params * scale * precision.weight_bytes_per_param * (attention_dp - 1) / tp
