"""Validation rows from LMDeploy's TurboMind A100 static-inference table copied into sources/."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from validation_rows_common import SOURCES_DIR, cells, number, row

LMDEPLOY_URL = (
    "https://github.com/InternLM/lmdeploy/blob/3e391df4673326f79363eebe030876861a9b7090/"
    "docs/en/benchmark/a100_fp16.md"
)


MODELS = {
    "llama2-7b": "meta-llama/Llama-2-7b-hf",
    "llama2-13b": "meta-llama/Llama-2-13b-hf",
    "llama2-70b": "meta-llama/Llama-2-70b-hf",
}


def _seconds_to_ms(cell: str) -> str:
    return str(Decimal(number(cell) or "0") * 1000).rstrip("0").rstrip(".")


def lmdeploy_a100_static() -> Iterator[dict[str, str]]:
    """Static batches of llama2-7b/13b (TP1) and 70b (TP4) on A100-80G: throughput, mean FTL,
    median per-token latency."""
    model = ""
    for line in (SOURCES_DIR / "lmdeploy_a100_fp16_v0.1.0a1.md").read_text().splitlines():
        if line.startswith("### "):
            model = MODELS[line[4:].strip()]
            continue
        if not line.startswith("| ") or line.startswith("| batch"):
            continue
        cs = cells(line)
        batch, tp, isl, osl = cs[:4]
        common = dict(
            source_id="lmdeploy-turbomind-a100-fp16-v0.1.0a1",
            source_url=LMDEPLOY_URL,
            source_title="LMDeploy docs: Benchmark on A100 (FP16), static inference (v0.1.0a1)",
            source_date="2023-11",
            engine="lmdeploy",
            engine_version="0.1.0a1",
            model_hf=model,
            weight_precision="fp16",
            kv_precision="fp16",
            gpu="a100-80gb",
            num_gpus=tp,
            tp=tp,
            pp=1,
            ep=1,
            input_tokens=isl,
            output_tokens=osl,
            load_kind="batch",
            load_value=batch,
            per="system",
            notes="TurboMind, A100-80G (SXM or PCIe not stated), CUDA 11.8; table labels "
            "llama2-7b/13b/70b (base or chat checkpoint not stated)",
        )
        yield row(
            **common,
            metric="output_tok_s",
            stat="value",
            value=number(cs[4]),
            unit="tok/s",
            normalization="published throughput = generated tokens / total time (prefill "
            "included) of the batch, as is",
        )
        yield row(
            **common,
            metric="ttft_ms",
            stat="mean",
            value=_seconds_to_ms(cs[6]),
            unit="ms",
            normalization="published FTL(ave) in seconds x 1000",
        )
        yield row(
            **common,
            metric="itl_ms",
            stat="median",
            value=_seconds_to_ms(cs[9]),
            unit="ms",
            normalization="published 50% per-token latency in seconds x 1000",
        )
