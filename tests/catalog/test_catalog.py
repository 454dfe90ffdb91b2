"""The packaged catalogs: coverage, sources, names, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetplan.catalog import load_catalog
from fleetplan.catalog.params import count_params
from fleetplan.errors import InputError, UnknownNameError

REQUIRED_GPUS = [
    "a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h200", "b200", "l40s", "l4", "a10g",
    "t4", "rtx-4090", "rtx-5090", "rtx-6000-ada", "mi300x", "mi355x",
]  # fmt: skip
REQUIRED_MODELS = [
    "llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b",
    "llama-3.1-405b", "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "qwen2.5-72b", "deepseek-v3",
    "gemma-2-9b", "gemma-2-27b", "phi-3-mini",
]  # fmt: skip
REQUIRED_PRECISIONS = [
    "fp32", "bf16", "fp16", "fp8", "fp4", "int8", "awq", "gptq", "gguf-q4_0", "gguf-q4_k_m",
    "gguf-q8_0",
]  # fmt: skip


def test_required_entries_present(catalog):
    assert set(REQUIRED_GPUS) <= set(catalog.gpus)
    assert set(REQUIRED_MODELS) <= set(catalog.models)
    assert set(REQUIRED_PRECISIONS) <= set(catalog.precisions)
    assert {"vllm", "tgi", "tensorrt-llm", "llama.cpp"} <= set(catalog.engines)


def test_every_figure_has_a_source(catalog):
    for g in catalog.gpus.values():
        assert g.source and g.as_of, g.id
        if g.purchase_price_usd:
            assert g.price_source and g.price_as_of, g.id
    for m in catalog.models.values():
        assert m.source and m.as_of, m.id
    for o in catalog.offers:
        assert o.source and o.as_of, o.id
    for e in catalog.engines.values():
        for factor in ("mbu", "mfu_prefill", "step_overhead_ms", "max_num_seqs"):
            assert e.sources.get(factor), (e.id, factor)


def test_dense_figures_only_for_native_formats(catalog):
    for g in catalog.gpus.values():
        assert set(g.native_formats) <= set(g.dense_tflops), g.id
        # H100 SXM dense bf16 is 989 TFLOPS; the 1,979 datasheet figure is 2:4 sparse
    assert catalog.gpu("h100").dense_tflops["bf16"] == pytest.approx(989, rel=0.01)
    assert "fp8" not in catalog.gpu("a100").native_formats
    assert "bf16" not in catalog.gpu("t4").native_formats


def test_every_gpu_has_an_offer(catalog):
    offered = {o.gpu for o in catalog.offers}
    assert set(REQUIRED_GPUS) <= offered


@pytest.mark.parametrize(
    ("name", "gid"),
    [("H100", "h100-sxm"), ("a100", "a100-80gb"), ("  L40S ", "l40s"), ("RTX-4090", "rtx-4090")],
)
def test_gpu_aliases_case_insensitive(catalog, name, gid):
    assert catalog.gpu(name).id == gid


def test_unknown_name_suggests_nearest(catalog):
    with pytest.raises(UnknownNameError) as exc:
        catalog.gpu("h10")
    assert "h100" in str(exc.value)
    with pytest.raises(UnknownNameError) as exc:
        catalog.model("llama-3.1-7b")
    assert "llama-3.1-8b" in str(exc.value)


def test_published_totals_match_architecture(catalog):
    """The architecture fields reproduce each model's published parameter count within 3 %."""
    for m in catalog.models.values():
        computed = count_params(m).total / 1e9
        assert computed == pytest.approx(m.params_total_b, rel=0.03), m.id


def test_user_override_merges_and_adds(tmp_path: Path):
    f = tmp_path / "mine.toml"
    f.write_text(
        """
[gpus.h100-sxm]
purchase_price_usd = 25000
price_source = "our purchase order"
price_as_of = "2026-10"

[[offers]]
provider = "acme"
gpu = "h100"
pricing = "reserved-1y"
usd_per_gpu_hour = 1.99
source = "contract 42"
as_of = "2026-11"
"""
    )
    cat = load_catalog(f)
    assert cat.gpu("h100").purchase_price_usd == 25000
    assert cat.gpu("h100").memory_bandwidth_gb_s == 3350  # the rest of the entry is kept
    acme = cat.offers_for(provider="acme")
    assert len(acme) == 1 and acme[0].gpu == "h100-sxm"


def test_user_override_bad_field_is_named(tmp_path: Path):
    f = tmp_path / "bad.toml"
    f.write_text("[gpus.h100-sxm]\nmemory_bandwidth_gb_s = -5\n")
    with pytest.raises(InputError, match=r"gpus.h100-sxm.*memory_bandwidth_gb_s.*-5"):
        load_catalog(f)
    f.write_text("[gpus.h100-sxm]\nmemory_bandwith_gb_s = 3000\n")
    with pytest.raises(InputError, match="unknown field 'memory_bandwith_gb_s'"):
        load_catalog(f)
    f.write_text("[widgets.x]\na = 1\n")
    with pytest.raises(InputError, match="unknown section"):
        load_catalog(f)
    f.write_text("[gpus\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_catalog(f)


@pytest.mark.parametrize("text", ["vllm@0.6@1", "vllm@0.6 x", "vllm@abc", "vllm@"])
def test_a_malformed_engine_version_is_refused(text: str) -> None:
    """`vllm@0.6@1` was read as vllm 0.6: a version is a release number, nothing around it."""
    with pytest.raises(InputError, match="expected ENGINE@VERSION"):
        load_catalog().engine(text)


@pytest.mark.parametrize("text", ["vllm@0.6", "vllm@0.8.5rc1", "tensorrt-llm@v1.0.0.post1"])
def test_an_engine_release_number_is_read(text: str) -> None:
    assert load_catalog().engine(text).engine == text.split("@")[0]
