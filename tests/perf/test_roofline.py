"""Unit checks of the step-time model's parts."""

from __future__ import annotations

import numpy as np
import pytest

from fleetplan.perf.expert_parallel import expected_experts
from fleetplan.perf.parallel import allreduce_s
from fleetplan.perf.roofline import setup, step_s
from fleetplan.perf.schedule import continuous, static


def _setup(catalog, model, gpu, precision="bf16", tp=1, engine="vllm"):
    return setup(
        catalog.model(model), catalog.gpu(gpu), catalog.precision(precision),
        catalog.engine(engine), tp=tp,
    )  # fmt: skip


def test_expected_experts_limits():
    assert expected_experts(8, 2, 1) == pytest.approx(2.0)
    assert expected_experts(8, 2, 1000) == pytest.approx(8.0)
    assert expected_experts(256, 8, 1) == pytest.approx(8.0)
    assert 8 < expected_experts(256, 8, 4) < 32


def test_moe_decode_reads_more_experts_with_batch(catalog):
    s = _setup(catalog, "mixtral-8x7b", "h100", tp=2)
    one, many = step_s(s, 1, 1000), step_s(s, 64, 1000)
    assert many.weight_bytes > 3 * one.weight_bytes  # 2 of 8 experts at batch 1, ~all at 64


def test_allreduce_zero_without_tp_and_grows_with_tokens():
    assert allreduce_s(100, 4096, 1, 450, 1e-5) == 0
    assert allreduce_s(1000, 4096, 4, 450, 1e-5) > allreduce_s(10, 4096, 4, 450, 1e-5)


def test_tp_splits_weights_and_adds_comm(catalog):
    one = _setup(catalog, "llama-3.1-70b", "h100", tp=1)
    four = _setup(catalog, "llama-3.1-70b", "h100", tp=4)
    assert four.dense_bytes_gpu == pytest.approx(one.dense_bytes_gpu / 4)
    st = step_s(four, 16, 1000)
    assert st.comm_s > 0
    assert st.total_s < step_s(one, 16, 1000).total_s


def test_pcie_tp_costs_more_than_nvlink(catalog):
    nvl = step_s(_setup(catalog, "llama-3.1-8b", "h100-sxm", tp=4), 64, 1000)
    pcie = step_s(_setup(catalog, "llama-3.1-8b", "l40s", tp=4), 64, 1000)
    assert pcie.comm_s > nvl.comm_s


def test_sliding_window_caps_kv_reads(catalog):
    s = _setup(catalog, "gemma-2-9b", "h100")
    short, long = step_s(s, 1, 4096), step_s(s, 1, 8192)
    full_share = (s.model.layers - s.model.sliding_window_layers) / s.model.layers
    # doubling the context doubles only the global layers' reads
    assert long.kv_bytes / short.kv_bytes == pytest.approx(1 + full_share, rel=0.01)


def test_static_batch_slower_than_continuous_per_token_but_same_order(catalog):
    s = _setup(catalog, "llama-2-7b", "a100")
    b = np.array([1.0, 16.0, 64.0])
    c = continuous(s, b, 512, 512)
    st = static(s, b, 512, 512)
    ratio = st.output_tok_per_s / c.output_tok_per_s
    assert np.all((ratio > 0.5) & (ratio < 1.6))
    assert np.all(st.ttft_s[1:] > st.ttft_s[0])  # batch prefill takes longer


def test_fp8_halves_weight_bytes(catalog):
    bf = _setup(catalog, "llama-3.1-8b", "h100")
    f8 = _setup(catalog, "llama-3.1-8b", "h100", precision="fp8")
    assert f8.dense_bytes_gpu < 0.6 * bf.dense_bytes_gpu  # lm_head stays 16-bit
    assert f8.peak_flops == pytest.approx(2 * bf.peak_flops, rel=0.01)
