"""Readers of a user's benchmark results into validation rows.

- vLLM `vllm bench serve` / `benchmarks/benchmark_serving.py --save-result` JSON: one object
  with `completed`, `total_input_tokens`, `total_output_tokens`, `output_throughput`,
  `median_ttft_ms`, `median_tpot_ms`, `max_concurrency`, `request_rate`, `model_id`, ...
  (extra `--metadata KEY=VALUE` pairs land at the top level: gpu, tp, precision, engine are
  read from there when present).
- GuideLLM report JSON (`guidellm benchmark --output-path report.json`): `benchmarks[]`, each
  with `metrics.<name>.successful.{mean,median,...}` for `output_tokens_per_second`,
  `time_to_first_token_ms`, `time_per_output_token_ms`, `prompt_token_count`,
  `output_token_count`, `request_concurrency`, and its strategy under `args.strategy`.
- CSV in the validation columns (benchmarks/accuracy/measurements.csv).

A rate-limited run (finite request rate, Poisson arrivals) is not a closed loop and is skipped
with a reason; each result becomes up to three rows (output tok/s, TTFT, TPOT) predicted under
the continuous scheduler at the run's concurrency.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetplan.accuracy.rows import ValidationRow, read_rows_csv, row_from_dict
from fleetplan.errors import InputError

ENGINE_BACKENDS = ("vllm", "tgi", "lmdeploy", "tensorrt-llm", "sglang")


@dataclass(frozen=True)
class Context:
    """What a result file may not say: filled from the command line."""

    engine: str | None = None
    model: str | None = None
    gpu: str | None = None
    precision: str | None = None
    tp: int | None = None


@dataclass
class ReadResult:
    rows: list[ValidationRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "file: reason"


def _need(value: Any, what: str, where: str, flag: str) -> str:
    if value in (None, ""):
        raise InputError(f"{where}: the file does not say the {what}; pass {flag}")
    return str(value)


def _rows(
    where: str, ctx: Context, meta: dict[str, Any], conditions: dict[str, Any], metrics: dict
) -> list[ValidationRow]:
    base = {
        "engine": _need(ctx.engine or meta.get("engine"), "engine", where, "--engine"),
        "model": _need(ctx.model or meta.get("model"), "model", where, "--model"),
        "gpu": _need(ctx.gpu or meta.get("gpu"), "GPU", where, "--gpu"),
        "precision": str(ctx.precision or meta.get("precision") or "bf16"),
        "tp": str(ctx.tp or meta.get("tp") or 1),
        "schedule": "continuous",
        **{k: str(v) for k, v in conditions.items()},
    }
    out = []
    for metric, value in metrics.items():
        if value is None or not isinstance(value, int | float) or not value > 0:
            continue
        rec = {**base, "metric": metric, "value": repr(float(value))}
        rec["row_id"] = f"{Path(where).name}:{conditions.get('tag', '')}{metric}"
        out.append(row_from_dict(rec, where))
    return out


def read_vllm(path: Path, data: dict[str, Any], ctx: Context, res: ReadResult) -> None:
    where = str(path)
    done = data.get("completed") or 0
    if not done:
        res.skipped.append(f"{where}: no completed requests")
        return
    rate = data.get("request_rate", "inf")
    if rate not in ("inf", None) and not (isinstance(rate, float) and math.isinf(rate)):
        res.skipped.append(
            f"{where}: request rate {rate} (open loop); calibrate from closed-loop runs "
            "(--request-rate inf --max-concurrency N)"
        )
        return
    conc = data.get("max_concurrency") or done  # no limit: all requests at once
    conditions = {
        "input_len": max(round(data["total_input_tokens"] / done), 1),
        "output_len": max(round(data["total_output_tokens"] / done), 1),
        "batch": int(conc),
    }
    backend = data.get("backend")
    meta = {
        **data,
        "model": data.get("model_id") or data.get("model"),
        # `--backend vllm|tgi|lmdeploy|tensorrt-llm` names the engine; `openai` does not
        "engine": data.get("engine") or (backend if backend in ENGINE_BACKENDS else None),
    }
    metrics = {
        "output_tok_per_s": data.get("output_throughput"),
        "ttft_ms": data.get("median_ttft_ms"),
        "tpot_ms": data.get("median_tpot_ms"),
    }
    res.rows.extend(_rows(where, ctx, meta, conditions, metrics))


def _stat(metrics: dict[str, Any], name: str, stat: str = "median") -> float | None:
    node = metrics.get(name) or {}
    node = node.get("successful", node) if isinstance(node, dict) else {}
    value = node.get(stat) if isinstance(node, dict) else None
    return float(value) if isinstance(value, int | float) else None


def read_guidellm(path: Path, data: dict[str, Any], ctx: Context, res: ReadResult) -> None:
    where = str(path)
    for n, bench in enumerate(data.get("benchmarks", [])):
        args = bench.get("args") or bench.get("config") or {}
        strategy = args.get("strategy") or bench.get("scheduler", {}).get("strategy") or {}
        kind = strategy.get("type_") or strategy.get("type") or ""
        m = bench.get("metrics", {})
        if kind == "concurrent":
            streams = strategy.get("streams")
        elif kind in ("synchronous",):
            streams = 1
        elif kind == "throughput":
            streams = strategy.get("max_concurrency") or _stat(m, "request_concurrency", "max")
        else:
            res.skipped.append(f"{where}: benchmark {n} is {kind or 'unknown'} (open loop)")
            continue
        prompt = _stat(m, "prompt_token_count", "mean")
        output = _stat(m, "output_token_count", "mean")
        if not streams or not prompt or not output:
            res.skipped.append(f"{where}: benchmark {n} lacks concurrency or token counts")
            continue
        conditions = {
            "input_len": max(round(prompt), 1),
            "output_len": max(round(output), 1),
            "batch": int(streams),
            "tag": f"b{n}:",
        }
        metrics = {
            "output_tok_per_s": _stat(m, "output_tokens_per_second", "mean"),
            "ttft_ms": _stat(m, "time_to_first_token_ms"),
            "tpot_ms": _stat(m, "time_per_output_token_ms"),
        }
        meta = {"model": (bench.get("worker") or {}).get("backend_model")}
        for extras in (data.get("extras"), bench.get("extras")):  # --output-extras
            meta |= extras if isinstance(extras, dict) else {}
        res.rows.extend(_rows(where, ctx, meta, conditions, metrics))


def read_results(paths: list[str | Path], ctx: Context | None = None) -> ReadResult:
    """Rows from every file: vLLM result JSON, GuideLLM report JSON or validation CSV."""
    ctx = ctx or Context()
    res = ReadResult()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"{str(path)!r} does not exist")
        if path.suffix.lower() == ".csv":
            rows = read_rows_csv(path)
            res.rows.extend(r for r in rows if ctx.engine is None or r.engine == ctx.engine)
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{str(path)!r} is not readable JSON: {exc}") from None
        if isinstance(data, dict) and "benchmarks" in data:
            read_guidellm(path, data, ctx, res)
        elif isinstance(data, dict) and "output_throughput" in data:
            read_vllm(path, data, ctx, res)
        else:
            raise InputError(
                f"{str(path)!r}: neither a vLLM benchmark result (output_throughput, "
                "median_ttft_ms, ...) nor a GuideLLM report (benchmarks[].metrics)"
            )
    return res
