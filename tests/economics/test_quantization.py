"""Quantization economics and LoRA sharing through the library and the CLI."""

from __future__ import annotations

import pytest

from fleetplan.economics.quantization import compare_precisions
from fleetplan.economics.tenancy import lora_sharing
from fleetplan.errors import InputError


def test_lower_precision_needs_no_more_gpus_and_costs_less(catalog):
    rows = compare_precisions(
        catalog.model("llama-3.1-70b"), "h100", ["bf16", "fp8", "awq"], 2.69, catalog=catalog
    )
    by = {r.precision: r for r in rows}
    assert all(r.runs for r in rows)
    assert by["fp8"].tp <= by["bf16"].tp and by["awq"].tp <= by["fp8"].tp
    assert by["fp8"].usd_per_million_tokens < by["bf16"].usd_per_million_tokens
    assert by["awq"].weights_gb < by["fp8"].weights_gb < by["bf16"].weights_gb
    assert "4-bit" in by["awq"].quality_note


def test_unsupported_precision_is_a_row_with_its_reason(catalog):
    (row,) = compare_precisions(catalog.model("llama-3.1-8b"), "t4", ["fp8"], 0.38, catalog=catalog)
    assert not row.runs and "cannot run fp8" in row.reason


def test_the_released_format_is_the_baseline(catalog):
    """gpt-oss ships MXFP4: 'auto' adds that row once, as the baseline; a 16-bit copy of it is
    no better, and costs more GPUs."""
    rows = compare_precisions(
        catalog.model("gpt-oss-120b"), "h100", ["auto", "bf16", "mxfp4"], 2.69, catalog=catalog
    )
    by = {r.precision: r for r in rows}
    assert [r.precision for r in rows] == ["mxfp4", "bf16"]
    assert by["mxfp4"].quality_note.startswith("the released weights (mxfp4)")
    assert "copy of the released mxfp4 weights" in by["bf16"].quality_note
    assert by["mxfp4"].tp < by["bf16"].tp
    assert by["mxfp4"].usd_per_million_tokens < by["bf16"].usd_per_million_tokens


def test_each_replica_is_priced_as_rented(catalog):
    """On an 8-GPU-only offer at $64/h, one TP2 replica costs the instance ($64/h), not 2 x $64
    (the price of one GPU rented alone, times two): a rate per replica size, not one rate."""
    (row,) = compare_precisions(
        catalog.model("llama-3.1-70b"), "h100", ["fp8"], lambda tp: 64.0 / tp, catalog=catalog
    )
    assert row.runs and row.usd_per_hour == pytest.approx(64.0)
    assert row.usd_per_gpu_hour == pytest.approx(64.0 / row.tp)


def test_quantize_and_lora_commands(cli):
    r = cli("quantize", "llama-3.1-8b", "--gpu", "l40s", "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["utilization"] == 0.7 and "catalog offer" in d["price_basis"]
    assert [x["precision"] for x in d["rows"]] == ["bf16", "fp8", "int8", "awq"]
    r = cli("lora", "--loads", "100,200,50", "--capacity-req-per-hour", "1800",
            "--usd-per-hour", "2", "--json")  # fmt: skip
    assert r.code == 0, r.err
    d = r.json()
    assert d["shared_gpus"] == 1 and d["dedicated_gpus"] == 3
    r = cli("lora", "--loads", "a,b", "--capacity-req-per-hour", "1", "--usd-per-hour", "1")
    assert r.code == 2 and "--loads" in r.err


def test_quantize_refuses_an_empty_precision_list(cli):
    """`--precisions ,` was run as no precision at all: exit 0 and an empty table."""
    for value in (",", " , "):
        r = cli("quantize", "llama-3.1-8b", "--gpu", "h100", "--precisions", value)
        assert r.code == 2 and r.out == "", (r.code, r.out)
        assert r.err.count("\n") == 1 and f"--precisions = {value!r}; expected" in r.err, r.err


def test_lora_refuses_a_zero_capacity_repeating_the_value(cli):
    """A replica serving 0 requests/hour was refused without the value ("must be positive")."""
    r = cli("lora", "--loads", "10,20", "--capacity-req-per-hour", "0", "--usd-per-hour", "2")
    assert r.code == 2 and r.err.count("\n") == 1, r.err
    assert "--capacity-req-per-hour = 0.0; accepted: a finite number in (0, " in r.err


def test_lora_sharing_names_the_capacity_it_refuses():
    with pytest.raises(InputError, match=r"capacity_req_per_hour = -5.0; expected a positive"):
        lora_sharing([10.0], -5.0, 1, 2.0, adapter_overhead=0.03)


def test_quantize_names_its_own_options_for_a_request_past_the_context(cli):
    """It said '--context = 200256 exceeds ...', an option quantize does not have."""
    r = cli("quantize", "llama-3.1-8b", "--gpu", "h100", "--input-tokens", "200000")
    assert r.code == 2 and "--input-tokens + --output-tokens = 200256 exceeds" in r.err
    assert "--context" not in r.err


def test_lora_says_what_its_dollars_are_made_of(cli):
    """Its $/month had no price, capacity or hours beside it, in the table or the JSON."""
    args = ["lora", "--loads", "100,200,50", "--capacity-req-per-hour", "1000",
            "--usd-per-hour", "2"]  # fmt: skip
    d = cli(*args, "--json").json()
    assert d["usd_per_gpu_hour"] == 2 and d["capacity_req_per_hour"] == 1000
    assert d["dedicated_usd_per_month"] == d["dedicated_gpus"] * 730 * 2
    assert "GPUs x 730 h x $2/GPU-h (user-given)" in cli(*args).out
