"""Scheduling per engine family (sim/policy.py): TensorRT-LLM's capacity policies, SGLang's
radix cache and prefill-first steps, vLLM for everything else."""

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetplan.catalog import load_catalog
from fleetplan.errors import InputError
from fleetplan.sim import simulate
from fleetplan.sim.batching import BatchingReplica
from fleetplan.sim.kv_pool import KvPool
from fleetplan.sim.policy import policy_for
from fleetplan.sim.sequence import Seq

CAT = load_catalog()
FIELDS = """name = "{name}"
calibrated_architectures = ["hopper"]
aliases = []
mbu = 0.85
attention_mbu = 0.75
mfu_prefill = 0.6
gemm_half_tokens = 0
step_overhead_ms = 1.0
per_layer_overhead_us = 0.0
allreduce_latency_us = 6.0
runtime_overhead_gib = 1.5
gpu_memory_utilization = 0.90
max_num_seqs = 1024
max_num_batched_tokens = 8192
precisions = ["bf16", "fp16", "fp8"]
"""


@pytest.fixture(scope="module")
def sgl_catalog() -> Any:
    return _sgl_catalog()


def _sgl_catalog() -> Any:
    """The catalog with an SGLang profile (factors as vLLM V1's: only the scheduler differs)."""
    keys = [line.split(" =")[0] for line in FIELDS.splitlines()[3:]]
    sources = "".join(f'{k} = "test profile: vLLM V1 factors"\n' for k in keys)
    with tempfile.TemporaryDirectory(prefix="fleetplan-test-") as folder:
        p = Path(folder) / "sglang-test.toml"
        p.write_text(
            "[engines.sglang-test]\n"
            + FIELDS.format(name="SGLang (test)")
            + "[engines.sglang-test.sources]\n"
            + sources
        )
        return load_catalog(p)


def _tight(engine: str, **over: Any) -> dict[str, Any]:
    """250 users on a KV cache that holds ~60 of their sequences."""
    sc: dict[str, Any] = {
        "model": "llama-3.1-8b",
        "gpu": "h100",
        "engine": engine,
        "kv_capacity_tokens": 60_000,
        "max_num_seqs": 256,
        "arrivals": {"kind": "concurrency", "users": 250, "requests": 1500},
        "lengths": {
            "input": {"mean": 600, "dist": "exponential"},
            "output": {"mean": 400, "dist": "exponential"},
        },
        "seed": 5,
    }
    sc.update(over)
    return sc


def test_tensorrt_llm_guaranteed_no_evict_never_preempts_where_vllm_does() -> None:
    vllm = simulate(_tight("vllm"), catalog=CAT)
    trt = simulate(_tight("tensorrt-llm"), catalog=CAT)
    assert vllm.preemptions > 0
    assert trt.preemptions == 0 and trt.completed == 1500
    assert "guaranteed no evict" in trt.config["scheduler"]
    assert max(trt.timeline["kv_used"]) <= 1.0
    # reserving whole sequences admits fewer at once: more queueing than admitting while blocks
    # are free (the same engine's max_utilization policy, so that the step times are the same)
    greedy = simulate(_tight("tensorrt-llm", capacity_scheduler_policy="max_utilization"),
                      catalog=CAT)  # fmt: skip
    assert trt.queue_ms.mean > greedy.queue_ms.mean


def test_tensorrt_llm_max_utilization_pauses_when_the_cache_is_full() -> None:
    r = simulate(_tight("tensorrt-llm", capacity_scheduler_policy="max_utilization"), catalog=CAT)
    assert r.preemptions > 0 and r.completed == 1500
    assert "max utilization" in r.config["scheduler"]


def test_whole_prompts_without_chunked_prefill() -> None:
    # prompts of 3,000 tokens and a 4,096-token step: one prompt per step when not chunked
    sc = {
        "model": "llama-3.1-8b",
        "gpu": "h100",
        "engine": "tensorrt-llm",
        "max_num_batched_tokens": 4096,
        "arrivals": {"kind": "concurrency", "users": 8, "requests": 80},
        "lengths": {"input": {"mean": 3000}, "output": {"mean": 20}},
    }
    whole = simulate({**sc, "chunked_prefill": False}, catalog=CAT)
    chunked = simulate({**sc, "chunked_prefill": True}, catalog=CAT)
    assert whole.completed == chunked.completed == 80
    assert whole.ttft_ms.p50 != chunked.ttft_ms.p50


def test_vllm_v1_admits_without_a_watermark_where_v0_keeps_one() -> None:
    # V1's KVCacheManager admits while the free blocks cover the request; V0's block manager
    # kept 1 % of the pool free (EngineProfile.admission_watermark); a scenario may set its own
    v1 = simulate(_tight("vllm"), catalog=CAT)
    v0 = simulate(_tight("vllm@0.6"), catalog=CAT)
    held = simulate(_tight("vllm", watermark=0.05), catalog=CAT)
    assert "admission while KV blocks are free" in v1.config["scheduler"]
    assert "keeping 1% of the KV blocks free" in v0.config["scheduler"]
    assert "keeping 5% of the KV blocks free" in held.config["scheduler"]
    assert v1.completed == held.completed == 1500
    # keeping blocks back admits fewer at once: the cache runs less full
    assert max(held.timeline["kv_used"]) < max(v1.timeline["kv_used"])


def test_sglang_reuses_prefixes_at_token_granularity(sgl_catalog: Any) -> None:
    sc: dict[str, Any] = {
        "model": "llama-3.1-8b",
        "gpu": "h100",
        "arrivals": {"kind": "poisson", "rate_per_s": 5, "duration_s": 60},
        "lengths": {"input": {"mean": 700}, "output": {"mean": 50}},
        "prefix": {"share": 1.0, "tokens": 500, "groups": 1},
        "seed": 3,
    }
    vllm = simulate(sc, catalog=sgl_catalog)
    sgl = simulate({**sc, "engine": "sglang-test"}, catalog=sgl_catalog)
    assert sgl.config["block_size"] == 1 and "SGLang" in sgl.config["scheduler"]
    # every request but the first reuses the prefix: 500 tokens each, vLLM's 31 full blocks
    assert sgl.prefix_hit_tokens == 500 * (sgl.requests - 1)
    assert vllm.prefix_hit_tokens == 496 * (vllm.requests - 1)


def test_sglang_prefill_steps_stall_the_decodes(sgl_catalog: Any) -> None:
    sc: dict[str, Any] = {
        "model": "llama-3.1-8b",
        "gpu": "h100",
        "arrivals": {"kind": "poisson", "rate_per_s": 6, "duration_s": 60},
        "lengths": {"input": {"mean": 6000}, "output": {"mean": 200}},
        "seed": 1,
    }
    vllm = simulate(sc, catalog=sgl_catalog)
    sgl = simulate({**sc, "engine": "sglang-test"}, catalog=sgl_catalog)
    # a decoding sequence waits a whole prefill step between two tokens (vLLM mixes them)
    assert sgl.itl_ms.max > 2 * vllm.itl_ms.p99
    assert sgl.completed == sgl.requests


@pytest.mark.parametrize("users", [4, 32])
def test_a_prefill_first_waves_gaps_run_from_each_sequences_own_token(
    sgl_catalog: Any, users: int
) -> None:
    # equal requests in waves: every prompt is prefilled (2 a step) before any decode, so the
    # first-prefilled wait the whole wave and the last-prefilled none; a sequence's gap runs
    # from its own last token, so the gaps of all tokens average what TPOT averages, per
    # request: (finish - first token) / (output - 1). Charging every sequence the whole wait
    # put the mean ITL 28 % above the mean TPOT at 128 users (dstack's DeepSeek-R1 waves)
    sc: dict[str, Any] = {
        "model": "llama-3.1-8b",
        "gpu": "h100",
        "engine": "sglang-test",
        "arrivals": {"kind": "concurrency", "users": users, "requests": 3 * users},
        "lengths": {"input": {"mean": 4000}, "output": {"mean": 100}},
    }
    r = simulate(sc, catalog=sgl_catalog)
    assert r.completed == 3 * users
    assert r.itl_ms.max > 2 * r.itl_ms.p50  # the wait is there, in some sequences' gaps
    assert r.itl_ms.mean == pytest.approx(r.tpot_ms.mean, rel=1e-3)


def test_sglang_orders_the_queue_longest_cached_prefix_first() -> None:
    pool = KvPool(1000, 1, 0.0)
    rep = BatchingReplica(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        pool,
        max_num_seqs=8,
        max_num_batched_tokens=100,
        prefix_caching=True,
        policy=policy_for("sglang"),
    )
    pool.publish(7, 40)
    pool.publish(8, 90)
    for rid, pid, pblocks in ((0, -1, 0), (1, 7, 40), (2, 9, 50), (3, 8, 90), (4, 7, 40)):
        rep.waiting.append(Seq(rid, 0.0, 200, 10, pid, pblocks))
    rep._longest_prefix_first()
    assert [s.rid for s in rep.waiting] == [3, 1, 4, 0, 2]


def test_unknown_engines_schedule_like_vllm_and_settings_belong_to_their_engine() -> None:
    assert policy_for("tgi") == policy_for("vllm")
    assert policy_for("lmdeploy").family == "turbomind"
    assert policy_for("trt-llm").admission == "reserve_full"
    assert policy_for("vllm@0.6", "vllm", profile_chunked=False).mixed is False
    with pytest.raises(InputError, match="capacity_scheduler_policy"):
        policy_for("vllm", capacity_scheduler_policy="max_utilization")
    with pytest.raises(InputError, match="schedule_policy"):
        policy_for("tensorrt-llm", schedule_policy="lpm")


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    engine=st.sampled_from(["trt-nev", "trt-max", "sglang-test", "vllm-v0", "vllm"]),
    kv=st.integers(3000, 30_000),
    max_seqs=st.integers(1, 48),
    max_tokens=st.integers(256, 4096),
    share=st.floats(0, 1),
    seed=st.integers(0, 1000),
)
def test_every_policy_drains_with_tight_caches(
    engine: str, kv: int, max_seqs: int, max_tokens: int, share: float, seed: int
) -> None:
    """Tiny KV caches, shared prefixes and bursts: every request finishes and every replica
    ends with a consistent, empty KV pool (simulate checks it) whatever the policy."""
    over: dict[str, Any] = {"engine": engine}
    if engine.startswith("trt"):
        over = {
            "engine": "tensorrt-llm",
            "capacity_scheduler_policy": "guaranteed_no_evict"
            if engine == "trt-nev"
            else "max_utilization",
            "chunked_prefill": seed % 2 == 0,
        }
    elif engine == "vllm-v0":
        over = {"engine": "vllm", "chunked_prefill": False}
    sc: dict[str, Any] = {
        "model": "llama-3.1-8b",
        "gpu": "h100",
        "kv_capacity_tokens": kv,
        "max_num_seqs": max_seqs,
        "max_num_batched_tokens": max_tokens,
        "replicas": 2,
        "prefix": {"share": share, "tokens": 300, "groups": 2},
        "arrivals": {"kind": "gamma", "rate_per_s": 8, "cv": 3, "duration_s": 10},
        "lengths": {
            "input": {"mean": 700, "dist": "lognormal", "sigma": 1.0},
            "output": {"mean": 150, "dist": "exponential"},
        },
        "seed": seed,
        **over,
    }
    r = simulate(sc, catalog=_sgl_catalog())
    assert r.completed == r.requests
    if engine == "trt-nev":
        assert r.preemptions == 0


def test_a_preempted_request_finds_its_blocks_in_the_prefix_cache() -> None:
    # one 32,000-token prompt fills Qwen3-32B's KV cache on an A100 (37,696 tokens): the next
    # prompt's first chunks are admitted beside it and preempted when it needs their blocks.
    # With prefix caching (vLLM V1's default) the chunks' blocks stay cached and the request,
    # readmitted when the first finishes, does not compute them again; without, it does, and
    # is admitted and preempted again, chunk after chunk
    sc: dict[str, Any] = {
        "model": "qwen3-32b",
        "gpu": "a100-80gb",
        "engine": "vllm",
        "arrivals": {"kind": "concurrency", "users": 10, "requests": 10},
        "lengths": {"input": {"mean": 32000}, "output": {"mean": 77}},
    }
    kept = simulate({**sc, "prefix_caching": True}, catalog=CAT)
    lost = simulate({**sc, "prefix_caching": False}, catalog=CAT)
    assert kept.completed == lost.completed == 10
    assert 0 < kept.preemptions < lost.preemptions
    assert kept.duration_s < lost.duration_s
    assert (
        "a preempted request's computed blocks kept in the prefix cache" in kept.config["scheduler"]
    )
    assert "kept" not in lost.config["scheduler"]


def test_what_a_preempted_request_keeps_per_engine() -> None:
    assert policy_for("vllm").keeps_on_preemption == "all"
    assert policy_for("sglang").keeps_on_preemption == "prompt"
    assert policy_for("tensorrt-llm").keeps_on_preemption == ""
    assert policy_for("lmdeploy").keeps_on_preemption == ""
