"""SGLang sizes its static memory pool by the GPU's memory (mem_fraction_static)."""

from __future__ import annotations

import pytest

from fleetplan.perf.memory import fit


@pytest.mark.parametrize(
    ("gpu", "fraction", "chunk"),
    [("h100-sxm", 0.835, 8192), ("h200", 0.907, 8192), ("mi300x", 0.866, 16384),
     ("l40s", 0.851, 4096), ("a10g", 0.837, 2048)],
)  # fmt: skip
def test_sglang_reserves_memory_by_gpu_size(catalog, gpu, fraction, chunk):
    eng = catalog.engine("sglang").for_gpu(catalog.gpu(gpu))
    assert eng.gpu_memory_utilization == pytest.approx(fraction, abs=0.001)
    assert eng.max_num_batched_tokens == chunk
    assert eng.for_gpu(catalog.gpu("t4")) is eng  # resolved once: no rules left


def test_sglang_kv_pool_on_an_h100_is_what_its_fraction_leaves(catalog):
    args = (catalog.model("qwen3-32b"), catalog.gpu("h100-sxm"), catalog.precision("bf16"))
    eng = catalog.engine("sglang")
    f = fit(*args, eng, context=512)
    flat = fit(*args, eng, context=512, gpu_memory_utilization=0.88)
    assert f.gpu_memory_utilization == pytest.approx(0.835)
    # 45 % of the 0.88 share's ~10 GB of KV room is gone: ~6 GB hold ~23k tokens of Qwen3-32B
    assert f.kv_budget_bytes_per_gpu == pytest.approx(
        flat.kv_budget_bytes_per_gpu - 0.045 * catalog.gpu("h100-sxm").memory_bytes
    )
    assert 15_000 < f.kv_capacity_tokens < 30_000


def test_engines_without_memory_rules_keep_their_fraction(catalog):
    for eng_id in ("vllm", "tensorrt-llm"):
        eng = catalog.engine(eng_id)
        assert eng.for_gpu(catalog.gpu("h100-sxm")).gpu_memory_utilization == (
            eng.gpu_memory_utilization
        )
