"""vLLM V0 turns chunked prefill on by itself for models with a context window over 32K tokens
(512 tokens a step in 0.5.4-0.6.4): the profile, the roofline, the memory fit and the
simulator all see the engine as it configured itself for the model."""

from __future__ import annotations

import dataclasses

from fleetplan.perf.memory import activation_workspace_bytes, fit
from fleetplan.perf.roofline import setup
from fleetplan.sim import simulate


def test_v0_chunks_prompts_of_long_context_models_only(catalog):
    v0 = catalog.engine("vllm@0.6")
    assert not v0.chunked_prefill and v0.long_context_chunk_tokens == 512
    long = v0.for_model(catalog.model("llama-3.1-405b"))  # 131,072-token window
    assert long.chunked_prefill and long.max_num_batched_tokens == 512
    assert long.for_model(catalog.model("llama-3.1-405b")) == long  # resolved once
    short = v0.for_model(catalog.model("llama-3-8b"))  # 8,192 tokens
    assert not short.chunked_prefill and short.max_num_batched_tokens == 8192
    # MLA stays whole: V0 forces chunked prefill off and batches whole prompts up to the window
    mla = v0.for_model(catalog.model("deepseek-r1"))
    assert not mla.chunked_prefill and mla.max_num_batched_tokens == 163_840
    v1 = catalog.engine("vllm")  # V1 chunks every prompt under its own limits: no rule
    assert v1.for_model(catalog.model("llama-3.1-405b")) == v1


def test_setup_and_fit_use_the_model_resolved_profile(catalog):
    m, g, p = catalog.model("llama-3.1-405b"), catalog.gpu("mi300x"), catalog.precision("bf16")
    v0 = catalog.engine("vllm@0.6")
    s = setup(m, g, p, v0, tp=8)
    assert s.engine.chunked_prefill and s.engine.max_num_batched_tokens == 512
    assert any("turns chunked prefill on by itself" in n for n in s.notes)  # outputs say so
    assert not any("chunked" in n for n in setup(m, g, p, catalog.engine("vllm"), tp=8).notes)
    # the 512-token profiling step leaves more memory to the KV cache than an 8,192 one
    whole = dataclasses.replace(v0, long_context_chunk_tokens=0)
    assert activation_workspace_bytes(m, s.engine, 8) < activation_workspace_bytes(m, whole, 8)
    assert fit(m, g, p, v0, tp=8).kv_capacity_tokens > fit(m, g, p, whole, tp=8).kv_capacity_tokens


def _two_long_prompts(catalog, engine):
    cat = dataclasses.replace(catalog, engines={**catalog.engines, engine.id: engine})
    return simulate(
        {
            "model": "llama-3.1-405b",
            "gpu": "mi300x",
            "precision": "bf16",
            "tp": 8,
            "engine": engine.id,
            "arrivals": {"kind": "concurrency", "users": 2, "requests": 2},
            "lengths": {"input": {"mean": 10000}, "output": {"mean": 120}},
            "prefix_caching": False,
            "seed": 0,
        },
        catalog=cat,
    )


def test_a_chunked_v0_keeps_decoding_while_the_next_long_prompt_is_prefilled(catalog):
    """dstack's two 10,000-token prompts on vLLM 0.6.3: the second's first token comes a whole
    prefill after the first's, and the first decodes between the second's 512-token chunks
    (its inter-token p99 of 0.74 s is a chunk step, not the 12 s prefill)."""
    v0 = catalog.engine("vllm@0.6")
    chunked = _two_long_prompts(catalog, v0)
    whole = _two_long_prompts(catalog, dataclasses.replace(v0, long_context_chunk_tokens=0))
    for res in (chunked, whole):  # the prompts are prefilled one after the other either way
        first = 2 * res.ttft_ms.mean - res.ttft_ms.max  # two requests: the other TTFT
        assert res.ttft_ms.max > 1.8 * first
    # unchunked, the first request stalls for the second's whole prefill; chunked, its longest
    # gap is one mixed step, a small share of that prefill
    first = 2 * whole.ttft_ms.mean - whole.ttft_ms.max
    assert whole.itl_ms.max > 0.8 * first
    first = 2 * chunked.ttft_ms.mean - chunked.ttft_ms.max
    assert chunked.itl_ms.max < 0.2 * first


def test_engines_lists_the_long_context_rule(cli):
    r = cli("engines")
    assert r.code == 0, r.err
    assert "vllm-v0: for models with a context window over 32,768 tokens" in r.out
    assert "max tokens 512" in r.out
    (v0,) = [e for e in cli("engines", "--json").json() if e["id"] == "vllm-v0"]
    assert v0["long_context_chunk_tokens"] == 512
