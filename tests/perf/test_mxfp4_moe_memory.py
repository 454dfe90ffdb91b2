"""MXFP4 MoE weights as vLLM holds them (perf.memory.weights, perf.kernels): only the routed
experts are MXFP4, the rest of the body stays 16-bit, and on GPUs without FP4 tensor cores
vLLM's Marlin kernel holds the experts padded to its tile alignment. gpt-oss-120b on one H100
under vLLM 0.10.1 logged 'Model loading took 65.9651 GiB' with the Marlin kernel
(https://github.com/vllm-project/vllm/issues/23278); the checkpoint is 60.8 GiB."""

from __future__ import annotations

import dataclasses

import pytest

from fleetplan.accuracy.fit_stages import (
    MIN_ARCH_ROWS,
    moe_factors,
    native_moe_rows,
    weight_only_moe_formats,
)
from fleetplan.accuracy.rows import ValidationRow
from fleetplan.perf.kernels import marlin_expert_padding
from fleetplan.perf.memory import fit, weights
from fleetplan.perf.roofline import setup
from fleetplan.units import GIB


def test_mxfp4_leaves_attention_and_router_16_bit(catalog):
    m = catalog.model("gpt-oss-120b")
    mx = catalog.precision("mxfp4")
    w = weights(m, mx)
    assert mx.experts_only
    # the experts at 4.25 bits, everything else (attention, router, embeddings) at 2 bytes:
    # the published checkpoint, 60.8 GiB
    assert 60.0 * GIB < w.total_bytes < 61.5 * GIB
    all_fp4 = dataclasses.replace(mx, experts_only=False)
    assert weights(m, all_fp4).total_bytes < w.total_bytes - 1.2 * GIB  # 1.0B params at 2 bytes
    assert weights(m, all_fp4).routed_expert_bytes == w.routed_expert_bytes
    # a dense model has no experts: the format applies to the body as before
    dense = catalog.model("llama-3.1-8b")
    assert weights(dense, mx).total_bytes == weights(dense, all_fp4).total_bytes


def test_marlin_pads_gpt_oss_experts_on_hopper_and_ampere(catalog):
    m = catalog.model("gpt-oss-120b")
    mx = catalog.precision("mxfp4")
    vllm = catalog.engine("vllm")
    h100 = catalog.gpu("h100-sxm")
    # hidden 2880 -> 3072, intermediate 2880 -> 2944 (tp 1), 1440 -> 1536 a GPU (tp 2)
    assert marlin_expert_padding(m, mx, vllm, h100, 1) == pytest.approx(3072 * 2944 / 2880**2)
    assert marlin_expert_padding(m, mx, vllm, h100, 2) == pytest.approx(3072 * 1536 / 2880 / 1440)
    assert marlin_expert_padding(m, mx, vllm, catalog.gpu("a100-sxm4-80gb"), 1) > 1.0
    # native FP4 (Blackwell), another engine, another format: no Marlin padding
    assert marlin_expert_padding(m, mx, vllm, catalog.gpu("b200"), 1) == 1.0
    assert marlin_expert_padding(m, mx, catalog.engine("sglang"), h100, 1) == 1.0
    assert marlin_expert_padding(m, catalog.precision("fp8"), vllm, h100, 1) == 1.0


def test_gpt_oss_120b_on_one_h100_loads_what_vllm_logged(catalog):
    m = catalog.model("gpt-oss-120b")
    f = fit(
        m,
        catalog.gpu("h100-sxm"),
        catalog.precision("mxfp4"),
        catalog.engine("vllm"),
        context=32768,
    )
    assert f.weights_bytes_per_gpu / GIB == pytest.approx(65.9651, rel=0.01)
    # what is left of 90 % of the H100 holds a few 32K-token sequences, not nine
    assert 2 <= f.max_concurrent_sequences <= 4


def test_padded_experts_are_streamed_too(catalog):
    m = catalog.model("gpt-oss-120b")
    mx = catalog.precision("mxfp4")
    s_h100 = setup(m, catalog.gpu("h100-sxm"), mx, catalog.engine("vllm"), tp=2)
    w = weights(m, mx)
    pad = marlin_expert_padding(m, mx, catalog.engine("vllm"), catalog.gpu("h100-sxm"), 2)
    assert s_h100.expert_bytes_gpu == pytest.approx(w.expert_bytes / 2 * pad)
    s_b200 = setup(m, catalog.gpu("b200"), mx, catalog.engine("vllm"), tp=2)
    assert s_b200.expert_bytes_gpu == pytest.approx(w.expert_bytes / 2)


def _row(model: str, precision: str, gpu: str, k: int) -> ValidationRow:
    return ValidationRow(f"t{k}", "vllm", model, precision, gpu, 1000, 100, 64, "output_tok_per_s",
                         1.0, schedule="offline")  # fmt: skip


def test_weight_only_moe_kernels_get_their_own_stream_share(catalog):
    # MXFP4 on an H100 runs weight-only (Marlin); FP8 on an H100 natively
    mx = [_row("gpt-oss-120b", "mxfp4", "h100-sxm", k) for k in range(MIN_ARCH_ROWS)]
    fp8 = [_row("qwen3-235b-a22b", "fp8", "h100-sxm", k) for k in range(MIN_ARCH_ROWS)]
    assert weight_only_moe_formats(mx + fp8, catalog) == ["mxfp4"]
    assert weight_only_moe_formats(mx, catalog) == []  # the base share is theirs already
    assert weight_only_moe_formats(mx[:-1] + fp8, catalog) == []  # too few rows
    assert "format:mxfp4:moe_stream_scale" in moe_factors(True, weight_only=["mxfp4"])
    # the fitted scale applies where the format runs weight-only, not where it is native
    eng = dataclasses.replace(
        catalog.engine("vllm"), format_scale={"mxfp4": {"moe_stream_scale": 1.5}}
    )
    m, mxp = catalog.model("gpt-oss-120b"), catalog.precision("mxfp4")
    base = catalog.engine("vllm").moe_stream_scale
    assert setup(m, catalog.gpu("h100-sxm"), mxp, eng).moe_stream_scale == pytest.approx(1.5 * base)
    assert setup(m, catalog.gpu("b200"), mxp, eng).moe_stream_scale == pytest.approx(base)


def test_a_few_weight_only_moe_rows_do_not_set_the_native_kernels_factors(catalog):
    # too few MXFP4-on-Hopper rows for a scale of their own stay out of the MoE stage beside
    # FP8 rows (a dequantizing kernel's rates are not the native kernel's) ...
    mx = [_row("gpt-oss-120b", "mxfp4", "h100-sxm", k) for k in range(MIN_ARCH_ROWS)]
    fp8 = [_row("deepseek-r1", "fp8", "h200", k) for k in range(3)]
    assert native_moe_rows(mx[:2] + fp8, catalog) == fp8
    # ... enough of them fit their own scale and stay, and where every row is weight-only
    # they are the stage's rows
    assert native_moe_rows(mx + fp8, catalog) == mx + fp8
    assert native_moe_rows(mx[:2], catalog) == mx[:2]
    # native MXFP4 (Blackwell's FP4 tensor cores) is not weight-only
    b200 = [_row("gpt-oss-120b", "mxfp4", "b200", k) for k in range(2)]
    assert native_moe_rows(b200 + fp8, catalog) == b200 + fp8
