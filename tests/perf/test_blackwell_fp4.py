"""Blackwell FP4: NVFP4 GEMMs, their activations' quantization included, reach a smaller share
of their (doubled) peak than 16-bit and FP8 ones (perf.kernels.NVFP4_GEMM_MFU)."""

from __future__ import annotations

import pytest

from fleetplan.perf.kernels import NVFP4_GEMM_MFU, nvfp4_gemm_scale
from fleetplan.perf.roofline import setup, step_s


def _s(catalog, model="llama-3.3-70b", gpu="b200", precision="fp4", tp=1, adp=1, ep=1):
    return setup(
        catalog.model(model),
        catalog.gpu(gpu),
        catalog.precision(precision),
        catalog.engine("tensorrt-llm"),
        tp=tp,
        attention_dp=adp,
        ep=ep,
    )


def test_nvfp4_gemms_run_at_their_measured_share_of_the_fp4_peak(catalog):
    fp4, fp8 = _s(catalog), _s(catalog, precision="fp8")
    assert fp8.gemm_scale == 1.0
    assert fp4.peak_flops == pytest.approx(2 * fp8.peak_flops)  # the spec doubles
    assert fp4.mfu * fp4.gemm_scale == pytest.approx(min(fp4.mfu, NVFP4_GEMM_MFU))
    # a prefill chunk's linear layers: FP4 gains what the measured GEMMs allow, not the 2x
    a, b = step_s(fp4, 0, 0, 8192, 4096), step_s(fp8, 0, 0, 8192, 4096)
    gain = float(b.linear_compute_s / a.linear_compute_s)
    assert gain == pytest.approx(2 * min(fp4.mfu, NVFP4_GEMM_MFU) / fp4.mfu, rel=1e-6)
    assert gain < 2.0
    # attention runs in its own format (FP8 KV): unchanged
    assert float(a.attention_compute_s) == pytest.approx(float(b.attention_compute_s))


def test_the_cap_is_for_native_fp4_only(catalog):
    assert nvfp4_gemm_scale("fp8", False, 0.6) == 1.0
    assert nvfp4_gemm_scale("fp4", True, 0.6) == 1.0  # weight-only on Hopper: 16-bit GEMMs
    assert nvfp4_gemm_scale("fp4", False, 0.2) == 1.0  # never above the engine's own rate
    assert nvfp4_gemm_scale("fp4", False, 0.68) == pytest.approx(0.5)
