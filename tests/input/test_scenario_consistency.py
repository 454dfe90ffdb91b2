"""Scenario values that each pass their own bound but contradict each other (or the model) are
refused with one line naming the fields, not planned on a silent reading of one of them."""

from __future__ import annotations

import pytest

from fleetplan.cli import EXIT_BAD_INPUT

SCENARIO = """\
model: llama-3.1-8b
precisions: [fp8]
traffic: {avg_qps: 5}
input_tokens: {mean: 900, p95: 2800}
output_tokens: {mean: 300, p95: 700}
constraints: {gpus: [h100-sxm], tp: [1]}
"""


def _run(cli, tmp_path, text: str):
    p = tmp_path / "s.yaml"
    p.write_text(text, encoding="utf-8")
    return cli("plan", str(p), "--json")


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        # an all-zero profile was set aside for avg_qps, its peak taken as 5
        ("{avg_qps: 5}", "{avg_qps: 5, hourly_qps: [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
         "0,0]}", "hourly_qps peaks at 0 req/s, below avg_qps (5)"),
        ("{avg_qps: 5}", "{avg_qps: 5, peak_qps: 6, hourly_qps: [9,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,"
         "5,5,5,5,5,5,5,5]}", "peak_qps (6) is below the busiest hour of hourly_qps (9)"),
        # a mean of 100 beside a median of 1,000: the mean went to $/1M tokens, the percentiles
        # to sizing (TPOT p95 163 ms)
        ("{mean: 900, p95: 2800}", "{mean: 100, p50: 1000, p95: 5000}",
         "input_tokens.mean = 100 is below 700, the least mean of lengths with p50 1,000, "
         "p95 5,000"),
        ("{mean: 300, p95: 700}", "{mean: 2, p99: 500}",
         "output_tokens.mean = 2 is below 5, the least mean of lengths with p99 500"),
        # --kv-precision is no option of plan
        ("precisions: [fp8]", "precisions: [fp8]\nkv_precision: int4",
         "field 'kv_precision' = 'int4': Value error, accepted: auto, bf16, fp16, fp8, fp32"),
        # two classes of one name collapsed into one in the mix's shares
        ("precisions: [fp8]", "precisions: [fp8]\nclasses: [{name: a, share: 0.5, input_tokens: "
         "{mean: 100}, output_tokens: {mean: 10}}, {name: a, share: 0.5, input_tokens: {mean: "
         "200}, output_tokens: {mean: 10}}]", "classes: name 'a' appears twice"),
        # a mean request past the context was planned (rejected setup by setup)
        ("{mean: 900, p95: 2800}", "{mean: 200000}", "input_tokens.mean + output_tokens.mean "
         "= 200,300 tokens exceeds llama-3.1-8b's maximum context of 131,072 tokens"),
        ("precisions: [fp8]", "precisions: [fp8]\nclasses: [{name: long, share: 0.5, "
         "input_tokens: {mean: 140000}, output_tokens: {mean: 10}}, {name: b, share: 0.5, "
         "input_tokens: {mean: 200}, output_tokens: {mean: 10}}]",
         "classes.long.input_tokens.mean + classes.long.output_tokens.mean = 140,010 tokens"),
    ],
)  # fmt: skip
def test_contradictory_values_are_refused(cli, tmp_path, old, new, said):
    r = _run(cli, tmp_path, SCENARIO.replace(old, new, 1))
    assert r.code == EXIT_BAD_INPUT, (r.code, r.err)
    lines = [x for x in r.err.splitlines() if x.strip()]
    assert len(lines) == 1 and said in lines[0], r.err


def test_kv_precision_is_read_in_any_case_and_emitted_as_planned(cli, tmp_path):
    """'FP8' was sized as an fp8 KV cache, and --emit, comparing with 'fp8', left out
    --kv-cache-dtype fp8: the servers held half the KV cache the plan counted on."""
    out = tmp_path / "deploy"
    p = tmp_path / "s.yaml"
    p.write_text(SCENARIO + "kv_precision: FP8\n", encoding="utf-8")
    r = cli("plan", str(p), "--json", "--emit", str(out))
    assert r.code == 0, r.err
    assert "--kv-cache-dtype fp8" in (out / "serve-command.txt").read_text()


def test_consistent_values_still_plan(cli, tmp_path):
    text = SCENARIO.replace("{mean: 900, p95: 2800}", "{mean: 700, p50: 1000, p95: 5000}")
    text = text.replace("{avg_qps: 5}", "{avg_qps: 5, hourly_qps: [5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,"
                        "5,5,5,5,5,5,5,5,8]}")  # fmt: skip
    r = _run(cli, tmp_path, text)
    assert r.code == 0, r.err
    assert r.json()["workload"]["peak_qps"] == 8


@pytest.mark.parametrize("flag", ["--ttft-p95-ms", "--tpot-p95-ms"])
def test_a_plan_slo_option_states_the_range_plan_accepts(cli, flag):
    """`--tpot-p95-ms -5` said 'accepted: [0, ...]' and `--tpot-p95-ms 0` was then refused as
    the scenario field 'slo.tpot_p95_ms' (plan has no 0 = no limit)."""
    args = ["plan", "--model", "llama-3.1-8b", "--qps", "1", "--input-tokens", "100",
            "--output-tokens", "10", flag]  # fmt: skip
    for value in ("0", "-5"):
        r = cli(*args, value)
        assert r.code == EXIT_BAD_INPUT
        assert f"{flag} = {float(value)}; accepted: a finite number in (0, 86,400,000]" in r.err
