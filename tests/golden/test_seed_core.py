"""Golden tests: worked examples E1, E9, W1, W2, W3 of shared/seed-examples.md (corrected)."""

from __future__ import annotations

import numpy as np
import pytest

from fleetplan.estimate import estimate_fit, estimate_perf
from fleetplan.perf.memory import kv_bytes_for_context
from fleetplan.perf.roofline import memory_bound_tok_per_s
from fleetplan.units import GIB


@pytest.mark.parametrize(
    ("bandwidth_tb_s", "expected"), [(2.0, 125), (3.35, 209), (0.864, 54), (0.6, 38)]
)
def test_e1_single_stream_bound(bandwidth_tb_s, expected):
    """E1: 8B params at fp16 = 16 GB; one stream reads all weights per token."""
    assert round(memory_bound_tok_per_s(16e9, bandwidth_tb_s * 1e12)) == expected


def test_e1_catalog_bandwidths(catalog):
    """The catalog's bandwidths give the same bounds for the document's 16 GB of weights."""
    for gpu, expected in [("h100", 209), ("l40s", 54), ("a10g", 38)]:
        bw = catalog.gpu(gpu).memory_bandwidth_bytes_s
        assert round(memory_bound_tok_per_s(16e9, bw)) == expected


def test_e1_model_stays_below_the_bound(catalog):
    """The model's batch-1 decode never beats the pure bandwidth bound."""
    for gpu in ("a100", "h100", "l40s", "a10g"):
        pe = estimate_perf("llama-3.1-8b", gpu, precision="fp16", batches=[1], catalog=catalog)
        bound = memory_bound_tok_per_s(16.06e9, catalog.gpu(gpu).memory_bandwidth_bytes_s)
        assert pe.result.output_tok_per_s[0] < bound


def test_e9_kv_per_request(catalog):
    """E9: 2·L·H_kv·d·T·b with L=32, H_kv=8, d=128, T=8,000, b=2 (Llama 3.1 8B)."""
    per_seq = kv_bytes_for_context(catalog.model("llama-3.1-8b"), 2.0, 8000)
    assert per_seq == 1_048_576_000
    assert round(per_seq / 1e9, 3) == 1.049
    assert round(per_seq / GIB, 3) == 0.977


def test_w1_concurrency_ceiling_in_consistent_units(catalog):
    """W1: 64 GB free / 1.049 GB per request = 61 (the document's 65 mixed GiB into GB)."""
    per_seq = kv_bytes_for_context(catalog.model("llama-3.1-8b"), 2.0, 8000)
    assert int(64e9 // per_seq) == 61
    # the model's fit applies the same floor to its own KV budget
    f = estimate_fit("llama-3.1-8b", "h100", context=8000, catalog=catalog)
    assert f.max_concurrent_sequences == int(f.kv_budget_bytes_per_gpu // per_seq)


def test_w2_a10g_fits_with_a_small_kv_budget(catalog):
    """W2: Llama 3.1 8B fp16 on an A10G fits; ~5-6 GB of KV (~40-48 K tokens) on the whole
    card (vLLM V1's 2,048-token step budget on GPUs under 70 GiB keeps the activation
    workspace small)."""
    whole = estimate_fit(
        "llama-3.1-8b", "a10g", precision="fp16", gpu_memory_utilization=1.0, catalog=catalog
    )
    assert whole.fits
    assert 4.5e9 < whole.kv_budget_bytes_per_gpu < 6.5e9
    assert 35_000 < whole.kv_capacity_tokens < 50_000
    assert whole.kv_bytes_per_token == 131_072  # 128 KiB/token
    # at vLLM's default 0.9 utilization it still fits, with fewer tokens; the limit says KV
    default = estimate_fit("llama-3.1-8b", "a10g", precision="fp16", catalog=catalog)
    assert default.fits and default.kv_capacity_tokens < whole.kv_capacity_tokens
    assert "KV cache" in default.limit
    assert default.max_concurrent_sequences < 8


def test_w3_throughput_bends_with_batch(catalog):
    """W3: batch 64 gives far less than 64x batch 1, because KV reads and compute grow."""
    pe = estimate_perf(
        "llama-2-7b", "h100", batches=[1, 32, 64, 128], input_tokens=512, output_tokens=512,
        catalog=catalog,
    )  # fmt: skip
    tps = pe.result.output_tok_per_s
    assert tps[2] < 64 * tps[0] * 0.8
    assert np.all(np.diff(tps) > 0)  # still rising, with diminishing returns
    gains = tps[1:] / tps[:-1]
    assert gains[-1] < gains[0]
    # the reasons: the KV bytes read per step and the FLOPs grow with batch
    from fleetplan.perf.roofline import step_s

    one, many = step_s(pe.setup, 1, 768), step_s(pe.setup, 64, 768)
    assert many.kv_bytes > 50 * one.kv_bytes
    assert many.flops > 50 * one.flops
    assert many.total_s > 1.5 * one.total_s  # so tokens/s grows by less than the batch
