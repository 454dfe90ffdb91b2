"""A run's own KV-cache memory setting (its command, the row's notes) sizes the row's KV cache."""

from __future__ import annotations

import pytest

from fleetplan.accuracy.predict import concurrency_cap, predict_value, row_setup
from fleetplan.accuracy.published import kv_cache_fraction, published_set_path, read_published
from fleetplan.accuracy.rows import ValidationRow
from fleetplan.errors import InputError


def _row(fraction: float = 0.0) -> ValidationRow:
    # trtllm-bench on one H200, Llama 3.3 70B FP8, 1,500 requests of 2,048 + 2,048 tokens: the
    # KV cache, not the scheduler's 2,048 sequences, bounds the batch
    return ValidationRow("t", "tensorrt-llm", "llama-3.3-70b", "fp8", "h200", 2048, 2048, 1500,
                         "output_tok_per_s", 1.0, schedule="offline", engine_version="1.0.0",
                         kv_precision="fp8", kv_cache_fraction=fraction)  # fmt: skip


def test_the_fraction_is_read_from_the_runs_command():
    assert kv_cache_fraction("trtllm-bench ... kv_cache_free_gpu_mem_fraction 0.95 in most") == 0.95
    assert kv_cache_fraction("trtllm-bench --kv_cache_free_gpu_mem_fraction=0.9") == 0.9
    assert kv_cache_fraction("vllm serve --gpu-memory-utilization 0.85") == 0.85
    assert kv_cache_fraction("trtllm-bench throughput --backend pytorch") == 0.0


def test_a_larger_fraction_holds_more_sequences_and_runs_faster(catalog):
    default, given = _row(), _row(0.95)
    s0, s1 = row_setup(default, catalog), row_setup(given, catalog)
    assert s0.engine.gpu_memory_utilization == 0.90  # the family's kv_cache_free_gpu_mem_fraction
    assert s1.engine.gpu_memory_utilization == 0.95
    b0, b1 = concurrency_cap(default, s0), concurrency_cap(given, s1)
    # TensorRT-LLM gives the KV cache a share of the memory free after the weights: 0.95 / 0.90
    assert b1 / b0 == pytest.approx(0.95 / 0.90, rel=0.02)
    assert predict_value(given, s1, catalog) > predict_value(default, s0, catalog)


def test_the_perf_overview_rows_carry_the_pages_kv_fraction(catalog):
    # both perf-overview pages ran trtllm-bench with 0.95 in most cases (0.90 on out-of-memory)
    rows = read_published(published_set_path(), catalog).rows
    for source in ("trtllm-perf-overview-v0.17", "trtllm-perf-overview-v1.0"):
        fractions = {r.kv_cache_fraction for r in rows if r.source_id == source}
        assert fractions == {0.95}, source
    others = {r.kv_cache_fraction for r in rows if "perf-overview-v" not in r.source_id}
    assert others == {0.0}


def test_a_fraction_outside_zero_to_one_is_refused():
    with pytest.raises(InputError, match="kv_cache_fraction"):
        _row(1.5)
