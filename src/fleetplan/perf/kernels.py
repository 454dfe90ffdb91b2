"""What a model's layers cost beyond the plain dense-transformer count, by kernel:

- MLA attention decodes absorbed and prefills as plain multi-head attention
  (`attention_flops_per_ctx_token`);
- MLA's down-projections run whole on every tensor-parallel GPU (`replicated_params`);
- block-scaled FP8 weights run block-scaled GEMM kernels (`block_fp8_gemm_scale`);
- vLLM's Marlin MXFP4 MoE kernel holds padded experts (`marlin_expert_padding`).

`perf.roofline.setup` folds them into a `Setup`.
"""

from __future__ import annotations

import math

from fleetplan.catalog.specs import EngineProfile, GpuSpec, ModelSpec, Precision


def attention_flops_per_ctx_token(model: ModelSpec) -> tuple[float, float]:
    """Attention FLOPs per token of context over all layers, for a decoding token and for a
    prompt token. MLA decodes absorbed (scores over the latent rank + rope dims, values over
    the rank, per head: the cache is read as is) and prefills as plain multi-head attention
    over the up-projected keys (nope + rope dims) and values, 3.4x fewer FLOPs for
    DeepSeek-V3: vLLM from its MLA backend (https://github.com/vllm-project/vllm/pull/12528,
    prefill up-projects per https://github.com/vllm-project/vllm/pull/10927), SGLang ('use
    normal computation for prefill and weight absorption for extend/decode', and MHA for
    chunked prefill from https://github.com/sgl-project/sglang/pull/5113), TensorRT-LLM's
    context MLA. Other models: QK^T and AV over the head dim, alike in both."""
    if model.is_mla:
        decode = 2.0 * model.attention_heads * (2 * model.kv_lora_rank + model.qk_rope_head_dim)
        qk = model.qk_nope_head_dim + model.qk_rope_head_dim
        prefill = 2.0 * model.attention_heads * (qk + model.v_head_dim)
    else:
        decode = prefill = 4.0 * model.attention_heads * model.head_dim
    return decode * model.layers, prefill * model.layers


def replicated_params(model: ModelSpec) -> float:
    """Matmul params every tensor-parallel GPU runs whole rather than a 1/tp slice of: MLA's
    down-projections of the hidden state to the query and key-value latents (q_a_proj,
    kv_a_proj_with_mqa, `ReplicatedLinear` in vLLM's and SGLang's deepseek_v2.py:
    https://github.com/vllm-project/vllm/blob/v0.7.3/vllm/model_executor/models/deepseek_v2.py),
    a layer's hidden x (q rank + kv rank + rope dims); 0 for other models. With data-parallel
    attention over `attention_dp` groups each GPU runs them on its group's tokens only, a
    1/attention_dp share (`setup` adds their FLOPs beyond the 1/tp share the count assumes)."""
    if not model.is_mla:
        return 0.0
    width = model.q_lora_rank + model.kv_lora_rank + model.qk_rope_head_dim
    return float(model.hidden_size * width * model.layers)


# the share of the FP8 dense peak that Triton block-scaled FP8 GEMMs reach on large token
# counts: vLLM's w8a8_block_fp8_matmul ran DeepSeek-V3's N=2112 K=7168 GEMM at 305-357 TFLOPS on
# an H100 from 4,096 to 16,384 tokens with its default config (0.15-0.18 of the 1,979 TFLOPS
# dense FP8 peak), against 650-715 TFLOPS for the same GEMM in BF16
# (https://github.com/vllm-project/vllm/pull/23939, "Before"); SGLang's Triton kernel is the same
# design (benchmarked side by side with vLLM's and DeepGEMM in
# https://github.com/sgl-project/sglang/pull/3893). Taken for Triton on ROCm too (no public
# figure for MI300X was found)
TRITON_BLOCK_FP8_MFU = 0.17


def block_fp8_gemm_scale(
    model: ModelSpec, precision: Precision, engine: EngineProfile, mfu: float
) -> float:
    """The share of the engine's GEMM rate (`mfu` of the peak) that the linear layers reach: 1,
    except where the model's FP8 weights are block-scaled, run as FP8, on a release that runs
    such GEMMs as Triton kernels (`EngineProfile.runs_triton_block_fp8`: vLLM 0.7's V0 engine,
    SGLang before DeepGEMM became its default on Hopper): those rescale every 128-wide K block's
    partial sums inside the main loop and reach TRITON_BLOCK_FP8_MFU of the peak at most. DeepGEMM
    and CUTLASS blockwise kernels (later vLLM and SGLang releases, TensorRT-LLM's own
    fp8_blockscale_gemm) are left at the engine's rate."""
    if not (model.fp8_block_scaled and precision.compute_format == "fp8"):
        return 1.0
    if not engine.runs_triton_block_fp8() or mfu <= 0:
        return 1.0
    return min(1.0, TRITON_BLOCK_FP8_MFU / mfu)


# vLLM's MXFP4 MoE layer, where the GPU has no FP4 tensor cores, runs the experts through the
# Marlin kernel, which 'requires that for each linear n % 256 == 0 and k % 128 == 0': it
# allocates every expert with the hidden size rounded up to 256 and the per-GPU intermediate
# size (moe_intermediate_size / tp) rounded up to 128 (Mxfp4MoEMethod.create_weights,
# https://github.com/vllm-project/vllm/blob/v0.11.0/vllm/model_executor/layers/quantization/mxfp4.py).
# gpt-oss-120b (2880 x 2880 experts) on one H100 under vLLM 0.10.1: 'Your GPU does not have
# native support for FP4 computation ... leveraging the Marlin kernel' and 'Model loading took
# 65.9651 GiB' (https://github.com/vllm-project/vllm/issues/23278), the padded count (3072 x 2944
# experts, 4.25 bits, the rest 16-bit: 65.9 GiB) where the checkpoint is 60.8 GiB
MARLIN_HIDDEN_ALIGN = 256
MARLIN_INTERMEDIATE_ALIGN = 128


def marlin_expert_padding(
    model: ModelSpec, precision: Precision, engine: EngineProfile, gpu: GpuSpec, shards: int
) -> float:
    """Factor on the routed experts' bytes: above 1 where vLLM runs MXFP4 experts through its
    Marlin kernel (a GPU architecture the precision is emulated on), which holds and streams
    them padded to its tile alignment, each expert's intermediate size split `shards` ways
    (tensor parallelism within an expert group); 1 elsewhere."""
    if not (
        model.is_moe
        and engine.engine == "vllm"
        and precision.vllm_quantization == "mxfp4"
        and gpu.architecture in precision.emulated_on
    ):
        return 1.0
    h, i = model.hidden_size, model.moe_intermediate_size
    h_pad = math.ceil(h / MARLIN_HIDDEN_ALIGN) * MARLIN_HIDDEN_ALIGN
    per_shard = math.ceil(i / shards)
    i_pad = math.ceil(per_shard / MARLIN_INTERMEDIATE_ALIGN) * MARLIN_INTERMEDIATE_ALIGN
    return h_pad * i_pad * shards / (h * i)
