"""DeepSeek-R1's kernels as the engines of 2025 run them (perf.kernels): MLA prefills as plain
multi-head attention and decodes absorbed, its down-projections run whole on every TP GPU,
block-scaled FP8 GEMMs run as Triton kernels in early-2025 releases cap the GEMM rate, and vLLM
0.7's V0 engine prefills an MLA model's prompts whole."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from fleetplan.catalog.generations import GEMM_PEAK_SHARE, generation_gemm_ratio
from fleetplan.catalog.hf_config import model_from_config
from fleetplan.perf.expert_parallel import moe_terms
from fleetplan.perf.kernels import (
    TRITON_BLOCK_FP8_MFU,
    TRITON_BLOCK_FP8_MOE_MFU,
    TRITON_MLA_EXTEND_MFU,
    attention_flops_per_ctx_token,
    mla_absorbed_bytes,
    mla_kv_padding,
    replicated_params,
)
from fleetplan.perf.memory import activation_workspace_bytes, fit
from fleetplan.perf.roofline import setup, step_s
from fleetplan.perf.step_total import step_total_s
from fleetplan.sim.steptime import StepTable


def _r1(catalog, engine="vllm", precision="fp8", **changes):
    eng = dataclasses.replace(catalog.engines[engine], **changes)
    m = catalog.model("deepseek-r1")
    return m, catalog.gpu("h200"), catalog.precision(precision), eng


def test_mla_prefills_as_mha_and_decodes_absorbed(catalog):
    m = catalog.model("deepseek-r1")
    decode, prefill = attention_flops_per_ctx_token(m)
    # absorbed: 128 heads x (2 x 512 rank + 64 rope); MHA: 128 heads x (128 + 64 + 128)
    assert decode == 2.0 * 128 * (2 * 512 + 64) * 61
    assert prefill == 2.0 * 128 * (128 + 64 + 128) * 61
    llama = catalog.model("llama-3.1-8b")
    assert attention_flops_per_ctx_token(llama)[0] == attention_flops_per_ctx_token(llama)[1]
    s = setup(*_r1(catalog), tp=8)
    # a prompt token's attention FLOPs per context token are the MHA ones, a decode's absorbed
    pre = step_s(s, 0, 0, 1000, 4000).attention_compute_s
    dec = step_s(s, 1000, 4000).attention_compute_s
    assert float(dec / pre) == pytest.approx(decode / prefill)


def test_mla_down_projections_run_whole_on_every_tp_gpu(catalog):
    m = catalog.model("deepseek-r1")
    assert replicated_params(m) == 7168 * (1536 + 512 + 64) * 61
    assert replicated_params(catalog.model("llama-3.1-70b")) == 0.0
    one, eight = setup(*_r1(catalog), tp=1), setup(*_r1(catalog), tp=8)
    extra = 2.0 * replicated_params(m) * (1 - 1 / 8)
    assert eight.linear_flops_per_token_gpu == pytest.approx(
        one.linear_flops_per_token_gpu / 8 + extra
    )
    # data-parallel attention over all 8: each GPU runs them on its own eighth of the tokens
    dp = setup(*_r1(catalog, "sglang"), tp=8, attention_dp=8)
    assert dp.linear_flops_per_token_gpu == pytest.approx(one.linear_flops_per_token_gpu / 8)


def test_triton_block_fp8_releases_cap_the_gemm_rate(catalog):
    m, gpu, fp8 = catalog.model("deepseek-r1"), catalog.gpu("h200"), catalog.precision("fp8")
    early, late = catalog.engine("sglang@0.4.3"), catalog.engine("sglang@0.5.3")
    assert early.runs_triton_block_fp8() and not late.runs_triton_block_fp8()
    a, b = setup(m, gpu, fp8, early, tp=8), setup(m, gpu, fp8, late, tp=8)
    assert a.mfu == b.mfu and b.gemm_scale == 1.0
    assert a.mfu * a.gemm_scale == pytest.approx(TRITON_BLOCK_FP8_MFU)
    x, y = step_s(a, 0, 0, 8192, 4096), step_s(b, 0, 0, 8192, 4096)
    # a prefill's GEMMs run at the cap: the dense ones 1/gemm_scale slower, the routed experts'
    # (256 tokens each, 0.24 of the peak after tile padding) down to the same cap
    assert float(x.linear_compute_s) > 1.4 * float(y.linear_compute_s)
    assert float(x.linear_memory_s) == pytest.approx(float(y.linear_memory_s))
    # 0.4.3 also prefills MLA absorbed, at decode's FLOPs per context token (its Triton backend)
    dec, pre = attention_flops_per_ctx_token(m)
    slow = max(a.mfu / TRITON_MLA_EXTEND_MFU, 1.0)  # in Triton's extend kernel
    assert float(x.attention_compute_s) == pytest.approx(
        float(y.attention_compute_s) * dec / pre * slow
    )
    # where a decode's expert GEMMs are padded tiles far below the cap (a grouped GEMM at half
    # its rate with 64 tokens an expert), the cap adds nothing there
    padded = {"moe_gemm_half_tokens": 64.0}
    pa = setup(m, gpu, fp8, dataclasses.replace(early, **padded), tp=8)
    pb = setup(m, gpu, fp8, dataclasses.replace(late, **padded), tp=8)
    d_early, d_late = step_s(pa, 4, 4000), step_s(pb, 4, 4000)
    assert float(d_early.linear_compute_s) < 1.2 * float(d_late.linear_compute_s)
    # vLLM's V0 family is Triton throughout, its newest release standing for the family
    assert catalog.engine("vllm-v0").runs_triton_block_fp8()
    assert not catalog.engine("vllm@0.11.0").runs_triton_block_fp8()
    assert not catalog.engine("tensorrt-llm@0.17").runs_triton_block_fp8()
    # only the block-scaled checkpoint run as FP8: BF16 weights and per-tensor FP8 models run plain
    assert setup(m, gpu, catalog.precision("bf16"), early, tp=8).gemm_scale == 1.0
    llama = catalog.model("llama-3.1-70b")
    assert setup(llama, gpu, fp8, early, tp=8).gemm_scale == 1.0
    # a family whose own rate is below the Triton cap keeps it
    slow = dataclasses.replace(early, mfu_prefill=0.1)
    assert setup(m, gpu, fp8, slow, tp=8).gemm_scale == 1.0


def test_block_scaled_fp8_is_read_from_config_json(tmp_path):
    cfg = {
        "model_type": "deepseek_v3",
        "num_hidden_layers": 4,
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_attention_heads": 16,
        "vocab_size": 32000,
        "max_position_embeddings": 4096,
        "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]},
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert model_from_config(tmp_path).fp8_block_scaled
    del cfg["quantization_config"]["weight_block_size"]  # per-tensor FP8
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert not model_from_config(tmp_path).fp8_block_scaled


@pytest.mark.parametrize("engine", ["vllm", "sglang", "tensorrt-llm"])
def test_fast_step_sum_and_step_table_match_the_roofline(catalog, engine):
    m, gpu, fp8, eng = _r1(catalog, engine)
    s = setup(m, gpu, fp8, eng.at_version("0.4.3" if engine == "sglang" else ""), tp=8)
    for b, c, p, pc in ((1, 4000, 0, 0), (64, 3500, 2048, 1024), (0, 0, 8192, 4096)):
        assert step_total_s(s, b, c, p, pc) == pytest.approx(float(step_s(s, b, c, p, pc).total_s))
    table = StepTable(s, 8192 + 256)  # verifies itself against mixed_step on construction
    assert table.step_s(64, 3500, 2048, 1024) == pytest.approx(
        float(step_s(s, 64, 3500, 2048, 1024).total_s)
    )


def test_vllm_v0_prefills_an_mla_models_prompts_whole(catalog):
    v0 = catalog.engines["vllm-v0"]
    r1 = catalog.model("deepseek-r1")
    eng = v0.for_model(r1)
    assert not eng.chunked_prefill
    assert eng.max_num_batched_tokens == r1.max_context  # max(max_model_len, 2048)
    llama = catalog.model("llama-3.1-8b")  # not MLA: V0 chunks its 128K window by itself
    assert v0.for_model(llama).max_num_batched_tokens < llama.max_context
    v1 = catalog.engines["vllm"]
    assert v1.for_model(r1) is v1
    s = setup(r1, catalog.gpu("h200"), catalog.precision("fp8"), v0, tp=8)
    assert s.engine.max_num_batched_tokens == r1.max_context
    # its profiling run carries that many tokens: the activation peak leaves less KV cache
    h200, fp8 = catalog.gpu("h200"), catalog.precision("fp8")
    whole = fit(r1, h200, fp8, v0, tp=8, context=4000)
    chunked = fit(r1, h200, fp8, dataclasses.replace(v0, mla_whole_prompts=False), tp=8,
                  context=4000)  # fmt: skip
    assert whole.activation_bytes > chunked.activation_bytes
    assert whole.kv_capacity_tokens < chunked.kv_capacity_tokens
    assert np.isfinite(whole.kv_capacity_tokens)


def test_vllm_07_pads_mla_cache_entries_to_256_bytes_on_cuda(catalog):
    """vLLM 0.7.2-0.7.x (V0) starts each MLA token entry at a 256-byte boundary on CUDA devices
    (https://github.com/vllm-project/vllm/pull/12676): DeepSeek's 576 bf16 elements take 640,
    the 78,080 bytes a token over 61 layers that vLLM's own swap-space log implies (4 GiB /
    (64 x 78,080 B) = 859 CPU blocks, https://github.com/vllm-project/vllm/pull/14842); not on
    ROCm, not before 0.7.2, not in the V1 families."""
    m, h200 = catalog.model("deepseek-r1"), catalog.gpu("h200")
    fp8 = catalog.precision("fp8")
    v073 = catalog.engines["vllm-v0"].at_version("0.7.3")

    def per_token(engine, gpu):
        return fit(m, gpu, fp8, engine, tp=8, context=4000).kv_bytes_per_token_per_gpu

    assert per_token(v073, h200) == 640 * 2 * 61
    assert int(4 * 2**30 // (64 * per_token(v073, h200))) == 859
    assert per_token(v073, catalog.gpu("mi300x")) == 576 * 2 * 61
    assert per_token(catalog.engines["vllm-v0"].at_version("0.7.1"), h200) == 576 * 2 * 61
    assert per_token(catalog.engines["vllm"], h200) == 576 * 2 * 61
    # an FP8 cache (576 bytes) pads to 768; a dense model's cache is untouched
    assert mla_kv_padding(m, h200, v073, 1.0) == 768 / 576
    assert mla_kv_padding(catalog.model("llama-3.1-8b"), h200, v073, 2.0) == 1.0
    # the padding costs sequences: fewer fit at the same memory
    aligned = fit(m, h200, fp8, v073, tp=8, context=4000)
    plain = fit(m, h200, fp8, catalog.engines["vllm-v0"].at_version("0.7.1"), tp=8, context=4000)
    assert aligned.max_concurrent_sequences < plain.max_concurrent_sequences


def test_vllm_v0_reserves_its_whole_window_profiling_run_for_an_mla_model(catalog):
    """vLLM V0 profiles an MLA model at its whole window (163,840 tokens for DeepSeek-R1) and
    its log read 4,739 blocks of 64 tokens at TP8 on 8x H200
    (https://github.com/vllm-project/vllm/pull/14842): the profile's measured reserve gives the
    same pool; it scales with the window the run covers and leaves other models alone."""
    m, h200, fp8 = catalog.model("deepseek-r1"), catalog.gpu("h200"), catalog.precision("fp8")
    # the log's build (main of 2025-03-14) came after vLLM stopped keeping the absorbed MLA
    # matrices (PR 14770, 2025-03-13): a release without them
    v073 = dataclasses.replace(
        catalog.engines["vllm-v0"].at_version("0.7.3"), mla_absorbed_weights_before=""
    )
    f = fit(m, h200, fp8, v073, kv_precision="bf16", tp=8)
    assert f.kv_capacity_tokens == pytest.approx(4739 * 64, rel=0.01)
    # a shorter window (--max-model-len) profiles fewer tokens: less reserved, more KV cache
    short = fit(m, h200, fp8, v073.for_model(m, 32768), kv_precision="bf16", tp=8)
    assert short.activation_bytes == pytest.approx(f.activation_bytes * 32768 / 163840)
    assert short.kv_capacity_tokens > f.kv_capacity_tokens
    # a family without the measurement keeps the widest-tensor estimate
    plain = dataclasses.replace(v073, mla_profile_hidden_vectors=0.0)
    assert fit(m, h200, fp8, plain, kv_precision="bf16", tp=8).activation_bytes < f.activation_bytes
    llama = catalog.model("llama-3.1-8b")
    assert activation_workspace_bytes(llama, v073, 1) == activation_workspace_bytes(
        llama, dataclasses.replace(v073, mla_profile_hidden_vectors=0.0), 1
    )


def test_the_triton_block_fp8_caps_carry_to_an_mi300x_in_its_gemm_ratio_to_the_h100(catalog):
    """The Triton caps were measured on an H100; an MI300X's best GEMM reaches 60.1 % of its
    spec peak where an H100's reaches 80.1 % (ml-engineering's MAMF table), so on the MI300X
    the caps are that ratio of its own peak, and a Triton prefill there is not 1.3x faster
    than on an H100 for the spec sheet's larger FP8 peak alone."""
    m, fp8 = catalog.model("deepseek-r1"), catalog.precision("fp8")
    eng = catalog.engine("vllm-v0").at_version("0.7.3")
    ratio = generation_gemm_ratio("cdna3")
    assert ratio == pytest.approx(GEMM_PEAK_SHARE["cdna3"] / GEMM_PEAK_SHARE["hopper"])
    assert ratio == pytest.approx(0.601 / 0.801, rel=1e-3)
    assert generation_gemm_ratio("hopper") == 1.0 and generation_gemm_ratio("blackwell") == 1.0
    h, a = (
        setup(m, catalog.gpu("h200"), fp8, eng, tp=8),
        setup(m, catalog.gpu("mi300x"), fp8, eng, tp=8),
    )
    assert a.mfu * a.gemm_scale == pytest.approx(TRITON_BLOCK_FP8_MFU * ratio)
    assert a.mfu * a.moe_gemm_scale == pytest.approx(TRITON_BLOCK_FP8_MOE_MFU * ratio)
    capped_h = h.peak_flops * h.mfu * h.gemm_scale
    capped_a = a.peak_flops * a.mfu * a.gemm_scale
    assert capped_a / capped_h == pytest.approx(a.peak_flops / h.peak_flops * ratio)


def test_triton_fused_moe_with_block_fp8_runs_prefill_at_its_own_low_rate(catalog):
    """vLLM's Triton fused-MoE kernel with block-scaled FP8 ran DeepSeek-V3's routed experts at
    64-80 TFLOPS on an H100 at every TP (https://github.com/vllm-project/vllm/pull/13932): a
    prefill's experts take at least their FLOPs at that rate, a decode's (a few tokens an
    expert) stay bound by the weight stream as before."""
    m, gpu, fp8 = catalog.model("deepseek-r1"), catalog.gpu("h200"), catalog.precision("fp8")
    early = catalog.engine("vllm-v0").at_version("0.7.3")
    s = setup(m, gpu, fp8, early, tp=8)
    assert s.mfu * s.moe_gemm_scale == pytest.approx(TRITON_BLOCK_FP8_MOE_MFU)
    assert TRITON_BLOCK_FP8_MOE_MFU < TRITON_BLOCK_FP8_MFU
    plain = dataclasses.replace(s, moe_gemm_scale=1.0)
    tokens = np.float64(12800.0)
    _, mem, compute, _ = moe_terms(s, tokens)
    at_cap = s.expert_flops_per_token_gpu * 12800 / (s.peak_flops * TRITON_BLOCK_FP8_MOE_MFU)
    assert float(mem + compute) >= at_cap * 0.999
    assert float(mem + compute) > 2.0 * float(sum(moe_terms(plain, tokens)[1:3]))
    # decode: the stream sets the time, the cap changes nothing
    for b in (1.0, 32.0, 128.0):
        capped, uncapped = moe_terms(s, np.float64(b)), moe_terms(plain, np.float64(b))
        assert float(capped[1] + capped[2]) == pytest.approx(float(uncapped[1] + uncapped[2]))
    # releases and families that run DeepGEMM or CUTLASS MoE kernels, and BF16 weights, run plain
    for eng in (catalog.engine("vllm@0.11.0"), catalog.engine("tensorrt-llm@0.17")):
        assert setup(m, gpu, fp8, eng, tp=8).moe_gemm_scale == 1.0
    assert setup(m, gpu, catalog.precision("bf16"), early, tp=8).moe_gemm_scale == 1.0
    # a dense block-FP8 model has no experts to cap
    dense = dataclasses.replace(m, moe_experts=0, moe_experts_per_token=0)
    assert setup(dense, gpu, fp8, early, tp=8).moe_gemm_scale == 1.0


def test_vllm_0_7_keeps_the_absorbed_mla_matrices_beside_the_weights(catalog):
    """vLLM 0.7.1-0.7.x materialize W_Q_UK (q_lora_rank x heads x kv_lora_rank) and W_UV_O
    (heads x kv_lora_rank x hidden) per layer, FP8 for an FP8 checkpoint, and decode through
    them instead of the raw projections; 0.8 (PR 14770) stopped it."""
    m, h200, fp8 = catalog.model("deepseek-r1"), catalog.gpu("h200"), catalog.precision("fp8")
    v073 = catalog.engines["vllm-v0"].at_version("0.7.3")
    per_layer = 1536 * 16 * 512 + 16 * 512 * 7168 + 1536 * 16 * 64 * 2  # TP8: 16 heads a GPU
    assert mla_absorbed_bytes(m, fp8, v073, 8) == pytest.approx(61 * per_layer)
    after = dataclasses.replace(v073, mla_absorbed_weights_before="")
    held, freed = fit(m, h200, fp8, v073, tp=8), fit(m, h200, fp8, after, tp=8)
    assert held.weights_bytes_per_gpu - freed.weights_bytes_per_gpu == pytest.approx(61 * per_layer)
    assert held.kv_capacity_tokens < freed.kv_capacity_tokens
    # a decode step streams them instead of the raw q/kv up-projections and output projection;
    # a prefill step reads the raw ones only
    raw = 1536 * 16 * 192 + 512 * 16 * 256 + 16 * 128 * 7168
    a, b = setup(m, h200, fp8, v073, tp=8), setup(m, h200, fp8, after, tp=8)
    assert a.mla_decode_bytes_gpu == pytest.approx(61 * (per_layer - raw * 1.0), rel=1e-3)
    assert float(step_s(a, 0, 0, 512, 256).total_s) == pytest.approx(
        float(step_s(b, 0, 0, 512, 256).total_s)
    )
    extra = a.mla_decode_bytes_gpu / (a.bandwidth * a.mbu)
    assert float(step_s(a, 8, 4000).total_s) == pytest.approx(
        float(step_s(b, 8, 4000).total_s) + extra
    )
    assert float(step_total_s(a, 8, 4000)) == pytest.approx(float(step_s(a, 8, 4000).total_s))
    table = StepTable(a, 4096)  # the simulator's table: decodes pay them, prompts alone not
    assert table.step_s(0, 0, 512, 256) == pytest.approx(float(step_s(a, 0, 0, 512, 256).total_s))
    assert table.step_s(8, 4000) == pytest.approx(float(step_s(a, 8, 4000).total_s))
    # current releases and other engines hold none; nor do models without MLA
    assert mla_absorbed_bytes(m, fp8, catalog.engine("vllm"), 8) == 0.0
    assert mla_absorbed_bytes(m, fp8, catalog.engine("sglang"), 8) == 0.0
    assert mla_absorbed_bytes(catalog.model("llama-3.1-70b"), fp8, v073, 8) == 0.0
