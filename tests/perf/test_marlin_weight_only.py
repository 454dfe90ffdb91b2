"""Weight-only quantized linear layers (4-8-bit weights, 16-bit MACs) run through Marlin on the
GPUs where the engine uses it: fewer weight bytes to stream, MACs at a share of a 16-bit GEMM's
rate (perf.formats.weight_only_gemm_scale)."""

from __future__ import annotations

import pytest

from fleetplan.perf.formats import MARLIN_GEMM_SCALE
from fleetplan.perf.roofline import setup, step_s


def _s(catalog, precision, gpu="a100-80gb", engine="vllm", model="qwen3-14b"):
    return setup(
        catalog.model(model),
        catalog.gpu(gpu),
        catalog.precision(precision),
        catalog.engine(engine),
    )


@pytest.mark.parametrize("precision", ["awq", "fp8-block"])
def test_vllm_runs_weight_only_layers_on_ampere_through_marlin(catalog, precision):
    bf16, wo = _s(catalog, "bf16"), _s(catalog, precision)
    assert wo.emulated or wo.precision.weight_bits < 16
    assert bf16.gemm_scale == 1.0
    assert wo.gemm_scale == pytest.approx(MARLIN_GEMM_SCALE)
    # a prefill chunk is compute-bound: the quantized layers' MACs take 1/0.61 as long
    a, b = step_s(wo, 0, 0, 2048, 1024), step_s(bf16, 0, 0, 2048, 1024)
    assert float(a.linear_compute_s / b.linear_compute_s) == pytest.approx(1 / MARLIN_GEMM_SCALE)
    assert float(a.total_s) > float(b.total_s)
    # one sequence decoding is memory-bound: the smaller weights still win
    assert float(step_s(wo, 1, 1024).total_s) < float(step_s(bf16, 1, 1024).total_s)


def test_only_where_the_engine_runs_marlin(catalog):
    # FP8 tensor cores on Hopper: native FP8 GEMMs, not weight-only
    assert _s(catalog, "fp8-block", gpu="h100-sxm").gemm_scale == 1.0
    # vLLM picks Machete on Hopper where it can: left at the 16-bit rate there
    assert _s(catalog, "awq", gpu="h100-sxm").gemm_scale == 1.0
    # TensorRT-LLM's own weight-only kernels: not Marlin
    assert _s(catalog, "awq", engine="tensorrt-llm").gemm_scale == 1.0


def test_an_experts_only_format_leaves_the_dense_layers_16_bit(catalog):
    s = _s(catalog, "mxfp4", model="gpt-oss-20b")
    assert s.emulated and s.precision.experts_only
    assert s.gemm_scale == 1.0


def test_the_output_says_so(catalog):
    notes = " ".join(_s(catalog, "awq").notes)
    assert "through Marlin on ampere" in notes and "0.61x" in notes
    assert not any("Marlin" in n for n in _s(catalog, "bf16").notes)
