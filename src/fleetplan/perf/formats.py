"""The formats a combination's matmuls run in: the weights' (native, or weight-only on a GPU
without tensor cores for them) and attention's, which reads the KV cache."""

from __future__ import annotations

from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.catalog.specs import GpuSpec, ModelSpec, Precision
from fleetplan.errors import UnsupportedError

# the share of a 16-bit GEMM's rate that the Marlin kernel (16-bit MACs on weights dequantized in
# registers: W4A16 GPTQ/AWQ, W8A16 FP8 on GPUs without FP8 tensor cores) reaches at prefill and
# large-batch token counts: IST-DASLab's bench.py, run in vLLM's Marlin integration, held 141
# TFLOPS from 128 to 4,000 tokens while torch's FP16 GEMM kept rising, 0.74x its rate at 256
# tokens, 0.66x at 1,024, 0.60-0.61x at 2,048-4,000
# (https://github.com/vllm-project/vllm/pull/2497, 2024-01-24: 'When batch greater than 128, it
# will be slower than torch gemm'); Marlin 'for batchsizes > 64 ... will just run the batch 64
# kernel repeatedly' (its author, https://github.com/IST-DASLab/marlin/issues/2). Below ~64
# tokens the layer is memory-bound and the 4-8-bit weights are what speed it up (the weight
# stream's term); the MACs' term takes this share
MARLIN_GEMM_SCALE = 0.61


def compute_format_for(gpu: GpuSpec, precision: Precision) -> tuple[str, bool, str]:
    """The format matmuls run in on this GPU, whether it is emulated, and a note.

    Raises UnsupportedError when neither the GPU nor an engine can run the precision.
    """
    fmt = precision.compute_format
    if gpu.runs_natively(fmt):
        return fmt, False, ""
    if fmt == "bf16" and gpu.runs_natively("fp16"):
        return "fp16", False, f"{gpu.id} has no bf16 tensor cores: engines run the model in fp16"
    if gpu.architecture in precision.emulated_on and precision.emulated_compute_format:
        sub = precision.emulated_compute_format
        if not gpu.runs_natively(sub):
            sub = "fp16"
        return (
            sub,
            True,
            f"{gpu.id} ({gpu.architecture}) has no native {fmt}: engines run {precision.id} "
            f"weight-only (dequantized to {sub} in the kernel); memory and bandwidth as "
            f"{precision.id}, compute at {sub}",
        )
    native = ", ".join(gpu.native_formats)
    raise UnsupportedError(
        f"{gpu.id} ({gpu.architecture}) cannot run {precision.id}: it needs {fmt} tensor cores "
        f"and {gpu.id} runs {native}"
    )


def attention_format(gpu: GpuSpec, compute_format: str, kv_bytes: float) -> str:
    """The format attention's matmuls (QK^T, PV) run in: they read the KV cache, so FP8
    attention (TensorRT-LLM, FlashInfer, FA3 FP8) needs an FP8 cache and FP8 tensor cores;
    a 16-bit cache runs them in bf16 (fp16 without bf16 tensor cores), whatever the weights'
    format (FP8 or FP4 weights speed up the linear layers only); never faster than the
    weights' own compute format (an fp32 model)."""
    if kv_bytes <= 1.0 and gpu.runs_natively("fp8"):
        fmt = "fp8"
    else:
        fmt = "bf16" if gpu.runs_natively("bf16") else "fp16"
    if not gpu.runs_natively(fmt) or gpu.peak_flops(fmt) > gpu.peak_flops(compute_format):
        return compute_format
    return fmt


def weight_only_gemm_scale(
    model: ModelSpec,
    precision: Precision,
    engine: EngineProfile,
    architecture: str,
    compute_format: str,
    emulated: bool,
) -> float:
    """The share of the engine's 16-bit GEMM rate that the linear layers reach when their
    weights are quantized weight-only (4-8-bit weights, 16-bit MACs: GPTQ/AWQ anywhere, FP8 where
    the GPU has no FP8 tensor cores) and the engine runs them through Marlin on this GPU
    generation (`EngineProfile.marlin_weight_only_on`): MARLIN_GEMM_SCALE; 1 otherwise, and for
    a MoE model whose format quantizes only the experts (its dense layers stay 16-bit)."""
    weight_only = emulated or (precision.weight_bits < 16 and compute_format in ("fp16", "bf16"))
    if not weight_only or architecture not in engine.marlin_weight_only_on:
        return 1.0
    if precision.experts_only and model.is_moe:
        return 1.0
    return MARLIN_GEMM_SCALE
