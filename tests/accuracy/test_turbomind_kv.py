"""LMDeploy TurboMind 2.x (v0.1): the KV cache its benchmark runs set, how it schedules a batch
the cache cannot hold, and its whole-prompt prefill."""

from __future__ import annotations

import dataclasses

import pytest

from fleetplan.accuracy.predict import needs_simulator, outgrows_kv, predict_row, row_setup
from fleetplan.accuracy.published import kv_cache_tokens, published_set_path, read_published
from fleetplan.perf.memory import GIB, activation_workspace_bytes, fit, weights
from fleetplan.perf.schedule import run
from fleetplan.sim.policy import policy_for

SOURCE = "lmdeploy-turbomind-a100-fp16-v0.1.0a1"


@pytest.fixture(scope="module")
def rows(catalog):
    return [r for r in read_published(published_set_path(), catalog).rows if r.source_id == SOURCE]


def _row(rows, model, i, o, b, metric):
    (found,) = [
        r
        for r in rows
        if (r.model, r.input_len, r.output_len, r.batch, r.metric) == (model, i, o, b, metric)
    ]
    return found


def test_the_runs_kv_cache_and_rounds_are_read_from_the_notes(rows):
    """benchmark-7b.sh / benchmark_13b.sh / benchmark_70b.sh set 1000 / 500 / 4000 blocks of
    128 tokens; profile_generation.py sends 10 rounds per thread."""
    pools = {r.model: r.kv_cache_tokens for r in rows}
    assert pools == {"llama-2-7b": 128_000, "llama-2-13b": 64_000, "llama-2-70b": 512_000}
    assert all(r.requests == 10 * r.batch for r in rows)
    assert kv_cache_tokens("a KV cache of 4096 tokens, 8 threads") == 4096
    assert kv_cache_tokens("--max-model-len 4096") == 0


def test_turbomind_schedules_by_growing_blocks_and_v01_prefills_whole_prompts(catalog):
    pol = policy_for("lmdeploy", "lmdeploy", profile_chunked=True)
    assert (pol.family, pol.admission, pol.block_size) == ("turbomind", "greedy", 128)
    assert "TurboMind" in pol.describe()
    eng = catalog.engine("lmdeploy")
    assert eng.chunked_prefill  # today's releases fuse prompt chunks into decode steps
    assert not eng.at_version("0.1.0a1").chunked_prefill
    assert eng.at_version("0.2.1").chunked_prefill
    old = policy_for("lmdeploy", "lmdeploy", profile_chunked=False)
    assert (old.chunked, old.mixed) == (False, False)


def test_only_latencies_of_batches_the_cache_cannot_hold_are_simulated(rows):
    big = _row(rows, "llama-2-13b", 2048, 2048, 64, "ttft_ms")  # 64 x 4,096 > 64,000
    assert outgrows_kv(big) and needs_simulator(big)
    assert not outgrows_kv(_row(rows, "llama-2-13b", 2048, 2048, 64, "output_tok_per_s"))
    assert not outgrows_kv(_row(rows, "llama-2-70b", 2048, 2048, 64, "ttft_ms"))  # 512,000
    assert not outgrows_kv(dataclasses.replace(big, kv_cache_tokens=0))  # the engine's own split
    assert not outgrows_kv(dataclasses.replace(big, kv_cache_tokens=64 * 4096))


def test_requests_wait_for_blocks_where_the_batch_outgrows_the_cache(rows, catalog):
    """Llama-2-13B 2048/2048 at 64 on 500 blocks: ~15 sequences fit at full length, the later
    requests wait for earlier ones to finish (measured mean first-token latency 190 s, the
    static batch's prefill 19 s), and the decode steps run the ~15, not 64 (47 ms measured)."""
    ttft = _row(rows, "llama-2-13b", 2048, 2048, 64, "ttft_ms")
    itl = _row(rows, "llama-2-13b", 2048, 2048, 64, "itl_ms")
    static = run(row_setup(ttft, catalog), [64], 2048, 2048, "static")
    assert float(static.ttft_s[0]) * 1e3 < 30_000
    assert float(static.tpot_s[0]) * 1e3 > 90
    p_ttft = predict_row(ttft, catalog).predicted
    p_itl = predict_row(itl, catalog).predicted
    assert p_ttft > 5 * float(static.ttft_s[0]) * 1e3
    assert 0.7 < p_ttft / ttft.value < 1.5
    assert 0.85 < p_itl / itl.value < 1.2
    # a cache that holds the batch: back to the static batch (the first tokens after the
    # batch's prefill, no waiting)
    roomy = dataclasses.replace(ttft, kv_cache_tokens=64 * 4096)
    assert predict_row(roomy, catalog).predicted == pytest.approx(float(static.ttft_s[0]) * 1e3)


def test_the_kv_cache_follows_the_releases_memory_semantics(catalog):
    """TurboMind's cache_max_entry_count: before v0.2.1 the KV blocks take that share of the
    GPU's total memory (default 0.5: 40 GB of an A100-80G), from v0.2.1 that share of the
    memory the weights leave free (default 0.8); the deploy command passes the same value."""
    m, g, p = catalog.model("llama-2-13b"), catalog.gpu("a100-80gb"), catalog.precision("fp16")
    cur = catalog.engine("lmdeploy")
    old = cur.at_version("0.1.0a1")
    assert (old.memory_semantics, old.gpu_memory_utilization) == ("kv_of_total", 0.5)
    assert fit(m, g, p, old, context=4096).kv_budget_bytes_per_gpu == pytest.approx(
        0.5 * g.memory_bytes
    )
    new = cur.at_version("0.2.1")
    assert (new.memory_semantics, new.gpu_memory_utilization) == ("free_after_weights", 0.8)
    other = new.runtime_overhead_gib * GIB + activation_workspace_bytes(m, new, 1)
    want = 0.8 * (g.memory_bytes - weights(m, p).total_bytes - other)
    assert fit(m, g, p, new, context=4096).kv_budget_bytes_per_gpu == pytest.approx(want)
