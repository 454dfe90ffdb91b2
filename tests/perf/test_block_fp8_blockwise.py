"""Block-scaled FP8 checkpoints (`--precision fp8-block`: Qwen3's -FP8 releases) under
TensorRT-LLM on Hopper: its PyTorch backend runs their linear layers through its own blockwise
kernel (fp8_block_scaling_gemm), whose rate perf.kernels caps at BLOCKWISE_FP8_MFU of the FP8
peak, and a block-scaled MoE's routed experts through its CUTLASS block-scale MoE kernels, the
only MoE backend it runs FP8 checkpoints with on H100/H200, at the same cap; per-tensor FP8
(NVIDIA's ModelOpt checkpoints), Blackwell (DeepGEMM), vLLM and SGLang (DeepGEMM / CUTLASS at
the engine's fitted rate) are left as they were."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from fleetplan.perf.kernels import BLOCKWISE_FP8_MFU, block_scaled
from fleetplan.perf.roofline import setup, step_s

VALIDATION = Path(__file__).resolve().parents[2] / "benchmarks" / "accuracy" / "validation.csv"


def _s(catalog, precision="fp8-block", engine="tensorrt-llm", gpu="h100-sxm", model="qwen3-32b"):
    return setup(
        catalog.model(model),
        catalog.gpu(gpu),
        catalog.precision(precision),
        catalog.engine(engine),
        tp=1 if model == "qwen3-32b" else 8,
    )


def test_fp8_block_is_an_fp8_format_with_block_scales(catalog):
    blk, fp8 = catalog.precision("fp8-block"), catalog.precision("fp8")
    assert blk.block_scaled and not fp8.block_scaled
    assert blk.compute_format == fp8.compute_format == "fp8"
    # one fp32 scale per 128 x 128 weights: the weight bytes stay FP8's within 0.1 %
    assert blk.weight_bytes_per_param == pytest.approx(fp8.weight_bytes_per_param, rel=1e-3)
    m = catalog.model("qwen3-32b")
    assert block_scaled(m, blk) and not block_scaled(m, fp8)
    assert block_scaled(catalog.model("deepseek-r1"), fp8)  # published block-scaled


def test_tensorrt_llm_on_hopper_caps_block_fp8_gemms(catalog):
    blk, per_tensor = _s(catalog), _s(catalog, "fp8")
    assert per_tensor.gemm_scale == 1.0
    assert blk.mfu * blk.gemm_scale == pytest.approx(BLOCKWISE_FP8_MFU)
    # a prefill's linear layers run at the cap; the weight stream and attention do not change
    a, b = step_s(blk, 0, 0, 8192, 4096), step_s(per_tensor, 0, 0, 8192, 4096)
    ratio = float(a.linear_compute_s / b.linear_compute_s)
    assert ratio == pytest.approx(blk.mfu / BLOCKWISE_FP8_MFU, rel=1e-6)
    assert ratio > 2.0
    assert float(a.linear_memory_s) == pytest.approx(float(b.linear_memory_s), rel=1e-3)
    assert float(a.attention_compute_s) == pytest.approx(float(b.attention_compute_s))
    # a small decode step stays bound by the weight stream: the cap costs it little; its
    # activation quantization kernels add to the per-layer overhead (perf.layer_floors)
    d_blk, d_pt = step_s(blk, 8, 1000), step_s(per_tensor, 8, 1000)
    assert float(d_blk.total_s - d_blk.overhead_s) < 1.05 * float(d_pt.total_s - d_pt.overhead_s)
    assert blk.layer_overhead_s > per_tensor.layer_overhead_s


def test_the_cap_is_tensorrt_llm_hopper_only(catalog):
    # Blackwell: TensorRT-LLM runs DeepGEMM (fp8_swap_ab_gemm)
    assert _s(catalog, gpu="b200").gemm_scale == 1.0
    # vLLM V1 and SGLang 0.5 run DeepGEMM / CUTLASS at the family's fitted rate
    assert _s(catalog, engine="vllm").gemm_scale == 1.0
    assert _s(catalog, engine="sglang").gemm_scale == 1.0
    assert _s(catalog, "bf16").gemm_scale == 1.0
    # per-tensor FP8 MoE experts (NVIDIA's ModelOpt Qwen3-235B) run the FP8 CUTLASS MoE: uncapped
    assert _s(catalog, "fp8", model="qwen3-235b-a22b").gemm_scale == 1.0


def test_block_fp8_moe_experts_run_at_the_cap_on_hopper(catalog):
    """DeepSeek-R1's published block-scaled FP8 on 8 H200s under TensorRT-LLM: the dense layers
    and the routed experts' grouped GEMMs both run at BLOCKWISE_FP8_MFU of the FP8 peak (before:
    the experts were left at the family's GEMM rate, and a 12,800-token prefill took 0.36 s where
    trtllm-serve 0.21 on 8 H200s took ~0.5 s for eight 1,600-token prompts at once,
    https://github.com/NVIDIA/TensorRT-LLM/issues/5929); on B200 (DeepGEMM) nothing changes."""
    for model in ("deepseek-r1", "qwen3-235b-a22b"):
        s = _s(catalog, "fp8" if model == "deepseek-r1" else "fp8-block", model=model)
        assert s.mfu * s.gemm_scale == pytest.approx(BLOCKWISE_FP8_MFU)
    ds = _s(catalog, "fp8", model="deepseek-r1")
    step = step_s(ds, 0, 0, 12800, 3200)
    # the routed experts (most of DeepSeek-R1's prefill FLOPs) at 0.25 of the peak or slower
    assert float(step.total_s) > 0.45
    assert _s(catalog, "fp8", gpu="b200", model="deepseek-r1").gemm_scale == 1.0


def test_validation_rows_of_block_scaled_checkpoints_say_fp8_block():
    """Rows measured on a publisher's block-scaled checkpoint (Qwen/Qwen3-*-FP8, named in the
    row's notes) carry fp8-block; NVIDIA's per-tensor ModelOpt checkpoints (nvidia/*-FP8) fp8."""
    seen = set()
    with VALIDATION.open(newline="") as f:
        for rec in csv.DictReader(f):
            if re.search(r"\bQwen/Qwen3-[\w.-]*-FP8\b", rec["notes"]):
                assert rec["weight_precision"] == "fp8-block", rec["row_id"]
                seen.add("qwen")
            elif re.search(r"\bnvidia/[\w.-]*-FP8\b", rec["notes"]):
                assert rec["weight_precision"] == "fp8", rec["row_id"]
                seen.add("nvidia")
    assert seen == {"qwen", "nvidia"}
