"""The published validation set (benchmarks/accuracy/validation.csv): form and coverage."""

from __future__ import annotations

import csv
import importlib
import math
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSV_PATH = ROOT / "benchmarks" / "accuracy" / "validation.csv"
SOURCES_MD = ROOT / "benchmarks" / "accuracy" / "SOURCES.md"

COLUMNS = [
    "row_id", "source_id", "source_url", "source_title", "source_date", "engine",
    "engine_version", "model_hf", "weight_precision", "kv_precision", "gpu", "num_gpus", "tp",
    "pp", "ep", "input_tokens", "output_tokens", "load_kind", "load_value", "metric", "stat",
    "value", "unit", "per", "normalization", "notes",
]  # fmt: skip
ENGINES = {"vllm", "sglang", "tensorrt-llm", "lmdeploy", "tgi", "llama.cpp"}
LOAD_KINDS = {"offline", "batch", "concurrency", "request_rate"}
METRIC_UNITS = {
    "output_tok_s": "tok/s",
    "total_tok_s": "tok/s",
    "ttft_ms": "ms",
    "tpot_ms": "ms",
    "itl_ms": "ms",
    "e2e_ms": "ms",
    "request_s": "req/s",
}
STATS = {"mean", "median", "p90", "p99", "value"}
PER = {"gpu", "tp_group", "system"}
PRECISIONS = {
    "bf16", "fp16", "fp8", "fp8-block", "fp4", "mxfp4", "int8", "int4-awq", "gptq", "w4a16",
    "unspecified",
}  # fmt: skip
MOE_MODEL = re.compile(
    r"mixtral|deepseek-(v2|v3|r1)|qwen\d*(\.\d)?-\d+b-a\d+b|llama-4|gpt-oss", re.I
)
IDENTITY = (
    "source_id", "engine", "engine_version", "model_hf", "weight_precision", "kv_precision",
    "gpu", "num_gpus", "tp", "pp", "ep", "input_tokens", "output_tokens", "load_kind",
    "load_value", "metric", "stat",
)  # fmt: skip


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with CSV_PATH.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def test_every_row_is_sourced_and_versioned(rows):
    for r in rows:
        assert re.match(r"https?://\S+$", r["source_url"]), r["row_id"]
        assert r["source_id"] and r["source_title"], r["row_id"]
        assert re.match(r"^\d{4}-\d{2}(-\d{2})?$", r["source_date"]), r["row_id"]
        assert r["engine"] in ENGINES, r["row_id"]
        assert re.match(r"^v?\d+\.\d+", r["engine_version"]), r["row_id"]
        assert re.match(r"^[\w.-]+/[\w.-]+$", r["model_hf"]), r["row_id"]
        assert r["normalization"], r["row_id"]


def test_values_are_finite_positive_and_counts_integral(rows):
    for r in rows:
        value = float(r["value"])
        assert math.isfinite(value) and value > 0, r["row_id"]
        for col in ("num_gpus", "tp", "pp", "input_tokens", "output_tokens"):
            assert re.match(r"^[1-9]\d*$", r[col]), (r["row_id"], col, r[col])
        assert r["ep"] == "" or re.match(r"^[1-9]\d*$", r["ep"]), r["row_id"]
        assert int(r["tp"]) * int(r["pp"]) <= int(r["num_gpus"]), r["row_id"]
        load = float(r["load_value"])
        assert math.isfinite(load) and load > 0, r["row_id"]
        if r["load_kind"] in ("batch", "concurrency", "offline"):
            assert re.match(r"^[1-9]\d*$", r["load_value"]), r["row_id"]


def test_enums_are_valid(rows):
    for r in rows:
        assert r["load_kind"] in LOAD_KINDS, r["row_id"]
        assert METRIC_UNITS.get(r["metric"]) == r["unit"], r["row_id"]
        assert r["stat"] in STATS, r["row_id"]
        assert r["per"] in PER, r["row_id"]
        assert r["weight_precision"] in PRECISIONS - {"unspecified"}, r["row_id"]
        assert r["kv_precision"] in PRECISIONS, r["row_id"]
        assert re.match(r"^[a-z0-9][a-z0-9.-]*$", r["gpu"]), r["row_id"]


def test_no_duplicates(rows):
    ids = Counter(r["row_id"] for r in rows)
    assert [k for k, n in ids.items() if n > 1] == []
    keys = Counter(tuple(r[c] for c in IDENTITY) for r in rows)
    assert [k for k, n in keys.items() if n > 1] == []


def test_every_source_is_listed_in_sources_md(rows):
    text = SOURCES_MD.read_text()
    for source_id, n in Counter(r["source_id"] for r in rows).items():
        line = next((ln for ln in text.splitlines() if f"`{source_id}`" in ln), "")
        assert line, source_id
        assert f"{n} rows" in line, (source_id, n)


def test_coverage(rows):
    def count(pred) -> int:
        return sum(1 for r in rows if pred(r))

    assert len(rows) >= 300
    assert count(lambda r: r["engine"] == "vllm" and _version(r["engine_version"]) >= (0, 8)) >= 40
    assert (
        count(lambda r: r["engine"] == "tensorrt-llm" and _version(r["engine_version"]) >= (0, 15))
        >= 40
    )
    assert count(lambda r: r["engine"] == "sglang") >= 40
    assert count(lambda r: MOE_MODEL.search(r["model_hf"])) >= 30
    assert count(lambda r: r["gpu"] == "h200") >= 20
    assert count(lambda r: r["gpu"] in ("b200", "gb200")) >= 20
    assert count(lambda r: r["gpu"] in ("mi300x", "mi325x")) >= 20
    assert count(lambda r: r["load_kind"] == "request_rate") >= 10
    assert count(lambda r: r["load_kind"] == "concurrency") >= 10
    assert count(lambda r: r["metric"] == "ttft_ms") >= 10
    assert count(lambda r: r["metric"] in ("tpot_ms", "itl_ms")) >= 10


def test_table_rows_rebuild_from_the_copied_tables(rows, monkeypatch):
    """Rows of the sources copied into benchmarks/accuracy/sources/ re-derive exactly."""
    monkeypatch.syspath_prepend(str(CSV_PATH.parent))
    derive = importlib.import_module("derive_validation_rows")
    assert derive.merged_rows(rows) == rows
    assert {r["source_id"] for r in rows} >= set(derive.DERIVERS)
