"""Sliding-window layers in the simulator's KV pool held to the memory model: gpt-oss-120b
(18 full + 18 layers of a 128-token window) on one H100 at 8,192 tokens of context. The pool
admits as many whole sequences as `fit` reports (`max_concurrent_sequences`), not the half as
many a pool counting every layer at full context would."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetplan.catalog import load_catalog
from fleetplan.estimate import estimate_fit
from fleetplan.perf.memory import (
    kv_bytes_for_context,
    kv_bytes_per_token_per_layer,
    kv_pool_layers,
    kv_pool_tokens,
    kv_window_pool_tokens,
    swa_pool_ratio,
)
from fleetplan.sim import simulate
from fleetplan.sim.kv_pool import window_blocks

CAT = load_catalog()
MODEL = CAT.model("gpt-oss-120b")
CONTEXT = 8192
OUT = 256


def _fit(engine: str):
    return estimate_fit(
        MODEL, "h100", precision="mxfp4", tp=1, engine=engine, catalog=CAT, context=CONTEXT
    )


def _burst(tmp_path: Path, n: int) -> str:
    p = tmp_path / "burst.csv"
    rows = "".join(f"0,{CONTEXT - OUT},{OUT}\n" for _ in range(n))
    p.write_text("timestamp,input_tokens,output_tokens\n" + rows)
    return str(p)


def _scenario(engine: str, trace: str) -> dict:
    return {
        "model": "gpt-oss-120b",
        "gpu": "h100",
        "precision": "mxfp4",
        "engine": engine,
        "arrivals": {"kind": "trace", "path": trace},
        "seed": 1,
    }


def test_window_layers_hold_at_most_the_window() -> None:
    per_layer = kv_bytes_per_token_per_layer(MODEL, 2.0)
    assert kv_bytes_for_context(MODEL, 2.0, CONTEXT) == per_layer * (18 * CONTEXT + 18 * 128)
    blocks = window_blocks(MODEL, 16)
    assert blocks is not None
    assert blocks(100) == 7 and blocks(CONTEXT) == 8  # 18 window layers = 18 full: 128 tokens
    assert window_blocks(CAT.model("llama-3.1-8b"), 16) is None


@pytest.mark.parametrize("engine", ["vllm", "tensorrt-llm"])
def test_pool_blocks_per_sequence_match_the_memory_model(engine: str, tmp_path: Path) -> None:
    f = _fit(engine)
    r = simulate(_scenario(engine, _burst(tmp_path, 2)), catalog=CAT)
    bs = r.config["block_size"]
    blocks = r.config["kv_capacity_tokens"] // bs
    per_seq = -(-CONTEXT // bs) + window_blocks(MODEL, bs)(CONTEXT)
    every_layer = f.kv_budget_bytes_per_gpu // (f.kv_bytes_per_token_per_gpu * CONTEXT)
    assert f.max_concurrent_sequences >= 1.8 * every_layer  # every layer at full context: half
    assert blocks // per_seq == f.max_concurrent_sequences


def test_reserving_engine_runs_the_memory_models_sequences_at_once(tmp_path: Path) -> None:
    # TensorRT-LLM's guaranteed-no-evict reserves prompt + output at admission: the burst runs
    # exactly as many sequences at once as their KV allows, until the first one finishes
    f = _fit("tensorrt-llm")
    n = f.max_concurrent_sequences + 20
    r = simulate(_scenario("tensorrt-llm", _burst(tmp_path, n)), catalog=CAT)
    assert r.completed == n
    assert max(r.timeline["running"]) == f.max_concurrent_sequences < f.max_num_seqs


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_plans_kv_bound_counts_sequences_as_the_memory_model(engine: str) -> None:
    # the plan search's batch KV bound (search/candidates.py) counts in the same pool tokens
    f = _fit(engine)
    ratio = swa_pool_ratio(MODEL, CAT.engine(engine))
    per_seq = CONTEXT + kv_window_pool_tokens(MODEL, CONTEXT, ratio)
    assert per_seq == (CONTEXT if ratio else CONTEXT + 128)
    assert int(kv_pool_tokens(MODEL, f, ratio) // per_seq) == f.max_concurrent_sequences


def test_sglang_sizes_the_window_layers_pool_as_a_share_of_the_full_one(tmp_path: Path) -> None:
    # SGLang (--swa-full-tokens-ratio 0.8): full_tokens = budget / (18 full + 0.8 x 18 window
    # layers), the window pool 0.8 x that beside it: 1.11x the tokens of a pool counting every
    # layer at full context, where vLLM's hybrid manager gets ~2x
    assert CAT.engine("sglang").swa_full_tokens_ratio == 0.8
    assert kv_pool_layers(MODEL, 0.8) == pytest.approx(32.4)
    f = _fit("sglang")
    per_layer_gpu = f.kv_bytes_per_token_per_gpu / MODEL.layers
    pool = int(f.kv_budget_bytes_per_gpu // (per_layer_gpu * 32.4))
    assert kv_pool_tokens(MODEL, f, 0.8) == pool
    every_layer = f.kv_budget_bytes_per_gpu // (f.kv_bytes_per_token_per_gpu * CONTEXT)
    assert f.max_concurrent_sequences == pool // CONTEXT
    assert f.max_concurrent_sequences <= 1.12 * every_layer
    assert window_blocks(MODEL, 16, 0.8) is None  # the window layers' pool is its own
    r = simulate(_scenario("sglang", _burst(tmp_path, 2)), catalog=CAT)
    bs = r.config["block_size"]
    assert r.config["kv_capacity_tokens"] == pool // bs * bs


def test_sglang_caches_every_layer_of_window_models_it_gives_no_window_pool() -> None:
    # SGLang 0.5 runs Gemma 2 with disable_hybrid_swa_memory: every layer at full context,
    # where vLLM's hybrid manager keeps only the window of its 21 window layers
    gemma = CAT.model("gemma-2-9b")
    assert swa_pool_ratio(gemma, CAT.engine("sglang")) == 1.0
    assert swa_pool_ratio(gemma, CAT.engine("vllm")) == 0.0
    assert swa_pool_ratio(MODEL, CAT.engine("sglang")) == 0.8
    assert swa_pool_ratio(CAT.model("llama-3.1-8b"), CAT.engine("sglang")) == 0.0

    def fit(engine: str):
        return estimate_fit(gemma, "h100", precision="bf16", tp=1, engine=engine, catalog=CAT)

    f = fit("sglang")
    assert kv_pool_tokens(gemma, f, 1.0) == f.kv_capacity_tokens
    assert f.max_concurrent_sequences == f.kv_capacity_tokens // gemma.max_context
    # 4,096-token window of 8,192: 21 of 42 layers at half
    assert fit("vllm").kv_bytes_per_sequence == 0.75 * f.kv_bytes_per_sequence
