"""The core commands through the real entry point: JSON contracts and one-line errors."""

from __future__ import annotations

import re

import pytest

from ..conftest import DATA

FIT_KEYS = {
    "model", "gpu", "precision", "tp", "fits", "weights_gb", "kv_bytes_per_token",
    "kv_capacity_tokens", "max_concurrent_sequences", "limit",
}  # fmt: skip
PERF_KEYS = {"batch", "fits", "prefill_ms", "ttft_ms", "tpot_ms", "output_tok_per_s",
             "total_tok_per_s"}  # fmt: skip


def test_fit_json_contract(cli):
    r = cli("fit", "llama-3.1-8b", "--gpu", "h100", "--context", "8000", "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert FIT_KEYS <= set(d)
    assert d["fits"] is True and d["kv_bytes_per_token"] == 131072
    assert d["weights_gb"] == pytest.approx(16.06, abs=0.01)


def test_fit_all_gpus_is_a_list(cli):
    r = cli("fit", "llama-3.1-70b", "--json")
    assert r.code == 0, r.err
    rows = r.json()
    assert isinstance(rows, list) and len(rows) >= 15
    by_gpu = {x["gpu"]: x for x in rows}
    assert by_gpu["b200"]["fits"] and not by_gpu["h200"]["fits"] and not by_gpu["t4"]["fits"]
    assert all(FIT_KEYS <= set(x) for x in rows)


def test_fit_from_config_json(cli):
    r = cli("fit", str(DATA / "hf" / "llama-3.1-8b" / "config.json"), "--gpu", "l4", "--json")
    assert r.code == 0, r.err
    assert r.json()["kv_bytes_per_token"] == 131072


def test_fit_table_and_explain(cli):
    r = cli("fit", "llama-3.1-8b", "--gpu", "a10g")
    assert r.code == 0 and "a10g" in r.out and "KV cache" in r.out
    r = cli("fit", "llama-3.1-8b", "--gpu", "a10g", "--explain")
    assert r.code == 0
    for text in ("131,072 B/token", "gpu_memory_utilization", "activation workspace", "limit"):
        assert text in r.out


def test_perf_json_contract(cli):
    r = cli("perf", "llama-3.1-8b", "--gpu", "h100", "--batch", "1,8,32,max", "--json")
    assert r.code == 0, r.err
    rows = r.json()
    assert [x["batch"] for x in rows][:3] == [1, 8, 32]
    # max: vLLM V1 runs up to 1,024 sequences on an H100; its KV cache holds 582 of 768 tokens
    assert rows[-1]["batch"] == 582
    for x in rows:
        assert PERF_KEYS <= set(x)
        assert x["ttft_ms"] > 0 and x["tpot_ms"] > 0 and x["output_tok_per_s"] > 0


def test_perf_static_schedule_and_explain(cli):
    r = cli("perf", "llama-2-70b", "--gpu", "a100", "--tp", "4", "--schedule", "static",
            "--batch", "1,16", "--json")  # fmt: skip
    assert r.code == 0, r.err
    r = cli("perf", "mixtral-8x7b", "--gpu", "h100", "--tp", "2", "--explain", "--batch", "1,64")
    assert r.code == 0, r.err
    assert "expected distinct experts" in r.out and "all-reduce" in r.out
    # the per-expert cost is shown at this GPU's bandwidth and at the reference the factor is
    r = cli("perf", "qwen3-30b-a3b", "--gpu", "b200", "--engine", "tensorrt-llm", "--explain",
            "--batch", "8")  # fmt: skip
    assert r.code == 0, r.err
    line = next(x for x in r.out.splitlines() if "each run costing" in x)
    at_gpu, at_ref = (
        float(v) for v in re.findall(r"costing ([\d.]+) us a layer \(([\d.]+) us", line)[0]
    )
    assert at_gpu == pytest.approx(at_ref * 3350 / 8000, rel=0.06)
    # the per-layer overhead: the engine's dense-layer figure times the layer's kernel floors
    line = next(x for x in r.out.splitlines() if "layer overhead" in x)
    per_layer, dense, scale = (
        float(v) for v in re.findall(r"([\d.]+) us a layer .*\(([\d.]+) us .* x ([\d.]+),", line)[0]
    )
    assert scale > 1.5 and per_layer == pytest.approx(dense * scale, rel=0.01)


def test_fp8_on_a100_is_emulated_with_a_note(cli):
    r = cli("perf", "llama-3.1-8b", "--gpu", "a100", "--precision", "fp8", "--batch", "1")
    assert r.code == 0, r.err
    assert "no native fp8" in r.out and "weight-only" in r.out


def test_catalog_listings(cli):
    for cmd in ("gpus", "models", "offers", "engines", "precisions"):
        r = cli(cmd)
        assert r.code == 0 and r.out.strip(), cmd
        j = cli(cmd, "--json")
        assert j.code == 0 and isinstance(j.json(), list) and j.json(), cmd


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["fit", "llama-3.1-7b", "--gpu", "h100"], "did you mean"),
        (["fit", "llama-3.1-8b", "--gpu", "h10"], "unknown gpu 'h10'"),
        (["fit", "llama-3.1-8b", "--gpu", "t4", "--precision", "fp8"], "cannot run fp8"),
        (["fit", "llama-3.1-8b", "--gpu", "h100", "--precision", "int3"], "unknown precision"),
        (
            ["fit", str(DATA / "hf" / "malformed" / "config.json"), "--gpu", "h100"],
            "not valid JSON",
        ),
        (["fit", str(DATA / "hf" / "missing-fields"), "--gpu", "h100"], "num_hidden_layers"),
        (["fit", "llama-3.1-8b", "--gpu", "h100", "--tp", "0"], "--tp = 0"),
        (["fit", "llama-3.1-8b", "--gpu", "h100", "--context", "-5"], "--context = -5"),
        (["fit", "llama-3.1-8b", "--gpu", "h100", "--context", "999999"], "maximum context"),
        (["fit", "llama-3.1-8b", "--gpu", "h100", "--gpu-memory-utilization", "0"], "(0, 1]"),
        (["perf", "llama-3.1-8b", "--gpu", "h100", "--batch", "0"], "not a positive batch"),
        (["perf", "llama-3.1-8b", "--gpu", "h100", "--batch", "x"], "not a whole number"),
        (["perf", "llama-3.1-8b", "--gpu", "h100", "--input-tokens", "0"], "--input-tokens = 0"),
        (["perf", "llama-3.1-8b", "--gpu", "h100", "--schedule", "dynamic"], "--schedule"),
        (
            [
                "perf",
                "llama-3.1-8b",
                "--gpu",
                "h100",
                "--engine",
                "llama.cpp",
                "--precision",
                "awq",
            ],
            "does not serve",
        ),
        (["fit", "llama-3.1-8b", "--gpu", "h100", "--kv-precision", "int2"], "--kv-precision"),
        (["fit", "llama-3.1-8b", "--gpu", "h100", "--catalog", "/nonexistent.toml"], "does not"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli, args, needle):
    r = cli(*args)
    assert r.code == 2
    assert "Traceback" not in r.err and "Traceback" not in r.out
    lines = [x for x in r.err.strip().splitlines() if x.strip()]
    assert len(lines) == 1, r.err
    assert needle in lines[0]


def test_llama_70b_fp16_does_not_fit_one_h100(cli):
    r = cli("fit", "llama-2-70b", "--gpu", "h100", "--json")
    assert r.code == 0
    d = r.json()
    assert d["fits"] is False and "weights need" in d["limit"]
    assert d["fits_at_tp"] == 2  # what perf's refusal names, in fit's answer too


def test_fit_names_the_smallest_tp_that_fits(cli):
    """`fit` answered 'no' without the next question's answer, which perf already gave."""
    r = cli("fit", "llama-3.1-70b", "--gpu", "l40s")
    assert r.code == 0 and "the smallest --tp that does: l40s 4" in r.out, r.out
    r = cli("fit", "llama-3.1-405b", "--gpu", "l4")
    assert "no --tp up to 8 fits llama-3.1-405b on l4" in r.out, r.out
    assert cli("fit", "llama-3.1-405b", "--gpu", "l4", "--json").json()["fits_at_tp"] is None
    every = cli("fit", "llama-3.1-70b", "--json").json()
    hints = {d["gpu"]: d.get("fits_at_tp") for d in every}
    assert (
        hints["h200"] == 2
        and hints["l40s"] == 4
        and "fits_at_tp" not in {k for d in every if d["fits"] for k in d}
    )
    r = cli("fit", "llama-3.1-8b", "--gpu", "h100")
    assert "smallest --tp" not in r.out and "no --tp" not in r.out


def test_perf_of_a_setup_that_holds_no_sequence_names_the_tp_that_does(cli):
    """Throughput figures of a replica that cannot hold the weights mean nothing: one line
    saying why and the smallest --tp of the same GPU that fits, not a table of 'NO' rows."""
    r = cli("perf", "llama-2-70b", "--gpu", "h100")
    assert r.code == 2 and r.out == ""
    lines = [x for x in r.err.strip().splitlines() if x.strip()]
    assert len(lines) == 1, r.err
    assert "llama-2-70b at bf16 on one h100-sxm does not fit (weights need" in lines[0]
    assert lines[0].endswith("--tp 2 fits")
    r = cli("perf", "llama-3.1-405b", "--gpu", "l4", "--tp", "8", "--json")
    assert r.code == 2
    assert "--tp 8: llama-3.1-405b" in r.json()["error"] and "nor on up to 8" in r.json()["error"]
    # a setup that holds a few sequences still lists its batches, 'NO' past its KV room
    r = cli("perf", "llama-2-70b", "--gpu", "h100", "--tp", "2", "--batch", "1,4096", "--json")
    assert r.code == 0, r.err
    assert [x["fits"] for x in r.json()] == [True, False]


def test_offers_refuses_an_unknown_provider_as_plan_does(cli):
    """offers --provider nope printed an empty table and exited 0; plan refused it."""
    r = cli("offers", "--provider", "nope")
    plan = cli("plan", "--model", "llama-3.1-8b", "--qps", "1", "--input-tokens", "100",
               "--output-tokens", "100", "--provider", "nope")  # fmt: skip
    assert r.code == plan.code == 2 and r.out == "" and r.err == plan.err, r.err
    assert "unknown provider 'nope'" in r.err
    assert cli("offers", "--provider", "AWS", "--json").json()  # a known one, any case
