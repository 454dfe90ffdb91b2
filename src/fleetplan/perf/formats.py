"""The formats a combination's matmuls run in: the weights' (native, or weight-only on a GPU
without tensor cores for them) and attention's, which reads the KV cache."""

from __future__ import annotations

from fleetplan.catalog.specs import GpuSpec, Precision
from fleetplan.errors import UnsupportedError


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
