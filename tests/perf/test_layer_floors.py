"""A decoder layer's kernel floors: how the engine's per-layer overhead moves with the layer."""

from __future__ import annotations

import dataclasses

import pytest

from fleetplan.perf.layer_floors import (
    DENSE_LAYER_FLOOR_US,
    SMALL_KERNEL_FLOOR_US,
    layer_floor_us,
    layer_kernel_scale,
)
from fleetplan.perf.roofline import setup, step_s


def test_a_16_bit_dense_gqa_layer_is_the_unit(catalog):
    for model in ("llama-3.1-8b", "llama-3.1-70b", "qwen3-32b"):
        m = catalog.model(model)
        assert layer_kernel_scale(m, catalog.precision("bf16")) == pytest.approx(1.0)
        assert layer_floor_us(m, catalog.precision("bf16")) == pytest.approx(DENSE_LAYER_FLOOR_US)
    # only block-scaled FP8's per-token-group activation quantization is counted
    assert layer_kernel_scale(catalog.model("llama-3.1-8b"), catalog.precision("fp8")) == 1.0


def test_block_scaled_fp8_adds_one_activation_quantization_a_gemm(catalog):
    m = catalog.model("qwen3-32b")
    extra = layer_floor_us(m, catalog.precision("fp8-block")) - DENSE_LAYER_FLOOR_US
    assert extra == pytest.approx(4 * SMALL_KERNEL_FLOOR_US)  # QKV, output, gate_up, down


def test_moe_mla_and_shared_experts_cost_more_kernels_than_a_dense_layer(catalog):
    bf16 = catalog.precision("bf16")
    moe = layer_kernel_scale(catalog.model("qwen3-235b-a22b-2507"), bf16)
    mixtral = layer_kernel_scale(catalog.model("mixtral-8x7b"), bf16)
    r1 = layer_kernel_scale(catalog.model("deepseek-r1"), catalog.precision("fp8"))
    assert moe == pytest.approx(mixtral)  # the same kernels whatever the expert count
    assert 1.5 < moe < 2.2
    assert r1 > moe + 0.5  # latent attention, a shared expert and FP8 quantization besides
    # DeepSeek-R1's three dense layers weigh in the mean over its 61
    r1m = catalog.model("deepseek-r1")
    all_moe = dataclasses.replace(r1m, moe_dense_layers=0)
    fp8 = catalog.precision("fp8")
    assert r1m.moe_dense_layers == 3
    assert layer_floor_us(all_moe, fp8) > layer_floor_us(r1m, fp8)


def test_setup_scales_the_engines_per_layer_overhead(catalog):
    engine = catalog.engine("vllm")
    gpu, fp8 = catalog.gpu("h200"), catalog.precision("fp8")
    r1 = setup(catalog.model("deepseek-r1"), gpu, fp8, engine, tp=8)
    llama = setup(catalog.model("llama-3.1-70b"), gpu, catalog.precision("bf16"), engine, tp=8)
    base = engine.per_layer_overhead_us * 1e-6
    assert llama.layer_overhead_s == pytest.approx(base)
    assert r1.layer_overhead_s == pytest.approx(
        base * layer_kernel_scale(catalog.model("deepseek-r1"), fp8)
    )
    # and a decode step charges it once per layer
    st = step_s(r1, 4, 512)
    assert float(st.overhead_s) >= 61 * r1.layer_overhead_s
