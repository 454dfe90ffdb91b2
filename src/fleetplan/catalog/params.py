"""Parameter counts from architecture: where the parameters sit (attention, MLP, experts,
embeddings), which the memory and performance models need, and the totals a config.json lacks.

Biases and norm weights are left out (under 0.1 % for every catalog model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Architecture(Protocol):
    layers: int
    hidden_size: int
    intermediate_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    tie_word_embeddings: bool
    mlp: str
    moe_experts: int
    moe_experts_per_token: int
    moe_shared_experts: int
    moe_intermediate_size: int
    moe_dense_layers: int
    kv_lora_rank: int
    q_lora_rank: int
    qk_rope_head_dim: int
    qk_nope_head_dim: int
    v_head_dim: int


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts (not billions: plain counts)."""

    attention: float  # all layers
    dense_mlp: float  # all dense layers' MLPs
    expert: float  # one routed expert of one layer
    routed_experts: float  # all routed experts, all layers
    shared_experts: float  # all shared experts and routers, all layers
    embedding: float  # input embedding table
    lm_head: float  # 0 when tied to the embedding

    @property
    def total(self) -> float:
        return (
            self.attention
            + self.dense_mlp
            + self.routed_experts
            + self.shared_experts
            + self.embedding
            + self.lm_head
        )


def attention_params_per_layer(a: Architecture) -> float:
    h = a.hidden_size
    if a.kv_lora_rank:  # multi-head latent attention (DeepSeek-V2/V3)
        qk_dim = a.qk_nope_head_dim + a.qk_rope_head_dim
        if a.q_lora_rank:
            q = h * a.q_lora_rank + a.q_lora_rank * a.attention_heads * qk_dim
        else:
            q = h * a.attention_heads * qk_dim
        kv = h * (a.kv_lora_rank + a.qk_rope_head_dim)
        kv += a.kv_lora_rank * a.attention_heads * (a.qk_nope_head_dim + a.v_head_dim)
        o = a.attention_heads * a.v_head_dim * h
        return float(q + kv + o)
    q = h * a.attention_heads * a.head_dim
    kv = 2 * h * a.kv_heads * a.head_dim
    o = a.attention_heads * a.head_dim * h
    return float(q + kv + o)


def count_params(a: Architecture) -> ParamCounts:
    """Where the parameters are, from the architecture alone."""
    mats = 3 if a.mlp == "gated" else 2
    h = a.hidden_size
    if a.moe_experts:
        moe_layers = a.layers - a.moe_dense_layers
        dense_layers = a.moe_dense_layers
        expert = float(mats * h * a.moe_intermediate_size)
        routed = expert * a.moe_experts * moe_layers
        shared = (expert * a.moe_shared_experts + h * a.moe_experts) * moe_layers
    else:
        dense_layers, expert, routed, shared = a.layers, 0.0, 0.0, 0.0
    return ParamCounts(
        attention=attention_params_per_layer(a) * a.layers,
        dense_mlp=float(mats * h * a.intermediate_size * dense_layers),
        expert=expert,
        routed_experts=routed,
        shared_experts=shared,
        embedding=float(a.vocab_size * h),
        lm_head=0.0 if a.tie_word_embeddings else float(a.vocab_size * h),
    )


def active_params(a: Architecture) -> float:
    """Parameters a token passes through (routed experts: only the k it is sent to)."""
    c = count_params(a)
    moe_layers = a.layers - a.moe_dense_layers if a.moe_experts else 0
    routed_active = c.expert * a.moe_experts_per_token * moe_layers
    return c.total - c.routed_experts + routed_active
