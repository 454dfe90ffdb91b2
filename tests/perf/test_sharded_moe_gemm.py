"""A tensor-parallel MoE layer's expert GEMMs run below the rate of the whole layer on one GPU,
the more so the narrower each GPU's share of the model's width
(perf.expert_parallel.sharded_moe_gemm_scale)."""

from __future__ import annotations

import numpy as np
import pytest

from fleetplan.perf.expert_parallel import (
    MOE_HALF_WIDTH_PER_GPU,
    expert_gemm_s,
    sharded_moe_gemm_scale,
)
from fleetplan.perf.roofline import setup


def _s(catalog, tp, model="mixtral-8x7b", gpu="h100-sxm", engine="vllm", ep=1):
    return setup(
        catalog.model(model),
        catalog.gpu(gpu),
        catalog.precision("bf16"),
        catalog.engine(engine),
        tp=tp,
        ep=ep,
    )


def test_the_scale_is_a_ramp_in_each_gpus_share_of_the_width():
    assert float(sharded_moe_gemm_scale(4096, 8)) == pytest.approx(0.8)
    assert float(sharded_moe_gemm_scale(5120, 1)) == pytest.approx(5120 / (5120 + 128))
    half = sharded_moe_gemm_scale(int(2 * MOE_HALF_WIDTH_PER_GPU), 2)
    assert float(half) == pytest.approx(0.5)
    scales = sharded_moe_gemm_scale(4096, np.array([1, 2, 4, 8]))
    assert np.all(np.diff(scales) < 0) and np.all((scales > 0) & (scales < 1))


def test_expert_gemms_take_longer_per_gpu_share_at_tp8(catalog):
    one, eight = _s(catalog, 1), _s(catalog, 8)
    tokens = np.array([8192.0])  # enough tokens per expert that the rate's ceiling binds
    t1 = float(expert_gemm_s(one, tokens, one.expert_flops_per_token_gpu * tokens)[0])
    t8 = float(expert_gemm_s(eight, tokens, eight.expert_flops_per_token_gpu * tokens)[0])
    # each of 8 GPUs does an eighth of the MACs, at the TP8 slice's lower rate
    expected = sharded_moe_gemm_scale(4096, 1) / sharded_moe_gemm_scale(4096, 8) / 8
    assert t8 / t1 == pytest.approx(float(expected), rel=1e-6)


def test_it_lowers_only_the_ceiling(catalog):
    # TensorRT-LLM's grouped GEMM pads each expert's tokens (moe_gemm_half_tokens 64): with a
    # few tokens per expert that ramp sits below both ceilings and sets the rate alone
    one, eight = _s(catalog, 1, engine="tensorrt-llm"), _s(catalog, 8, engine="tensorrt-llm")
    assert one.moe_gemm_half_tokens > 0
    tokens = np.array([4.0])
    t1 = float(expert_gemm_s(one, tokens, one.expert_flops_per_token_gpu * tokens)[0])
    t8 = float(expert_gemm_s(eight, tokens, eight.expert_flops_per_token_gpu * tokens)[0])
    assert t8 * 8 == pytest.approx(t1, rel=1e-6)


def test_the_output_says_so(catalog):
    notes = " ".join(_s(catalog, 8).notes)
    assert "MoE layers split over 8 GPUs (512 of the 4096-wide hidden size each)" in notes
    assert "at most 0.80x" in notes
    assert not any("MoE layers split" in n for n in _s(catalog, 1).notes)
    dense = setup(
        catalog.model("llama-3.1-70b"),
        catalog.gpu("h100-sxm"),
        catalog.precision("bf16"),
        catalog.engine("vllm"),
        tp=8,
    )
    assert not any("MoE layers split" in n for n in dense.notes)
