"""Expert parallelism (TensorRT-LLM --ep_size, vLLM --enable-expert-parallel) of MoE layers."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from fleetplan.accuracy.published import published_set_path, read_published
from fleetplan.errors import InputError
from fleetplan.perf.expert_parallel import (
    EXPERT_OVERHEAD_REFERENCE_BANDWIDTH_BYTES_S,
    alltoall_bytes,
    alltoall_s,
    busiest_group_experts,
    busiest_group_load,
    check_ep,
    expected_experts,
    expert_overhead_s,
    experts_per_gpu,
)
from fleetplan.perf.parallel import allreduce_s
from fleetplan.perf.roofline import setup, step_s
from fleetplan.perf.step_total import step_total_s


def _r1(catalog, engine="tensorrt-llm"):
    return (
        catalog.model("deepseek-r1"),
        catalog.gpu("h200"),
        catalog.precision("fp8"),
        catalog.engine(engine),
    )


def test_each_gpu_holds_whole_experts_and_ep_must_divide_tp_and_the_experts(catalog):
    r1 = catalog.model("deepseek-r1")  # 256 routed experts
    assert experts_per_gpu(r1, 8) == 32
    assert experts_per_gpu(r1, 4) == 64
    check_ep(r1, 8, 4)  # four groups of two GPUs
    for tp, ep in ((8, 3), (4, 8), (8, 0)):
        with pytest.raises(InputError, match=f"ep = {ep}; expected a divisor of tp = {tp}"):
            check_ep(r1, tp, ep)
    with pytest.raises(InputError, match=r"ep = 2; .* of a MoE model"):
        check_ep(catalog.model("llama-3.1-70b"), 8, 2)
    with pytest.raises(InputError, match="ep = 3"):
        setup(*_r1(catalog), tp=8, ep=3)


def test_alltoall_bytes_and_time():
    # 100 tokens of hidden 7168 to 8 experts each, bf16, over 8 GPUs: 7/8 leave the GPU
    assert alltoall_bytes(100, 7168, 8, 8) == pytest.approx(100 * 7168 * 8 * 2 * 7 / 8)
    assert alltoall_bytes(100, 7168, 8, 1) == 0.0
    t = alltoall_s(100, 7168, 8, 8, 450.0, 20e-6)
    assert float(t) == pytest.approx(20e-6 + 100 * 7168 * 8 * 2 * 7 / 8 / 450e9)
    assert float(alltoall_s(100, 7168, 8, 1, 450.0, 20e-6)) == 0.0


def test_busiest_group_reads_more_experts_at_few_tokens_and_the_same_when_all_are_touched():
    e, k = 256, 8
    n = np.array([1.0, 8.0, 64.0, 4096.0])
    # ep 1: the expected experts touched, E(1 - (1 - k/E)^n)
    assert busiest_group_experts(e, k, n, 1) == pytest.approx(expected_experts(e, k, n))
    busiest = busiest_group_experts(e, k, n, 8)
    mean = expected_experts(e, k, n) / 8
    assert (busiest >= mean).all() and (busiest <= e / 8).all()
    # one token: 8 experts over 8 groups of 32; the busiest runs ~3 (not the mean's 1)
    assert busiest[0] == pytest.approx(1 + math.sqrt(31 / 32) * math.sqrt(2 * math.log(8)))
    assert busiest[-1] == pytest.approx(32.0)  # every expert touched: no imbalance left
    # routed token-slots: even at ep 1 and with many tokens, uneven with few
    assert busiest_group_load(k, n, 1) == pytest.approx(np.ones(4))
    load = busiest_group_load(k, n, 8)
    assert load[0] > load[1] > load[2] > load[3] > 1.0
    assert load[3] < 1.05


def test_ep_step_reads_the_busiest_groups_experts_and_keeps_the_allreduce(catalog):
    tp = setup(*_r1(catalog), tp=8)
    ep = setup(*_r1(catalog), tp=8, ep=8)
    assert any("expert-parallel over 8 groups of 1 GPU(s)" in n for n in ep.notes)
    few, many = step_s(tp, 1, 2000), step_s(ep, 1, 2000)
    assert float(many.weight_bytes) > float(few.weight_bytes)  # whole experts, unevenly
    # so the step is longer where an expert run costs nothing of itself; with a fixed cost a
    # run (moe_expert_overhead_us), the fewer runs a GPU makes under EP may win it back
    free = dataclasses.replace(_r1(catalog)[3], moe_expert_overhead_us=0.0)
    tp0 = setup(*_r1(catalog)[:3], free, tp=8)
    ep0 = setup(*_r1(catalog)[:3], free, tp=8, ep=8)
    assert float(step_s(ep0, 1, 2000).total_s) > float(step_s(tp0, 1, 2000).total_s)
    # thousands of tokens touch every expert: the same bytes as tensor parallelism
    a, b = step_s(tp, 4096, 2000), step_s(ep, 4096, 2000)
    assert float(b.weight_bytes) == pytest.approx(float(a.weight_bytes), rel=1e-6)
    # attention tensor-parallel: every GPU holds every token, one all-reduce sums the experts
    assert float(b.comm_s) == pytest.approx(float(a.comm_s))
    for s in (tp, ep):
        for batch in (1, 64, 4096):
            assert step_total_s(s, batch, 2000, 512, 256) == pytest.approx(
                float(step_s(s, batch, 2000, 512, 256).total_s)
            )


def test_ep_with_dp_attention_swaps_the_moe_allreduce_for_two_alltoalls(catalog):
    args = _r1(catalog, "sglang")
    dp = setup(*args, tp=8, attention_dp=8)
    both = setup(*args, tp=8, attention_dp=8, ep=8)
    m, link, lat = dp.model, dp.gpu.interconnect_gb_s, dp.allreduce_latency_s
    n = 256.0
    swap = 2 * alltoall_s(n / 8, m.hidden_size, m.moe_experts_per_token, 8, link, lat)
    swap = swap - allreduce_s(n, m.hidden_size, 8, link, lat)
    expected = float(step_s(dp, n, 2000).comm_s) + m.moe_layers * float(swap)
    assert float(step_s(both, n, 2000).comm_s) == pytest.approx(expected)
    assert step_total_s(both, n, 2000) == pytest.approx(float(step_s(both, n, 2000).total_s))


def test_published_rows_carry_their_ep_size(catalog):
    rows = read_published(published_set_path(), catalog).rows
    eps = {(r.source_id, r.ep) for r in rows if r.ep > 1}
    assert ("dstack-deepseek-r1-mi300x-h200", 4) in eps
    assert all(r.ep == 1 or catalog.model(r.model).is_moe for r in rows)


def test_a_scenario_with_an_ep_that_does_not_divide_is_one_line(catalog):
    from fleetplan.sim import simulate

    scenario = {
        "model": "deepseek-r1",
        "gpu": "h200",
        "precision": "fp8",
        "tp": 8,
        "ep": 3,
        "engine": "tensorrt-llm",
        "arrivals": {"kind": "concurrency", "users": 2, "requests": 2},
        "lengths": {"input": {"mean": 10}, "output": {"mean": 5}},
    }
    with pytest.raises(InputError, match="ep = 3; expected a divisor of tp = 8"):
        simulate(scenario, catalog=catalog)


def test_a_fixed_cost_per_expert_run_weighs_on_many_small_experts_not_a_few_large_ones(catalog):
    import dataclasses

    # the factor is the cost on an H100 SXM's bandwidth (see the test below for other GPUs)
    fp8, h100 = catalog.precision("fp8"), catalog.gpu("h100-sxm")
    eng = dataclasses.replace(catalog.engine("tensorrt-llm"), moe_expert_overhead_us=0.0)
    with_cost = dataclasses.replace(eng, moe_expert_overhead_us=5.0)
    tokens = np.array([1.0, 64.0, 2048.0])

    def added_s(model_id, tp=1, ep=1):
        m = catalog.model(model_id)
        base = setup(m, h100, fp8, eng, tp=tp, ep=ep, kv_precision="fp8")
        cost = setup(m, h100, fp8, with_cost, tp=tp, ep=ep, kv_precision="fp8")
        assert cost.moe_expert_overhead_s == pytest.approx(5e-6)
        extra = step_s(cost, tokens, 500).total_s - step_s(base, tokens, 500).total_s
        # the same in the summed-factor form the sizing evaluates
        extra_total = step_total_s(cost, tokens, 500) - step_total_s(base, tokens, 500)
        np.testing.assert_allclose(extra, extra_total, rtol=1e-9)
        return m, extra

    # every routed expert a GPU runs in every MoE layer costs 5 us, whatever its size
    qwen, q = added_s("qwen3-30b-a3b")  # 128 small experts a layer, top-8, 48 layers
    runs = expected_experts(qwen.moe_experts, qwen.moe_experts_per_token, tokens)
    np.testing.assert_allclose(q, runs * qwen.moe_layers * 5e-6, rtol=1e-9)
    mixtral, x = added_s("mixtral-8x7b")  # 8 large experts, top-2, 32 layers
    assert x[-1] == pytest.approx(8 * mixtral.moe_layers * 5e-6)
    assert q[-1] > 20 * x[-1]
    # tensor parallelism splits each expert, it does not remove a run; expert parallelism does
    _, x8 = added_s("mixtral-8x7b", tp=8)
    assert x8[-1] == pytest.approx(x[-1])
    _, x8ep = added_s("mixtral-8x7b", tp=8, ep=8)
    assert x8ep[-1] == pytest.approx(x[-1] / 8, rel=0.05)  # one expert a GPU, all touched


def test_the_per_expert_cost_is_its_time_on_an_h100_and_moves_with_memory_bandwidth(catalog):
    import dataclasses

    h100 = catalog.gpu("h100-sxm")
    assert EXPERT_OVERHEAD_REFERENCE_BANDWIDTH_BYTES_S == h100.memory_bandwidth_bytes_s
    eng = dataclasses.replace(catalog.engine("tensorrt-llm"), moe_expert_overhead_us=5.0)
    qwen, fp8 = catalog.model("qwen3-30b-a3b"), catalog.precision("fp8")
    cost_s = {}
    for gpu_id in ("a100-80gb", "h100-sxm", "h200", "b200"):
        gpu = catalog.gpu(gpu_id)
        fmt = fp8 if gpu.runs_natively("fp8") else catalog.precision("bf16")
        s = setup(qwen, gpu, fmt, eng, tp=1, kv_precision=fmt.id)
        cost_s[gpu_id] = s.moe_expert_overhead_s
        assert s.moe_expert_overhead_s == pytest.approx(
            5e-6 * h100.memory_bandwidth_bytes_s / gpu.memory_bandwidth_bytes_s
        )
        assert expert_overhead_s(5.0, gpu.memory_bandwidth_bytes_s) == s.moe_expert_overhead_s
    # 2.0 / 3.35 / 4.8 / 8.0 TB/s: the faster the memory, the cheaper an expert run
    assert cost_s["a100-80gb"] > cost_s["h100-sxm"] > cost_s["h200"] > cost_s["b200"]
    assert cost_s["h100-sxm"] == pytest.approx(5e-6)
