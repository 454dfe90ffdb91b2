"""Engine release families: version selection, memory semantics, listing, and the physical
ceilings no fitted factor may cross."""

from __future__ import annotations

import numpy as np
import pytest

from fleetplan.accuracy.calibrate import (
    MAX_BW,
    MAX_MFU,
    MAX_MOE_EXPERT_OVERHEAD_US,
    MAX_MOE_HALF_TOKENS,
)
from fleetplan.catalog.specs import ARCHITECTURE_ORDER
from fleetplan.errors import InputError
from fleetplan.perf.memory import activation_workspace_bytes, fit, weights
from fleetplan.perf.roofline import setup, step_s
from fleetplan.perf.schedule import continuous
from fleetplan.units import GIB


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("vllm", "vllm"),
        ("vllm@0.6", "vllm-v0"),
        ("vllm@0.6.3.post1", "vllm-v0"),
        ("vllm@0.11.0", "vllm"),
        ("trtllm@0.6.1", "tensorrt-llm-0x"),
        ("tensorrt-llm@1.0", "tensorrt-llm"),
        ("tensorrt-llm", "tensorrt-llm"),
        ("sglang@0.5.3", "sglang"),
    ],
)
def test_a_version_selects_its_family(catalog, name, family):
    assert catalog.engine(name).id == family


def test_current_family_is_the_one_without_a_version(catalog):
    for eng in catalog.engines.values():
        fams = catalog.families(eng.engine)
        assert sum(f.current for f in fams) == 1, eng.engine
        assert catalog.engine(eng.engine).current
        assert eng.released and eng.versions and eng.sources.get("version_min")


@pytest.mark.parametrize("bad", ["vllm@0.0.1", "vllm@latest", "sglang@0.3"])
def test_an_uncovered_version_is_one_line_naming_the_ranges(catalog, bad):
    with pytest.raises(InputError) as err:
        catalog.engine(bad)
    assert bad in str(err.value) and "\n" not in str(err.value)


def test_memory_semantics_per_family(catalog):
    m, g, p = catalog.model("llama-3.1-8b"), catalog.gpu("h100"), catalog.precision("bf16")
    w = weights(m, p).total_bytes
    for eng_id in ("vllm", "tensorrt-llm", "sglang"):
        e = catalog.engine(eng_id)
        f = fit(m, g, p, e, context=4096)
        other = e.runtime_overhead_gib * GIB + activation_workspace_bytes(m, e.for_gpu(g), 1)
        u, total = e.for_gpu(g).gpu_memory_utilization, g.memory_bytes  # as set on this GPU
        want = {
            "total": total * u - w - other,
            "free_after_weights": u * (total - w - other),
            "static": min(total * u - w, total - w - other),
        }[e.memory_semantics]
        assert f.kv_budget_bytes_per_gpu == pytest.approx(want)
    assert catalog.engine("tensorrt-llm").memory_semantics == "free_after_weights"
    assert catalog.engine("sglang").memory_semantics == "static"


def test_no_factor_crosses_a_physical_ceiling(catalog):
    for e in catalog.engines.values():
        for arch in ARCHITECTURE_ORDER:
            for prec in e.precisions:
                assert e.factor("mbu", arch, prec) <= MAX_BW + 1e-9, (e.id, arch, prec)
                assert e.factor("attention_mbu", arch, prec) <= MAX_BW + 1e-9, (e.id, arch)
                assert e.factor("mfu_prefill", arch, prec) <= MAX_MFU + 1e-9, (e.id, arch)
                assert 0 < e.factor("moe_stream_scale", arch, prec) <= 1.0
                assert 0 <= e.factor("moe_gemm_half_tokens", arch, prec) <= MAX_MOE_HALF_TOKENS
                overhead = e.factor("moe_expert_overhead_us", arch, prec)
                assert 0 <= overhead <= MAX_MOE_EXPERT_OVERHEAD_US


@pytest.mark.parametrize(
    ("model", "gpu", "prec", "tp"),
    [
        ("llama-3.1-8b", "h100", "fp8", 1),
        ("llama-3.1-70b", "a100", "bf16", 4),
        ("mixtral-8x7b", "l40s", "fp8", 2),
        ("gpt-oss-120b", "b200", "fp4", 1),
        ("deepseek-r1", "h200", "fp8", 8),
        ("qwen3-8b", "mi300x", "bf16", 1),
    ],
)
def test_no_family_predicts_more_than_the_gpu_can_do(catalog, model, gpu, prec, tp):
    """Every step: FLOPs per second under the dense peak, bytes per second under the spec
    bandwidth, whatever the engine family and batch."""
    for eng in catalog.engines.values():
        if prec not in eng.precisions:
            continue
        s = setup(catalog.model(model), catalog.gpu(gpu), catalog.precision(prec), eng, tp=tp)
        b = np.array([1.0, 8, 64, 512])
        for p in (0.0, 2048.0):
            st = step_s(s, b, 1024.0, p, 512.0)
            assert np.all(st.flops / st.total_s <= s.peak_flops), eng.id
            assert np.all((st.weight_bytes + st.kv_bytes) / st.total_s <= s.bandwidth), eng.id


def test_batch_1_tpot_is_a_pure_decode_step(catalog):
    """A lone sequence's prompt is prefilled before its first token: its decode steps carry
    no prefill (the simulator agrees, test below)."""
    s = setup(catalog.model("mixtral-8x7b"), catalog.gpu("h100"), catalog.precision("bf16"),
              catalog.engine("vllm"), tp=2)  # fmt: skip
    r = continuous(s, [1.0], 2048, 128)
    assert r.tpot_s[0] == pytest.approx(step_s(s, 1.0, 2048 + 64).total_s)


def test_batch_1_tpot_matches_the_simulator(catalog):
    from fleetplan.sim import simulate

    s = setup(catalog.model("mixtral-8x7b"), catalog.gpu("h100"), catalog.precision("bf16"),
              catalog.engine("vllm"), tp=2)  # fmt: skip
    r = continuous(s, [1.0], 2048, 128)
    sim = simulate(
        {
            "model": "mixtral-8x7b",
            "gpu": "h100",
            "tp": 2,
            "arrivals": {"kind": "concurrency", "users": 1, "requests": 3},
            "lengths": {"input": {"mean": 2048}, "output": {"mean": 128}},
            "prefix_caching": False,
        },
        catalog=catalog,
    )
    assert sim.tpot_ms.mean == pytest.approx(r.tpot_s[0] * 1e3, rel=0.02)


def test_engines_lists_families_with_versions_and_dates(cli):
    r = cli("engines")
    assert r.code == 0, r.err
    for text in ("vLLM V0", "vLLM V1", ">=0.8", "0.1-0.7", "SGLang", "2025-03-18"):
        assert text in r.out
    j = cli("engines", "--json").json()
    v0 = next(e for e in j if e["id"] == "vllm-v0")
    assert v0["versions"] == "0.1-0.7" and v0["released"] == "2023-06-20"


def test_perf_names_the_family_it_used(cli):
    r = cli("perf", "llama-3.1-8b", "--gpu", "h100", "--engine", "sglang", "--json")
    assert r.code == 0, r.err
    recs = r.json()
    assert recs and all(x["engine"] == "sglang" for x in recs)
    assert all("SGLang" in x["engine_family"] for x in recs)
    old = cli("perf", "llama-3.1-8b", "--gpu", "h100", "--engine", "vllm@0.6", "--batch", "8")
    assert old.code == 0, old.err
    assert "vLLM V0" in old.out


def test_attention_runs_in_the_kv_cache_format(catalog):
    """FP8 or FP4 weights speed up the linear layers; attention reads the KV cache and runs
    in FP8 only with an FP8 cache (16-bit otherwise), never faster than the weights' format."""
    b200, h100 = catalog.gpu("b200"), catalog.gpu("h100-sxm")
    eng, model = catalog.engine("tensorrt-llm"), catalog.model("llama-3.1-8b")
    fp4 = setup(model, b200, catalog.precision("fp4"), eng, kv_precision="fp8")
    assert fp4.peak_flops == b200.peak_flops("fp4")
    assert fp4.attention_peak_flops == b200.peak_flops("fp8")
    fp8_bf16kv = setup(model, h100, catalog.precision("fp8"), eng)
    assert fp8_bf16kv.attention_peak_flops == h100.peak_flops("bf16")
    bf16_fp8kv = setup(model, h100, catalog.precision("bf16"), eng, kv_precision="fp8")
    assert bf16_fp8kv.attention_peak_flops == h100.peak_flops("bf16")
