"""A decoder layer's kernel floors: the fixed GPU time its kernels take in a decode step
whatever their bytes, which sets how the engine's per-layer overhead moves with the layer's
structure (attention kind, MoE, shared experts, block-scaled FP8)."""

from __future__ import annotations

from fleetplan.catalog.specs import ModelSpec, Precision
from fleetplan.perf.kernels import block_scaled

# The fixed GPU time of a decode step's kernels whatever their bytes, measured on one H200 under
# CUDA graphs with PyTorch 2.11 and CUDA 13.0 (`python benchmarks/device/kernel_floor.py`,
# 2026-12-04 15:42 UTC; figures in the README's GPU measurements section): a 16-bit GEMM at
# 1-64 tokens takes 5.46 us plus its weights at 4.78 TB/s (six weight shapes of 1.6-58 MB, each
# read from HBM), a grouped expert GEMM (torch._grouped_mm, CUTLASS) 14.7-17.4 us plus 0.9-2.1
# us an expert slice of 3.1-7.3 MB, an attention decode kernel (scaled_dot_product_attention,
# 1-4 sequences of 512 tokens) 7.9 us, any other small kernel (one node of a graph) 1.16 us. An
# 8B-sized dense layer of PyTorch ops at 4 tokens took 147 us where its weights at the GEMM rate
# and its kernels' floors add to ~128 us: the floors add, a little more besides.
GEMM_FLOOR_US = 5.46
GROUPED_GEMM_FLOOR_US = 16.0  # the middle of the measured 14.7-17.4 us
ATTENTION_FLOOR_US = 7.9
SMALL_KERNEL_FLOOR_US = 1.16


def layer_floor_us(model: ModelSpec, precision: Precision) -> float:
    """The kernels' fixed time of one decoder layer of a decode step, the mean over the model's
    layers (microseconds at the H200 floors above). Kernels as vLLM runs a layer (the
    all-reduces are charged apart, perf.parallel):
    - a grouped-query attention block: two RMSNorms, the QKV and output GEMMs, rotary
      embedding, the KV-cache write and the attention kernel (vllm/model_executor/models/
      llama.py, qwen3.py);
    - multi-head latent attention: the fused q_a/kv_a GEMM, their two RMSNorms, the q_b GEMM,
      rotary embedding, the two absorbed batched matmuls (W_UK, W_UV), the cache write, the MLA
      kernel and the output GEMM (models/deepseek_v2.py, v1/attention/backends/mla/common.py);
    - a dense MLP: gate_up and down GEMMs and the activation;
    - a MoE MLP: the router GEMM, top-k, moe_align_block_size, the two grouped expert GEMMs,
      the activation and moe_sum (layers/fused_moe/fused_moe.py fused_experts_impl), and a
      shared expert's dense MLP beside it;
    - block-scaled FP8: a per-token-group activation quantization before each FP8 GEMM (the
      absorbed MLA matmuls and the router stay 16-bit).
    Engines fuse differently; the per-family `per_layer_overhead_us` is fitted, this sets only how
    a layer's structure moves it (`layer_kernel_scale`)."""
    quant = SMALL_KERNEL_FLOOR_US if block_scaled(model, precision) else 0.0
    dense = _dense_mlp_us(quant)
    moe = GEMM_FLOOR_US + 2 * GROUPED_GEMM_FLOOR_US + 4 * SMALL_KERNEL_FLOOR_US + 2 * quant
    if model.moe_shared_experts > 0:
        moe += dense
    n_moe = model.moe_layers
    mlp = (n_moe * moe + (model.layers - n_moe) * dense) / model.layers
    return _attention_us(model.is_mla, quant) + mlp


def _attention_us(mla: bool, quant_us: float) -> float:
    """A layer's two RMSNorms and its attention block: grouped-query (QKV and output GEMMs,
    rotary, cache write, attention kernel) or latent (five GEMMs and batched matmuls, two more
    norms, rotary, cache write, the MLA kernel), with block-FP8's quantizations."""
    g, k = GEMM_FLOOR_US, SMALL_KERNEL_FLOOR_US
    if mla:
        return 2 * k + 5 * g + ATTENTION_FLOOR_US + 4 * k + 3 * quant_us
    return 2 * k + 2 * g + ATTENTION_FLOOR_US + 2 * k + 2 * quant_us


def _dense_mlp_us(quant_us: float) -> float:
    """A dense MLP's gate_up and down GEMMs and activation (a shared expert's too)."""
    return 2 * GEMM_FLOOR_US + SMALL_KERNEL_FLOOR_US + 2 * quant_us


# a 16-bit dense grouped-query-attention layer, what `per_layer_overhead_us` is fitted as
DENSE_LAYER_FLOOR_US = _attention_us(False, 0.0) + _dense_mlp_us(0.0)


def layer_kernel_scale(model: ModelSpec, precision: Precision) -> float:
    """A layer's kernel floors over a 16-bit dense GQA layer's (1 for such a model, 1.85 for a
    16-bit MoE, 2.88 for DeepSeek-R1's block-FP8 latent-attention layers with a shared expert):
    the factor on the engine's per-layer overhead."""
    return layer_floor_us(model, precision) / DENSE_LAYER_FLOOR_US


def scaled_layer_overhead_s(
    per_layer_overhead_us: float, model: ModelSpec, precision: Precision
) -> float:
    """Seconds each layer adds to a step: the engine's figure for a 16-bit dense GQA layer times
    this layer's kernel scale."""
    return per_layer_overhead_us * 1e-6 * layer_kernel_scale(model, precision)
