"""A prefill kernel that reads the context again for every few query tokens
(perf.kernels.prefill_kv_reread): vLLM runs gpt-oss's attention sinks on Ampere and Ada through
its Triton attention kernel, whose programs hold BLOCK_M = 16 rows of (query token x query head)
of one KV head, two query tokens of gpt-oss's 8-head groups. GPUStack's gpt-oss-20b on one A100
(vLLM 0.11) prefilled 32,000-token prompts at half the rate a FlashAttention share gives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fleetplan.accuracy.fit_stages import (
    MIN_REREAD_ROWS,
    REREAD_FACTOR,
    reread_factor,
    reread_rows,
)
from fleetplan.accuracy.rows import ValidationRow
from fleetplan.perf.kernels import prefill_kv_reread, triton_attention_block_q
from fleetplan.perf.roofline import setup, step_s
from fleetplan.perf.step_total import step_total_s
from fleetplan.search.stack import stack


def _setup(catalog, model="gpt-oss-20b", gpu="a100-80gb", engine=None, precision="mxfp4"):
    return setup(
        catalog.model(model),
        catalog.gpu(gpu),
        catalog.precision(precision),
        engine or catalog.engine("vllm"),
    )


def test_block_q_follows_the_kernels_launch_rule(catalog):
    gpt_oss = catalog.model("gpt-oss-20b")  # 64 query heads over 8 KV heads
    assert triton_attention_block_q(gpt_oss) == 2
    group_4 = dataclasses.replace(gpt_oss, kv_heads=16)
    assert triton_attention_block_q(group_4) == 4
    group_32 = dataclasses.replace(gpt_oss, kv_heads=2)  # BLOCK_M grows to the group
    assert triton_attention_block_q(group_32) == 1


def test_only_sinks_on_the_triton_generations_read_again(catalog):
    vllm = catalog.engine("vllm")
    oss, llama = catalog.model("gpt-oss-20b"), catalog.model("llama-3.1-8b")
    assert oss.attention_sinks and not llama.attention_sinks
    assert prefill_kv_reread(oss, vllm, "ampere") == pytest.approx(
        0.5 / vllm.prefill_kv_reread_bandwidth_scale
    )
    assert prefill_kv_reread(oss, vllm, "ada") > 0
    assert prefill_kv_reread(oss, vllm, "hopper") == 0  # FlashAttention 3 runs the sinks
    assert prefill_kv_reread(llama, vllm, "ampere") == 0  # FlashAttention 2 serves it
    assert prefill_kv_reread(oss, catalog.engine("tensorrt-llm"), "ampere") == 0
    s = _setup(catalog)
    assert s.prefill_kv_reread > 0
    assert any("Triton attention kernel" in n for n in s.notes)
    assert _setup(catalog, gpu="h100-sxm").prefill_kv_reread == 0


def test_long_prompts_prefill_at_the_memorys_pace(catalog):
    vllm = catalog.engine("vllm")
    once = dataclasses.replace(vllm, sink_attention_triton_on=())
    s, flash = _setup(catalog), _setup(catalog, engine=once)
    # a 2,048-token chunk of a 32,000-token prompt (mean attended context ~31,000)
    long = step_s(s, 0.0, 0.0, 2048.0, 31000.0)
    assert long.attention_memory_s > long.attention_compute_s
    assert long.total_s > 1.5 * step_s(flash, 0.0, 0.0, 2048.0, 31000.0).total_s
    # the re-read grows with the context: a short prompt hardly notices it
    short = step_s(s, 0.0, 0.0, 2048.0, 500.0).total_s
    assert short < 1.1 * step_s(flash, 0.0, 0.0, 2048.0, 500.0).total_s
    # decode steps read each sequence's context once, as before
    dec = step_s(s, 64.0, 20000.0).total_s
    assert dec == pytest.approx(step_s(flash, 64.0, 20000.0).total_s)
    # the L2 cache's share of the re-reads (fitted) takes them off in proportion
    fast = _setup(catalog, engine=dataclasses.replace(vllm, prefill_kv_reread_bandwidth_scale=2.0))
    assert fast.prefill_kv_reread == pytest.approx(
        s.prefill_kv_reread * s.engine.prefill_kv_reread_bandwidth_scale / 2.0
    )


def test_the_sizings_fast_step_keeps_the_reread(catalog):
    # the plan's load point and latency search sum steps through step_total_s, not step_s
    s = _setup(catalog)
    for b, c, p, pc in ((0, 0, 2048, 31000), (16, 12000, 2048, 7000), (64, 3000, 0, 0)):
        fast = float(step_total_s(s, b, c, p, pc))
        assert fast == pytest.approx(float(step_s(s, b, c, p, pc).total_s), rel=1e-12)


def test_setups_with_and_without_the_reread_stack(catalog):
    # a plan's search evaluates A100 (Triton) and H100 (FlashAttention 3) setups as one array
    a100, h100 = _setup(catalog), _setup(catalog, gpu="h100-sxm")
    both = stack([a100, h100])
    p, pc = np.array([[2048.0]]), np.array([[20000.0]])
    got = step_s(both, 0.0, 0.0, p, pc).total_s
    one = [float(step_s(x, 0.0, 0.0, 2048.0, 20000.0).total_s) for x in (a100, h100)]
    np.testing.assert_allclose(got[:, 0], one, rtol=1e-12)


def _row(gpu: str, k: int, model: str = "gpt-oss-20b") -> ValidationRow:
    return ValidationRow(f"t{k}", "vllm", model, "mxfp4", gpu, 32000, 100, 100, "ttft_ms",
                         1.0, schedule="offline")  # fmt: skip


def test_the_fit_takes_the_reread_bandwidth_only_on_rows_that_run_the_kernel(catalog):
    a100 = [_row("a100-80gb", k) for k in range(MIN_REREAD_ROWS)]
    h100 = [_row("h100-sxm", k) for k in range(10)]
    assert reread_rows(a100 + h100, catalog) == a100
    assert reread_factor(a100 + h100, catalog) == [REREAD_FACTOR]
    assert reread_factor(a100[:-1] + h100, catalog) == []  # too few rows to pin it
    dense = [_row("a100-80gb", k, "qwen3-14b") for k in range(10)]
    assert reread_factor(dense, catalog) == []
