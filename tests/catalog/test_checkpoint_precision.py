"""Precision "auto": a model runs in the format its published weights ship in (DeepSeek's
block-scaled FP8, gpt-oss's MXFP4, bf16 for 16-bit checkpoints), in the catalog, from a
config.json, and as the default of the commands that take --precision."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from fleetplan.catalog import load_catalog
from fleetplan.catalog.hf_config import model_from_config
from fleetplan.errors import InputError
from fleetplan.search.setups import enumerate_setups

from ..conftest import DATA


@pytest.mark.parametrize(
    ("model", "expected"),
    [("deepseek-r1", "fp8-block"), ("deepseek-v3", "fp8-block"), ("gpt-oss-120b", "mxfp4"),
     ("gpt-oss-20b", "mxfp4"), ("llama-3.1-8b", "bf16"), ("qwen3-235b-a22b-2507", "bf16")],
)  # fmt: skip
def test_auto_is_the_checkpoint_format(catalog, model, expected):
    m = catalog.model(model)
    assert catalog.precision_for(m, "auto").id == expected
    assert catalog.precision_for(m, "AUTO").id == expected
    assert catalog.precision_for(m, "fp8").id == "fp8"  # a named precision stays as named


@pytest.mark.parametrize(
    ("config", "expected"),
    [("deepseek-v3", "fp8-block"), ("gpt-oss-20b", "mxfp4"), ("llama-3.1-8b", "")],
)
def test_config_json_quantization(config, expected):
    m = model_from_config(DATA / "hf" / config / "config.json")
    assert m.checkpoint_precision == expected
    assert m.native_precision == (expected or "bf16")


def _config_with(tmp_path, quantization):
    cfg = json.loads((DATA / "hf" / "llama-3.1-8b" / "config.json").read_text())
    cfg["quantization_config"] = quantization
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return path


def test_config_json_fp8_per_tensor_and_awq(tmp_path):
    per_tensor = model_from_config(_config_with(tmp_path, {"quant_method": "fp8"}))
    assert per_tensor.checkpoint_precision == "fp8" and not per_tensor.fp8_block_scaled
    awq = model_from_config(_config_with(tmp_path, {"quant_method": "awq", "bits": 4}))
    assert awq.checkpoint_precision == "awq"


def test_unmodelled_quantization_is_said_not_hidden(tmp_path, cli):
    path = _config_with(tmp_path, {"quant_method": "bitsandbytes"})
    m = model_from_config(path)
    assert m.checkpoint_precision == "" and m.native_precision == "bf16"
    assert m.unmodelled_quantization == "bitsandbytes"
    r = cli("perf", str(path), "--gpu", "h100-sxm", "--batch", "1")
    assert r.code == 0, r.err
    assert "quant_method 'bitsandbytes' is not one fleetplan models" in r.out


def test_unknown_checkpoint_precision_in_a_catalog_file(tmp_path):
    f = tmp_path / "models.toml"
    entry = load_catalog().model("llama-3.1-8b")
    f.write_text(
        '[models.my-model]\nname = "My model"\n'
        f"params_total_b = {entry.params_total_b}\nparams_active_b = {entry.params_active_b}\n"
        "layers = 32\nhidden_size = 4096\nintermediate_size = 14336\nattention_heads = 32\n"
        "kv_heads = 8\nhead_dim = 128\nvocab_size = 128256\nmax_context = 8192\n"
        'checkpoint_precision = "fp7"\nsource = "test"\nas_of = "2026-12"\n'
    )
    bad = r"models\.my-model\.checkpoint_precision = 'fp7'; expected a precision id"
    with pytest.raises(InputError, match=bad):
        load_catalog(f)


def test_plan_search_runs_auto_once(catalog):
    """'auto' beside the precision it stands for is one setup, not two."""
    m = catalog.model("llama-3.1-8b")
    work = SimpleNamespace(max_len=1000)  # all the setup search reads of the workload
    ok, _ = enumerate_setups(m, catalog, ["h100-sxm"], ["auto", "bf16"], ["vllm"], [1], work)
    assert [s.precision.id for s, _f in ok] == ["bf16"]
    gpt = catalog.model("gpt-oss-120b")
    ok, _ = enumerate_setups(gpt, catalog, ["h100-sxm"], ["auto", "bf16"], ["vllm"], [4], work)
    assert sorted(s.precision.id for s, _f in ok) == ["bf16", "mxfp4"]


def test_models_list_the_format_weights_ship_in(cli):
    r = cli("models", "--json")
    assert r.code == 0, r.err
    by_id = {m["id"]: m for m in r.json()}
    assert by_id["gpt-oss-120b"]["native_precision"] == "mxfp4"
    assert by_id["llama-3.1-8b"]["native_precision"] == "bf16"
    text = cli("models")
    assert "weights" in text.out and "fp8-block" in text.out


def test_perf_defaults_to_the_checkpoint_format(cli):
    r = cli("perf", "deepseek-r1", "--gpu", "h200", "--tp", "8", "--batch", "1", "--json")
    assert r.code == 0, r.err
    assert r.json()[0]["precision"] == "fp8-block"
    text = cli("perf", "gpt-oss-120b", "--gpu", "h100-sxm", "--batch", "1")
    assert text.code == 0, text.err
    assert "precision mxfp4: the format gpt-oss-120b's published weights ship in" in text.out
    named = cli("perf", "deepseek-r1", "--gpu", "b200", "--tp", "8", "--precision", "fp4",
                "--batch", "1", "--json")  # fmt: skip
    assert named.code == 0, named.err
    assert named.json()[0]["precision"] == "fp4"


def test_simulate_runs_the_checkpoint_format_and_says_so():
    from fleetplan.sim import simulate

    res = simulate(
        {
            "model": "gpt-oss-120b",
            "gpu": "h100-sxm",
            "arrivals": {"kind": "poisson", "rate_per_s": 1, "requests": 20},
            "lengths": {"input": {"mean": 500}, "output": {"mean": 100}},
            "seed": 0,
        }
    )
    assert any(n.startswith("precision mxfp4: the format gpt-oss-120b") for n in res.notes)
