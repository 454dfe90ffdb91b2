"""What a model's layers cost beyond the plain dense-transformer count, by kernel:

- MLA attention decodes absorbed and prefills as plain multi-head attention
  (`attention_flops_per_ctx_token`);
- MLA's down-projections run whole on every tensor-parallel GPU (`replicated_params`);
- vLLM 0.7 pads MLA cache entries to 256 bytes on CUDA (`mla_kv_padding`);
- block-scaled FP8 weights run block-scaled GEMM kernels (`block_fp8_gemm_scale`), and their
  MoE experts a block-scaled fused-MoE kernel (`block_fp8_moe_scale`);
- vLLM's Marlin MXFP4 MoE kernel holds padded experts (`marlin_expert_padding`);
- NVFP4 GEMMs reach a smaller share of their peak than 16-bit and FP8 ones (`nvfp4_gemm_scale`);
- an eager engine's host launches floor a step (`eager_floor_s`).

`perf.roofline.setup` folds them into a `Setup`.
"""

from __future__ import annotations

import math

from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.catalog.generations import generation_gemm_ratio
from fleetplan.catalog.specs import GpuSpec, ModelSpec, Precision
from fleetplan.catalog.versions import version_tuple

# the share of the 16-bit dense peak that SGLang's Triton extend kernel reaches on absorbed MLA
# prompts (576-wide keys, 512-wide values, all heads against one latent): an estimate from the
# Triton run of https://github.com/sgl-project/sglang/pull/3550 (DeepSeek-V3 FP8, tp 8: an H200
# node, where FlashInfer MLA's gain showed per a maintainer in
# https://github.com/sgl-project/sglang/issues/4204; --disable-radix-cache, chunked prefill
# 8,192; 60 random prompts of 1-32,000 tokens, 936,860 in all, at 1 request/s): 2,679 input
# tok/s against FlashInfer MLA's 10,527, so 350 s of prefill, of which this model's linear
# layers take ~88 s; the chunks after a prompt's first run absorbed (0.84 of its attention
# FLOPs, ~1.8e16 a GPU at 17 MFLOP per token and context token over 61 layers, mean context
# 10,671): ~69 TFLOPS a GPU, 0.07 of the 989 TFLOPS BF16 dense peak
TRITON_MLA_EXTEND_MFU = 0.07


def attention_flops_per_ctx_token(
    model: ModelSpec, engine: EngineProfile | None = None, mfu: float = 0.0
) -> tuple[float, float]:
    """Attention FLOPs per token of context over all layers, for a decoding token and for a
    prompt token. MLA decodes absorbed (scores over the latent rank + rope dims, values over
    the rank, per head: the cache is read as is) and prefills as plain multi-head attention
    over the up-projected keys (nope + rope dims) and values, 3.4x fewer FLOPs for
    DeepSeek-V3: vLLM from its MLA backend (https://github.com/vllm-project/vllm/pull/12528,
    prefill up-projects per https://github.com/vllm-project/vllm/pull/10927), SGLang ('use
    normal computation for prefill and weight absorption for extend/decode', and MHA for
    chunked prefill from https://github.com/sgl-project/sglang/pull/5113), TensorRT-LLM's
    context MLA. Other models: QK^T and AV over the head dim, alike in both.

    Except under an `engine` release below its `mla_absorbed_prefill_before`: SGLang before
    0.4.6 ran MLA through its Triton backend ('MLA optimization is turned on. Use triton
    backend', model_runner.py, until https://github.com/sgl-project/sglang/pull/5210 made FA3
    the default on Hopper, 2025-04-09), whose DeepseekV2AttentionMLA.forward takes the plain
    path only for an extend batch whose `extend_prefix_lens.sum() == 0` and the absorbed one
    otherwise (https://github.com/sgl-project/sglang/blob/v0.4.3.post2/python/sglang/srt/models/deepseek_v2.py).
    Its radix cache keeps every finished prompt, so every later prompt shares at least the BOS
    token with it, and every chunk after a prompt's first has a prefix: such releases prefill
    absorbed, at decode's FLOPs per context token, in Triton's extend kernel, which reaches
    `TRITON_MLA_EXTEND_MFU` of the peak: given the engine's `mfu` (the rate the step's attention
    time divides by), the prompt figure counts mfu / TRITON_MLA_EXTEND_MFU times its FLOPs."""
    if model.is_mla:
        decode = 2.0 * model.attention_heads * (2 * model.kv_lora_rank + model.qk_rope_head_dim)
        qk = model.qk_nope_head_dim + model.qk_rope_head_dim
        prefill = 2.0 * model.attention_heads * (qk + model.v_head_dim)
        if engine is not None and engine.release_before(engine.mla_absorbed_prefill_before):
            prefill = decode * max(mfu / TRITON_MLA_EXTEND_MFU, 1.0)
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
# https://github.com/sgl-project/sglang/pull/3893). No public figure for Triton on MI300X was
# found: there the H100 share is carried in the two GPUs' GEMM ratio
# (`catalog.generations.generation_gemm_ratio`)
TRITON_BLOCK_FP8_MFU = 0.17


# the share of the FP8 dense peak that a blockwise-scaled FP8 GEMM of the CUTLASS kind (the
# 128-wide K blocks' partial sums promoted and rescaled on CUDA cores in the main loop, the
# activations quantized per token and 128 channels by a separate kernel first) reaches on
# Hopper at prefill token counts: vLLM's upstream-CUTLASS SM90 block-FP8 kernel ran DeepSeek-V3's
# N=2112 K=7168 GEMM at 427-490 TFLOPS from 2,048 to 8,192 tokens on an H100 (0.22-0.25 of the
# 1,979 TFLOPS dense FP8 peak; BF16 648-716, https://github.com/vllm-project/vllm/pull/23280);
# FBGEMM's block-scaled FP8 GEMM with its activation scaling reached 548-762 TFLOPS on an H100
# at 8,192-65,536 tokens, the BF16 GEMM's rate and 0.55-0.7x its own row-wise FP8 one
# (https://github.com/pytorch/FBGEMM/pull/2546). TensorRT-LLM's own SM90 kernel
# (fp8_block_scaling_gemm, https://github.com/NVIDIA/TensorRT-LLM/pull/3071) has no published
# rate; NVIDIA says DeepGEMM beats it on average there. Taken at the CUTLASS figure (an estimate
# for TensorRT-LLM's kernel)
BLOCKWISE_FP8_MFU = 0.25


def block_scaled(model: ModelSpec, precision: Precision) -> bool:
    """Whether the linear layers run FP8 weights scaled per 128x128 block: a model published so
    (DeepSeek-V3/R1, `fp8_block_scaled`) served as FP8, or a block-scaled FP8 checkpoint
    (`--precision fp8-block`: Qwen3's -FP8 releases)."""
    if precision.compute_format != "fp8":
        return False
    return precision.block_scaled or model.fp8_block_scaled


# the share of the FP8 dense peak that the Triton fused-MoE kernel with block-scaled FP8 weights
# reaches on prefill-sized batches: vLLM's fused_moe (fp8_w8a8, block 128x128) ran one
# DeepSeek-V3 MoE layer (E=256, top-8, K=7168) on an H100 in 19.8, 10.1, 5.2 and 2.8 ms for
# 2,048 tokens at TP 1, 2, 4 and 8 (N = 4096, 2048, 1024, 512 a GPU) and in 27.2 ms for 3,072
# tokens at TP 1 (https://github.com/vllm-project/vllm/pull/13932, "Triton" columns, 2025-02-26):
# 64-80 TFLOPS, 0.032-0.040 of the 1,979 TFLOPS peak, whatever the slice width (DeepGEMM's
# grouped GEMM ran the same layer 1.4-2.1x faster at TP 1-4). SGLang's fused_moe_triton is the
# same kernel. Taken at 0.037 (2,048-3,072 tokens, the five figures' mean); on another GPU
# generation in its GEMM ratio to the H100 (`generation_gemm_ratio`: no public figure for
# MI300X was found)
TRITON_BLOCK_FP8_MOE_MFU = 0.037


def block_fp8_moe_scale(
    model: ModelSpec, precision: Precision, engine: EngineProfile, mfu: float, architecture: str
) -> float:
    """The share of the engine's GEMM rate (`mfu` of the peak) that the routed experts' grouped
    GEMMs reach: 1, except where a MoE model's FP8 weights are block-scaled, run as FP8, on a
    release that runs them as Triton kernels (`EngineProfile.runs_triton_block_fp8`): its
    fused-MoE kernel reaches TRITON_BLOCK_FP8_MOE_MFU of the peak at most, well below the
    dense Triton GEMM's TRITON_BLOCK_FP8_MFU (small per-expert tiles, gathered rows and a
    scale per 128-wide K block), carried to other GPU generations in their GEMM ratio to the
    H100 it was measured on."""
    if not model.is_moe:
        return 1.0
    if not block_scaled(model, precision):
        return 1.0
    if not engine.runs_triton_block_fp8() or mfu <= 0:
        return 1.0
    return min(1.0, TRITON_BLOCK_FP8_MOE_MFU * generation_gemm_ratio(architecture) / mfu)


def block_fp8_gemm_scale(
    model: ModelSpec, precision: Precision, engine: EngineProfile, mfu: float, architecture: str
) -> float:
    """The share of the engine's GEMM rate (`mfu` of the peak) that the linear layers reach: 1,
    except where the weights are block-scaled FP8 (`block_scaled`) and the release runs them
    - as Triton kernels (`EngineProfile.runs_triton_block_fp8`: vLLM 0.7's V0 engine, SGLang
      before DeepGEMM became its default on Hopper), which reach TRITON_BLOCK_FP8_MFU of the
      peak at most (an H100's share: on another generation in its GEMM ratio to it);
    - through its own blockwise kernel on this GPU generation (`block_fp8_blockwise_on`:
      TensorRT-LLM's PyTorch backend on Hopper runs fp8_quantize_1x128 and then
      fp8_block_scaling_gemm, DeepGEMM only on Blackwell: FP8BlockScalesLinearMethod.apply in
      tensorrt_llm/_torch/modules/linear.py), which reaches BLOCKWISE_FP8_MFU at most; an
      MoE model's routed experts too (the cap bounds `expert_parallel.expert_gemm_s`): on
      H100/H200 an FP8 checkpoint runs only the CUTLASS MoE backend ('H100/H200 | FP8 |
      CUTLASS' in the DeepSeek-R1 deployment guide's MoE backend support matrix,
      https://nvidia.github.io/TensorRT-LLM/deployment-guide/quick-start-recipe-for-deepseek-r1-on-trtllm.html),
      whose block-scaled path is the same blockwise kernel (CutlassMoeFCRunner::BlockScaleFC1
      calls CutlassFp8BlockScaleGemmRunner::moeGemm of fp8_blockscale_gemm, 'fp8 blockscale gemm
      only support Hopper', https://github.com/NVIDIA/TensorRT-LLM/issues/5064; DeepGEMM only on
      Blackwell). DeepSeek-R1 on 8 H200s under
      trtllm-serve 0.21 (tp 8, ep 4): eight 1,600-token prompts at once 0.50 s to their first
      tokens (median), one 8,192-token prompt 0.37 s, one of 1,600 0.13 s
      (https://github.com/NVIDIA/TensorRT-LLM/issues/5929), where the experts at the family's
      GEMM rate gave prefills of 0.34, 0.23 and 0.09 s, and at the cap 0.48, 0.32 and 0.10 s.
      Not modelled: builds from before that kernel was open-sourced
      (https://github.com/NVIDIA/TensorRT-LLM/pull/3071, 2025-03-25), such as the
      0.17.post1.dev one (commit 9b931c0f, 2025-03-11) that dstack's DeepSeek-R1 runs used, set
      one fixed 128x16x128 tile for block-scaled MoE GEMMs and skipped their tactic profiling
      (cpp/tensorrt_llm/thop/moeOp.cpp of that time: setRunnerProfiles, runProfile); those runs
      prefill about twice slower again (four 3,200-token prompts in ~1.0 s), and no published
      rate says by how much the tile costs.
    Later vLLM and SGLang releases (DeepGEMM, CUTLASS blockwise) are left at the family's own
    fitted rate, 0.30-0.33 of the peak, already near the cap."""
    if not block_scaled(model, precision) or mfu <= 0:
        return 1.0
    if engine.runs_triton_block_fp8():
        return min(1.0, TRITON_BLOCK_FP8_MFU * generation_gemm_ratio(architecture) / mfu)
    if architecture in engine.block_fp8_blockwise_on:
        return min(1.0, BLOCKWISE_FP8_MFU / mfu)
    return 1.0


# the share of the FP4 dense peak that an NVFP4 GEMM reaches on a B200 at prefill and large-batch
# token counts, its activations' quantization to FP4 (an E4M3 scale per 16 values, a pass over
# the activations before every GEMM) included: vLLM's CUTLASS NVFP4 GEMM ran Llama-3.1-8B's
# N=6144 K=4096 GEMM at 2,613, 2,948, 3,025 and 3,039 TFLOPS from 2,048 to 16,384 tokens
# (0.29-0.34 of the 9,000 TFLOPS dense FP4 peak; 3,411-3,904 without the quantization, 0.38-0.43;
# BF16 1,355-1,421 of 2,250, 0.60-0.63, https://github.com/vllm-project/vllm/pull/20646,
# "Before", 2025-07): the FP4 tensor cores' doubled rate is not fed at the same share as the
# 16-bit ones (the scale factors ride along every tile, the K-loop's MMAs are half as long for the
# bytes moved). TensorRT-LLM's own NVFP4 GEMMs (CUTLASS and TRT-LLM-Gen) have no published
# rate; taken at this figure (an estimate for them)
NVFP4_GEMM_MFU = 0.34


def nvfp4_gemm_scale(compute_format: str, emulated: bool, mfu: float) -> float:
    """The share of the engine's GEMM rate (`mfu` of the peak) that the linear layers reach when
    they run natively in FP4 (NVFP4 weights and activations on Blackwell's FP4 tensor cores):
    NVFP4_GEMM_MFU of the FP4 peak at most; 1 for every other format, and for FP4 weights run
    weight-only on a GPU without FP4 tensor cores (`emulated`: the GEMM runs in 16 bits)."""
    if compute_format != "fp4" or emulated or mfu <= 0:
        return 1.0
    return min(1.0, NVFP4_GEMM_MFU / mfu)


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
    """Factor on the routed experts' bytes: above 1 where the engine runs MXFP4 experts through
    a Marlin kernel (`EngineProfile.mxfp4_moe_marlin`: vLLM) on a GPU architecture the precision
    is emulated on, which holds and streams them padded to its tile alignment, each expert's
    intermediate size split `shards` ways (tensor parallelism within an expert group); 1
    elsewhere."""
    if not (
        model.is_moe
        and engine.mxfp4_moe_marlin
        and precision.vllm_quantization == "mxfp4"
        and gpu.architecture in precision.emulated_on
    ):
        return 1.0
    h, i = model.hidden_size, model.moe_intermediate_size
    h_pad = math.ceil(h / MARLIN_HIDDEN_ALIGN) * MARLIN_HIDDEN_ALIGN
    per_shard = math.ceil(i / shards)
    i_pad = math.ceil(per_shard / MARLIN_INTERMEDIATE_ALIGN) * MARLIN_INTERMEDIATE_ALIGN
    return h_pad * i_pad * shards / (h * i)


def mla_absorbed_bytes(
    model: ModelSpec, precision: Precision, engine: EngineProfile, tp: int
) -> float:
    """Bytes per GPU of the absorbed MLA decode matrices that an `engine` release below its
    `mla_absorbed_weights_before` keeps beside the model's own weights, 0 elsewhere.

    vLLM 0.7.1-0.7.x decodes an MLA model through W_Q_UK (W_UK absorbed into the query
    up-projection: q_lora_rank x heads x kv_lora_rank) and W_UV_O (W_UV absorbed into the output
    projection: heads x kv_lora_rank x hidden), requantized to FP8 for an FP8 checkpoint and
    in 16 bits otherwise, plus the query's rope part in 16 bits, and keeps the raw weights for
    prefill (`MLACommonImpl.process_weights_after_loading`, VLLM_MLA_PERFORM_MATRIX_ABSORPTION
    on by default; an FP8 model could not run without it). vLLM PR 14770 (commit 9532c498,
    2025-03-13, first released in 0.8.0) stopped materializing them: DeepSeek-R1 at TP8 holds
    ~4.5 GB more a GPU before it."""
    if not (model.is_mla and engine.release_before(engine.mla_absorbed_weights_before)):
        return 0.0
    heads = model.attention_heads / tp
    q_in = model.q_lora_rank or model.hidden_size
    rank = model.kv_lora_rank
    absorbed = q_in * heads * rank + heads * rank * model.hidden_size
    width = 1.0 if precision.compute_format == "fp8" else 2.0  # FP8, or the activations'
    rope = q_in * heads * model.qk_rope_head_dim * 2.0
    return model.layers * (absorbed * width + rope)


def mla_absorbed_decode_bytes(
    model: ModelSpec, precision: Precision, engine: EngineProfile, tp: int
) -> float:
    """What a decode step of such a release streams beyond the model's own weights, per GPU:
    the absorbed matrices (`mla_absorbed_bytes`) less the raw query up-projection, key/value
    up-projection and output projection they stand in for, which only its prefill steps read
    (vLLM V0 runs an MLA model's prefills and decodes in separate steps). DeepSeek-R1 at TP8:
    ~3.2 GB a decode step, ~0.9 ms on an H200."""
    extra = mla_absorbed_bytes(model, precision, engine, tp)
    if extra <= 0:
        return 0.0
    heads = model.attention_heads / tp
    q_in = model.q_lora_rank or model.hidden_size
    nope, rope, v = model.qk_nope_head_dim, model.qk_rope_head_dim, model.v_head_dim
    raw = (
        q_in * heads * (nope + rope)
        + model.kv_lora_rank * heads * (nope + v)
        + heads * v * model.hidden_size
    )
    return max(extra - model.layers * raw * precision.weight_bytes_per_param, 0.0)


def mla_kv_padding(model: ModelSpec, gpu: GpuSpec, engine: EngineProfile, kv_bytes: float) -> float:
    """Bytes the KV cache allocates per byte of an MLA token entry: vLLM 0.7.2-0.7.x (V0)
    starts every token's latent-cache entry of a layer at a 256-byte boundary on CUDA devices
    (VLLM_CUDA_MEM_ALIGN_KV_CACHE, default on: DeepSeek-V3's 576 bf16 elements, 1,152 bytes,
    take 1,280, about 11 % of the cache 'wasted', and an FP8 cache 768 for 576;
    https://github.com/vllm-project/vllm/pull/12676, 2025-02-04), until 0.8.0 removed it
    (https://github.com/vllm-project/vllm/pull/14842, 2025-03-15: DeepSeek-R1 at TP8 on 8x H200
    went from 4,739 to 5,266 cache blocks of 64 tokens, 'Maximum concurrency for 163840 tokens
    per request' from 1.85x to 2.06x). 1.0 for other models, GPUs, releases and families (a
    release below the profile's `mla_kv_align_from`, or none named)."""
    align = engine.mla_kv_align_bytes
    if not (align and model.is_mla and gpu.vendor == "nvidia"):
        return 1.0
    release = engine.version
    if not release or version_tuple(release) < version_tuple(engine.mla_kv_align_from or "0"):
        return 1.0
    entry = (model.kv_lora_rank + model.qk_rope_head_dim) * kv_bytes
    return math.ceil(entry / align) * align / entry


def eager_floor_s(model: ModelSpec, engine: EngineProfile) -> float:
    """The host's time to launch one eager step's kernels, op by op from Python (0 under CUDA
    graphs): `eager_layer_us` a dense layer, `eager_moe_layer_us` a MoE layer. It floors the
    step's non-attention work (`step_s`; the attention adds, as sim.steptime assumes)."""
    if engine.cuda_graphs:
        return 0.0
    per_layer = model.moe_layers * (engine.eager_moe_layer_us - engine.eager_layer_us)
    return (model.layers * engine.eager_layer_us + per_layer) * 1e-6


# vLLM's Triton attention kernel (TRITON_ATTN, kernel_unified_attention_2d for any step with a
# prompt in it) runs a program per BLOCK_M rows of (query token x query head) of one KV head:
# BLOCK_M 16 when a GQA group has at most 16 query heads, else the group rounded up to a power
# of two, so each program holds BLOCK_Q = BLOCK_M // group query tokens and streams its KV
# head's attended context, tile by tile (a sliding window's tiles only), for those alone
# (`unified_attention` in vllm/attention/ops/triton_unified_attention.py, 0.10-0.11:
# https://github.com/vllm-project/vllm/blob/v0.11.0/vllm/attention/ops/triton_unified_attention.py).
# A FlashAttention kernel holds 64-128 query tokens a program.
TRITON_ATTN_BLOCK_M = 16


def triton_attention_block_q(model: ModelSpec) -> int:
    """Query tokens per program of vLLM's Triton attention kernel (`TRITON_ATTN_BLOCK_M`)."""
    group = model.queries_per_kv_head
    block_m = TRITON_ATTN_BLOCK_M if group <= 16 else 1 << (group - 1).bit_length()
    return max(block_m // group, 1)


def prefill_kv_reread(model: ModelSpec, engine: EngineProfile, architecture: str) -> float:
    """Bytes of attended context a prompt token's prefill reads again, per byte of that context,
    at the GPU's bandwidth share: where `engine` runs a model's attention sinks through its
    Triton attention kernel on this GPU generation (`EngineProfile.sink_attention_triton_on`:
    vLLM on Ampere and Ada, whose FlashAttention 2 has no sinks; gpt-oss's recipe, 'GPT-OSS works
    on Ampere devices by default, using the TRITON_ATTN attention backend',
    https://github.com/vllm-project/recipes/blob/main/OpenAI/GPT-OSS.md), each program of
    `triton_attention_block_q` query tokens reads the context again: 1 / BLOCK_Q of it a token
    (gpt-oss's 8-head groups: BLOCK_Q 2, 16 FLOPs a byte of 16-bit KV, below an A100's ridge
    point), over `EngineProfile.prefill_kv_reread_bandwidth_scale` (the part the L2 cache
    serves). 0 elsewhere."""
    if not (model.attention_sinks and architecture in engine.sink_attention_triton_on):
        return 0.0
    return 1.0 / (triton_attention_block_q(model) * engine.prefill_kv_reread_bandwidth_scale)
