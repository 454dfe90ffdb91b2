"""Scheduler limits an engine picks by itself on each GPU (vLLM V1: by total memory, A100 kept
on the small values), and what they change: the step's prefill share, the batch ceiling, the
activation workspace."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fleetplan.catalog.gpu_batch_defaults import GpuBatchDefaults
from fleetplan.perf.memory import activation_workspace_bytes, fit
from fleetplan.perf.roofline import setup
from fleetplan.perf.schedule import continuous
from fleetplan.sim import simulate


@pytest.mark.parametrize(
    ("gpu", "seqs", "tokens"),
    [
        ("h100-sxm", 1024, 8192),  # 79.6 GiB
        ("h200", 1024, 8192),
        ("b200", 1024, 8192),
        ("mi300x", 1024, 8192),
        ("a100-80gb", 256, 2048),  # 80 GiB, but A100 keeps the small values (vLLM PR 17885)
        ("a100-40gb", 256, 2048),
        ("l40s", 256, 2048),  # under 70 GiB
    ],
)
def test_vllm_v1_defaults_follow_the_gpu(catalog, gpu, seqs, tokens):
    e = catalog.engine("vllm").for_gpu(catalog.gpu(gpu))
    assert (e.max_num_seqs, e.max_num_batched_tokens) == (seqs, tokens)
    assert e.for_gpu(catalog.gpu("l40s")) == e  # resolved once: no rules left
    assert not e.gpu_batch_defaults


def test_families_without_rules_are_unchanged(catalog):
    for eng in catalog.engines.values():
        if not eng.gpu_batch_defaults:
            assert eng.for_gpu(catalog.gpu("h100-sxm")) is eng


def test_the_first_rule_that_applies_wins(catalog):
    base = catalog.engine("vllm")
    rules = (
        GpuBatchDefaults(min_memory_gib=100, max_num_seqs=2048, max_num_batched_tokens=16384),
        GpuBatchDefaults(min_memory_gib=40, max_num_seqs=512, max_num_batched_tokens=4096),
    )
    e = dataclasses.replace(base, gpu_batch_defaults=rules)
    assert e.for_gpu(catalog.gpu("h200")).max_num_seqs == 2048
    assert e.for_gpu(catalog.gpu("h100-sxm")).max_num_seqs == 512
    assert e.for_gpu(catalog.gpu("a10g")).max_num_seqs == base.max_num_seqs


def test_setup_fit_and_simulator_use_the_gpus_values(catalog):
    m, p, e = catalog.model("llama-3.1-8b"), catalog.precision("bf16"), catalog.engine("vllm")
    for gpu, seqs, tokens in (("h100-sxm", 1024, 8192), ("a100-80gb", 256, 2048)):
        g = catalog.gpu(gpu)
        s = setup(m, g, p, e)
        assert (s.engine.max_num_seqs, s.engine.max_num_batched_tokens) == (seqs, tokens)
        assert fit(m, g, p, e, context=2048).max_num_seqs == seqs
        res = simulate(
            {
                "model": "llama-3.1-8b",
                "gpu": gpu,
                "engine": "vllm",
                "arrivals": {"kind": "concurrency", "users": 4, "requests": 8},
                "lengths": {"input": {"mean": 128}, "output": {"mean": 16}},
                "seed": 0,
            },
            catalog=catalog,
        )
        assert (res.config["max_num_seqs"], res.config["max_num_batched_tokens"]) == (
            seqs,
            tokens,
        )


def test_a_smaller_token_budget_prefills_a_long_prompt_in_more_steps(catalog):
    """A continuous load of long prompts: at 2,048 tokens a step (A100's default) an
    8,000-token prompt needs four steps beside the other sequences' decodes, at 8,192 (H100's)
    one (each step streams the weights again), so its TTFT is longer; the mean TPOT carries the
    same prefill work over the same decode steps (at 2,048 in every step, the prompts needing
    more than the budget leaves; at 8,192 in one step of each prompt's own), so it is about
    the same."""
    m, p = catalog.model("llama-3.1-8b"), catalog.precision("bf16")
    big = setup(m, catalog.gpu("h100-sxm"), p, catalog.engine("vllm"))
    small = dataclasses.replace(
        big, engine=dataclasses.replace(big.engine, max_num_batched_tokens=2048)
    )
    b = np.array([64.0])
    r_big, r_small = continuous(big, b, 8000, 200), continuous(small, b, 8000, 200)
    assert float(r_small.ttft_s[0]) > 1.15 * float(r_big.ttft_s[0])
    assert float(r_small.tpot_s[0]) == pytest.approx(float(r_big.tpot_s[0]), rel=0.1)


def test_the_activation_peak_is_the_forward_or_the_logits_not_their_sum(catalog):
    """vLLM V1 profiles a dummy forward of max_num_batched_tokens, then a dummy sampler run
    of max_num_seqs logits on its last hidden states: the forward's intermediates are freed
    by then, so the workspace is the larger of the two."""
    m = catalog.model("qwen3-32b")
    e = catalog.engine("vllm").for_gpu(catalog.gpu("h100-sxm"))
    logits = min(e.max_num_seqs, e.max_num_batched_tokens) * m.vocab_size * 4.0
    ws = activation_workspace_bytes(m, e, 1)
    assert ws >= logits
    few = dataclasses.replace(e, max_num_seqs=1)
    assert activation_workspace_bytes(m, few, 1) == pytest.approx(ws)  # forward dominates
    # the published 32k-context Qwen3-32B run on one H100 (GPUStack, vLLM 0.11) fits
    f = fit(m, catalog.gpu("h100-sxm"), catalog.precision("bf16"), e, context=32077)
    assert f.fits
