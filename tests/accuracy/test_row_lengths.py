"""How a validation row's request lengths are replayed: fixed, or varying like ShareGPT's."""

from __future__ import annotations

import dataclasses

import pytest

from fleetplan.accuracy.predict import predict_row, row_engine
from fleetplan.accuracy.published import published_set_path, read_published
from fleetplan.accuracy.rows import (
    SHAREGPT_MIN,
    SHAREGPT_PROMPT_MAX,
    SHAREGPT_TOTAL_MAX,
    ValidationRow,
    row_from_dict,
    row_lengths,
)
from fleetplan.errors import InputError


def _row(metric: str, lengths: str, users: int = 8) -> ValidationRow:
    return ValidationRow(
        "t", "vllm", "qwen3-8b", "bf16", "h100-sxm", 233, 221, users, metric, 1.0,
        schedule="concurrency", requests=20 * users, lengths=lengths,
    )  # fmt: skip


def test_published_rows_name_their_lengths_from_the_dataset(catalog):
    rows = read_published(published_set_path(), catalog).rows
    share = [r for r in rows if r.lengths == "sharegpt"]
    fixed = [r for r in rows if r.lengths == "fixed"]
    assert len(share) >= 100 and len(fixed) >= 1000
    assert all("sharegpt" in r.notes.lower() for r in share)
    assert not any("sharegpt" in r.notes.lower() for r in fixed)


def test_sharegpt_lengths_vary_within_the_benchmark_samplers_limits():
    fixed = row_lengths(_row("ttft_ms", "fixed"))
    assert fixed == {"input": {"mean": 233}, "output": {"mean": 221}}
    share = row_lengths(_row("ttft_ms", "sharegpt"))
    assert share["input"]["dist"] == share["output"]["dist"] == "exponential"
    assert (share["input"]["mean"], share["output"]["mean"]) == (233, 221)
    assert share["input"]["min"] == share["output"]["min"] == SHAREGPT_MIN
    assert share["input"]["max"] == SHAREGPT_PROMPT_MAX
    assert share["output"]["max"] == SHAREGPT_TOTAL_MAX - 233


def test_lengths_column_is_checked():
    rec = {"engine": "vllm", "model": "qwen3-8b", "precision": "bf16", "gpu": "h100-sxm",
           "input_len": "233", "output_len": "221", "batch": "4", "metric": "ttft_ms",
           "value": "30", "lengths": "ShareGPT"}  # fmt: skip
    assert row_from_dict(rec, "x.csv:2").lengths == "sharegpt"
    with pytest.raises(InputError, match="lengths 'zipf'; accepted: fixed, sharegpt"):
        row_from_dict({**rec, "lengths": "zipf"}, "x.csv:2")


def test_equal_requests_stay_in_step_and_varying_ones_do_not(catalog):
    """Eight users sending equal requests prefill eight prompts back to back, then decode them
    together: the mean TTFT is several prefills long. With ShareGPT-like lengths the users fall
    out of step and a request mostly waits for one decode step, not for the others' prompts;
    throughput stays about the same. (The engine alone: its API server, which spaces the
    requests out by its own time per request, is held by tests/sim/test_frontend.py.)"""
    eng = dataclasses.replace(
        row_engine(_row("ttft_ms", "fixed"), catalog), api_server_us_per_output_token=0
    )

    def pred(row: ValidationRow) -> float:
        return predict_row(row, catalog, eng).predicted

    one = pred(_row("ttft_ms", "fixed", users=1))
    fixed = pred(_row("ttft_ms", "fixed"))
    share = pred(_row("ttft_ms", "sharegpt"))
    assert fixed > 3 * one  # in step: queued behind the other prompts
    assert share < 0.6 * fixed
    tput_fixed = pred(_row("output_tok_per_s", "fixed"))
    tput_share = pred(_row("output_tok_per_s", "sharegpt"))
    assert tput_share == pytest.approx(tput_fixed, rel=0.2)


def test_a_burst_of_varied_lengths_is_replayed_not_taken_as_waves(catalog):
    """500 requests at once with ShareGPT-like lengths end with their longest outputs decoding
    at a small batch: the simulator's replay gives a lower throughput than waves of
    mean-length requests (TensorRT-LLM 0.14's 202/214 bursts: 8,291 tok/s measured for
    Llama-3.1-8B on an H100, 12,490 as waves); equal lengths keep the waves."""
    base = ValidationRow(
        "t", "tensorrt-llm", "llama-3.1-8b", "bf16", "h100-sxm", 202, 214, 500,
        "output_tok_per_s", 8291.0, schedule="offline", engine_version="0.14.0",
    )  # fmt: skip
    waves = predict_row(base, catalog).predicted
    replayed = predict_row(dataclasses.replace(base, lengths="sharegpt"), catalog).predicted
    assert replayed < 0.8 * waves
    # the 202/214 rows of the TensorRT-LLM 0.14 serving table are replayed so, and say why
    rows = read_published(published_set_path(), catalog).rows
    served = [r for r in rows if r.source_id == "trtllm-perf-overview-serving-v0.14"]
    share = {(r.input_len, r.output_len) for r in served if r.lengths == "sharegpt"}
    assert share == {(202, 214)}
    assert all("not named on the page" in r.notes for r in served if r.lengths == "sharegpt")
