"""Malformed model configs and tensor-parallel degrees get one line, never a wrong model."""

from __future__ import annotations

import json

import pytest

LLAMA = {
    "model_type": "llama",
    "num_hidden_layers": 32,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 8192,
}


def fit(cli, tmp_path, **changes):
    cfg = {**LLAMA, **changes}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return cli("fit", str(path), "--gpu", "h100")


def one_line(r, needle):
    assert r.code == 2, (r.code, r.err)
    lines = [x for x in r.err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in r.err, r.err
    assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"num_attention_heads": 48, "num_key_value_heads": 8, "hidden_size": 4000}, "head_dim"),
        ({"num_key_value_heads": 0}, "'num_key_value_heads' = 0"),
        ({"head_dim": 0}, "'head_dim' = 0"),
        ({"num_local_experts": 8, "num_experts_per_tok": 9}, "exceeds the 8 experts"),
        ({"num_hidden_layers": 10**40}, "'num_hidden_layers'"),
        ({"num_hidden_layers": 32.5}, "'num_hidden_layers'"),
        ({"num_attention_heads": 32, "num_key_value_heads": 5}, "not a multiple"),
    ],
)
def test_malformed_config_is_refused(cli, tmp_path, changes, needle):
    one_line(fit(cli, tmp_path, **changes), needle)


def test_head_dim_given_allows_heads_that_do_not_divide_hidden(cli, tmp_path):
    r = fit(cli, tmp_path, num_attention_heads=48, num_key_value_heads=8, hidden_size=4000,
            head_dim=128)  # fmt: skip
    assert r.code == 0, r.err


@pytest.mark.parametrize("command", ["fit", "perf"])
def test_tp_must_divide_the_heads(cli, command):
    one_line(cli(command, "llama-3.1-8b", "--gpu", "h100", "--tp", "3"), "does not divide")


def test_tp_above_kv_heads_is_modelled_and_said(cli):
    r = cli("fit", "llama-3.1-70b", "--gpu", "h100", "--tp", "16")
    assert r.code == 0, r.err
    assert "replicated 2x" in r.out + r.err


def test_breakeven_refuses_a_bad_tp(cli):
    r = cli("breakeven", "--api", "gpt-4o-mini", "--gpu", "h100", "--input-tokens", "500",
            "--output-tokens", "200", "--model", "llama-3.1-8b", "--tp", "3")  # fmt: skip
    one_line(r, "does not divide")


@pytest.mark.parametrize("command", ["fit", "perf", "quantize"])
@pytest.mark.parametrize("name", ["", " "])
def test_a_blank_model_is_refused_saying_what_a_model_is(cli, command, name):
    """An empty name was read as the current folder: "'config.json' does not exist"."""
    r = cli(command, name, "--gpu", "h100")
    one_line(r, f"model = {name!r}; accepted: a catalog model id or alias")
    assert "config.json' does not exist" not in r.err and "Hugging Face config.json" in r.err
