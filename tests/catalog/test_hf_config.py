"""Models read from real-format Hugging Face config.json files agree with the catalog."""

from __future__ import annotations

import pytest

from fleetplan.catalog.hf_config import model_from_config
from fleetplan.errors import InputError
from fleetplan.perf.memory import kv_bytes_per_token

from ..conftest import DATA

FIELDS = (
    "layers", "hidden_size", "attention_heads", "kv_heads", "head_dim", "vocab_size",
    "moe_experts", "moe_experts_per_token", "kv_lora_rank", "sliding_window",
    "sliding_window_layers", "attention_sinks", "fp8_block_scaled", "checkpoint_precision",
)  # fmt: skip


# gpt-oss-20b: its layer_types give 12 window layers of 24; it has attention sinks
NAMES = ("llama-3.1-8b", "mixtral-8x7b", "deepseek-v3", "gemma-2-9b", "qwen2.5-7b",
         "phi-3-mini", "gpt-oss-20b")  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_config_matches_catalog(catalog, name):
    from_file = model_from_config(DATA / "hf" / name / "config.json")
    ref = catalog.model(name)
    for field in FIELDS:
        if field == "head_dim" and ref.is_mla:
            continue  # MLA has no single head_dim; its KV is the latent vector
        assert getattr(from_file, field) == getattr(ref, field), field
    assert from_file.params_total_b == pytest.approx(ref.params_total_b, rel=0.03)
    assert from_file.params_active_b == pytest.approx(ref.params_active_b, rel=0.05)
    assert kv_bytes_per_token(from_file, 2) == kv_bytes_per_token(ref, 2)


def test_folder_works_like_file():
    assert model_from_config(DATA / "hf" / "llama-3.1-8b").layers == 32


def test_malformed_json_is_named():
    with pytest.raises(InputError, match=r"not valid JSON \(line"):
        model_from_config(DATA / "hf" / "malformed" / "config.json")


def test_missing_field_is_named():
    with pytest.raises(InputError, match="num_hidden_layers"):
        model_from_config(DATA / "hf" / "missing-fields" / "config.json")


def test_missing_file():
    with pytest.raises(InputError, match="does not exist"):
        model_from_config(DATA / "hf" / "nope" / "config.json")
