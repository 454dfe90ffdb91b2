"""Engine behaviours that change the physics of a run: whether a uniform sliding window is
applied by default, whether attention-DP ranks each schedule a full batch, and the bus
bandwidth an all-reduce reaches over PCIe."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fleetplan.accuracy.published import read_published
from fleetplan.perf.memory import fit, scheduler_cap, served_model
from fleetplan.perf.parallel import PCIE_ALLREDUCE_SHARE, allreduce_link_gb_s
from fleetplan.perf.roofline import setup, step_s

ROOT = Path(__file__).resolve().parents[2]


def test_tensorrt_llm_runs_a_uniform_sliding_window_model_with_full_attention(catalog):
    mistral = catalog.model("mistral-7b")  # v0.1: a 4,096-token window on all 32 layers
    trt, vllm = catalog.engine("tensorrt-llm"), catalog.engine("vllm")
    assert served_model(mistral, vllm) is mistral
    full = served_model(mistral, trt)
    assert (full.sliding_window, full.sliding_window_layers) == (0, 0)
    # a model that mixes window and full layers keeps its windows
    scout = catalog.model("llama-4-scout")
    assert served_model(scout, trt) is scout
    gpu, fp8 = catalog.gpu("h100-sxm"), catalog.precision("fp8")
    # at 22,000 tokens a full-attention sequence holds 22000/4096 x the KV of a windowed one
    f_trt = fit(mistral, gpu, fp8, trt, kv_precision="fp8", context=22_000)
    f_vllm = fit(mistral, gpu, fp8, vllm, kv_precision="fp8", context=22_000)
    assert f_trt.kv_bytes_per_sequence / f_vllm.kv_bytes_per_sequence == pytest.approx(
        22_000 / 4096
    )
    # and a decode step at that context reads all of it
    s_trt = setup(mistral, gpu, fp8, trt, kv_precision="fp8")
    assert any("runs as full attention" in n for n in s_trt.notes)
    assert not any("full attention" in n for n in setup(mistral, gpu, fp8, vllm).notes)
    s_win = dataclasses.replace(s_trt, model=mistral)
    kv_full, kv_win = step_s(s_trt, 16, 22_000).kv_bytes, step_s(s_win, 16, 22_000).kv_bytes
    assert kv_full / kv_win == pytest.approx(22_000 / 4096, rel=1e-3)


def test_attention_dp_ranks_each_schedule_max_num_seqs_on_tensorrt_llm_only(catalog):
    trt, sgl = catalog.engine("tensorrt-llm"), catalog.engine("sglang")
    assert scheduler_cap(trt, 1) == trt.max_num_seqs
    assert scheduler_cap(trt, 8) == 8 * trt.max_num_seqs
    assert scheduler_cap(sgl, 8) == sgl.max_num_seqs
    m, gpu, fp4 = catalog.model("llama-4-maverick"), catalog.gpu("b200"), catalog.precision("fp4")
    one = fit(m, gpu, fp4, trt, kv_precision="fp8", tp=8, context=256)
    dp = fit(m, gpu, fp4, trt, kv_precision="fp8", tp=8, context=256, attention_dp=8)
    assert one.concurrency == trt.max_num_seqs  # the cap binds at 256-token sequences
    assert dp.concurrency > one.concurrency
    assert dp.concurrency == min(dp.max_concurrent_sequences, 8 * trt.max_num_seqs)


def test_published_moe_rows_run_with_attention_dp_read_it_and_expert_parallelism(catalog):
    rows = read_published(ROOT / "benchmarks/accuracy/validation.csv", catalog).rows
    v1 = [r for r in rows if r.source_id == "trtllm-perf-overview-v1.0"]
    moe = [r for r in v1 if catalog.model(r.model).is_moe and r.tp > 1]
    dense = [r for r in v1 if not catalog.model(r.model).is_moe]
    assert moe and dense
    # the source's MoE command: --tp $tp_size --ep $ep_size with enable_attention_dp
    assert all(r.attention_dp == r.tp and r.ep == r.tp for r in moe)
    assert all(r.attention_dp == 1 and r.ep == 1 for r in dense)


def test_pcie_all_reduce_reaches_a_share_of_the_link_and_less_across_sockets(catalog):
    l40s, h100 = catalog.gpu("l40s"), catalog.gpu("h100-sxm")
    # NVLink: NCCL's protocol leaves ~370 of the 450 GB/s line rate (nccl-tests issue 212)
    assert allreduce_link_gb_s(h100.interconnect, h100.interconnect_gb_s, 8) == pytest.approx(370.0)
    assert allreduce_link_gb_s(h100.interconnect, h100.interconnect_gb_s, 1) == 450.0
    mi300x = catalog.gpu("mi300x")  # Infinity Fabric: the link's, no NVLink share
    assert allreduce_link_gb_s(mi300x.interconnect, mi300x.interconnect_gb_s, 8) == (
        mi300x.interconnect_gb_s
    )
    four = allreduce_link_gb_s(l40s.interconnect, l40s.interconnect_gb_s, 4)
    eight = allreduce_link_gb_s(l40s.interconnect, l40s.interconnect_gb_s, 8)
    assert four == pytest.approx(l40s.interconnect_gb_s * PCIE_ALLREDUCE_SHARE[4])
    assert eight == pytest.approx(l40s.interconnect_gb_s * PCIE_ALLREDUCE_SHARE[8])
    assert eight < four < l40s.interconnect_gb_s
    m, fp8, trt = catalog.model("llama-3.1-70b"), catalog.precision("fp8"), catalog.engine("trtllm")
    s = setup(m, l40s, fp8, trt, tp=8, kv_precision="fp8")
    assert s.link_gb_s == pytest.approx(eight)
    # the all-reduce volume of a 1,024-token step moves at that bandwidth
    comm = step_s(s, 1024, 500).comm_s
    latency = 2 * m.layers * s.allreduce_latency_s
    volume = 2 * m.layers * 2 * 7 / 8 * 1024 * m.hidden_size * 2
    assert float(comm) == pytest.approx(latency + volume / (eight * 1e9))


def test_the_per_expert_cost_is_fitted_only_where_the_profile_models_one(catalog):
    from fleetplan.accuracy.crossval import moe_factors

    assert "moe_expert_overhead_us" not in moe_factors(True)
    assert "moe_expert_overhead_us" in moe_factors(True, per_expert_cost=True)
    assert catalog.engine("tensorrt-llm").moe_expert_overhead_us > 0
    assert catalog.engine("lmdeploy").moe_expert_overhead_us == 0


def test_tensorrt_llm_attention_dp_ranks_hold_the_dense_mlps_and_shared_experts_whole(catalog):
    from fleetplan.catalog.params import count_params
    from fleetplan.perf.attention_dp import attention_dp_weight_bytes

    m, gpu, fp8 = (
        catalog.model("llama-4-maverick"),
        catalog.gpu("h100-sxm"),
        catalog.precision("fp8"),
    )
    trt, sgl = catalog.engine("tensorrt-llm"), catalog.engine("sglang")
    assert trt.attention_dp_replicates_mlp and not sgl.attention_dp_replicates_mlp
    c = count_params(m)
    scale = m.params_total_b * 1e9 / c.total
    per_param = fp8.weight_bytes_per_param * scale * 7 / 8  # 8 ranks: 7/8 of a copy more
    attn_only = attention_dp_weight_bytes(m, fp8, 8, 8, sgl)
    assert attn_only == pytest.approx(c.attention * per_param)
    whole = attention_dp_weight_bytes(m, fp8, 8, 8, trt)
    assert whole == pytest.approx((c.attention + c.dense_mlp + c.shared_experts) * per_param)
    # the copies leave less room for KV and are streamed every step
    f_trt = fit(m, gpu, fp8, trt, kv_precision="fp8", tp=8, context=2176, attention_dp=8)
    f_one = fit(m, gpu, fp8, trt, kv_precision="fp8", tp=8, context=2176)
    assert f_trt.weights_bytes_per_gpu - f_one.weights_bytes_per_gpu == pytest.approx(whole)
    s = setup(m, gpu, fp8, trt, tp=8, kv_precision="fp8", attention_dp=8)
    s1 = setup(m, gpu, fp8, trt, tp=8, kv_precision="fp8")
    assert s.dense_bytes_gpu - s1.dense_bytes_gpu == pytest.approx(whole)
    # and the setup's note says what is copied, per engine
    (trt_note,) = [n for n in s.notes if "attention data-parallel" in n]
    assert "dense MLPs and shared experts whole" in trt_note
    s_sgl = setup(m, gpu, fp8, sgl, tp=8, kv_precision="fp8", attention_dp=8)
    (sgl_note,) = [n for n in s_sgl.notes if "attention data-parallel" in n]
    assert "attention weights" in sgl_note and "MLPs" not in sgl_note
