"""Normalize the older hand-gathered measurement set into the validation columns fleetplan
predicts.

    python benchmarks/accuracy/normalize.py [SOURCE_CSV] [OUT_CSV]

Reads `older_set_raw.csv` next to this script (free-text engine/model/GPU/precision strings,
one row per published number, each with its public source URL) and writes
`benchmarks/accuracy/measurements.csv` with catalog ids,
integer lengths, one scheduler per row and one of the metrics `fleetplan.accuracy` predicts.
Rows that cannot be predicted from their stated conditions keep `use` = the reason.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SRC = HERE / "older_set_raw.csv"
OUT_COLUMNS = [
    "row_id", "source_id", "source_url", "date", "engine", "engine_version", "model",
    "precision", "kv_precision", "gpu", "gpu_count", "tp", "pp", "input_len", "output_len",
    "schedule", "batch", "metric", "value", "unit", "trust", "use", "notes",
]  # fmt: skip

ENGINES = [("tensorrt", "tensorrt-llm"), ("lmdeploy", "lmdeploy"), ("vllm", "vllm"),
           ("llama.cpp", "llama.cpp")]  # fmt: skip
MODELS = [("gpt-j", "gpt-j-6b"), ("llama-3-70b", "llama-3-70b"), ("llama-3-8b", "llama-3-8b"),
          ("llama-2-70b", "llama-2-70b"), ("llama-2-13b", "llama-2-13b"),
          ("llama-2-7b", "llama-2-7b"), ("codellama-7b", "llama-2-7b"),
          ("llama 7b", "llama-2-7b")]  # fmt: skip
GPUS = [("h100-sxm", "h100-sxm"), ("h100-pcie", "h100-pcie"), ("a100", "a100-80gb"),
        ("h200", "h200"), ("l40s", "l40s"), ("rtx-4090", "rtx-4090"),
        ("rtx-3090", "rtx-3090"), ("rtx-6000-ada", "rtx-6000-ada")]  # fmt: skip
PRECISIONS = [("gguf q4_k_m", "gguf-q4_k_m"), ("gguf q4_0", "gguf-q4_0"),
              ("gguf q8_0", "gguf-q8_0"), ("gguf f16", "fp16"), ("fp8", "fp8"),
              ("fp16", "fp16")]  # fmt: skip
# metric strings of the source -> (metric, unit)
METRICS = [
    ("out_tokens_per_s_per_gpu", "output_tok_per_s_per_gpu"),
    ("output_tokens_per_s", "output_tok_per_s"),
    ("first_token_latency", "ttft_ms"),
    ("p50_per_token_latency", "tpot_ms"),
    ("batch_end_to_end_latency", "batch_latency_s"),
    ("decode tok/s", "decode_tok_per_s"),
    ("prefill tok/s", "prefill_tok_per_s"),
    ("prompt eval tok/s", "prefill_tok_per_s"),
    ("requests_per_s", "requests_per_s"),
]
UNITS = {
    "output_tok_per_s_per_gpu": "tok/s/GPU",
    "output_tok_per_s": "tok/s",
    "ttft_ms": "ms",
    "tpot_ms": "ms",
    "batch_latency_s": "s",
    "decode_tok_per_s": "tok/s",
    "prefill_tok_per_s": "tok/s",
    "requests_per_s": "req/s",
}
# llama.cpp `./main -n 1024` rows state no lengths (README usage line): assumed, see notes
ASSUMED_INPUT, ASSUMED_OUTPUT = 128, 1024


def _lookup(table: list[tuple[str, str]], text: str, what: str, row_id: str) -> str:
    low = text.lower().replace("_", "_")
    for key, value in table:
        if key in low:
            return value
    raise SystemExit(f"row {row_id}: no {what} id for {text!r}")


def _int(text: str) -> int | None:
    m = re.fullmatch(r"\s*(\d+)\s*", text)
    return int(m.group(1)) if m else None


def normalize(row: dict[str, str]) -> dict[str, str]:
    rid = row["row_id"]
    engine = _lookup(ENGINES, row["engine"], "engine", rid)
    model = _lookup(MODELS, row["model"].replace("Meta-Llama", "Llama"), "model", rid)
    gpu = _lookup(GPUS, row["gpu"], "GPU", rid)
    precision = _lookup(PRECISIONS, row["precision"], "precision", rid)
    metric = _lookup(METRICS, row["metric"], "metric", rid)
    # TensorRT-LLM performance.md builds FP8 engines with --fp8_kv_cache (its build commands);
    # the blogs' FP8 runs use the same recipe (FP8 weights, activations and KV cache).
    kv = "fp8" if precision == "fp8" else "auto"
    notes = [row["notes"].strip()]
    use = "yes"
    tp_text, pp = row["tp"], _int(row["pp"]) or 1
    tp = _int(tp_text)
    if tp is None and "layer split" in tp_text:
        # llama.cpp --split-mode layer: the layers run one GPU after another (pipeline)
        tp, pp = 1, _int(row["gpu_count"]) or 1
        notes.append("layer split over the GPUs: modelled as pp (one stream passes all layers)")
    i, o = _int(row["input_len"]), _int(row["output_len"])
    if row["input_len"] == "not stated":
        i, o = ASSUMED_INPUT, ASSUMED_OUTPUT
        notes.append(
            f"lengths assumed {ASSUMED_INPUT}/{ASSUMED_OUTPUT} (README runs ./main -n 1024)"
        )
        if metric == "prefill_tok_per_s":
            use = "prompt length not stated; the prompt rate depends on it"
    if metric == "requests_per_s" or i is None or o is None:
        use = "variable lengths (ShareGPT): not predictable without the length distribution"
        i = i or 0
        o = o or 0
    scenario = row["scenario"]
    if scenario == "offline_max_throughput":
        schedule, batch = "continuous", "256"
    else:
        schedule, batch = "static", str(_int(row["load_value"]) or 1)
    if metric == "decode_tok_per_s":
        i = max(i, 1)  # llama-bench tg N starts from an empty context
    if metric == "prefill_tok_per_s":
        o = max(o, 1)
    return {
        "row_id": rid,
        "source_id": row["source_id"],
        "source_url": row["source_url"],
        "date": row["date"],
        "engine": engine,
        "engine_version": row["engine_version"],
        "model": model,
        "precision": precision,
        "kv_precision": kv,
        "gpu": gpu,
        "gpu_count": row["gpu_count"],
        "tp": str(tp),
        "pp": str(pp),
        "input_len": str(i),
        "output_len": str(o),
        "schedule": schedule,
        "batch": batch,
        "metric": metric,
        "value": row["value"],
        "unit": UNITS[metric],
        "trust": row["trust"],
        "use": use,
        "notes": " ".join(n for n in notes if n),
    }


def main(argv: list[str]) -> None:
    src = Path(argv[1]) if len(argv) > 1 else DEFAULT_SRC
    out = Path(argv[2]) if len(argv) > 2 else HERE / "measurements.csv"
    with src.open(newline="", encoding="utf-8") as fh:
        rows = [normalize(r) for r in csv.DictReader(fh)]
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, OUT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    used = sum(r["use"] == "yes" for r in rows)
    print(f"{len(rows)} rows written to {out} ({used} used for validation)")


if __name__ == "__main__":
    main(sys.argv)
